"""Monitors' signals become casework: raised once, cases opened or escalated, actions proposed."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from abusedesk.bootstrap import Container
from abusedesk.cases.errors import ReasonRequired
from abusedesk.cases.routing import Tier
from abusedesk.monitoring.rules import SignalRules
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind, Step
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.monitoring import SignalEnded, dismiss_signal
from abusedesk.storage.queues import queue_by_id
from abusedesk.storage.signals import find_signals
from abusedesk.storage.tables import (
    Account,
    AuditEntry,
    Case,
    CaseHistoryEntry,
    EnforcementAction,
    table_of,
)
from tests.support.casework import MONDAY, make_case, make_queue, new_account
from tests.support.monitoring import apply, linked_draft, listing_draft, rate_draft


def _account(container: Container, n: int = 1) -> int:
    with unit_of_work(container.sessions) as session:
        return new_account(session, n)


def _actions(container: Container) -> list[tuple[str, str, str, str, list[int]]]:
    with read_only(container.sessions) as session:
        return [
            (row.action, row.state, row.proposed_by, row.cause, row.evidence["case_ids"])
            for row in session.scalars(select(EnforcementAction).order_by(EnforcementAction.id))
        ]


def _cases(container: Container) -> list[tuple[int, str, str, str | None]]:
    with read_only(container.sessions) as session:
        return [
            (c.account_id, c.category_group, c.status, c.routing_reason and "routed")
            for c in session.scalars(select(Case).order_by(Case.id))
        ]


def test_a_draft_raised_twice_makes_one_signal_one_case_and_one_action(
    container: Container,
) -> None:
    """The same dedupe key applied again records nothing, opens nothing, proposes nothing."""
    account_id = _account(container)
    first = apply(container, [rate_draft(account_id)])
    second = apply(container, [rate_draft(account_id)])
    with read_only(container.sessions) as session:
        signals = find_signals(session, account_id=account_id)
    assert (
        [a.raised for a in first + second],
        len(signals),
        len(_cases(container)),
        len(_actions(container)),
    ) == ([True, False], 1, 1, 1)


def test_a_rate_review_opens_a_routed_reputation_case_and_proposes_a_review(
    container: Container,
) -> None:
    """Step review proposes ``review`` by system:monitor, citing the case and the figures."""
    account_id = _account(container)
    [applied] = apply(container, [rate_draft(account_id)])
    with read_only(container.sessions) as session:
        action = session.scalars(select(EnforcementAction)).one()
        proposal = (action.id, action.action, action.proposed_by, action.cause, action.case_id)
        figures = action.evidence["figures"]
        history = session.scalars(
            select(CaseHistoryEntry.kind).where(CaseHistoryEntry.case_id == applied.case_id)
        ).all()
    assert _cases(container) == [(account_id, "reputation", "new", "routed")]
    assert proposal == (
        applied.action_id,
        "review",
        "system:monitor",
        "complaint_rate",
        applied.case_id,
    )
    assert (figures["rate"], figures["window.days"]) == (0.0031, 7)
    assert "signal" in history
    assert "Rules send rate.under_review to the account's reputation case." in applied.decision
    assert f"Action {applied.action_id} proposes review" in applied.decision


def test_a_pending_pause_proposes_a_pause_that_waits_for_a_second_analyst(
    container: Container,
) -> None:
    """Step propose_pause proposes ``pause``; the default policy makes it need approval."""
    account_id = _account(container)
    [applied] = apply(
        container,
        [rate_draft(account_id, kind=SignalKind.RATE_PENDING_PAUSE, step=Step.PROPOSE_PAUSE)],
    )
    with read_only(container.sessions) as session:
        needs_approval = session.scalar(select(EnforcementAction.needs_approval))
    assert (_actions(container)[0][:2], needs_approval) == (("pause", "proposed"), True)
    assert "waits for a second analyst" in applied.decision


def test_a_pending_pause_is_proposed_beside_a_waiting_review(container: Container) -> None:
    """A pause is a stronger step than a waiting review: it is proposed beside it."""
    account_id = _account(container)
    [first] = apply(container, [rate_draft(account_id)])
    [later] = apply(
        container,
        [rate_draft(account_id, kind=SignalKind.RATE_PENDING_PAUSE, step=Step.PROPOSE_PAUSE)],
        now=MONDAY + timedelta(hours=1),
    )
    actions = _actions(container)
    assert ([a[:2] for a in actions], later.action_id is not None, len(_cases(container))) == (
        [("review", "proposed"), ("pause", "proposed")],
        True,
        1,
    )
    assert f"beside action {first.action_id} (review), a weaker step still waiting" in (
        later.decision
    )


def test_no_second_action_is_proposed_while_the_same_or_a_stronger_one_waits(
    container: Container,
) -> None:
    """A waiting pause holds back a later review and a second pause; the signals say why."""
    account_id = _account(container)
    [pause] = apply(
        container,
        [rate_draft(account_id, kind=SignalKind.RATE_PENDING_PAUSE, step=Step.PROPOSE_PAUSE)],
    )
    review, again = apply(
        container,
        [
            rate_draft(account_id, day="2026-11-03"),
            rate_draft(
                account_id,
                kind=SignalKind.RATE_PENDING_PAUSE,
                step=Step.PROPOSE_PAUSE,
                day="2026-11-03",
            ),
        ],
        now=MONDAY + timedelta(days=1),
    )
    assert ([a[0] for a in _actions(container)], review.action_id, again.action_id) == (
        ["pause"],
        None,
        None,
    )
    assert (
        f"Action {pause.action_id} (pause) already waits for the account, a stronger step,"
        " so no review is proposed again" in review.decision
    )
    assert "(pause) already waits for the account, the same step, so no pause" in again.decision


def test_what_the_ladder_refuses_is_recorded_not_raised(container: Container) -> None:
    """A review of a paused account is refused by the ladder; the signal says so."""
    account_id = _account(container)
    with unit_of_work(container.sessions) as session:
        session.execute(
            update(table_of(Account)).where(Account.id == account_id).values(standing="paused")
        )
    [applied] = apply(container, [rate_draft(account_id)])
    assert (applied.raised, applied.action_id, _actions(container)) == (True, None, [])
    assert "Review was not proposed: cannot review an account that is paused" in applied.decision


def test_a_delisting_ends_its_listing_and_records_itself_as_ended(container: Container) -> None:
    """BLOCKLIST_DELISTED resolves the listing's signal; neither stays open."""
    account_id = _account(container)
    apply(container, [listing_draft("192.0.2.10", account_id=account_id)])
    [delisted] = apply(
        container,
        [listing_draft("192.0.2.10", account_id=account_id, delisted=True)],
        now=MONDAY + timedelta(days=1),
    )
    with read_only(container.sessions) as session:
        signals = find_signals(session, account_id=account_id)
    states = {s.kind: (s.state, s.resolved_by) for s in signals}
    assert states == {
        SignalKind.BLOCKLIST_LISTED: (
            "resolved",
            f"signal {delisted.signal_id} (blocklist.delisted)",
        ),
        SignalKind.BLOCKLIST_DELISTED: ("resolved", "system:monitor"),
    }


