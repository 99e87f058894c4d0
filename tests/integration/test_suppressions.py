"""Suppression lists: collected from real complaints and hard bounces, pushed to a receiver.

Reports go through the real pipeline (intake, parsing, attribution by the send log,
aggregation); the push goes to a real webhook receiver on 127.0.0.1.
"""

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from abusedesk.bootstrap import Container
from abusedesk.connectors import ActionCall, Connector, LocalConnector, SuppressionEntry
from abusedesk.core.clock import utcnow
from abusedesk.core.hashing import sha256_hex
from abusedesk.enforcement.signing import RetryPolicy
from abusedesk.pipeline.enforcement import push_suppressions
from abusedesk.storage import enforcement, suppressions
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.suppressions import SuppressionState
from abusedesk.storage.tables import AuditEntry, Event, Resource, Suppression, table_of
from tests.factories.arf import arf_naming
from tests.factories.dsn import hard_bounce
from tests.factories.inventory import SentMail, make_account, make_sent_mail
from tests.support.casework import subject_tags
from tests.support.enforcement import pending_suppression
from tests.support.unattributed import ingest
from tests.support.webhook import provider_down, running_receiver, webhook_to

DOMAIN = "customer1.example.com"
RETRY = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(hours=1), max_attempts=2)


def complaint(mail: SentMail, complainant: str, serial: int) -> bytes:
    """Return an ARF abuse report naming *complainant* about *mail*."""
    return arf_naming(
        complainant, message_id=mail.message_id, from_domain=mail.domain, serial=serial
    )


def _account_with_mail(container: Container, recipients: list[str]) -> tuple[int, list[SentMail]]:
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session, "acct-1", domain=DOMAIN)
    return account_id, _more_mail(container, account_id, recipients)


def _more_mail(
    container: Container, account_id: int, recipients: list[str], *, start: int = 1
) -> list[SentMail]:
    with unit_of_work(container.sessions) as session:
        resource_id = session.scalar(select(Resource.id).where(Resource.account_id == account_id))
        return [
            make_sent_mail(
                session, account_id, int(resource_id or 0), n, domain=DOMAIN, recipient=r
            )
            for n, r in enumerate(recipients, start=start)
        ]


def _collect(container: Container) -> int:
    with unit_of_work(container.sessions) as session:
        return suppressions.collect_suppressions(session, now=utcnow())


def _listed(container: Container, account_id: int) -> list[tuple[str, str, str]]:
    with unit_of_work(container.sessions) as session:
        rows = suppressions.account_suppressions(session, account_id)
    return sorted((r.address_hash, r.reason, r.state) for r in rows)


def _push(
    container: Container,
    connector: Connector,
    *,
    now: datetime,
    batch_size: int,
    rng: random.Random | None = None,
) -> list[suppressions.PushOutcome]:
    """Push what is due at *now*, each batch on its own; return the outcomes (none raised)."""
    pushes = push_suppressions(
        container.sessions, connector, now=now, retry=RETRY, batch_size=batch_size, rng=rng
    )
    assert pushes.errors == []
    return pushes.outcomes


def test_complaints_and_hard_bounces_are_collected_once(container: Container) -> None:
    """A complainant and a hard bounce join the list; a soft bounce does not; once each."""
    account_id, (jane, gone, busy) = _account_with_mail(
        container, ["Jane@Mail.example.net", "gone@mail.example.net", "busy@mail.example.net"]
    )
    ingest(
        container,
        [
            complaint(jane, "Jane@Mail.example.net", 1),
            hard_bounce(gone, "gone@mail.example.net", 2),
            hard_bounce(busy, "busy@mail.example.net", 3, status="4.2.0"),
        ],
    )
    first = _collect(container)
    assert first == 2
    assert _listed(container, account_id) == sorted(
        [
            (suppressions.address_hash("jane@mail.example.net"), "complaint", "pending"),
            (suppressions.address_hash("gone@mail.example.net"), "hard_bounce", "pending"),
        ]
    )
    # The watermark: a second sweep reads nothing new and adds nothing.
    assert _collect(container) == 0
    # A second complaint from the same address adds no second row.
    [again] = _more_mail(container, account_id, ["jane@mail.example.net"], start=9)
    ingest(container, [complaint(again, "jane@mail.example.net", 4)])
    assert _collect(container) == 0
    with unit_of_work(container.sessions) as session:
        tags = subject_tags(session, "account", account_id)
    assert tags.count("suppression:collect") == 1


