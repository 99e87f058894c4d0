"""Case states, the one table of allowed transitions, close reasons and the SLA clock.

"Reopened" is a transition, not a state: a resolved or closed case that gets new
evidence, or that an analyst reopens, goes back to ``triaged`` (new evidence to look at)
or ``investigating`` (an analyst picks it up again). The case page shows the reopen in
the timeline; queues only ever need the states below.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from abusedesk.cases.errors import InvalidCloseReason, TransitionNotAllowed, UnknownState


class CaseState:
    """The states a case moves through, stored as strings."""

    NEW = "new"
    TRIAGED = "triaged"
    INVESTIGATING = "investigating"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    ESCALATED = "escalated"
    ACTIONED = "actioned"
    RESOLVED = "resolved"
    CLOSED = "closed"

    ALL = (
        NEW,
        TRIAGED,
        INVESTIGATING,
        WAITING_ON_CUSTOMER,
        ESCALATED,
        ACTIONED,
        RESOLVED,
        CLOSED,
    )
    # States with work left to do; resolved and closed cases wait in no queue.
    ACTIVE = frozenset({NEW, TRIAGED, INVESTIGATING, WAITING_ON_CUSTOMER, ESCALATED, ACTIONED})
    # Where a reopened case goes.
    REOPEN_TARGETS = frozenset({TRIAGED, INVESTIGATING})


_S = CaseState

# The allowed transitions: from each state, the states it may move to. Nothing else is
# allowed, and staying in the same state is not a transition.
TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        _S.NEW: frozenset({_S.TRIAGED, _S.INVESTIGATING, _S.ESCALATED, _S.CLOSED}),
        _S.TRIAGED: frozenset(
            {
                _S.INVESTIGATING,
                _S.WAITING_ON_CUSTOMER,
                _S.ESCALATED,
                _S.ACTIONED,
                _S.RESOLVED,
                _S.CLOSED,
            }
        ),
        _S.INVESTIGATING: frozenset(
            {_S.WAITING_ON_CUSTOMER, _S.ESCALATED, _S.ACTIONED, _S.RESOLVED, _S.CLOSED}
        ),
        _S.WAITING_ON_CUSTOMER: frozenset(
            {_S.INVESTIGATING, _S.ESCALATED, _S.ACTIONED, _S.RESOLVED, _S.CLOSED}
        ),
        _S.ESCALATED: frozenset(
            {_S.INVESTIGATING, _S.WAITING_ON_CUSTOMER, _S.ACTIONED, _S.RESOLVED, _S.CLOSED}
        ),
        _S.ACTIONED: frozenset({_S.WAITING_ON_CUSTOMER, _S.ESCALATED, _S.RESOLVED, _S.CLOSED}),
        _S.RESOLVED: frozenset({_S.CLOSED, _S.TRIAGED, _S.INVESTIGATING}),
        _S.CLOSED: frozenset({_S.TRIAGED, _S.INVESTIGATING}),
    }
)

# The word for each move, used in audit tags (``case:case:<verb>``) and the timeline.
_VERBS = {
    _S.TRIAGED: "triage",
    _S.INVESTIGATING: "investigate",
    _S.WAITING_ON_CUSTOMER: "wait_on_customer",
    _S.ESCALATED: "escalate",
    _S.ACTIONED: "action",
    _S.RESOLVED: "resolve",
    _S.CLOSED: "close",
}


class CloseReason:
    """Why a case was closed; closing always names one."""

    DUPLICATE = "duplicate"
    FALSE_POSITIVE = "false_positive"
    NO_ACTION = "no_action"
    RESOLVED = "resolved"
    # Set only by a merge, on the cases folded into the survivor.
    MERGED = "merged"

    ALL = (DUPLICATE, FALSE_POSITIVE, NO_ACTION, RESOLVED, MERGED)
    # What an analyst may pick when closing many cases at once.
    BULK = (DUPLICATE, FALSE_POSITIVE, NO_ACTION)


# A case is closed as "resolved" only once its work was done.
_RESOLVED_FROM = frozenset({_S.ACTIONED, _S.RESOLVED})


class SlaClock:
    """Whether a case's SLA clock runs in a state."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


# The resolution clock runs while the team owes work, pauses while the customer owes an
# answer, and stops once the case is resolved. Snoozes pause it too (see followups).
SLA_CLOCK: Mapping[str, str] = MappingProxyType(
    {
        _S.NEW: SlaClock.RUNNING,
        _S.TRIAGED: SlaClock.RUNNING,
        _S.INVESTIGATING: SlaClock.RUNNING,
        _S.WAITING_ON_CUSTOMER: SlaClock.PAUSED,
        _S.ESCALATED: SlaClock.RUNNING,
        _S.ACTIONED: SlaClock.RUNNING,
        _S.RESOLVED: SlaClock.STOPPED,
        _S.CLOSED: SlaClock.STOPPED,
    }
)


@dataclass(frozen=True)
class Transition:
    """One allowed move of a case, with the word for it and the close reason if closing."""

    current: str
    target: str
    verb: str
    close_reason: str | None = None

    @property
    def is_reopen(self) -> bool:
        """Tell whether the move takes a resolved or closed case back into work."""
        return self.verb == "reopen"

    @property
    def audit_tag(self) -> str:
        """Return the audit tag for this move, e.g. ``case:case:close``."""
        return f"case:case:{self.verb}"


def _known(state: str) -> str:
    if state not in TRANSITIONS:
        raise UnknownState(f"unknown case state {state!r}; known: {', '.join(CaseState.ALL)}")
    return state


def allowed_targets(current: str) -> frozenset[str]:
    """Return the states a case in *current* may move to."""
    return TRANSITIONS[_known(current)]


def check_transition(current: str, target: str) -> None:
    """Raise TransitionNotAllowed unless a case may move from *current* to *target*."""
    _known(target)
    allowed = allowed_targets(current)
    if target not in allowed:
        raise TransitionNotAllowed("case", current, target, allowed)


def is_open(state: str) -> bool:
    """Tell whether a case in *state* holds its account's slot (anything but closed)."""
    return _known(state) != CaseState.CLOSED


def sla_clock(state: str) -> str:
    """Return whether the SLA clock runs, pauses or has stopped in *state*."""
    return SLA_CLOCK[_known(state)]


def check_close_reason(current: str, reason: str | None) -> str:
    """Return *reason* if a case in *current* may be closed with it; raise otherwise."""
    if reason is None or not reason.strip():
        raise InvalidCloseReason(
            f"closing a case needs a close reason: one of {', '.join(CloseReason.ALL)}"
        )
    if reason not in CloseReason.ALL:
        raise InvalidCloseReason(
            f"unknown close reason {reason!r}; use one of {', '.join(CloseReason.ALL)}"
        )
    if reason == CloseReason.RESOLVED and current not in _RESOLVED_FROM:
        raise InvalidCloseReason(
            f"a {current} case cannot be closed as resolved; resolve or action it first,"
            " or close it as duplicate, false_positive or no_action"
        )
    return reason


def plan_transition(current: str, target: str, *, close_reason: str | None = None) -> Transition:
    """Return the move from *current* to *target*, checking the table and the close reason."""
    check_transition(current, target)
    if target == CaseState.CLOSED:
        return Transition(current, target, "close", check_close_reason(current, close_reason))
    if close_reason is not None:
        raise InvalidCloseReason(f"a close reason is given only when closing, not on {target}")
    reopening = current in (CaseState.RESOLVED, CaseState.CLOSED)
    return Transition(current, target, "reopen" if reopening else _VERBS[target])