def test_a_shared_ip_listing_records_only(container: Container) -> None:
    """A listing no one account holds opens no case and proposes nothing."""
    [applied] = apply(container, [listing_draft("198.51.100.7", account_id=None)])
    assert (applied.raised, applied.case_id, _cases(container), _actions(container)) == (
        True,
        None,
        [],
        [],
    )
    assert "held by no one account" in applied.decision


def test_a_high_severity_link_goes_to_the_advanced_queue(container: Container) -> None:
    """Severity high on a linked-account signal moves its case to an advanced-tier queue."""
    account_id = _account(container)
    with unit_of_work(container.sessions) as session:
        make_queue(session, "rings", tier=Tier.ADVANCED)
    [applied] = apply(container, [linked_draft(account_id)])
    with read_only(container.sessions) as session:
        queue = session.scalar(select(Case.queue_id).where(Case.id == applied.case_id))
        name = queue_by_id(session, queue).name if queue is not None else None
    assert (name, _cases(container)[0][1]) == ("rings", "linked_accounts")
    assert "The case moved to the advanced-tier queue rings." in applied.decision


def test_a_signal_reopens_a_case_closed_within_the_grace_period(container: Container) -> None:
    """A reputation case closed yesterday reopens instead of a new one opening."""
    account_id = _account(container)
    with unit_of_work(container.sessions) as session:
        case_id = make_case(
            session,
            account_id,
            "reputation",
            status="closed",
            opened_at=MONDAY - timedelta(days=1),
            queue="triage",
        )
    [applied] = apply(container, [rate_draft(account_id)])
    assert (applied.case_id, _cases(container)) == (
        case_id,
        [(account_id, "reputation", "triaged", None)],
    )


def test_a_signal_on_an_open_case_raises_its_priority(container: Container) -> None:
    """Joining an open case adds the signal's severity to its priority, in its history."""
    account_id = _account(container)
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, account_id, "reputation", queue="triage")
    [applied] = apply(container, [rate_draft(account_id, severity=Severity.HIGH)])
    with read_only(container.sessions) as session:
        factors = {
            f["name"]: f["points"]
            for f in session.scalar(select(Case.priority_factors).where(Case.id == case_id)) or []
        }
    assert (applied.case_id, factors["signals"]) == (case_id, 12)
    assert "The case's priority rose from 0 to" in applied.decision


