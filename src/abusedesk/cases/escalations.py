"""Escalations: a case handed to a department or a manager, with its own state, owner and due time.

An escalation is ``open`` until the receiving side acknowledges it (the acknowledger becomes
the owner unless one was set), and ends ``resolved`` (done, with an outcome), ``declined``
(the receiver will not take it, with a reason) or ``withdrawn`` (the case no longer needs
it, with a reason). While an escalation is open the case sits in the ``escalated`` state;
when it ends the case goes back to ``investigating``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from abusedesk.cases.calendars import BusinessCalendar
from abusedesk.cases.errors import InvalidEscalation, TransitionNotAllowed, UnknownState
from abusedesk.cases.routing import Department
from abusedesk.cases.sla import MAX_TARGET
from abusedesk.core.clock import as_utc


class EscalationState:
    """The states of an escalation, stored as strings."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"

    ALL = (OPEN, ACKNOWLEDGED, RESOLVED, DECLINED, WITHDRAWN)
    ACTIVE = frozenset({OPEN, ACKNOWLEDGED})


_E = EscalationState

# The allowed moves of an escalation; ended escalations do not move again.
ESCALATION_TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        _E.OPEN: frozenset({_E.ACKNOWLEDGED, _E.DECLINED, _E.WITHDRAWN}),
        _E.ACKNOWLEDGED: frozenset({_E.RESOLVED, _E.DECLINED, _E.WITHDRAWN}),
        _E.RESOLVED: frozenset(),
        _E.DECLINED: frozenset(),
        _E.WITHDRAWN: frozenset(),
    }
)
# Ending an escalation says why, in words.
_NEEDS_NOTE = frozenset({_E.RESOLVED, _E.DECLINED, _E.WITHDRAWN})


class TargetKind:
    """Whom an escalation goes to."""

    DEPARTMENT = "department"
    MANAGER = "manager"


@dataclass(frozen=True)
class EscalationTarget:
    """A department (by its name in :class:`Department`) or a manager (by user name)."""

    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind == TargetKind.DEPARTMENT:
            if self.name not in Department.ALL:
                raise InvalidEscalation(
                    f"unknown department {self.name!r}; use {', '.join(Department.ALL)}"
                )
        elif self.kind == TargetKind.MANAGER:
            if not self.name.strip():
                raise InvalidEscalation("name the manager the case is escalated to")
        else:
            raise InvalidEscalation(f"escalate to a department or a manager, not {self.kind!r}")

    def describe(self) -> str:
        """Return the target in words, e.g. ``the legal department``."""
        if self.kind == TargetKind.DEPARTMENT:
            return f"the {self.name.replace('_', ' ')} department"
        return f"manager {self.name}"


@dataclass(frozen=True)
class Escalation:
    """One escalation of a case: target, reason, who raised it, owner, due time and state."""

    case_id: int
    target: EscalationTarget
    reason: str
    raised_by: str
    raised_at: datetime
    due_at: datetime
    state: str = EscalationState.OPEN
    owner: str | None = None
    outcome: str | None = None
    ended_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        """Tell whether the escalation still waits on its receiver."""
        return self.state in EscalationState.ACTIVE

    def is_overdue(self, now: datetime) -> bool:
        """Tell whether the escalation is still active at or after its due time."""
        return self.is_active and as_utc(now) >= self.due_at

    def move(self, target: str, *, at: datetime, by: str, note: str | None = None) -> "Escalation":
        """Return the escalation moved to *target* by *by* at *at*; ending it needs a note."""
        check_escalation_transition(self.state, target)
        text = (note or "").strip()
        if target in _NEEDS_NOTE and not text:
            raise InvalidEscalation(f"say why the escalation is {target}")
        if target == EscalationState.ACKNOWLEDGED:
            return replace(self, state=target, owner=self.owner or by)
        return replace(self, state=target, outcome=text, ended_at=as_utc(at))

    def assign(self, owner: str) -> "Escalation":
        """Return the active escalation with a new owner."""
        if not self.is_active:
            raise InvalidEscalation(f"an escalation that is {self.state} has no owner to change")
        if not owner.strip():
            raise InvalidEscalation("name the new owner")
        return replace(self, owner=owner.strip())


def check_escalation_transition(current: str, target: str) -> None:
    """Raise TransitionNotAllowed unless an escalation may move from *current* to *target*."""
    for state in (current, target):
        if state not in ESCALATION_TRANSITIONS:
            raise UnknownState(
                f"unknown escalation state {state!r}; known: {', '.join(EscalationState.ALL)}"
            )
    allowed = ESCALATION_TRANSITIONS[current]
    if target not in allowed:
        raise TransitionNotAllowed("escalation", current, target, allowed)


def raise_escalation(
    case_id: int,
    target: EscalationTarget,
    *,
    reason: str,
    raised_by: str,
    raised_at: datetime,
    calendar: BusinessCalendar,
    within: timedelta,
) -> Escalation:
    """Open an escalation due *within* business time on the receiver's *calendar*.

    A manager owns an escalation to them at once; a department's is owned by whoever
    acknowledges it.
    """
    text = reason.strip()
    if not text:
        raise InvalidEscalation("say why the case is escalated")
    if not raised_by.strip():
        raise InvalidEscalation("an escalation needs the name of who raised it")
    if not timedelta(0) < within <= MAX_TARGET:
        raise InvalidEscalation(
            f"an escalation needs a response time between zero and {MAX_TARGET.days} days,"
            f" not {within}"
        )
    start = as_utc(raised_at)
    return Escalation(
        case_id=case_id,
        target=target,
        reason=text,
        raised_by=raised_by.strip(),
        raised_at=start,
        due_at=calendar.add(start, within),
        owner=target.name if target.kind == TargetKind.MANAGER else None,
    )
