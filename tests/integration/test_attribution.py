"""Attribution against the inventory on a real database: each resolver, time, conflicts."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from abusedesk.attribution.model import Attribution, EventFacts
from abusedesk.attribution.resolver import attribute_events
from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.core.hashing import sha256_hex
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.inventory import SqlInventoryLookup
from tests.factories.inventory import (
    make_account,
    make_dedicated_ip,
    make_resource,
    make_sent_mail,
    make_shared_pool,
)

NOW = utcnow().replace(microsecond=0)
LONG_AGO = NOW - timedelta(days=60)


@pytest.fixture
def session(container: Container) -> Iterator[Session]:
    """Return a session whose inventory the test writes and attribution reads."""
    with unit_of_work(container.sessions) as session:
        yield session


def resolve(
    session: Session, at: datetime = NOW, category: str = "spam", **found: str | tuple[str, ...]
) -> Attribution:
    """Attribute one event with the given indicators (one value, or a tuple of values)."""
    session.flush()
    indicators = {k: v if isinstance(v, tuple) else (v,) for k, v in found.items()}
    (attribution,) = attribute_events(
        [EventFacts(indicators, at, category)], SqlInventoryLookup(session)
    )
    return attribution


def summary(a: Attribution) -> tuple[int | None, str | None, str | None, bool]:
    """Return account, method, confidence and whether the event settles on the account."""
    return a.account_id, a.method, a.confidence, a.settled


def recipient_hash(address: str) -> str:
    """Return the recipient hash as the parsers and the send log write it."""
    return sha256_hex(address.lower().encode())


# --- our own ids -----------------------------------------------------------------------------


def test_provider_message_id_is_high_and_explained_with_the_send_log_entry(
    session: Session,
) -> None:
    """The send log names the account, the identity and the time in the reason."""
    account, identity = make_account(session, "4411", domain="news.example.com")
    mail = make_sent_mail(session, account, identity, 1, domain="news.example.com")
    found = resolve(session, provider_message_id=mail.provider_message_id)
    assert summary(found) == (account, "provider_message_id", "high", True)
    assert found.resource_id == identity
    assert (
        f"is in the send log of account 4411 (identity domain news.example.com) at {mail.sent_at:%Y-%m-%dT%H:%MZ}"
        in found.reason
    )


def test_message_id_header_and_verp_return_path_find_the_send_log_entry(session: Session) -> None:
    """Our Message-ID (with or without brackets) and a VERP local part are our ids too."""
    account, identity = make_account(session, domain="shop.example")
    mail = make_sent_mail(session, account, identity, 1, domain="shop.example")
    by_header = resolve(session, message_id=f"<{mail.message_id}>")
    by_verp = resolve(session, envelope_sender=f"{mail.provider_message_id}@bounces.cloud.example")
    assert (summary(by_header), summary(by_verp)) == (
        (account, "message_id", "high", True),
        (account, "envelope_sender", "high", True),
    )


def test_a_conflicting_resolver_is_recorded_and_lowers_the_confidence(session: Session) -> None:
    """Our message id wins over another account's From domain, but not silently."""
    first, first_identity = make_account(session, "1", domain="one.example")
    make_account(session, "2", domain="two.example")
    mail = make_sent_mail(session, first, first_identity, 1, domain="one.example")
    found = resolve(
        session, provider_message_id=mail.provider_message_id, from_domain="two.example"
    )
    assert summary(found) == (first, "provider_message_id", "medium", True)
    assert [c.method for c in found.candidates] == ["from_domain"]
    assert found.conflicts == ("From domain two.example is a verified identity of account 2",)
    assert "Disagrees: From domain two.example" in found.reason