def test_a_bad_draft_is_refused_and_the_others_apply(container: Container) -> None:
    """Unknown severity and an unknown account are refused with their reason, not raised."""
    account_id = _account(container)
    good = rate_draft(account_id)
    bad_severity = SignalDraft(**{**good.__dict__, "severity": "urgent", "dedupe_key": "x:1"})
    no_account = SignalDraft(**{**good.__dict__, "account_id": 999_999, "dedupe_key": "x:2"})
    results = apply(container, [bad_severity, no_account, good])
    assert [(r.raised, r.problem) for r in results] == [
        (False, "unknown severity 'urgent'; use low, medium, high"),
        (False, "no account 999999"),
        (True, None),
    ]


def test_rules_can_make_a_kind_record_only(container: Container) -> None:
    """An override with case_group null keeps spam-trap signals off casework."""
    account_id = _account(container)
    rules = SignalRules.from_overrides({SignalKind.SPAM_TRAP: {"case_group": None}})
    trap = rate_draft(account_id, kind=SignalKind.SPAM_TRAP, step=Step.NONE)
    [applied] = apply(container, [trap], rules=rules)
    assert (applied.raised, applied.case_id, _cases(container)) == (True, None, [])


def test_a_healed_rate_ends_its_signal_on_the_case_and_its_priority_falls(
    container: Container,
) -> None:
    """rate.healed resolves the review signal; the case records it and loses its factor."""
    account_id = _account(container)
    [review] = apply(container, [rate_draft(account_id)])
    healed = rate_draft(
        account_id,
        kind=SignalKind.RATE_HEALED,
        step=Step.NONE,
        severity=Severity.LOW,
        at=MONDAY + timedelta(days=2),
        resolves=rate_draft(account_id).dedupe_key,
    )
    [ended] = apply(container, [healed], now=MONDAY + timedelta(days=2))
    with read_only(container.sessions) as session:
        factors = session.scalar(select(Case.priority_factors).where(Case.id == review.case_id))
        steps = session.scalars(
            select(CaseHistoryEntry.to_value)
            .where(CaseHistoryEntry.case_id == review.case_id, CaseHistoryEntry.kind == "signal")
            .order_by(CaseHistoryEntry.id)
        ).all()
    assert (ended.case_id, ended.action_id) == (None, None)
    assert [f["name"] for f in factors or []].count("signals") == 0
    assert steps == [SignalKind.RATE_REVIEW, f"signal {review.signal_id} ended"]
    assert f"its case {review.case_id} records the end" in ended.decision


def test_ending_a_signal_by_hand_is_audited_and_recorded_on_its_case(
    container: Container,
) -> None:
    """dismiss_signal resolves it as the analyst, audits it and writes the case's history."""
    account_id = _account(container)
    [review] = apply(container, [rate_draft(account_id)])
    assert review.signal_id is not None
    with unit_of_work(container.sessions) as session:
        case_id = dismiss_signal(
            session, review.signal_id, actor="ana", reason="a test send", now=MONDAY
        )
    with read_only(container.sessions) as session:
        tags = session.scalars(
            select(AuditEntry.tag).where(AuditEntry.actor == "ana").order_by(AuditEntry.seq)
        ).all()
        last = session.scalars(
            select(CaseHistoryEntry.reason)
            .where(CaseHistoryEntry.case_id == review.case_id)
            .order_by(CaseHistoryEntry.id.desc())
        ).first()
    assert case_id == review.case_id
    assert sorted(tags) == ["case:signal:dismiss", "monitoring:signal:dismiss"]
    assert last == "a test send"


def test_a_signal_cannot_be_ended_twice_or_without_a_reason(container: Container) -> None:
    """An ended signal and an empty reason are refused with their own errors."""
    account_id = _account(container)
    [review] = apply(container, [rate_draft(account_id)])
    assert review.signal_id is not None
    with unit_of_work(container.sessions) as session:
        dismiss_signal(session, review.signal_id, actor="ana", reason="handled", now=MONDAY)
    with pytest.raises(SignalEnded), unit_of_work(container.sessions) as session:
        dismiss_signal(session, review.signal_id, actor="ana", reason="again", now=MONDAY)
    with pytest.raises(ReasonRequired), unit_of_work(container.sessions) as session:
        dismiss_signal(session, review.signal_id, actor="ana", reason="  ", now=MONDAY)
