"""Enforcement actions as stored: proposal, approval, execution through a connector, reversal."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.enforcement.errors import (
    ActionNotAllowed,
    ApprovalRequired,
    InvalidPolicy,
    NoOpposite,
    SelfApproval,
)
from abusedesk.storage import enforcement
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.enforcement import (
    ActionCall,
    ActionState,
    ActionStateConflict,
    InvalidEvidence,
    LocalConnector,
)
from abusedesk.storage.tables import AuditEntry
from tests.support.casework import MONDAY, audit_tags, kinds, make_case, new_account
from tests.support.enforcement import account_standing, executed, propose, tags_of_action

DAY = timedelta(days=1)


class RecordingConnector(LocalConnector):
    """A connector that accepts every call and keeps what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def apply(self, call: ActionCall) -> None:
        """Keep the call."""
        self.calls.append((call.account_external_id, call.action, call.idempotency_key))


class FailingConnector(RecordingConnector):
    """A connector whose provider is down: every call raises, and is counted."""

    def apply(self, call: ActionCall) -> None:
        """Count the call and fail it."""
        super().apply(call)
        raise ConnectionError("provider unreachable")


def test_propose_approve_execute_moves_the_standing(container: Container) -> None:
    """A pause proposed by one analyst, approved by another, executed: the account is paused."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        case_id = make_case(session, account_id)
        proposed = propose(session, account_id, "pause", case_id=case_id)
    with unit_of_work(container.sessions) as session:
        approved = enforcement.approve(session, proposed.id, approver="ben", now=MONDAY + DAY)
        connector = RecordingConnector()
        done = enforcement.execute(
            session, proposed.id, connector, actor="ben", now=MONDAY + 2 * DAY
        )
        steps = kinds(session, case_id)
        case_tags = audit_tags(session, case_id)
    assert (proposed.state, proposed.policy_version, proposed.evidence["case_ids"]) == (
        "proposed",
        1,
        [case_id],
    )
    assert (approved.state, approved.approved_by) == ("approved", "ben")
    assert (done.state, done.executed_by, done.attempts, done.failure) == (
        "executed",
        "ben",
        1,
        None,
    )
    assert connector.calls == [("acct-1", "pause", done.idempotency_key)]
    assert account_standing(container, account_id) == "paused"
    assert steps.count("action") == 3
    assert case_tags[-3:] == [
        "enforcement:action:propose",
        "enforcement:action:approve",
        "enforcement:action:execute",
    ]
    assert tags_of_action(container, proposed.id) == case_tags[-3:]


def test_self_approval_is_refused(container: Container) -> None:
    """The proposer cannot approve their own action; it stays proposed."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        action = propose(
            session, account_id, "suspend", cause="phishing", reason="hosted phishing kit"
        )
    with pytest.raises(SelfApproval), unit_of_work(container.sessions) as session:
        enforcement.approve(session, action.id, approver=" ana ", now=MONDAY)
    with unit_of_work(container.sessions) as session:
        assert enforcement.action_record(session, action.id).state == "proposed"


def test_suspend_without_approval_cannot_execute(container: Container) -> None:
    """Suspend always needs a second approver: executing it unapproved is refused."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        action = propose(
            session, account_id, "suspend", cause="phishing", reason="hosted phishing kit"
        )
    assert action.needs_approval
    with pytest.raises(ApprovalRequired), unit_of_work(container.sessions) as session:
        enforcement.execute(session, action.id, LocalConnector(), actor="ana", now=MONDAY)
    with unit_of_work(container.sessions) as session:
        assert enforcement.action_record(session, action.id).state == "proposed"
    assert account_standing(container, account_id) == "healthy"


def test_connector_failure_leaves_the_action_failed_and_a_retry_succeeds(
    container: Container,
) -> None:
    """A raising connector: failed, attempt counted, standing unchanged; the retry executes."""
    down = FailingConnector()
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        action = propose(
            session, account_id, "throttle", cause="bounce_rate", reason="bounces at 7%"
        )
    with unit_of_work(container.sessions) as session:
        failed = enforcement.execute(session, action.id, down, actor="ana", now=MONDAY)
    assert (failed.state, failed.attempts, failed.executed_at) == ("failed", 1, None)
    assert failed.failure == "ConnectionError: provider unreachable"
    assert account_standing(container, account_id) == "healthy"
    up = RecordingConnector()
    with unit_of_work(container.sessions) as session:
        done = enforcement.execute(session, action.id, up, actor="ana", now=MONDAY + DAY)
    assert (done.state, done.attempts, done.failure) == ("executed", 2, None)
    assert down.calls[0][2] == up.calls[0][2] == done.idempotency_key
    assert account_standing(container, account_id) == "throttled"
    assert tags_of_action(container, action.id) == [
        "enforcement:action:propose",
        "enforcement:action:fail",
        "enforcement:action:execute",
    ]
    with pytest.raises(ActionStateConflict), unit_of_work(container.sessions) as session:
        enforcement.execute(session, action.id, up, actor="ana", now=MONDAY + DAY)


def test_reverse_proposes_the_opposite_and_marks_the_original_when_it_runs(
    container: Container,
) -> None:
    """Reversing an executed pause proposes resume; executed, the pause reads reversed."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        pause = executed(session, account_id, "pause")
    with unit_of_work(container.sessions) as session:
        undo = enforcement.reverse(
            session,
            pause.id,
            reason="the complaints were a list import",
            actor="ben",
            now=MONDAY + DAY,
        )
        with pytest.raises(ActionStateConflict):
            enforcement.reverse(session, pause.id, reason="again", actor="ben", now=MONDAY + DAY)
    assert (undo.action, undo.reverses_action_id, undo.state) == ("resume", pause.id, "proposed")
    with unit_of_work(container.sessions) as session:
        enforcement.execute(session, undo.id, LocalConnector(), actor="ben", now=MONDAY + DAY)
        original = enforcement.action_record(session, pause.id)
    assert original.state == ActionState.REVERSED
    assert account_standing(container, account_id) == "throttled"
    assert tags_of_action(container, undo.id)[0] == "enforcement:action:reverse"
    assert tags_of_action(container, pause.id)[-1] == "enforcement:action:reversed"