def test_two_resolvers_of_equal_strength_disagreeing_leave_the_event_unsettled(
    session: Session,
) -> None:
    """A Feedback-ID of one account and a DKIM key of another: nobody is guessed at medium."""
    first, _ = make_account(session, "1", domain="one.example")
    make_resource(
        session, first, "configuration_set", "mkt", {"feedback_id": "mkt:1:cm"}, since=LONG_AGO
    )
    make_account(session, "2", domain="two.example")
    found = resolve(session, feedback_id="mkt:1:cm", dkim_selector="s1._domainkey.two.example")
    assert (found.confidence, found.settled, len(found.candidates)) == ("low", False, 1)


# --- configuration, signatures, identities -------------------------------------------------------


def test_feedback_id_cfbl_and_dkim_selector_are_high(session: Session) -> None:
    """Values only the provider writes into a message name the account with high confidence."""
    account, identity = make_account(session, "7", domain="acme.example")
    config = make_resource(
        session,
        account,
        "configuration_set",
        "newsletters",
        {"feedback_id": "newsletters:7:cloudmail", "cfbl_feedback_id": "Q2ZCTC1GZWVkYmFjaw"},
        since=LONG_AGO,
    )
    assert summary(resolve(session, feedback_id="newsletters:7:cloudmail")) == (
        account,
        "feedback_id",
        "high",
        True,
    )
    assert resolve(session, cfbl_feedback_id="Q2ZCTC1GZWVkYmFjaw").resource_id == config
    by_key = resolve(session, dkim_selector="s1._domainkey.acme.example")
    assert (summary(by_key), by_key.resource_id) == (
        (account, "dkim_selector", "high", True),
        identity,
    )


def test_identity_evidence_alone_is_medium_and_two_families_agreeing_raise_it(
    session: Session,
) -> None:
    """A From domain is medium; confirmed by the account's dedicated IP it becomes high."""
    account, _ = make_account(session, domain="shop.example")
    make_dedicated_ip(session, account, "203.0.113.9", since=LONG_AGO)
    alone = resolve(session, from_domain="shop.example")
    confirmed = resolve(session, from_domain="shop.example", source_ip="203.0.113.9")
    assert (summary(alone), summary(confirmed)) == (
        (account, "from_domain", "medium", True),
        (account, "from_domain", "high", True),
    )
    assert "Agrees: Source IP 203.0.113.9 was dedicated to account 4411" in confirmed.reason


def test_a_subdomain_of_a_verified_domain_counts_and_a_look_alike_does_not(
    session: Session,
) -> None:
    """news.shop.example is covered by shop.example; shop.example.evil.test and shop-example.test are not."""
    account, _ = make_account(session, domain="shop.example")
    sub = resolve(session, from_domain="news.shop.example")
    assert summary(sub) == (account, "from_domain", "medium", True)
    assert "shop.example (parent of news.shop.example)" in sub.reason
    for look_alike in ("shop.example.evil.test", "shop-example.test", "sh0p.example", "example"):
        found = resolve(session, from_domain=look_alike)
        assert (look_alike, found.account_id) == (look_alike, None)


def test_from_domain_with_a_source_ip_outside_our_space_is_low(session: Session) -> None:
    """A verified From domain arriving from someone else's network may be spoofed: inbox."""
    account, _ = make_account(session, domain="bank.example")
    found = resolve(session, from_domain="bank.example", source_ip="192.0.2.200")
    assert summary(found) == (account, "from_domain", "low", False)
    assert "may be spoofed" in found.reason
    aggregate = resolve(
        session, category="dmarc_aggregate", from_domain="bank.example", source_ip="192.0.2.200"
    )
    assert summary(aggregate) == (account, "from_domain", "medium", True)


def test_identities_count_only_while_they_were_held(session: Session) -> None:
    """A domain deleted before the mail, or verified after it, names nobody for that mail."""
    account, _ = make_account(session, domain="kept.example")
    make_resource(
        session,
        account,
        "identity_domain",
        "gone.example",
        since=LONG_AGO,
        until=NOW - timedelta(days=3),
    )
    make_resource(
        session, account, "identity_domain", "new.example", since=NOW - timedelta(hours=1)
    )
    assert resolve(session, from_domain="gone.example").account_id is None
    assert (
        resolve(session, at=NOW - timedelta(days=5), from_domain="gone.example").account_id
        == account
    )
    assert (
        resolve(session, at=NOW - timedelta(days=1), from_domain="new.example").account_id is None
    )


