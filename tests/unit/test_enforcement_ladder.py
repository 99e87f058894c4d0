"""Enforcement ladder: the account action table, refusals, opposites and reinstatement."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abusedesk.enforcement.errors import (
    ActionNotAllowed,
    NoOpposite,
    ReasonRequired,
    UnknownAction,
    UnknownStanding,
)
from abusedesk.enforcement.ladder import (
    ACCOUNT_ACTIONS,
    AccountAction,
    ResourceAction,
    Standing,
    allowed_actions,
    is_account_action,
    needs_second_approver,
    opposite,
    plan_account_action,
)

A = AccountAction
S = Standing

EXPECTED = {
    A.WARN: ({S.HEALTHY}, S.WARNED),
    A.REVIEW: ({S.HEALTHY, S.WARNED}, S.UNDER_REVIEW),
    A.THROTTLE: ({S.HEALTHY, S.WARNED, S.UNDER_REVIEW}, S.THROTTLED),
    A.PAUSE: ({S.HEALTHY, S.WARNED, S.UNDER_REVIEW, S.THROTTLED}, S.PAUSED),
    A.SUSPEND: ({S.HEALTHY, S.WARNED, S.UNDER_REVIEW, S.THROTTLED, S.PAUSED}, S.SUSPENDED),
    A.TERMINATE: (set(S.ALL) - {S.TERMINATED}, S.TERMINATED),
    A.CLEAR_WARNING: ({S.WARNED}, S.HEALTHY),
    A.END_REVIEW: ({S.UNDER_REVIEW}, S.HEALTHY),
    A.LIFT_THROTTLE: ({S.THROTTLED}, S.UNDER_REVIEW),
    A.RESUME: ({S.PAUSED}, S.THROTTLED),
    A.UNSUSPEND: ({S.SUSPENDED}, S.PAUSED),
    A.REINSTATE: (set(S.ALL) - {S.HEALTHY}, S.HEALTHY),
}

ALL_PAIRS = [(action, standing) for action in A.ALL for standing in S.ALL]


def test_the_table_covers_every_account_action_with_known_standings() -> None:
    """Every account action has a row; every standing in it is a rung of the ladder."""
    assert set(ACCOUNT_ACTIONS) == set(A.ALL)
    for sources, target in ACCOUNT_ACTIONS.values():
        assert sources <= set(S.ALL)
        assert target in S.ALL


@pytest.mark.parametrize(("action", "standing"), ALL_PAIRS)
def test_every_action_from_every_standing_follows_the_table(action: str, standing: str) -> None:
    """Allowed pairs move to the table's target; every other pair is refused with choices."""
    sources, target = EXPECTED[action]
    if standing in sources:
        move = plan_account_action(standing, action, reason="complaint rate 0.6%")
        assert (move.current, move.target, move.action) == (standing, target, action)
        assert move.audit_tag == f"enforcement:account:{action}"
    else:
        with pytest.raises(ActionNotAllowed) as refused:
            plan_account_action(standing, action, reason="complaint rate 0.6%")
        assert f"cannot {action} an account that is {standing}" in str(refused.value)
        assert set(refused.value.allowed) == allowed_actions(standing)


def test_terminated_allows_only_reinstate_and_that_needs_a_second_approver() -> None:
    """Termination is final except for reinstatement, which needs approval from terminated."""
    assert allowed_actions(S.TERMINATED) == {A.REINSTATE}
    assert needs_second_approver(A.REINSTATE, S.TERMINATED)
    assert not needs_second_approver(A.REINSTATE, S.PAUSED)


def test_reinstatement_returns_to_healthy_and_restarts_the_metrics_window() -> None:
    """Only reinstate says the metrics window restarts, and it says so in words."""
    move = plan_account_action(S.PAUSED, A.REINSTATE, reason="fix accepted")
    assert (move.target, move.restarts_metrics_window) == (S.HEALTHY, True)
    assert "metrics window restarts" in move.describe()
    other = plan_account_action(S.PAUSED, A.RESUME, reason="fix accepted")
    assert (other.restarts_metrics_window, "metrics window" in other.describe()) == (False, False)


