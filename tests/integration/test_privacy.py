"""Retention and erasure on a real database and evidence store."""

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.core.hashing import sha256_hex
from abusedesk.intake.service import Incoming
from abusedesk.privacy.errors import EvidencePurged, InvalidAddress
from abusedesk.privacy.model import EvidenceClass, RetentionPolicy
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.privacy import (
    due_counts,
    erase_address,
    erasures_of,
    purge_expired,
    read_raw_evidence,
)
from abusedesk.storage.tables import AuditEntry, Case, ErasureRequest, Event, Report
from tests.factories.inventory import make_account, make_sent_mail

DOMAIN = "news.example.com"
JANE = "Jane.Doe@Mail.Example.NET"
JANE_HASH = sha256_hex(JANE.lower().encode())
BOB = "bob@other.example.org"
POLICY = RetentionPolicy()
KEY = b"test erasure key"


def _forward(serial: int, *, complainant: str, message_id: str) -> bytes:
    """Return a person's complaint forwarding the message they were sent (free-form)."""
    return f"""From: Someone <{complainant}>
To: abuse@example.org
Subject: Fwd: junk {serial}
Date: Tue, 11 Mar 2025 08:15:00 +0000
Message-ID: <fwd-{serial}@home.example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd{serial}"

--fwd{serial}
Content-Type: text/plain

Please make this stop.

--fwd{serial}
Content-Type: message/rfc822

From: News <news@{DOMAIN}>
To: {complainant}
Subject: An offer for {complainant}
Date: Mon, 10 Mar 2025 22:01:00 +0000
Message-ID: <{message_id}>

Buy at https://offers.{DOMAIN}/buy

--fwd{serial}--
""".replace("\n", "\r\n").encode()


def _sms(number: str, text: str) -> bytes:
    """Return an SMS spam report (the JSON import format) sent to *number*."""
    return json.dumps(
        {
            "abusedesk_report": "sms",
            "origination_number": "+15550100147",
            "message_text": text,
            "received_at": "2025-03-04T15:02:11-05:00",
            "recipient_number": number,
        }
    ).encode()


def _ingest(container: Container, raws: list[bytes]) -> list[int]:
    stored = container.intake.accept_many(
        [Incoming(raw, "smtp", {"mail_from": "x@y.example", "peer": "192.0.2.7"}) for raw in raws]
    )
    while container.embedded.run_once():
        pass
    return [s.report_id for s in stored]


def _attributed_forwards(container: Container, complainants: list[str]) -> list[int]:
    with unit_of_work(container.sessions) as session:
        account_id, resource_id = make_account(session, domain=DOMAIN)
        mails = [
            make_sent_mail(session, account_id, resource_id, n, domain=DOMAIN)
            for n in range(len(complainants))
        ]
    return _ingest(
        container,
        [
            _forward(n, complainant=who, message_id=mail.message_id)
            for n, (who, mail) in enumerate(zip(complainants, mails, strict=True))
        ],
    )


def _events(session: Session) -> dict[int, Event]:
    return {e.id: e for e in session.scalars(select(Event).order_by(Event.id))}


def _links(session: Session) -> list[tuple[Any, ...]]:
    """What a purge must never change: events' facts, attribution and case links, cases."""
    events = session.execute(
        select(
            Event.id,
            Event.report_id,
            Event.category,
            Event.account_id,
            Event.case_id,
            Event.attribution_state,
            Event.occurred_at,
        ).order_by(Event.id)
    ).all()
    cases = session.execute(
        select(Case.id, Case.account_id, Case.event_count, Case.reporter_count).order_by(Case.id)
    ).all()
    return [tuple(row) for row in [*events, *cases]]


def _purge(container: Container, now: datetime, limit: int = 500) -> dict[str, int]:
    with unit_of_work(container.sessions) as session:
        return purge_expired(session, container.reports.evidence, now, POLICY, limit).counts


def test_recipients_go_after_their_period_and_everything_else_stays(
    container: Container,
) -> None:
    """At 30 days + 1, recipient and complainant hashes leave the events, marked; bodies,
    raw bytes, attribution, case links and counts stay."""
    _attributed_forwards(container, [JANE])
    with unit_of_work(container.sessions) as session:
        before_links = _links(session)
        (before,) = _events(session).values()
    now = utcnow() + timedelta(days=31)
    counts = _purge(container, now)
    with unit_of_work(container.sessions) as session:
        (after,) = _events(session).values()
        report = session.get(Report, after.report_id)
        assert report is not None
        assert _links(session) == before_links
        assert before.case_id is not None
        assert (report.raw is not None, report.raw_purged_at) == (True, None)
    assert counts[EvidenceClass.RECIPIENT_ADDRESS] == 1
    assert {"recipient_hash", "complainant_hash"} <= set(before.indicators)
    assert set(before.indicators) - set(after.indicators) == {"recipient_hash", "complainant_hash"}
    assert after.details == before.details
    assert after.purged_classes == {EvidenceClass.RECIPIENT_ADDRESS: now.isoformat()}