def test_a_domain_two_accounts_verified_is_not_guessed(session: Session) -> None:
    """An identity two accounts hold is ambiguous: no account, both as candidates."""
    first, _ = make_account(session, "1", domain="shared.example")
    second, _ = make_account(session, "2", domain="shared.example")
    found = resolve(session, from_domain="shared.example")
    assert (found.account_id, {c.account_id for c in found.candidates}) == (None, {first, second})
    assert "2 accounts share what the report names" in found.reason


# --- IPs over time ---------------------------------------------------------------------------------


def test_an_ip_that_moved_is_attributed_to_its_holder_at_the_time(session: Session) -> None:
    """Before the move the old holder, after it the new one, between them nobody."""
    old, _ = make_account(session, "old", domain="old.example")
    new, _ = make_account(session, "new", domain="new.example")
    moved = NOW - timedelta(days=10)
    make_dedicated_ip(session, old, "198.51.100.7", since=LONG_AGO, until=moved)
    make_dedicated_ip(session, new, "198.51.100.7", since=moved + timedelta(days=2))
    before = resolve(session, at=moved - timedelta(hours=1), source_ip="198.51.100.7")
    between = resolve(session, at=moved + timedelta(days=1), source_ip="198.51.100.7")
    after = resolve(session, source_ip="198.51.100.7")
    assert (before.account_id, between.account_id, after.account_id) == (old, None, new)
    assert summary(after) == (new, "dedicated_ip", "medium", True)
    assert "allocated to nobody" in between.reason


def test_a_shared_pool_alone_names_nobody(session: Session) -> None:
    """Shared sending IPs identify nobody, and the reason says so."""
    first, _ = make_account(session, "1", domain="one.example")
    second, _ = make_account(session, "2", domain="two.example")
    make_shared_pool(
        session, "shared-a", ["198.51.100.10", "198.51.100.11"], [first, second], since=LONG_AGO
    )
    found = resolve(session, source_ip="198.51.100.10")
    assert (found.account_id, found.candidates) == (None, ())
    assert "source IP 198.51.100.10 was in shared pool shared-a, which names no account" in (
        found.reason
    )


def test_a_shared_pool_is_narrowed_by_the_send_log_of_the_recipient(session: Session) -> None:
    """The member that mailed the recipient from that IP around that time is the sender."""
    first, first_identity = make_account(session, "1", domain="one.example")
    second, second_identity = make_account(session, "2", domain="two.example")
    make_shared_pool(session, "shared-a", ["198.51.100.10"], [first, second], since=LONG_AGO)
    sent = NOW - timedelta(hours=3)
    make_sent_mail(
        session,
        first,
        first_identity,
        1,
        domain="one.example",
        source_ip="198.51.100.10",
        recipient="ann@mail.example.net",
        sent_at=sent,
    )
    make_sent_mail(
        session,
        second,
        second_identity,
        2,
        domain="two.example",
        source_ip="198.51.100.10",
        recipient="bob@mail.example.net",
        sent_at=sent,
    )
    found = resolve(
        session,
        at=sent + timedelta(minutes=2),
        source_ip="198.51.100.10",
        recipient_hash=recipient_hash("ann@mail.example.net"),
    )
    assert summary(found) == (first, "recipient", "high", True)
    redacted = resolve(
        session,
        at=sent + timedelta(minutes=2),
        source_ip="198.51.100.10",
        recipient_hash=recipient_hash("xxxxxxxx@mail.example.net"),
    )
    assert redacted.settled is False


def test_a_mailbox_sending_through_the_shared_pool_is_high(session: Session) -> None:
    """A hosted mailbox's address, confirmed by the pool its organisation sends through."""
    account, _ = make_account(session, "org", domain="corp.example")
    box = make_resource(session, account, "mailbox", "pat@corp.example", since=LONG_AGO)
    make_shared_pool(session, "mail-pool", ["198.51.100.20"], [account], since=LONG_AGO)
    alone = resolve(session, from_address="pat@corp.example")
    pooled = resolve(session, from_address="Pat@Corp.example", source_ip="198.51.100.20")
    assert (summary(alone), alone.resource_id) == ((account, "mailbox", "medium", True), box)
    assert summary(pooled) == (account, "mailbox", "high", True)


def test_a_pool_the_account_was_not_in_lowers_its_confidence(session: Session) -> None:
    """Evidence for an account that did not send through the IP's pool is doubted."""
    member, _ = make_account(session, "1", domain="one.example")
    outsider, _ = make_account(session, "2", domain="two.example")
    make_shared_pool(session, "shared-a", ["198.51.100.10"], [member], since=LONG_AGO)
    found = resolve(session, from_domain="two.example", source_ip="198.51.100.10")
    assert summary(found) == (outsider, "from_domain", "low", False)
    assert "shared pool shared-a" in found.reason


# --- SMS, push, the provider's own account id, weak evidence --------------------------------------


def test_numbers_sender_ids_push_resources_and_sending_account_ids(session: Session) -> None:
    """Each names its account: numbers and push resources high, sender ids medium."""
    account, _ = make_account(session, "5150", domain="texts.example")
    make_resource(session, account, "origination_number", "+14155550100", since=LONG_AGO)
    make_resource(session, account, "sender_id", "ACMEBANK", since=LONG_AGO)
    make_resource(
        session,
        account,
        "push_application",
        "arn:aws:sns:eu-west-1:5150:app/GCM/acme",
        since=LONG_AGO,
    )
    assert summary(resolve(session, origination_number="+1 (415) 555-0100")) == (
        account,
        "origination_number",
        "high",
        True,
    )
    assert summary(resolve(session, sender_id="AcmeBank")) == (account, "sender_id", "medium", True)
    assert summary(
        resolve(session, push_application="arn:aws:sns:eu-west-1:5150:app/GCM/acme")
    ) == (account, "push_application", "high", True)
    assert summary(resolve(session, sending_account_id="5150")) == (
        account,
        "sending_account_id",
        "high",
        True,
    )


def test_a_link_and_the_complainant_agreeing_make_medium(session: Session) -> None:
    """A linked domain alone is weak; the complainant in the account's send log confirms it."""
    account, identity = make_account(session, domain="offers.example")
    make_sent_mail(
        session, account, identity, 1, domain="offers.example", recipient="kim@mail.example.net"
    )
    link = resolve(session, url="https://offers.example/deal?id=1")
    both = resolve(
        session,
        url="https://offers.example/deal?id=1",
        complainant_hash=recipient_hash("kim@mail.example.net"),
    )
    assert summary(link) == (account, "url_domain", "low", False)
    assert summary(both) == (account, "recipient", "medium", True)


def test_nothing_found_says_what_was_tried(session: Session) -> None:
    """An event nothing resolves carries the reason it waits in the inbox."""
    make_account(session)
    found = resolve(session, message_id="<nobody@else.example>", source_ip="192.0.2.77")
    assert summary(found) == (None, None, None, False)
    assert found.reason == (
        "Nothing names one of our accounts: its message ids are not in the send log; "
        "source IP 192.0.2.77 is not in our address space."
    )


def test_a_batch_is_resolved_in_order(session: Session) -> None:
    """Many events in one call come back in their order, each with its own answer."""
    accounts = [make_account(session, str(n), domain=f"d{n}.example") for n in range(30)]
    session.flush()
    events = [EventFacts({"from_domain": (f"d{n % 31}.example",)}, NOW) for n in range(200)]
    found = attribute_events(events, SqlInventoryLookup(session))
    expected = [accounts[n % 31][0] if n % 31 < 30 else None for n in range(200)]
    assert [a.account_id for a in found] == expected
