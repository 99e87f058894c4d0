"""A small incident written straight into the tables, for reviews' timelines.

Account 4411 sends spam on 2026-11-02; a spike is raised, a case opened, assigned, noted,
the account suspended, the customer told and answering, the spike ended. Account 5522
has an event and a note in the same hours, and 4411 an event weeks before: neither
belongs in a review of 4411's spike.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from abusedesk.storage.signals import raise_signal, resolve_signal
from abusedesk.storage.tables import (
    Case,
    CaseHistoryEntry,
    CaseNote,
    CustomerMessage,
    EnforcementAction,
    Event,
    Report,
)
from tests.factories.inventory import make_account

DAY = datetime(2026, 11, 2, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    """Return the time *hour*:*minute* UTC on the incident's day."""
    return DAY + timedelta(hours=hour, minutes=minute)


@dataclass(frozen=True)
class Incident:
    """The ids of what the incident wrote."""

    account_id: int
    other_account_id: int
    case_id: int
    other_case_id: int
    signal_id: int
    other_signal_id: int
    action_id: int


def seed_incident(session: Session) -> Incident:
    """Write the incident; return its ids."""
    account_id, _ = make_account(session, "4411", domain="news.example.com")
    other_id, _ = make_account(session, "5522", domain="shop.example.org")
    report = Report(
        sha256="0" * 64,
        channel="smtp",
        size=100,
        raw=b"x",
        received_at=at(10),
        status="processed",
        next_attempt_at=at(10),
    )
    session.add(report)
    session.flush()
    case = Case(
        account_id=account_id,
        category_group="spam",
        status="closed",
        first_seen_at=at(10, 5),
        last_seen_at=at(11, 10),
        opened_at=at(10, 6),
        closed_at=at(15),
    )
    other_case = Case(
        account_id=other_id, category_group="spam", status="new", opened_at=at(10, 31)
    )
    session.add_all([case, other_case])
    session.flush()
    events = [
        (account_id, at(10, 5), "spam", "reporter-a.example"),
        (account_id, at(10, 20), "spam", "reporter-b.example"),
        (account_id, at(10, 50), "spam", "reporter-a.example"),
        (account_id, at(11, 10), "phishing", "reporter-a.example"),
        (other_id, at(10, 30), "spam", "reporter-a.example"),
        (account_id, DAY - timedelta(days=13), "spam", "reporter-a.example"),
    ]
    for seq, (owner, occurred, category, reporter) in enumerate(events):
        session.add(
            Event(
                report_id=report.id,
                seq=seq,
                category=category,
                service="email",
                report_format="arf",
                occurred_at=occurred,
                reporter=reporter,
                indicators={"recipient_address": "victim@example.net"},
                account_id=owner,
                attribution_state="attributed",
                case_id=case.id if owner == account_id else other_case.id,
                created_at=occurred,
            )
        )
    session.add_all(
        [
            CaseHistoryEntry(
                case_id=case.id,
                at=at(10, 6),
                actor="system:aggregate",
                kind="opened",
                to_value="new",
                reason="first event of group spam",
            ),
            CaseHistoryEntry(
                case_id=case.id,
                at=at(11, 30),
                actor="lee",
                kind="assigned",
                to_value="ana",
            ),
            CaseNote(
                case_id=case.id,
                author="ana",
                body="Looks like a purchased list:\nevery address is a role account.",
                created_at=at(11, 45),
            ),
            CaseNote(
                case_id=other_case.id, author="bob", body="Not this one.", created_at=at(11, 46)
            ),
        ]
    )
    action = EnforcementAction(
        account_id=account_id,
        action="suspend",
        proposed_action="suspend",
        cause="spam",
        state="executed",
        policy_version=1,
        policy_reason="third strike",
        needs_approval=True,
        evidence={"case_ids": [case.id], "event_ids": [], "figures": {}},
        reason="complaints from a purchased list",
        proposed_by="ana",
        proposed_at=at(12),
        approved_by="lee",
        approved_at=at(12, 10),
        executed_by="system:connector",
        executed_at=at(12, 11),
        case_id=case.id,
    )
    session.add(action)
    session.flush()
    for direction, kind, subject, created, by in (
        ("out", "action_notice", "Your account is suspended", at(12, 12), "system:notices"),
        ("in", "customer_reply", "We fixed it", at(13), "customer"),
    ):
        session.add(
            CustomerMessage(
                case_id=case.id,
                account_id=account_id,
                action_id=action.id,
                direction=direction,
                kind=kind,
                channel="email",
                from_address="abuse@provider.example",
                to_address="owner@news.example.com",
                subject=subject,
                body="the body stays out of reviews",
                message_id=f"<{kind}@provider.example>",
                state="sent" if direction == "out" else "received",
                created_by=by,
                created_at=created,
            )
        )
    signal_id = raise_signal(
        session,
        kind="spike.jump",
        subject_type="account",
        subject_id=str(account_id),
        reason="3 distinct recipients complained about account 4411",
        figures={"hour": at(10).isoformat(), "observed": 3},
        at=at(11),
        account_id=account_id,
        severity="medium",
    )
    other_signal_id = raise_signal(
        session,
        kind="rate.under_review",
        subject_type="account",
        subject_id=str(other_id),
        reason="complaint rate of 5522",
        figures={},
        at=at(11, 5),
        account_id=other_id,
    )
    assert signal_id is not None
    assert other_signal_id is not None
    resolve_signal(session, signal_id, at=at(14), by="ana", resolution="handled")
    session.flush()
    return Incident(
        account_id=account_id,
        other_account_id=other_id,
        case_id=case.id,
        other_case_id=other_case.id,
        signal_id=signal_id,
        other_signal_id=other_signal_id,
        action_id=action.id,
    )
