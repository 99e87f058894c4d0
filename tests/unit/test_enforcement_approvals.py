"""Approvals and appeals: self-approval, unapproved execution, conflicted reviewers, plans."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abusedesk.enforcement.approvals import (
    AppealDecision,
    check_appeal_reviewer,
    check_approver,
    check_executable,
    plan_appeal_decision,
)
from abusedesk.enforcement.errors import (
    ApprovalRequired,
    ConflictedReviewer,
    InvalidAppealDecision,
    ReasonRequired,
    SelfApproval,
)
from abusedesk.enforcement.ladder import AccountAction, ResourceAction, opposite

A = AccountAction
R = ResourceAction


def test_the_proposer_cannot_approve() -> None:
    """Self-approval is refused, naming the analyst; another analyst is accepted."""
    with pytest.raises(SelfApproval, match="ana proposed this action and cannot approve it"):
        check_approver(proposed_by="ana", approver=" ana ")
    assert check_approver(proposed_by="ana", approver="ben") == "ben"
    with pytest.raises(ReasonRequired, match="name the approver"):
        check_approver(proposed_by="ana", approver="")


def test_actions_needing_approval_do_not_execute_unapproved() -> None:
    """Unapproved is refused only when approval is needed."""
    with pytest.raises(ApprovalRequired, match="suspend needs a second approver"):
        check_executable(A.SUSPEND, needs_approval=True, approved_by=None)
    check_executable(A.SUSPEND, needs_approval=True, approved_by="ben")
    check_executable(A.PAUSE, needs_approval=False, approved_by=None)


def test_the_appeal_reviewer_neither_proposed_nor_approved() -> None:
    """Proposer and approver are both refused as reviewers."""
    with pytest.raises(ConflictedReviewer, match="ana proposed the action appealed"):
        check_appeal_reviewer("ana", proposed_by="ana", approved_by="ben")
    with pytest.raises(ConflictedReviewer, match="ben approved the action appealed"):
        check_appeal_reviewer("ben", proposed_by="ana", approved_by="ben")
    assert check_appeal_reviewer("cleo", proposed_by="ana", approved_by=None) == "cleo"


def test_uphold_changes_nothing() -> None:
    """An upheld appeal keeps every action."""
    plan = plan_appeal_decision(AppealDecision.UPHOLD, [A.PAUSE], reason="rate still high")
    assert (plan.reversals, plan.kept, plan.changes_anything) == ((), (A.PAUSE,), False)


def test_overturn_unblocks_newest_first_and_reinstates_the_account() -> None:
    """Resource actions are undone by opposites; account actions by one reinstatement."""
    plan = plan_appeal_decision(
        AppealDecision.OVERTURN,
        [R.SUPPRESS_ADDRESS, A.THROTTLE, A.PAUSE, R.BLOCK_DOMAIN],
        reason="forged reports",
    )
    assert plan.reversals == (R.UNBLOCK_DOMAIN, R.UNSUPPRESS_ADDRESS, A.REINSTATE)
    assert plan.kept == ()
    only_resources = plan_appeal_decision(
        AppealDecision.OVERTURN, [R.BLOCK_NUMBER], reason="wrong number"
    )
    assert only_resources.reversals == (R.UNBLOCK_NUMBER,)


def test_only_punitive_actions_are_appealed() -> None:
    """An appeal against a lifting action is refused."""
    with pytest.raises(InvalidAppealDecision, match="not resume"):
        plan_appeal_decision(AppealDecision.UPHOLD, [A.PAUSE, A.RESUME], reason="r")


def test_partial_lifts_the_pause_and_keeps_the_throttle() -> None:
    """A partial decision lifts the named actions and keeps the rest."""
    plan = plan_appeal_decision(
        AppealDecision.PARTIAL, [A.THROTTLE, A.PAUSE], reason="list cleaned", lift=[A.PAUSE]
    )
    assert (plan.reversals, plan.kept) == ((A.RESUME,), (A.THROTTLE,))


@pytest.mark.parametrize(
    ("decision", "lift", "message"),
    [
        ("dismiss", [], "unknown appeal decision 'dismiss'"),
        (AppealDecision.PARTIAL, [], "use overturn to lift all"),
        (AppealDecision.PARTIAL, [A.THROTTLE, A.PAUSE], "use overturn to lift all"),
        (AppealDecision.PARTIAL, [A.SUSPEND], "cannot lift suspend: not among"),
        (AppealDecision.OVERTURN, [A.PAUSE], "only for a partial decision"),
    ],
)
def test_bad_decisions_are_refused(decision: str, lift: list[str], message: str) -> None:
    """Unknown decisions and lifts that do not fit are refused with what to do."""
    with pytest.raises(InvalidAppealDecision, match=message):
        plan_appeal_decision(decision, [A.THROTTLE, A.PAUSE], reason="r", lift=lift)


def test_a_decision_needs_a_reason_and_an_action() -> None:
    """No reason or no appealed action is refused."""
    with pytest.raises(ReasonRequired, match="say why the appeal is decided uphold"):
        plan_appeal_decision(AppealDecision.UPHOLD, [A.PAUSE], reason=" ")
    with pytest.raises(InvalidAppealDecision, match="at least one action"):
        plan_appeal_decision(AppealDecision.UPHOLD, [], reason="r")


@given(
    st.lists(st.sampled_from(sorted(A.PUNITIVE | R.PUNITIVE)), min_size=2, max_size=6, unique=True),
    st.data(),
)
def test_partial_splits_the_appealed_actions(actions: list[str], data: st.DataObject) -> None:
    """Any proper subset lifted: each lifted action is reversed once, the others kept in order."""
    size = data.draw(st.integers(min_value=1, max_value=len(actions) - 1))
    lift = data.draw(st.permutations(actions).map(lambda a: a[:size]))
    plan = plan_appeal_decision(AppealDecision.PARTIAL, actions, reason="r", lift=lift)
    assert sorted(plan.reversals) == sorted(opposite(a) for a in lift)
    assert plan.kept == tuple(a for a in actions if a not in lift)