def test_an_action_needs_a_reason() -> None:
    """A blank reason is refused, naming the action."""
    with pytest.raises(ReasonRequired, match="say why the account gets pause"):
        plan_account_action(S.HEALTHY, A.PAUSE, reason="  ")


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    """Unknown standings and actions name what is known; resource actions do not move accounts."""
    with pytest.raises(UnknownStanding, match="known: healthy, warned"):
        plan_account_action("banned", A.PAUSE, reason="x")
    with pytest.raises(UnknownAction, match="account actions: warn"):
        plan_account_action(S.HEALTHY, "ban", reason="x")
    with pytest.raises(UnknownAction, match="acts on a resource"):
        plan_account_action(S.HEALTHY, ResourceAction.BLOCK_DOMAIN, reason="x")
    with pytest.raises(UnknownAction):
        opposite("ban")


@pytest.mark.parametrize(
    ("action", "undo"),
    [
        (A.WARN, A.CLEAR_WARNING),
        (A.REVIEW, A.END_REVIEW),
        (A.THROTTLE, A.LIFT_THROTTLE),
        (A.PAUSE, A.RESUME),
        (A.SUSPEND, A.UNSUSPEND),
        (A.TERMINATE, A.REINSTATE),
        (ResourceAction.BLOCK_IDENTITY, ResourceAction.UNBLOCK_IDENTITY),
        (ResourceAction.BLOCK_DOMAIN, ResourceAction.UNBLOCK_DOMAIN),
        (ResourceAction.BLOCK_NUMBER, ResourceAction.UNBLOCK_NUMBER),
        (ResourceAction.BLOCK_SENDER_ID, ResourceAction.UNBLOCK_SENDER_ID),
        (ResourceAction.BLOCK_MAILBOX, ResourceAction.UNBLOCK_MAILBOX),
        (ResourceAction.SUPPRESS_ADDRESS, ResourceAction.UNSUPPRESS_ADDRESS),
    ],
)
def test_opposites(action: str, undo: str) -> None:
    """Each punitive action has its opposite; lifting ones reverse back, except reinstate."""
    assert opposite(action) == undo
    if undo != A.REINSTATE:
        assert opposite(undo) == action


def test_reinstate_has_no_single_opposite() -> None:
    """Reinstate erases the whole climb, so no single action reverses it."""
    with pytest.raises(NoOpposite, match="reinstate has no single opposite"):
        opposite(A.REINSTATE)


def test_resource_actions_are_not_account_actions() -> None:
    """Resource actions leave the standing alone."""
    assert [is_account_action(a) for a in (ResourceAction.BLOCK_MAILBOX, A.PAUSE)] == [False, True]


def test_a_lifted_punitive_action_steps_back_to_where_it_started_for_the_usual_climb() -> None:
    """Lifting a pause after a throttle keeps the throttle (the partial appeal case)."""
    throttled = plan_account_action(S.UNDER_REVIEW, A.THROTTLE, reason="x").target
    paused = plan_account_action(throttled, A.PAUSE, reason="x").target
    assert plan_account_action(paused, opposite(A.PAUSE), reason="appeal").target == S.THROTTLED


@given(st.lists(st.sampled_from(A.ALL), max_size=20), st.sampled_from(S.ALL))
def test_any_allowed_sequence_then_reinstate_ends_healthy(actions: list[str], start: str) -> None:
    """Whatever allowed actions run, reinstating (when not healthy) ends the account healthy."""
    standing = start
    for action in actions:
        if action in allowed_actions(standing):
            standing = plan_account_action(standing, action, reason="r").target
    if standing != S.HEALTHY:
        standing = plan_account_action(standing, A.REINSTATE, reason="r").target
    assert standing == S.HEALTHY
