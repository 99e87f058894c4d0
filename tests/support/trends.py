"""A small week of reports, events, casework, actions, appeals and contacts, as rows.

The week of Monday 16 November 2026 (UTC) and its neighbours, written so that every
figure of the weekly report can be counted by hand; `tests/integration/test_trends.py`
holds the hand-worked figures and says where each comes from.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from abusedesk.storage.tables import (
    AccountCluster,
    AppealRow,
    Case,
    ClusterMember,
    CustomerMessage,
    EnforcementAction,
    Event,
    EventIndicator,
    IncidentReview,
    QueueRow,
    Report,
    Signal,
)
from tests.factories.inventory import make_account

WEEK = datetime(2026, 11, 16, tzinfo=UTC)
NOW = WEEK + timedelta(days=14)
_serial = count(1)


@dataclass(frozen=True)
class SeededWeek:
    """The ids the seeded week made."""

    account_a: int
    account_b: int


def at(days: float, hours: float = 0, minutes: float = 0) -> datetime:
    """Return the moment *days*, *hours* and *minutes* after the week's start."""
    return WEEK + timedelta(days=days, hours=hours, minutes=minutes)


def report(
    session: Session,
    received: datetime,
    report_format: str | None,
    events: Sequence[tuple[str, str, str | None, int | None, str | None]] = (),
    *,
    status: str = "done",
    stage: str | None = None,
    warnings: list[Any] | None = None,
) -> int:
    """Write a report received at *received* with *events* (service, category, reporter,
    account id, recipient domain); return its id."""
    serial = next(_serial)
    row = Report(
        sha256=f"{serial:064x}",
        channel="smtp",
        size=100,
        raw=b"x",
        envelope={},
        received_at=received,
        status=status,
        stage=stage,
        report_format=report_format,
        attempts=1,
        next_attempt_at=received,
        processed_at=received,
    )
    if warnings is not None:
        # Left unset otherwise: the pipeline stores no warnings as NULL, not JSON null.
        row.parse_warnings = warnings
    session.add(row)
    session.flush()
    for seq, (service, category, reporter, account_id, recipient_domain) in enumerate(events):
        event = Event(
            report_id=row.id,
            seq=seq,
            category=category,
            service=service,
            report_format=report_format or "none",
            occurred_at=received,
            reporter=reporter,
            indicators={},
            details={},
            account_id=account_id,
            attribution_state="attributed" if account_id else "unattributed",
            attribution_details={},
            created_at=received,
        )
        session.add(event)
        session.flush()
        if recipient_domain:
            session.add(
                EventIndicator(event_id=event.id, key="recipient_domain", value=recipient_domain)
            )
    session.flush()
    return row.id


def _case(session: Session, account_id: int, group: str, **fields: Any) -> int:
    queue_id = session.scalar(select(QueueRow.id).where(QueueRow.name == "triage"))
    status = "closed" if fields.get("closed_at") else "open"
    row = Case(
        account_id=account_id,
        category_group=group,
        status=status,
        queue_id=queue_id,
        **fields,
    )
    session.add(row)
    session.flush()
    return row.id


def _action(
    session: Session, account_id: int, case_id: int | None, action: str, **fields: Any
) -> int:
    state = "executed" if fields.get("executed_at") else "rejected"
    row = EnforcementAction(
        account_id=account_id,
        action=action,
        proposed_action=action,
        cause="spam",
        state=state,
        policy_version=1,
        policy_reason="test",
        needs_approval=False,
        evidence={},
        reason="test",
        proposed_by="ana",
        case_id=case_id,
        **fields,
    )
    session.add(row)
    session.flush()
    return row.id


def _message(
    session: Session, case_id: int, account_id: int, created: datetime, direction: str = "in"
) -> None:
    serial = next(_serial)
    session.add(
        CustomerMessage(
            case_id=case_id,
            account_id=account_id,
            direction=direction,
            kind="reply",
            channel="email",
            from_address="customer@example.com",
            to_address="abuse@provider.example",
            subject="Re: your account",
            body="We will look into it.",
            message_id=f"<m{serial}@example.com>",
            state="received" if direction == "in" else "sent",
            created_by="customer",
            created_at=created,
        )
    )