def test_a_late_aggregated_event_is_still_collected(container: Container) -> None:
    """An event aggregated after the watermark moved on (a late attribution) is read."""
    account_id, (jane, gone) = _account_with_mail(
        container, ["jane@mail.example.net", "gone@mail.example.net"]
    )
    ingest(container, [complaint(jane, "jane@mail.example.net", 1)])
    assert _collect(container) == 1
    ingest(container, [hard_bounce(gone, "gone@mail.example.net", 2)])
    with unit_of_work(container.sessions) as session:
        # As if the bounce had waited in the unattributed inbox and was aggregated later.
        session.execute(
            update(table_of(Event))
            .where(Event.category == "bounce")
            .values(aggregated_at=utcnow() + timedelta(hours=1))
        )
    assert _collect(container) == 1
    assert len(_listed(container, account_id)) == 2


def test_pending_suppressions_are_pushed_in_batches_to_the_receiver(
    container: Container,
) -> None:
    """Two batches of at most two hashes each; the receiver verifies them; all pushed."""
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session, "acct-1", domain=DOMAIN)
        for n in range(3):
            pending_suppression(session, account_id, f"user{n}@mail.example.net", now=utcnow())
    now = utcnow()
    with running_receiver() as receiver:
        outcomes = _push(container, webhook_to(receiver.url), now=now, batch_size=2)
    assert [(o.addresses, o.state) for o in outcomes] == [(2, "pushed"), (1, "pushed")]
    assert receiver.outcomes() == ["applied", "applied"]
    first = receiver.applied[0]
    assert (first["type"], first["account"], first["hash"]) == (
        "suppression_list",
        "acct-1",
        "sha256-lowercase",
    )
    assert first["idempotency_key"] == outcomes[0].push_key
    assert receiver.requests[0].headers["Idempotency-Key"] == outcomes[0].push_key
    assert [e["address_sha256"] for e in first["entries"]] == [
        sha256_hex(b"user0@mail.example.net"),
        sha256_hex(b"user1@mail.example.net"),
    ]
    assert {e["reason"] for e in first["entries"]} == {"complaint"}
    with unit_of_work(container.sessions) as session:
        counts = suppressions.suppression_counts(session, account_id)
    assert counts == {"pending": 0, "pushed": 3, "dead": 0, "lifted": 0}


def test_a_failed_push_is_retried_with_the_same_batch_then_dead_lettered(
    container: Container,
) -> None:
    """Down: the batch keeps its key, retries when due, dies after max attempts, comes back."""
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session, "acct-1", domain=DOMAIN)
        pending_suppression(
            session, account_id, "jane@mail.example.net", reason="hard_bounce", now=utcnow()
        )
    down = provider_down()
    now = utcnow()
    rng = random.Random(3)
    [failed] = _push(container, down, now=now, batch_size=10, rng=rng)
    assert _push(container, down, now=now, batch_size=10, rng=rng) == []
    assert (failed.state, failed.attempts) == ("pending", 1)
    assert failed.next_attempt_at is not None
    assert "could not reach" in (failed.failure or "")
    [dead] = _push(container, down, now=failed.next_attempt_at, batch_size=10, rng=rng)
    with unit_of_work(container.sessions) as session:
        letters = enforcement.dead_letters(session)
    assert (dead.push_key, dead.state, dead.attempts) == (failed.push_key, "dead", 2)
    assert [(d.kind, d.push_key, d.account_external_id, d.attempts) for d in letters] == [
        ("suppressions", failed.push_key, "acct-1", 2)
    ]
    assert letters[0].what == "suppression list: 1 address(es)"
    later = failed.next_attempt_at + timedelta(hours=2)
    with unit_of_work(container.sessions) as session:
        assert suppressions.retry_dead_push(session, dead.push_key, actor="ben", now=later) == 1
        with pytest.raises(enforcement.NotFound):
            suppressions.retry_dead_push(session, dead.push_key, actor="ben", now=later)
    with running_receiver() as receiver:
        [pushed] = _push(container, webhook_to(receiver.url), now=later, batch_size=10)
    with unit_of_work(container.sessions) as session:
        assert enforcement.dead_letters(session) == []
        tags = subject_tags(session, "suppression_push", dead.push_key)
    assert (pushed.state, pushed.attempts) == ("pushed", 3)
    assert receiver.requests[0].headers["Idempotency-Key"] == failed.push_key
    assert tags == [
        "suppression:fail",
        "suppression:dead_letter",
        "suppression:retry_dead",
        "suppression:push",
    ]


