"""Lookup keys: the values that name a resource, written the way reports quote them.

The inventory stores, beside each resource, the keys derived here (a domain identity gives
its domain, each DKIM selector and its custom MAIL FROM domain; a configuration set its
name and Feedback-IDs ...). Attribution turns an event's indicators into keys of the same
kinds and asks for all of a batch's keys at once.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from abusedesk.parsing.sms import normalise_number


class ResourceKind:
    """Resource kinds as the inventory stores them."""

    IDENTITY_DOMAIN = "identity_domain"
    IDENTITY_ADDRESS = "identity_address"
    DEDICATED_IP = "dedicated_ip"
    IP_POOL = "ip_pool"
    CONFIGURATION_SET = "configuration_set"
    ORIGINATION_NUMBER = "origination_number"
    SENDER_ID = "sender_id"
    MAILBOX = "mailbox"
    MAIL_ORGANIZATION = "mail_organization"
    PUSH_APPLICATION = "push_application"
    PLATFORM_ENDPOINT = "platform_endpoint"

    ALL = (
        IDENTITY_DOMAIN,
        IDENTITY_ADDRESS,
        DEDICATED_IP,
        IP_POOL,
        CONFIGURATION_SET,
        ORIGINATION_NUMBER,
        SENDER_ID,
        MAILBOX,
        MAIL_ORGANIZATION,
        PUSH_APPLICATION,
        PLATFORM_ENDPOINT,
    )


class KeyKind:
    """Kinds of lookup key."""

    DOMAIN = "domain"
    ADDRESS = "address"
    DKIM = "dkim"
    MAIL_FROM_DOMAIN = "mail_from_domain"
    CONFIGURATION_SET = "configuration_set"
    FEEDBACK_ID = "feedback_id"
    CFBL_FEEDBACK_ID = "cfbl_feedback_id"
    ORIGINATION_NUMBER = "origination_number"
    SENDER_ID = "sender_id"
    MAILBOX = "mailbox"
    MAIL_ORGANIZATION = "mail_organization"
    PUSH_APPLICATION = "push_application"
    PLATFORM_ENDPOINT = "platform_endpoint"
    IP_POOL = "ip_pool"
    DEDICATED_IP = "dedicated_ip"


# Longest value a key column holds; longer values cannot name anything and are skipped.
MAX_KEY_LENGTH = 320

_BY_RESOURCE_VALUE = {
    ResourceKind.IDENTITY_DOMAIN: KeyKind.DOMAIN,
    ResourceKind.IDENTITY_ADDRESS: KeyKind.ADDRESS,
    ResourceKind.DEDICATED_IP: KeyKind.DEDICATED_IP,
    ResourceKind.IP_POOL: KeyKind.IP_POOL,
    ResourceKind.CONFIGURATION_SET: KeyKind.CONFIGURATION_SET,
    ResourceKind.ORIGINATION_NUMBER: KeyKind.ORIGINATION_NUMBER,
    ResourceKind.SENDER_ID: KeyKind.SENDER_ID,
    ResourceKind.MAILBOX: KeyKind.MAILBOX,
    ResourceKind.MAIL_ORGANIZATION: KeyKind.MAIL_ORGANIZATION,
    ResourceKind.PUSH_APPLICATION: KeyKind.PUSH_APPLICATION,
    ResourceKind.PLATFORM_ENDPOINT: KeyKind.PLATFORM_ENDPOINT,
}


def normal_key(kind: str, value: str) -> str | None:
    """Return *value* written as keys of *kind* are stored, or None when it names nothing."""
    value = value.strip()
    if kind in (KeyKind.DOMAIN, KeyKind.DKIM, KeyKind.MAIL_FROM_DOMAIN):
        value = value.lower().rstrip(".")
    elif kind in (KeyKind.ADDRESS, KeyKind.MAILBOX):
        value = value.strip("<>").lower()
    elif kind == KeyKind.SENDER_ID:
        value = value.upper()
    elif kind == KeyKind.ORIGINATION_NUMBER:
        value = normalise_number(value) or ""
    if not value or len(value) > MAX_KEY_LENGTH:
        return None
    return value


def resource_keys(kind: str, value: str, attributes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the ``(key kind, value)`` pairs that name a resource, without repeats."""
    return list(dict.fromkeys(_resource_keys(kind, value, attributes)))


def _resource_keys(
    kind: str, value: str, attributes: Mapping[str, Any]
) -> Iterator[tuple[str, str]]:
    key_kind = _BY_RESOURCE_VALUE.get(kind)
    if key_kind is None:
        return
    pairs: list[tuple[str, object]] = [(key_kind, value)]
    if kind == ResourceKind.IDENTITY_DOMAIN:
        domain = normal_key(KeyKind.DOMAIN, value) or ""
        pairs += [
            (KeyKind.DKIM, f"{selector}._domainkey.{domain}")
            for selector in _strings(attributes.get("dkim_selectors"))
        ]
        pairs.append((KeyKind.MAIL_FROM_DOMAIN, attributes.get("mail_from_domain")))
    elif kind == ResourceKind.CONFIGURATION_SET:
        pairs += [(KeyKind.FEEDBACK_ID, v) for v in _strings(attributes.get("feedback_id"))]
        pairs += [
            (KeyKind.CFBL_FEEDBACK_ID, v) for v in _strings(attributes.get("cfbl_feedback_id"))
        ]
    elif kind == ResourceKind.MAIL_ORGANIZATION:
        pairs.append((KeyKind.DOMAIN, attributes.get("domain")))
    for pair_kind, raw in pairs:
        if isinstance(raw, str) and (normal := normal_key(pair_kind, raw)):
            yield pair_kind, normal


def _strings(value: object) -> list[str]:
    """Return an attribute that may be one string or a list of them as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []
