"""Listing intervals from checks, and the signals their start and end raise.

A check that finds a target listed opens a listing interval, or confirms the open one;
a check that finds it not listed (NXDOMAIN) ends it. Errors do neither: a list that
failed says nothing about the target. A listed IP names the account it was dedicated to
when the listing was first seen; a shared pool's IP names no account and is an incident
for the whole pool (high severity); a listed domain names each account holding it as an
identity, one signal per account.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from abusedesk.blocklists.answers import UnknownBlocklist, blocklist
from abusedesk.blocklists.model import Check, Holding, Listing
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind, Step

# Listings that tell of abuse beyond spam: phishing, malware, botnets, hijacked ranges.
_GRAVE_WORDS = ("phishing", "malware", "c&c", "drop")
# Listings that are policy or newness, not a judgement of what was sent.
_MILD_PREFIXES = ("PBL", "ZRD")


@dataclass(frozen=True)
class ListingChanges:
    """How a run's checks change the listings: new, still listed, and no longer listed."""

    new: tuple[Check, ...]
    confirmed: tuple[tuple[Listing, Check], ...]
    delisted: tuple[tuple[Listing, Check], ...]


def compare(open_listings: Iterable[Listing], checks: Iterable[Check]) -> ListingChanges:
    """Return what *checks* change about *open_listings* (errors are not checks)."""
    by_key = {listing.key: listing for listing in open_listings}
    new: list[Check] = []
    confirmed: list[tuple[Listing, Check]] = []
    delisted: list[tuple[Listing, Check]] = []
    for check in checks:
        key = (str(check.target.kind), check.target.value, check.blocklist)
        listing = by_key.get(key)
        if check.result.listed:
            if listing is None:
                new.append(check)
            else:
                confirmed.append((listing, check))
        elif listing is not None:
            delisted.append((listing, check))
    return ListingChanges(tuple(new), tuple(confirmed), tuple(delisted))


def severity_of(listing: Listing) -> str:
    """Return how urgent a listing is: a shared IP or grave listing high, policy lists low."""
    meanings = [meaning.lower() for meaning in listing.meanings]
    if listing.holding == Holding.SHARED or any(
        word in meaning for meaning in meanings for word in _GRAVE_WORDS
    ):
        return Severity.HIGH
    if listing.meanings and all(m.startswith(_MILD_PREFIXES) for m in listing.meanings):
        return Severity.LOW
    return Severity.MEDIUM


def listing_key(
    listing: Listing, account_id: int | None, kind: str = SignalKind.BLOCKLIST_LISTED
) -> str:
    """Return the dedupe key of a listing's signal of *kind* (listed, or delisted with
    ``SignalKind.BLOCKLIST_DELISTED``), one per account it names."""
    suffix = "" if account_id is None else f":{account_id}"
    return f"{kind}:{listing.listing_id}{suffix}"


def listed_drafts(listing: Listing, *, at: datetime) -> list[SignalDraft]:
    """Return the signals a listing raises: one per account it names, else one for the target."""
    severity = severity_of(listing)
    figures = figures_of(listing)
    evidence = {"answers": list(listing.answers)}
    accounts: list[tuple[int | None, str]] = [
        (holder.account_id, holder.external_id) for holder in listing.accounts
    ] or [(None, "")]
    return [
        SignalDraft(
            kind=SignalKind.BLOCKLIST_LISTED,
            subject_type=listing.target_kind,
            subject_id=listing.target,
            reason=_listed_reason(listing, external_id),
            figures=figures,
            at=at,
            dedupe_key=listing_key(listing, account_id),
            account_id=account_id,
            severity=severity,
            step=Step.REVIEW if account_id is not None and severity == Severity.HIGH else Step.NONE,
            evidence=evidence,
        )
        for account_id, external_id in accounts
    ]


def delisted_drafts(listing: Listing, *, at: datetime) -> list[SignalDraft]:
    """Return the signals a delisting raises, each ending its listing's signal."""
    figures = figures_of(listing)
    accounts: list[int | None] = [holder.account_id for holder in listing.accounts] or [None]
    title = list_title(listing.blocklist)
    since = listing.first_seen_at.strftime("%Y-%m-%d %H:%M")
    reason = f"{_described(listing)} is no longer listed on {title} (listed since {since} UTC)."
    return [
        SignalDraft(
            kind=SignalKind.BLOCKLIST_DELISTED,
            subject_type=listing.target_kind,
            subject_id=listing.target,
            reason=reason,
            figures=figures,
            at=at,
            dedupe_key=listing_key(listing, account_id, SignalKind.BLOCKLIST_DELISTED),
            account_id=account_id,
            severity=Severity.LOW,
            resolves=listing_key(listing, account_id),
        )
        for account_id in accounts
    ]


def figures_of(listing: Listing) -> dict[str, Any]:
    """Return a listing's figures as a signal carries them (JSON-able)."""
    try:
        delisting_url = blocklist(listing.blocklist).delisting_url
    except UnknownBlocklist:
        delisting_url = ""
    return {
        "blocklist": listing.blocklist,
        "list_title": list_title(listing.blocklist),
        "zone": listing.zone,
        "target_kind": listing.target_kind,
        "target": listing.target,
        "meanings": list(listing.meanings),
        "answers": list(listing.answers),
        "holding": listing.holding,
        "pool": listing.pool,
        "accounts": [holder.external_id for holder in listing.accounts],
        "first_seen_at": listing.first_seen_at.isoformat(),
        "last_confirmed_at": listing.last_confirmed_at.isoformat(),
        "delisted_at": listing.delisted_at.isoformat() if listing.delisted_at else None,
        "delisting_url": delisting_url,
    }


def _listed_reason(listing: Listing, external_id: str) -> str:
    """Return one sentence saying what is listed where, and what it means for whom."""
    where = f"{list_title(listing.blocklist)} ({', '.join(listing.meanings) or 'listed'})"
    if listing.holding == Holding.SHARED:
        return (
            f"Shared IP {listing.target} of pool {listing.pool or '?'} is listed on {where}: "
            "every account sending from the pool is affected; an incident, not one account's."
        )
    if listing.holding == Holding.DEDICATED:
        return f"IP {listing.target}, dedicated to account {external_id}, is listed on {where}."
    if listing.holding == Holding.IDENTITY:
        return (
            f"Sending domain {listing.target}, an identity of account {external_id}, "
            f"is listed on {where}."
        )
    return f"IP {listing.target} of our space, held by no account, is listed on {where}."


def _described(listing: Listing) -> str:
    """Return the target as a sentence names it."""
    if listing.target_kind == "domain":
        return f"Sending domain {listing.target}"
    if listing.holding == Holding.SHARED:
        return f"Shared IP {listing.target} of pool {listing.pool or '?'}"
    return f"IP {listing.target}"


def list_title(name: str) -> str:
    """Return a blocklist's title, or its name when the catalogue does not know it."""
    try:
        return blocklist(name).title
    except UnknownBlocklist:
        return name
