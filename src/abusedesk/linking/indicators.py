"""Read the values that can link accounts out of what the provider and the reports say.

Three sources: the account's sign-up facts (payment and device fingerprints, hashed by
the provider; the sign-up IP; the contact address's domain), its resources (the
registrable domains of its identities, the DKIM keys published for them, its origination
numbers) and the events attributed to it (the registrable domains of URLs and the phone
numbers in the reported messages, as the search index keeps them).
"""

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from abusedesk.linking.model import Indicator, IndicatorKind
from abusedesk.parsing.mail import site_of

# Resource attributes naming a DKIM public key (a BYODKIM key, hashed here if it is long).
DKIM_KEY_ATTRIBUTES = ("dkim_public_key", "dkim_key", "dkim_key_fingerprint")
# Easy-DKIM tokens are per identity; short selectors ("s1", "default") name nothing.
MIN_DKIM_TOKEN = 16
# Event indicator keys (as `abusedesk.search.query.index_entries` keeps them) that link.
EVENT_KEYS = ("url_host", "phone_number")
# Attributes the provider may feed a device fingerprint under.
DEVICE_ATTRIBUTES = ("device_fingerprint", "device_fingerprints")


def account_indicators(
    account_id: int,
    *,
    payment_fingerprint: str | None,
    contact_email: str | None,
    attributes: Mapping[str, Any] | None,
) -> Iterator[Indicator]:
    """Yield an account's sign-up facts; values of the wrong shape are skipped."""
    source = f"account:{account_id}"
    if isinstance(payment_fingerprint, str) and payment_fingerprint.strip():
        yield Indicator(
            account_id, IndicatorKind.PAYMENT_FINGERPRINT, payment_fingerprint.strip(), source
        )
    attributes = attributes if isinstance(attributes, Mapping) else {}
    for name in DEVICE_ATTRIBUTES:
        for value in _strings(attributes.get(name)):
            yield Indicator(account_id, IndicatorKind.DEVICE_FINGERPRINT, value, source)
    for value in _strings(attributes.get("signup_ip")):
        yield Indicator(account_id, IndicatorKind.SIGNUP_IP, value, source)
    if isinstance(contact_email, str) and "@" in contact_email:
        domain = _domain(contact_email.rpartition("@")[2])
        if domain:
            yield Indicator(account_id, IndicatorKind.CONTACT_DOMAIN, domain, source)


def resource_indicators(
    account_id: int, resource_id: int, kind: str, value: str, attributes: Mapping[str, Any] | None
) -> Iterator[Indicator]:
    """Yield what one resource says: its domain, DKIM keys, number."""
    source = f"resource:{resource_id}"
    attributes = attributes if isinstance(attributes, Mapping) else {}
    if kind in ("identity_domain", "identity_address"):
        domain = _domain(value.rpartition("@")[2])
        if not domain:
            return
        yield Indicator(account_id, IndicatorKind.SENDING_DOMAIN, domain, source)
        for key in _dkim_keys(attributes):
            # A key published on the same domain two accounts share is that domain again.
            yield Indicator(account_id, IndicatorKind.DKIM_KEY, key, source, same_as=domain)
    elif kind == "origination_number" and value.strip():
        yield Indicator(account_id, IndicatorKind.PHONE_NUMBER, value.strip(), source)


def event_indicator(account_id: int, event_id: int, key: str, value: str) -> Indicator | None:
    """Return the linking value of one indexed event indicator, or None if it links nothing."""
    source = f"event:{event_id}"
    if key == "url_host":
        domain = _domain(value)
        return Indicator(account_id, IndicatorKind.URL_DOMAIN, domain, source) if domain else None
    if key == "phone_number" and value.strip():
        return Indicator(account_id, IndicatorKind.PHONE_NUMBER, value.strip(), source)
    return None


def _dkim_keys(attributes: Mapping[str, Any]) -> Iterator[str]:
    for name in DKIM_KEY_ATTRIBUTES:
        for key in _strings(attributes.get(name)):
            yield key if len(key) <= 64 else hashlib.sha256(key.encode("utf-8")).hexdigest()
    for token in _strings(attributes.get("dkim_selectors")):
        if len(token) >= MIN_DKIM_TOKEN:
            yield token


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list | tuple):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return []


def _domain(value: str) -> str | None:
    host = value.strip().strip("[]").lower().rstrip(".")
    # Not a name (empty, a bare word, an IP address in a URL): nothing to share.
    if "." not in host or ":" in host or any(c.isspace() for c in host):
        return None
    if host.replace(".", "").isdigit():
        return None
    return site_of(host)