def seed_week(session: Session) -> SeededWeek:
    """Write the week the trend tests count by hand."""
    a, _ = make_account(session, "acct-a", domain="a.example.com")
    b, _ = make_account(session, "acct-b", domain="b.example.com")
    # This week: 7 events in 6 reports, plus a report that failed to parse and one of an
    # unknown format.
    report(session, at(0, 10), "arf", [("email", "spam", "feedback@yahoo.com", a, "yahoo.com")])
    report(session, at(0, 11), "arf", [("email", "spam", "feedback@yahoo.com", a, "aol.com")])
    report(
        session,
        at(1, 9),
        "arf",
        [("email", "phishing", "gmail.com", b, "gmail.com")],
        warnings=["a part could not be read"],
    )
    report(
        session,
        at(2, 23, 59),
        "xarf",
        [("email", "spam", "abuse.example.net", None, "example.org")],
    )
    report(session, at(6, 23), "sms", [("sms", "sms_spam", "carrier.example", b, None)])
    report(
        session,
        at(3, 12),
        "ses",
        [("email", "bounce", None, a, "outlook.com"), ("email", "bounce", None, a, "outlook.com")],
    )
    report(session, at(4, 8), "arf", [], status="quarantined", stage="parse")
    report(session, at(5, 8), None, [], status="unknown_format")
    # The week before: 2 events; the week after: 1 (neither counted as this week's).
    report(
        session, at(-1, 23, 59), "arf", [("email", "spam", "feedback@yahoo.com", a, "yahoo.com")]
    )
    report(session, at(-7), "arf", [("email", "spam", "gmail.com", b, "gmail.com")])
    report(session, at(7), "arf", [("email", "spam", "feedback@yahoo.com", a, "yahoo.com")])

    c1 = _case(
        session,
        a,
        "spam",
        opened_at=at(-3, 12),
        response_due_at=at(1, 10),
        resolution_due_at=at(10),
    )
    c2 = _case(
        session,
        b,
        "phishing",
        opened_at=at(0, 9),
        first_response_at=at(0, 9, 30),
        response_due_at=at(0, 13),
        closed_at=at(2, 9),
        resolved_at=at(2, 9),
        resolution_due_at=at(3),
    )
    _case(
        session,
        a,
        "other",
        opened_at=at(1, 8),
        first_response_at=at(1, 10),
        response_due_at=at(1, 9),
    )
    _case(session, b, "spam", opened_at=at(-10), closed_at=at(-5))
    _case(session, a, "sms", opened_at=at(8))

    _action(session, b, c2, "warn", proposed_at=at(0, 9, 20), executed_at=at(0, 10))
    a2 = _action(session, a, c1, "suspend", proposed_at=at(1, 12), executed_at=at(2, 12))
    _action(session, a, c1, "pause", proposed_at=at(3), rejected_at=at(3, 13))
    a4 = _action(session, b, c2, "warn", proposed_at=at(-2), executed_at=at(-2, 1))
    for action_id, account_id, submitted, decided, state in (
        (a2, a, at(3), at(5), "overturned"),
        (a4, b, at(-1), at(4), "upheld"),
    ):
        session.add(
            AppealRow(
                action_id=action_id,
                account_id=account_id,
                root_cause="Our account was compromised",
                fix="We changed the password",
                prevention="Two-factor sign-in",
                state=state,
                submitted_at=submitted,
                due_at=submitted + timedelta(days=5),
                reviewer="lena",
                decided_at=decided,
            )
        )
    # Customer contacts: 14 in the four weeks before (half a message a day), then one on
    # Monday and six on Wednesday; an outbound message does not count.
    for i in range(14):
        _message(session, c1, a, at(-28 + 2 * i, 12))
    _message(session, c1, a, at(0, 12))
    for i in range(6):
        _message(session, c2, b, at(2, 8 + i))
    _message(session, c2, b, at(2, 15), direction="out")

    for kind, severity, raised in (
        ("spike.jump", "high", at(2, 6)),
        ("spike.jump", "low", at(2, 7)),
        ("parser_success_drop", "medium", at(4, 9)),
        ("spike.jump", "high", at(8)),
    ):
        session.add(
            Signal(
                kind=kind,
                subject_type="account",
                subject_id=str(a),
                figures={},
                reason=f"{kind} on acct-a",
                state="open",
                raised_at=raised,
                account_id=a,
                severity=severity,
            )
        )
    for title, starts, ends in (
        ("Phishing wave from acct-a", at(2), at(3)),
        ("Last month's outage", at(-30), at(-1)),
    ):
        session.add(
            IncidentReview(
                title=title,
                origin="period",
                account_ids=[a],
                starts_at=starts,
                ends_at=ends,
                state="draft",
                created_by="lena",
                created_at=ends,
                updated_at=ends,
            )
        )
    for key, dissolved in (("ring-1", None), ("ring-old", at(-3))):
        cluster = AccountCluster(
            key=key,
            size=2,
            score=0.8,
            first_seen_at=at(-20),
            last_seen_at=at(0),
            dissolved_at=dissolved,
        )
        session.add(cluster)
        session.flush()
        session.add(ClusterMember(cluster_id=cluster.id, account_id=a))
        session.add(ClusterMember(cluster_id=cluster.id, account_id=b))
    session.flush()
    return SeededWeek(a, b)