def test_reinstate_has_no_single_opposite(container: Container) -> None:
    """Reversing a reinstatement is refused with NoOpposite."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        warn = propose(session, account_id, "warn", cause="spam", reason="first complaints")
        enforcement.execute(session, warn.id, LocalConnector(), actor="ana", now=MONDAY)
        back = propose(
            session, account_id, "reinstate", cause="spam", reason="fixed", now=MONDAY + DAY
        )
        enforcement.execute(session, back.id, LocalConnector(), actor="ana", now=MONDAY + DAY)
        with pytest.raises(NoOpposite):
            enforcement.reverse(session, back.id, reason="oops", actor="ben", now=MONDAY + DAY)


def test_repeat_review_escalates_to_pause(container: Container) -> None:
    """A second review for the same cause within 90 days becomes a pause, saying why."""
    local = LocalConnector()
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        first = propose(session, account_id, "review", reason="0.12% complaints")
        enforcement.execute(session, first.id, local, actor="ana", now=MONDAY)
        ended = enforcement.reverse(
            session, first.id, reason="rate back under 0.1%", actor="ana", now=MONDAY + 14 * DAY
        )
        enforcement.execute(session, ended.id, local, actor="ana", now=MONDAY + 14 * DAY)
        other = propose(
            session,
            account_id,
            "review",
            cause="bounce_rate",
            reason="bounces at 6%",
            now=MONDAY + 30 * DAY,
        )
        second = propose(
            session, account_id, "review", reason="0.15% complaints", now=MONDAY + 30 * DAY
        )
    assert (first.action, first.escalated) == ("review", False)
    assert (other.action, other.escalated) == ("review", False)
    assert (second.proposed_action, second.action, second.escalated) == ("review", "pause", True)
    assert second.policy_reason == (
        "policy v1: a repeat review for complaint_rate within 90 days (last on 2026-11-02)"
        " requires pause"
    )


def test_the_ladder_is_checked_at_proposal_and_at_execution(container: Container) -> None:
    """A move the standing forbids is refused when proposed and when it would run."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        with pytest.raises(ActionNotAllowed):
            propose(session, account_id, "resume", cause="spam", reason="no pause to lift")
        warn = propose(session, account_id, "warn", cause="spam", reason="complaints")
        executed(session, account_id, "pause")
        with pytest.raises(ActionNotAllowed):
            enforcement.execute(session, warn.id, LocalConnector(), actor="ana", now=MONDAY)


def test_bad_evidence_and_targets_are_refused(container: Container) -> None:
    """Evidence of the wrong shape, or a resource action without a resource, is refused."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        for evidence in ({}, {"cases": [1]}, {"case_ids": ["one"]}, {"figures": {"rate": True}}):
            with pytest.raises(InvalidEvidence):
                enforcement.propose(
                    session,
                    account_id,
                    "warn",
                    cause="spam",
                    reason="complaints",
                    evidence=evidence,
                    actor="ana",
                    now=MONDAY,
                )
        with pytest.raises(InvalidEvidence):
            propose(session, account_id, "block_domain", cause="spam", reason="complaints")


def test_rejected_action_cannot_run(container: Container) -> None:
    """A rejected action is closed: executing or approving it is refused."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        action = propose(session, account_id, "terminate", cause="fraud", reason="stolen card")
        rejected = enforcement.reject(
            session, action.id, reason="card was not stolen", actor="ben", now=MONDAY
        )
        with pytest.raises(ActionStateConflict):
            enforcement.approve(session, action.id, approver="ben", now=MONDAY)
    assert (rejected.state, rejected.rejected_by) == ("rejected", "ben")
    assert tags_of_action(container, action.id) == [
        "enforcement:action:propose",
        "enforcement:action:reject",
    ]


def test_policy_versions(container: Container) -> None:
    """The default is version 1; saving writes the next version, which then decides."""
    with unit_of_work(container.sessions) as session:
        first = enforcement.current_policy(session)
        second = enforcement.save_policy(
            session,
            {
                "note": "throttle needs approval",
                "approval_required": ["suspend", "terminate", "throttle"],
            },
            actor="mara",
            now=MONDAY,
        )
        with pytest.raises(InvalidPolicy, match="changed meanwhile"):
            enforcement.save_policy(
                session, {"version": 2, "note": "stale"}, actor="mara", now=MONDAY
            )
        with pytest.raises(InvalidPolicy, match="add back suspend"):
            enforcement.save_policy(
                session, {"note": "lax", "approval_required": []}, actor="mara", now=MONDAY
            )
        versions = [p.version for p in enforcement.policy_versions(session)]
        account_id = new_account(session)
        throttle = propose(session, account_id, "throttle", cause="spam", reason="complaints")
        saved = session.scalars(
            select(AuditEntry.tag).where(AuditEntry.subject_type == "enforcement_policy")
        ).all()
    assert (first.version, first.author) == (1, "abusedesk")
    assert (second.version, second.author) == (2, "mara")
    assert versions == [2, 1]
    assert (throttle.policy_version, throttle.needs_approval) == (2, True)
    assert saved == ["enforcement:policy:save"]