class LiftsDuring:
    """The webhook connector, with an analyst's unsuppress action recorded during the push."""

    def __init__(self, inner: Connector, container: Container, address: str) -> None:
        self.inner = inner
        self.container = container
        self.address = address

    def apply(self, call: ActionCall) -> None:
        self.inner.apply(call)

    def push_suppressions(
        self, account_external_id: str, entries: Sequence[SuppressionEntry], idempotency_key: str
    ) -> None:
        with unit_of_work(self.container.sessions) as session:
            account_id = session.scalar(select(Suppression.account_id).limit(1))
            assert account_id is not None
            suppressions.lift_by_action(
                session, account_id, sha256_hex(self.address.encode()), action_id=7, now=utcnow()
            )
        self.inner.push_suppressions(account_external_id, entries, idempotency_key)


def test_an_address_lifted_while_its_batch_is_out_stays_lifted(container: Container) -> None:
    """The push records the rest as pushed and counts the lifted one for a check."""
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session, "acct-1", domain=DOMAIN)
        for name in ("jane", "joe"):
            pending_suppression(session, account_id, f"{name}@mail.example.net", now=utcnow())
    with running_receiver() as receiver:
        connector = LiftsDuring(webhook_to(receiver.url), container, "joe@mail.example.net")
        [outcome] = _push(container, connector, now=utcnow(), batch_size=10)
    with unit_of_work(container.sessions) as session:
        after = session.scalar(select(AuditEntry.after).where(AuditEntry.tag == "suppression:push"))
    assert (outcome.state, outcome.addresses) == ("pushed", 1)
    assert _listed(container, account_id) == sorted(
        [
            (sha256_hex(b"jane@mail.example.net"), "complaint", "pushed"),
            (sha256_hex(b"joe@mail.example.net"), "complaint", "lifted"),
        ]
    )
    assert after is not None
    assert after["changed_during_push"] == 1


def test_the_local_connector_marks_pushes_done(container: Container) -> None:
    """Embedded mode: the list is ours, so a push through the local connector succeeds."""
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session, "acct-1", domain=DOMAIN)
        assert suppressions.suppress_by_action(
            session, account_id, sha256_hex(b"x@mail.example.net"), action_id=1, now=utcnow()
        ).state == (SuppressionState.PUSHED)
        pending_suppression(session, account_id, "y@mail.example.net", now=utcnow())
    outcomes = _push(container, LocalConnector(), now=utcnow(), batch_size=5)
    assert [(o.addresses, o.state) for o in outcomes] == [(1, "pushed")]


def test_bad_hashes_are_refused() -> None:
    """Only 64 lowercase hex digits are a hash; an empty address cannot be hashed."""
    with pytest.raises(suppressions.InvalidAddressHash):
        suppressions.check_hash("JANE@mail.example.net")
    with pytest.raises(suppressions.InvalidAddressHash):
        suppressions.address_hash("  ")
    assert suppressions.address_hash(" Jane@Mail.Example.NET ") == sha256_hex(
        b"jane@mail.example.net"
    )
    entry = SuppressionEntry(sha256_hex(b"a@b.example"), "complaint", utcnow())
    assert set(entry.to_json()) == {"address_sha256", "reason", "first_seen_at"}