def test_raw_and_bodies_go_after_theirs(container: Container) -> None:
    """At 180 days + 1 the raw bytes, the envelope's sender and the message bodies are gone
    too, each marked; links and counts stay."""
    (forward_id,) = _attributed_forwards(container, [JANE])
    (sms_id,) = _ingest(
        container, [_sms("+1 555 010 0199", "Your parcel: http://parcel.example/x")]
    )
    with unit_of_work(container.sessions) as session:
        before_links = _links(session)
        before = [set(e.details) for e in _events(session).values()]
    now = utcnow() + timedelta(days=181)
    counts = _purge(container, now)
    with unit_of_work(container.sessions) as session:
        assert _links(session) == before_links
        reports = {r.id: r for r in session.scalars(select(Report))}
        events = list(_events(session).values())
    assert counts[EvidenceClass.RAW_REPORT] == 2
    assert counts[EvidenceClass.MESSAGE_BODY] == 2
    assert [
        (r.raw, r.blob_path, r.raw_purge_reason, r.envelope)
        for r in (reports[forward_id], reports[sms_id])
    ] == [(None, None, "retention", {})] * 2
    assert [
        before_keys - set(e.details) for before_keys, e in zip(before, events, strict=True)
    ] == [
        {"evidence_subject"},
        {"message_text"},
    ]
    assert [sorted(e.purged_classes or {}) for e in events] == [
        ["message_body", "recipient_address"]
    ] * 2


def test_purge_is_idempotent_and_audited_once_per_class(container: Container) -> None:
    """A second purge at the same time changes nothing and writes no audit row."""
    _attributed_forwards(container, [JANE, BOB])
    now = utcnow() + timedelta(days=181)
    first = _purge(container, now)
    with unit_of_work(container.sessions) as session:
        rows_after_first = [
            tuple(r) for r in session.execute(select(Event.id, Event.indicators, Event.details))
        ]
        audits = session.execute(
            select(AuditEntry.tag, AuditEntry.subject_id, AuditEntry.actor)
            .where(AuditEntry.tag == "privacy:evidence:purge")
            .order_by(AuditEntry.id)
        ).all()
    second = _purge(container, now)
    with unit_of_work(container.sessions) as session:
        rows_after_second = [
            tuple(r) for r in session.execute(select(Event.id, Event.indicators, Event.details))
        ]
        audit_count = len(
            session.scalars(
                select(AuditEntry.id).where(AuditEntry.tag == "privacy:evidence:purge")
            ).all()
        )
    assert (first[EvidenceClass.RAW_REPORT], first[EvidenceClass.RECIPIENT_ADDRESS]) == (2, 2)
    assert set(second.values()) == {0}
    assert rows_after_second == rows_after_first
    assert [tuple(a) for a in audits] == [
        ("privacy:evidence:purge", "raw_report", "system:retention"),
        ("privacy:evidence:purge", "message_body", "system:retention"),
        ("privacy:evidence:purge", "recipient_address", "system:retention"),
    ]
    assert audit_count == 3


def test_purge_goes_in_batches_and_counts_what_is_due(container: Container) -> None:
    """With a limit of one, each call purges one more; the dry-run count goes down with it."""
    _attributed_forwards(container, [JANE, BOB, "carol@third.example"])
    now = utcnow() + timedelta(days=31)
    with unit_of_work(container.sessions) as session:
        due_before = due_counts(session, now, POLICY)
    steps = [_purge(container, now, limit=1)[EvidenceClass.RECIPIENT_ADDRESS] for _ in range(4)]
    with unit_of_work(container.sessions) as session:
        due_after = due_counts(session, now, POLICY)
    assert (due_before[EvidenceClass.RECIPIENT_ADDRESS], steps) == (3, [1, 1, 1, 0])
    assert due_before[EvidenceClass.RAW_REPORT] == 0
    assert due_after[EvidenceClass.RECIPIENT_ADDRESS] == 0


