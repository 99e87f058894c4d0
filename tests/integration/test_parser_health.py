"""Parser health on a real database: outcomes per reporter and format, over windows."""

import json
from datetime import timedelta

from sqlalchemy import update

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.parser_health import OutcomeCount, count_outcomes, health_table
from abusedesk.storage.tables import Report
from tests.factories.arf import arf_report

DOMAIN = "news.example.com"
SES_DELIVERY = {
    "notificationType": "Delivery",
    "mail": {
        "timestamp": "2025-03-05T10:00:00.000Z",
        "source": "hello@app.example.com",
        "messageId": "0100019a5555eeee-0000",
        "destination": ["someone@example.net"],
    },
    "delivery": {"timestamp": "2025-03-05T10:00:01.000Z", "recipients": ["someone@example.net"]},
}
SES_BROKEN = {"notificationType": "Complaint", "mail": "not an object"}


def _ingest(container: Container, batch: list[Incoming]) -> list[int]:
    stored = container.intake.accept_many(batch)
    while container.embedded.run_once():
        pass
    return [s.report_id for s in stored]


def _mixed(container: Container) -> list[int]:
    """Store and process two ARF, one garbage, one SES delivery and one broken SES report."""
    return _ingest(
        container,
        [
            Incoming(arf_report(message_id=f"m{n}@x", from_domain=DOMAIN, serial=n), "smtp", {})
            for n in range(2)
        ]
        + [
            Incoming(b"\x00 garbage \xff", "smtp", {"mail_from": "Alice@Mail.Example.ORG"}),
            Incoming(json.dumps(SES_DELIVERY).encode(), "sns", {}),
            Incoming(json.dumps(SES_BROKEN).encode(), "api", {}),
        ],
    )


def _counts(container: Container, hours: int = 24) -> list[OutcomeCount]:
    with read_only(container.sessions) as session:
        return count_outcomes(session, now=utcnow(), windows={"w": timedelta(hours=hours)})


def test_outcomes_are_counted_per_reporter_and_format(container: Container) -> None:
    """Each report counts once under its reporter, format and outcome."""
    _mixed(container)
    assert [
        OutcomeCount("api", "none", "failed", "w", 1),
        OutcomeCount("fbl.example.net", "arf", "parsed", "w", 2),
        OutcomeCount("mail.example.org", "none", "unknown", "w", 1),
        OutcomeCount("sns", "ses", "empty", "w", 1),
    ] == _counts(container)


def test_unprocessed_reports_count_as_pending(container: Container) -> None:
    """A stored report no worker has taken yet is pending under its channel."""
    container.intake.accept_many([Incoming(b"not yet read", "imap", {})])
    assert [OutcomeCount("imap", "none", "pending", "w", 1)] == _counts(container)


def test_reports_older_than_the_window_are_left_out(container: Container) -> None:
    """Only reports received within the window are counted, in each window separately."""
    ids = _mixed(container)
    with unit_of_work(container.sessions) as session:
        session.execute(
            update(Report)
            .where(Report.id.in_(ids[:2]))
            .values(received_at=utcnow() - timedelta(hours=30))
        )
    with read_only(container.sessions) as session:
        counts = count_outcomes(
            session,
            now=utcnow(),
            windows={"24h": timedelta(hours=24), "7d": timedelta(days=7)},
        )
    arf = [c for c in counts if c.reporter == "fbl.example.net"]
    assert [OutcomeCount("fbl.example.net", "arf", "parsed", "7d", 2)] == arf


def test_a_sender_address_is_reduced_to_its_last_domain(container: Container) -> None:
    """An envelope sender with several @ gives only what follows the last one, lowercased."""
    _ingest(container, [Incoming(b"junk bytes", "smtp", {"mail_from": "a@b@Relay.Example"})])
    assert [OutcomeCount("relay.example", "none", "unknown", "w", 1)] == _counts(container)


def test_health_table_puts_the_worst_reporter_first(container: Container) -> None:
    """Rows are sorted by success rate, lowest first."""
    _mixed(container)
    rows = health_table(_counts(container), window="w")
    assert [(r.reporter, r.report_format, r.success_rate) for r in rows] == [
        ("api", "none", 0.0),
        ("mail.example.org", "none", 0.0),
        ("fbl.example.net", "arf", 1.0),
        ("sns", "ses", 1.0),
    ]
