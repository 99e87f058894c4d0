"""Listing intervals from checks, and the signal drafts their start and end raise."""

from datetime import UTC, datetime

import pytest

from abusedesk.blocklists.answers import BlocklistResult, ListKind, Outcome
from abusedesk.blocklists.model import Check, Holder, Holding, Listing, Target, parse_target
from abusedesk.blocklists.watch import (
    compare,
    delisted_drafts,
    listed_drafts,
    listing_key,
    severity_of,
)
from abusedesk.monitoring.signals import Severity, SignalKind, Step

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
ACME = Holder(11, "4411")
GLOBEX = Holder(22, "5522")


def _listing(
    target: str = "198.51.100.10",
    *,
    kind: str = "ip",
    holding: Holding = Holding.DEDICATED,
    accounts: tuple[Holder, ...] = (ACME,),
    meanings: tuple[str, ...] = ("SBL",),
    listing_id: int = 7,
    pool: str | None = None,
) -> Listing:
    return Listing(
        listing_id, kind, target, "spamhaus-zen", "zen.spamhaus.org", meanings, ("127.0.0.2",),
        holding, pool, accounts, AT, AT,
    )  # fmt: skip


def _check(target: str, outcome: Outcome, *, kind: ListKind = ListKind.IP) -> Check:
    meanings = ("SBL",) if outcome is Outcome.LISTED else ()
    result = BlocklistResult("spamhaus-zen", outcome, meanings=meanings)
    return Check(Target(kind, target, Holding.DEDICATED, (ACME,)), "spamhaus-zen", "z", "q", result)


def test_a_listing_with_no_open_interval_is_new() -> None:
    """A listed check with nothing open opens a listing."""
    changes = compare([], [_check("198.51.100.10", Outcome.LISTED)])
    assert ([c.target.value for c in changes.new], changes.confirmed, changes.delisted) == (
        ["198.51.100.10"],
        (),
        (),
    )


def test_a_listing_already_open_is_confirmed() -> None:
    """A listed check for an open listing confirms it and opens nothing."""
    open_listing = _listing()
    changes = compare([open_listing], [_check("198.51.100.10", Outcome.LISTED)])
    assert (changes.new, [listing for listing, _ in changes.confirmed]) == ((), [open_listing])


def test_not_listed_ends_an_open_listing() -> None:
    """NXDOMAIN for a listed target ends its listing."""
    open_listing = _listing()
    changes = compare([open_listing], [_check("198.51.100.10", Outcome.NOT_LISTED)])
    assert [listing for listing, _ in changes.delisted] == [open_listing]


def test_not_listed_without_an_open_listing_changes_nothing() -> None:
    """A clean target stays clean: nothing new, nothing ended."""
    changes = compare([], [_check("198.51.100.40", Outcome.NOT_LISTED)])
    assert (changes.new, changes.confirmed, changes.delisted) == ((), (), ())


def test_a_listed_ip_of_another_kind_of_target_is_not_confused() -> None:
    """A domain check never confirms or ends an IP listing of the same text."""
    open_listing = _listing("example.com", kind="ip")
    check = _check("example.com", Outcome.NOT_LISTED, kind=ListKind.DOMAIN)
    assert compare([open_listing], [check]).delisted == ()


def test_a_dedicated_ip_listing_names_its_account() -> None:
    """The draft carries the account the IP was dedicated to, and the figures."""
    (draft,) = listed_drafts(_listing(), at=AT)
    assert (
        draft.kind,
        draft.account_id,
        draft.subject_type,
        draft.subject_id,
        draft.figures["meanings"],
        draft.figures["accounts"],
        draft.dedupe_key,
    ) == (
        SignalKind.BLOCKLIST_LISTED,
        11,
        "ip",
        "198.51.100.10",
        ["SBL"],
        ["4411"],
        "blocklist.listed:7:11",
    )


def test_a_shared_pool_listing_names_no_account_and_is_an_incident() -> None:
    """A shared IP's listing is about the pool: no account, high severity."""
    listing = _listing(holding=Holding.SHARED, accounts=(), meanings=("XBL",), pool="shared-1")
    (draft,) = listed_drafts(listing, at=AT)
    assert (draft.account_id, draft.severity, draft.step, "shared-1" in draft.reason) == (
        None,
        Severity.HIGH,
        Step.NONE,
        True,
    )


def test_a_domain_listing_raises_one_signal_per_holding_account() -> None:
    """Two accounts holding the listed domain get one draft each, with their own keys."""
    listing = _listing(
        "promo-mail.example", kind="domain", holding=Holding.IDENTITY, accounts=(ACME, GLOBEX)
    )
    drafts = listed_drafts(listing, at=AT)
    assert [(d.account_id, d.dedupe_key) for d in drafts] == [
        (11, "blocklist.listed:7:11"),
        (22, "blocklist.listed:7:22"),
    ]


def test_a_delisting_resolves_its_listings_signal() -> None:
    """Each delisting draft names the dedupe key of the listing draft it ends."""
    listing = _listing(accounts=(ACME, GLOBEX))
    ended = Listing(**{**listing.__dict__, "delisted_at": LATER})
    drafts = delisted_drafts(ended, at=LATER)
    assert [(d.kind, d.resolves) for d in drafts] == [
        (SignalKind.BLOCKLIST_DELISTED, listing_key(listing, 11)),
        (SignalKind.BLOCKLIST_DELISTED, listing_key(listing, 22)),
    ]


@pytest.mark.parametrize(
    ("meanings", "holding", "expected"),
    [
        (("SBL",), Holding.DEDICATED, Severity.MEDIUM),
        (("XBL",), Holding.SHARED, Severity.HIGH),
        (("DBL phishing",), Holding.IDENTITY, Severity.HIGH),
        (("SURBL MW (malware)", "SURBL ABUSE"), Holding.IDENTITY, Severity.HIGH),
        (("PBL (ISP)",), Holding.DEDICATED, Severity.LOW),
        (("ZRD (first seen 0-2h ago)",), Holding.IDENTITY, Severity.LOW),
        (("URIBL black",), Holding.IDENTITY, Severity.MEDIUM),
    ],
)
def test_severity_follows_who_is_hit_and_why(
    meanings: tuple[str, ...], holding: Holding, expected: str
) -> None:
    """Shared pools and grave listings are high; policy and newness lists are low."""
    assert severity_of(_listing(meanings=meanings, holding=holding)) == expected


def test_a_grave_listing_of_an_account_asks_for_review() -> None:
    """A phishing listing of an account's domain asks for the review step."""
    listing = _listing(
        "bad.example", kind="domain", holding=Holding.IDENTITY, meanings=("DBL phishing",)
    )
    assert [d.step for d in listed_drafts(listing, at=AT)] == [Step.REVIEW]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("198.51.100.10", (ListKind.IP, "198.51.100.10")),
        ("2001:DB8:0:0::10", (ListKind.IP, "2001:db8::10")),
        ("Shop.Promo-Mail.example", (ListKind.DOMAIN, "promo-mail.example")),
    ],
)
def test_a_typed_target_reads_as_listings_store_it(
    typed: str, expected: tuple[ListKind, str]
) -> None:
    """IPs are compressed, domains cut to their registrable domain and lowercased."""
    assert parse_target(typed) == expected