def test_evidence_not_yet_due_is_left_alone(container: Container) -> None:
    """At 29 days nothing is purged."""
    _attributed_forwards(container, [JANE])
    assert set(_purge(container, utcnow() + timedelta(days=29)).values()) == {0}


def test_report_still_in_the_pipeline_keeps_its_bytes(container: Container) -> None:
    """A pending report past the raw period is not purged: the parser still needs it."""
    container.intake.accept_many([Incoming(_sms("+15550100199", "hello there"), "api", {})])
    assert _purge(container, utcnow() + timedelta(days=181))[EvidenceClass.RAW_REPORT] == 0


def _big(serial: int) -> bytes:
    return _forward(serial, complainant=BOB, message_id=f"m{serial}@x") + b"x" * 70_000


def _blob_paths(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_shared_blob_is_kept_until_no_report_needs_it(container: Container) -> None:
    """The store is content-addressed: a blob two reports name goes with the second purge."""
    (first,) = container.intake.accept_many([Incoming(_big(1), "api", {})])
    root = container.settings.storage.evidence_dir
    with unit_of_work(container.sessions) as session:
        row = session.get(Report, first.report_id)
        assert row is not None
        assert row.blob_path is not None
        key = row.blob_path
        # A second report naming the same blob, as any row with that key would.
        session.add(
            Report(
                sha256="f" * 64,
                channel="api",
                size=row.size,
                raw=None,
                blob_path=key,
                envelope={},
                received_at=row.received_at + timedelta(days=10),
                status="done",
                next_attempt_at=row.received_at,
            )
        )
        session.execute(update(Report).values(status="done"))
    after_first = utcnow() + timedelta(days=181)
    _purge(container, after_first)
    kept = _blob_paths(root)
    _purge(container, after_first + timedelta(days=10))
    assert (kept, _blob_paths(root)) == ([key], [])


def test_blob_is_not_deleted_when_the_purge_rolls_back(container: Container) -> None:
    """A purge whose transaction fails leaves the blob and the row as they were."""
    (stored,) = container.intake.accept_many([Incoming(_big(2), "api", {})])
    with unit_of_work(container.sessions) as session:
        session.execute(update(Report).values(status="done"))
    session = container.sessions()
    try:
        purge_expired(
            session, container.reports.evidence, utcnow() + timedelta(days=181), POLICY, 10
        )
    finally:
        # The transaction never commits: as when the process dies or the commit fails.
        session.rollback()
        session.close()
    with unit_of_work(container.sessions) as session:
        raw = read_raw_evidence(
            session, container.reports.evidence, stored.report_id, "analyst", utcnow()
        )
    assert raw == _big(2)


def test_raw_view_is_audited_and_purged_raw_is_refused(container: Container) -> None:
    """Reading raw evidence writes an audit row naming the viewer; once purged, a read
    raises EvidencePurged saying when and why."""
    (report_id,) = _attributed_forwards(container, [JANE])
    with unit_of_work(container.sessions) as session:
        raw = read_raw_evidence(session, container.reports.evidence, report_id, "ann", utcnow())
        views = session.execute(
            select(AuditEntry.actor, AuditEntry.subject_type, AuditEntry.subject_id).where(
                AuditEntry.tag == "privacy:evidence:view"
            )
        ).all()
    _purge(container, utcnow() + timedelta(days=181))
    with unit_of_work(container.sessions) as session, pytest.raises(EvidencePurged) as error:
        read_raw_evidence(session, container.reports.evidence, report_id, "ann", utcnow())
    assert JANE.encode() in raw
    assert [tuple(v) for v in views] == [("ann", "report", str(report_id))]
    assert "retention period" in str(error.value)


# --- erasure -----------------------------------------------------------------------


def _erase(container: Container, address: str) -> tuple[int, dict[str, int]]:
    with unit_of_work(container.sessions) as session:
        result = erase_address(
            session,
            container.reports.evidence,
            address,
            actor="dpo@provider.example",
            reason="ticket 4711",
            now=utcnow(),
            key=KEY,
        )
    return result.request_id, result.counts


def test_erasure_finds_the_address_in_raw_indicators_and_details(container: Container) -> None:
    """Erasing an address (in another case) removes the raw reports that hold it, its
    hashes from indicators, and its mentions in details; other addresses stay."""
    jane_report, bob_report = _attributed_forwards(container, [JANE, BOB])
    with unit_of_work(container.sessions) as session:
        before = {e.report_id: e for e in _events(session).values()}
    _, counts = _erase(container, "  jane.doe@mail.EXAMPLE.net ")
    with unit_of_work(container.sessions) as session:
        after = {e.report_id: e for e in _events(session).values()}
        reports = {r.id: r for r in session.scalars(select(Report))}
    jane_after = after[jane_report]
    assert counts == {"events": 1, "reports": 1}
    assert (reports[jane_report].raw, reports[jane_report].raw_purge_reason) == (None, "erasure")
    assert reports[bob_report].raw is not None
    assert before[jane_report].indicators["recipient_hash"] == [JANE_HASH]
    assert "recipient_hash" not in jane_after.indicators
    assert "complainant_hash" not in jane_after.indicators
    assert jane_after.details["evidence_subject"] == "An offer for [erased]"
    assert (
        JANE.lower()
        not in json.dumps(
            [jane_after.indicators, jane_after.details, jane_after.attribution_reason]
        ).lower()
    )
    assert after[bob_report].indicators == before[bob_report].indicators
    assert after[bob_report].details == before[bob_report].details
    assert "erasure" in (jane_after.purged_classes or {})


def test_erasure_finds_a_hash_in_details_and_a_phone_number(container: Container) -> None:
    """A phone number's hash quoted in details is removed, other values stay; its SMS
    event loses its recipient hash, and both reports their raw bytes."""
    (sms_id,) = _ingest(container, [_sms("+1 555 010 0199", "Parcel for you")])
    (other_id,) = _ingest(container, [_sms("+1 555 010 0123", "Parcel for you too")])
    with unit_of_work(container.sessions) as session:
        event = session.scalars(select(Event).where(Event.report_id == other_id)).one()
        number_hash = sha256_hex(b"+15550100199")
        session.execute(
            update(Event)
            .where(Event.id == event.id)
            .values(details={**event.details, "matched": [number_hash, "other"]})
        )
    _, counts = _erase(container, "+1 555 010 0199")
    with unit_of_work(container.sessions) as session:
        events = {e.report_id: e for e in _events(session).values()}
        reports = {r.id: r for r in session.scalars(select(Report))}
    # The second report's event named the number, so its raw report goes too.
    assert counts == {"events": 2, "reports": 2}
    assert "recipient_hash" not in events[sms_id].indicators
    assert events[other_id].details["matched"] == ["other"]
    assert "recipient_hash" in events[other_id].indicators
    assert (reports[sms_id].raw_purge_reason, reports[other_id].raw_purge_reason) == (
        "erasure",
        "erasure",
    )


def test_erasure_is_recorded_by_keyed_hash_and_audited(container: Container) -> None:
    """The request keeps who, why, when and the counts, never the address; an audit row
    names it; the address finds its request again through the key."""
    _attributed_forwards(container, [JANE])
    request_id, counts = _erase(container, JANE)
    with unit_of_work(container.sessions) as session:
        request = session.get(ErasureRequest, request_id)
        assert request is not None
        audit_rows = session.execute(
            select(
                AuditEntry.actor, AuditEntry.subject_id, AuditEntry.reason, AuditEntry.after
            ).where(AuditEntry.tag == "privacy:address:erase")
        ).all()
        found = erasures_of(session, JANE.upper(), key=KEY)
        stored = json.dumps(
            [request.address_hash, request.actor, request.reason, request.counts]
        ).lower()
    assert (request.actor, request.reason, request.counts) == (
        "dpo@provider.example",
        "ticket 4711",
        counts,
    )
    assert JANE.lower() not in stored
    assert JANE_HASH not in stored
    assert [tuple(r) for r in audit_rows] == [
        ("dpo@provider.example", str(request_id), "ticket 4711", {"counts": counts})
    ]
    assert [r.id for r in found] == [request_id]


def test_erasing_something_that_is_no_address_changes_nothing(container: Container) -> None:
    """A value that is neither an email address nor a phone number is refused."""
    with pytest.raises(InvalidAddress), unit_of_work(container.sessions) as session:
        erase_address(
            session,
            container.reports.evidence,
            "not an address",
            actor="dpo",
            reason="x",
            now=utcnow(),
            key=KEY,
        )
    with unit_of_work(container.sessions) as session:
        assert session.scalars(select(ErasureRequest.id)).all() == []


def test_erasure_deletes_a_blob_only_it_held(container: Container) -> None:
    """A report kept as a blob that holds the address loses the blob at commit."""
    container.intake.accept_many([Incoming(_big(3), "api", {})])
    root = container.settings.storage.evidence_dir
    before = _blob_paths(root)
    _, counts = _erase(container, BOB)
    assert (len(before), _blob_paths(root), counts["reports"]) == (1, [], 1)
