"""Case states: the transition table, reopening, close reasons and the SLA clock."""

from pathlib import Path

import pytest

from abusedesk.cases.errors import InvalidCloseReason, TransitionNotAllowed, UnknownState
from abusedesk.cases.states import (
    TRANSITIONS,
    CaseState,
    CloseReason,
    SlaClock,
    check_close_reason,
    check_transition,
    is_open,
    plan_transition,
    sla_clock,
)

S = CaseState


def test_the_table_names_every_state_and_only_known_states() -> None:
    """Every state has a row, and every target in the table is a known state."""
    targets = set().union(*TRANSITIONS.values())
    assert (set(TRANSITIONS), targets <= set(S.ALL)) == (set(S.ALL), True)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.NEW, S.TRIAGED),
        (S.TRIAGED, S.INVESTIGATING),
        (S.INVESTIGATING, S.WAITING_ON_CUSTOMER),
        (S.WAITING_ON_CUSTOMER, S.ESCALATED),
        (S.ESCALATED, S.ACTIONED),
        (S.ACTIONED, S.RESOLVED),
        (S.RESOLVED, S.CLOSED),
        (S.WAITING_ON_CUSTOMER, S.INVESTIGATING),
        (S.NEW, S.CLOSED),
    ],
)
def test_the_workflow_moves_are_allowed(current: str, target: str) -> None:
    """The documented flow, a customer's answer and a bulk close from new are all allowed."""
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.NEW, S.ACTIONED),
        (S.NEW, S.RESOLVED),
        (S.CLOSED, S.NEW),
        (S.RESOLVED, S.ACTIONED),
        (S.ACTIONED, S.INVESTIGATING),
        (S.INVESTIGATING, S.NEW),
        (S.TRIAGED, S.TRIAGED),
    ],
)
def test_moves_outside_the_table_are_refused(current: str, target: str) -> None:
    """Skipping triage, going back to new, undoing an action or standing still are refused."""
    with pytest.raises(TransitionNotAllowed):
        check_transition(current, target)


def test_a_refused_move_names_the_allowed_targets() -> None:
    """The error says which states the case could move to instead."""
    with pytest.raises(TransitionNotAllowed) as caught:
        check_transition(S.CLOSED, S.ACTIONED)
    assert str(caught.value) == (
        "case cannot go from closed to actioned; allowed from closed: investigating, triaged"
    )


def test_no_state_moves_back_to_new() -> None:
    """New is entered only when a case opens."""
    assert [s for s, targets in TRANSITIONS.items() if S.NEW in targets] == []


def test_every_state_can_reach_closed() -> None:
    """No state is a dead end: from each one a path leads to closed."""
    reach = {S.CLOSED}
    changed = True
    while changed:
        before = len(reach)
        reach |= {s for s, targets in TRANSITIONS.items() if targets & reach}
        changed = len(reach) != before
    assert reach == set(S.ALL)


@pytest.mark.parametrize("state", ["open", "", "Closed"])
def test_unknown_states_are_named(state: str) -> None:
    """A state that is not in the table raises UnknownState, whichever side it is on."""
    with pytest.raises(UnknownState):
        check_transition(state, S.TRIAGED)
    with pytest.raises(UnknownState):
        check_transition(S.NEW, state)


@pytest.mark.parametrize(
    ("current", "target"), [(S.CLOSED, S.TRIAGED), (S.RESOLVED, S.INVESTIGATING)]
)
def test_leaving_resolved_or_closed_is_a_reopen(current: str, target: str) -> None:
    """Reopening is a transition with its own audit tag, not a state."""
    move = plan_transition(current, target)
    assert (move.is_reopen, move.audit_tag) == (True, "case:case:reopen")


def test_an_ordinary_move_is_named_after_its_target() -> None:
    """Moving to escalated is audited as an escalation."""
    move = plan_transition(S.INVESTIGATING, S.ESCALATED)
    assert (move.is_reopen, move.audit_tag) == (False, "case:case:escalate")


def test_closing_without_a_reason_is_refused() -> None:
    """A close always names its reason."""
    with pytest.raises(InvalidCloseReason):
        plan_transition(S.TRIAGED, S.CLOSED)


def test_closing_with_an_unknown_reason_is_refused() -> None:
    """Only the listed close reasons are accepted."""
    with pytest.raises(InvalidCloseReason):
        check_close_reason(S.TRIAGED, "bored")


@pytest.mark.parametrize("reason", CloseReason.BULK)
def test_bulk_close_reasons_close_a_new_case(reason: str) -> None:
    """Duplicate, false positive and no action close a case from any open state, even new."""
    assert plan_transition(S.NEW, S.CLOSED, close_reason=reason).close_reason == reason


def test_closing_as_resolved_needs_the_work_done() -> None:
    """A case under investigation cannot be closed as resolved; an actioned one can."""
    with pytest.raises(InvalidCloseReason):
        check_close_reason(S.INVESTIGATING, CloseReason.RESOLVED)
    assert check_close_reason(S.ACTIONED, CloseReason.RESOLVED) == CloseReason.RESOLVED


def test_a_close_reason_on_another_move_is_refused() -> None:
    """A close reason given when not closing is an error, not silently dropped."""
    with pytest.raises(InvalidCloseReason):
        plan_transition(S.TRIAGED, S.INVESTIGATING, close_reason=CloseReason.NO_ACTION)


@pytest.mark.parametrize(
    ("state", "clock"),
    [
        (S.NEW, SlaClock.RUNNING),
        (S.ESCALATED, SlaClock.RUNNING),
        (S.WAITING_ON_CUSTOMER, SlaClock.PAUSED),
        (S.RESOLVED, SlaClock.STOPPED),
        (S.CLOSED, SlaClock.STOPPED),
    ],
)
def test_the_sla_clock_follows_the_state(state: str, clock: str) -> None:
    """The clock runs while the team owes work, pauses on the customer, stops when resolved."""
    assert sla_clock(state) == clock


def test_only_closed_cases_give_up_their_slot() -> None:
    """A resolved case still counts as the account's open case; a closed one does not."""
    assert (is_open(S.RESOLVED), is_open(S.CLOSED)) == (True, False)


def test_the_documented_table_is_the_table_in_the_code() -> None:
    """docs/cases.md shows exactly the transitions and SLA clocks the code enforces."""
    text = (Path(__file__).parents[2] / "docs" / "cases.md").read_text(encoding="utf-8")
    section = text.split("| from | may move to | SLA clock |")[1].split("\n\n")[0]
    documented = {}
    for line in section.splitlines()[2:]:
        state, targets, clock = (cell.strip() for cell in line.strip("|").split("|"))
        documented[state.strip("`")] = ({t.strip(" `") for t in targets.split(",")}, clock)
    assert documented == {s: (set(TRANSITIONS[s]), sla_clock(s)) for s in S.ALL}
