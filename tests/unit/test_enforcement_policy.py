"""Enforcement policy: loading with problems by place, round trip, rates and repeat offences."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from abusedesk.enforcement.errors import ActionNotAllowed, InvalidPolicy, ReasonRequired
from abusedesk.enforcement.ladder import AccountAction, ResourceAction, Standing
from abusedesk.enforcement.policy import PastAction, Policy, required_action

A = AccountAction
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 3,
        "author": "mara",
        "note": "stricter complaint pause",
        "thresholds": {
            "bounce_rate": {"review": 0.05, "pause": 0.10},
            "complaint_rate": {"review": 0.001, "pause": 0.004},
        },
        "review_period_days": 21,
        "repeat_offences": [{"action": "review", "within_days": 60, "escalate_to": "pause"}],
        "approval_required": ["suspend", "terminate", "block_domain"],
    }
    doc.update(changes)
    return doc


def test_from_dict_and_to_dict_round_trip() -> None:
    """The JSON form loads and comes back the same."""
    policy = Policy.from_dict(_doc())
    assert policy.to_dict() == {
        **_doc(),
        "approval_required": ["block_domain", "suspend", "terminate"],
    }
    assert (policy.version, policy.review_period, policy.thresholds["complaint_rate"].pause) == (
        3,
        timedelta(days=21),
        0.004,
    )


def test_the_default_policy_round_trips() -> None:
    """A policy built in code loads back equal from its JSON form."""
    policy = Policy(version=1, author="mara")
    assert Policy.from_dict(policy.to_dict()) == policy


def test_defaults_mirror_the_provider_thresholds() -> None:
    """Missing thresholds take bounce 5%/10% and complaint 0.1%/0.5%."""
    policy = Policy.from_dict({"version": 1, "author": "mara"})
    assert [policy.action_for_rate("bounce_rate", r) for r in (0.049, 0.05, 0.0999, 0.10)] == [
        None,
        A.REVIEW,
        A.REVIEW,
        A.PAUSE,
    ]
    assert [policy.action_for_rate("complaint_rate", r) for r in (0.0009, 0.001, 0.005)] == [
        None,
        A.REVIEW,
        A.PAUSE,
    ]
    with pytest.raises(InvalidPolicy, match="unknown metric"):
        policy.action_for_rate("spamtrap_hits", 1)


def test_every_problem_is_named_by_place() -> None:
    """A bad document lists each problem with where it is."""
    bad = _doc(
        version=0,
        author=" ",
        note=5,
        thresholds={
            "bounce_rate": {"review": 0.2, "pause": 0.1},
            "complaint_rate": {"review": 0, "pause": "x"},
            "trap_rate": {},
        },
        review_period_days=0,
        repeat_offences=[
            {"action": "review", "within_days": 0, "escalate_to": "explode"},
            {"action": "pause", "within_days": 5, "escalate_to": "pause"},
            "x",
        ],
        approval_required=["terminate", "ban"],
    )
    with pytest.raises(InvalidPolicy) as problem:
        Policy.from_dict(bad)
    assert problem.value.problems == (
        "version: give a whole number from 1 up",
        "author: say who wrote this version",
        "note: give the change in words",
        "thresholds.bounce_rate: the review rate must be below the pause rate",
        "thresholds.complaint_rate.review: give a fraction above 0 and at most 1",
        "thresholds.complaint_rate.pause: give a fraction above 0 and at most 1",
        "thresholds.trap_rate: unknown metric; known: bounce_rate, complaint_rate",
        "review_period_days: give a whole number of days from 1 up",
        "repeat_offences[0].escalate_to: name a punitive account action:"
        " pause, review, suspend, terminate, throttle, warn",
        "repeat_offences[0].within_days: give a whole number of days from 1 up",
        "repeat_offences[1]: escalate_to must differ from action",
        "repeat_offences[2]: give {action, within_days, escalate_to}",
        "approval_required: unknown action 'ban'",
        "approval_required: add back suspend; suspend and terminate always need a second approver",
    )


def test_suspend_and_terminate_cannot_be_removed_from_approvals() -> None:
    """Neither the JSON form nor the constructor drops the two always-approved actions."""
    with pytest.raises(InvalidPolicy, match="add back suspend, terminate"):
        Policy.from_dict(_doc(approval_required=[]))
    with pytest.raises(InvalidPolicy):
        Policy(version=1, author="x", approval_required=frozenset({A.PAUSE}))


def test_needs_approval_combines_policy_and_ladder() -> None:
    """Policy additions count; reinstating a terminated account needs approval too."""
    policy = Policy.from_dict(_doc())
    assert policy.needs_approval(ResourceAction.BLOCK_DOMAIN, Standing.HEALTHY)
    assert policy.needs_approval(A.SUSPEND, Standing.PAUSED)
    assert not policy.needs_approval(A.PAUSE, Standing.HEALTHY)
    assert policy.needs_approval(A.REINSTATE, Standing.TERMINATED)
    assert not policy.needs_approval(A.REINSTATE, Standing.PAUSED)


def test_a_second_review_for_the_same_cause_within_the_window_pauses_at_once() -> None:
    """The repeat rule escalates and says why, naming the policy version and the last time."""
    policy = Policy.from_dict(_doc())
    history = [PastAction(A.REVIEW, "complaint_rate", NOW - timedelta(days=30))]
    need = required_action(
        policy, Standing.HEALTHY, history, A.REVIEW, cause="complaint_rate", at=NOW
    )
    assert (need.action, need.escalated, need.policy_version) == (A.PAUSE, True, 3)
    assert need.why == (
        "policy v3: a repeat review for complaint_rate within 60 days (last on 2026-10-21)"
        " requires pause"
    )


@pytest.mark.parametrize(
    "history",
    [
        [],
        [PastAction(A.REVIEW, "bounce_rate", NOW - timedelta(days=30))],
        [PastAction(A.REVIEW, "complaint_rate", NOW - timedelta(days=61))],
        [PastAction(A.WARN, "complaint_rate", NOW - timedelta(days=1))],
        [PastAction(A.REVIEW, "complaint_rate", NOW + timedelta(days=1))],
    ],
)
def test_no_repeat_keeps_the_proposal(history: list[PastAction]) -> None:
    """Other causes, older actions, other actions and later actions do not escalate."""
    policy = Policy.from_dict(_doc())
    need = required_action(
        policy, Standing.HEALTHY, history, A.REVIEW, cause="complaint_rate", at=NOW
    )
    assert (need.action, need.escalated) == (A.REVIEW, False)
    assert need.why.startswith("policy v3: no repeat rule applies")


def test_the_requirement_is_checked_against_the_ladder() -> None:
    """A proposal the ladder forbids from the standing is refused; a cause is required."""
    policy = Policy.from_dict(_doc())
    with pytest.raises(ActionNotAllowed):
        required_action(policy, Standing.PAUSED, [], A.REVIEW, cause="bounce_rate", at=NOW)
    with pytest.raises(ReasonRequired):
        required_action(policy, Standing.HEALTHY, [], A.REVIEW, cause=" ", at=NOW)
    block = required_action(
        policy, Standing.PAUSED, [], ResourceAction.BLOCK_DOMAIN, cause="spamtrap", at=NOW
    )
    assert block.action == ResourceAction.BLOCK_DOMAIN
