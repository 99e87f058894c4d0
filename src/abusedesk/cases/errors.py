"""What goes wrong with cases, queues, calendars and escalations."""

from collections.abc import Iterable, Sequence

from abusedesk.core.errors import AbuseDeskError


class UnknownState(AbuseDeskError):
    """Raise when a state name is not one of the machine's states."""


class TransitionNotAllowed(AbuseDeskError):
    """Raise when a case or escalation may not move from its state to the one asked for."""

    def __init__(self, machine: str, current: str, target: str, allowed: Iterable[str]) -> None:
        self.machine = machine
        self.current = current
        self.target = target
        self.allowed = tuple(sorted(allowed))
        choices = ", ".join(self.allowed) if self.allowed else "none (final state)"
        super().__init__(
            f"{machine} cannot go from {current} to {target}; allowed from {current}: {choices}"
        )


class InvalidCloseReason(AbuseDeskError):
    """Raise when a case is closed without a close reason, or with one that does not fit."""


class ReasonRequired(AbuseDeskError):
    """Raise when a merge, split, transfer or decision needs a reason in words and has none."""


class MergeNotAllowed(AbuseDeskError):
    """Raise when cases cannot be merged (fewer than two, other accounts, survivor closed)."""


class SplitNotAllowed(AbuseDeskError):
    """Raise when the events chosen cannot be split off a case."""


class InvalidGrouping(AbuseDeskError):
    """Raise when a grouping names fields that cases cannot be grouped by."""


class InvalidSpan(AbuseDeskError):
    """Raise when a time span ends before it starts, or a duration is negative."""


class _ProblemList(AbuseDeskError):
    """Carry every problem found in a document, one sentence each."""

    what = "document"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"invalid {self.what}: " + "; ".join(self.problems))


class InvalidCalendar(_ProblemList):
    """Raise when a business-hours calendar or SLA policy cannot be built; lists each problem."""

    what = "calendar"


class InvalidRuleSet(_ProblemList):
    """Raise when a routing rule set cannot be loaded; lists each problem with its place."""

    what = "routing rule set"


class InvalidEscalation(AbuseDeskError):
    """Raise when an escalation lacks a target, an owner or a reason."""


class InvalidSnooze(AbuseDeskError):
    """Raise when a snooze has nothing to wake it, or wakes before it starts."""


class InvalidSlaPolicy(AbuseDeskError):
    """Raise when an SLA policy's targets or warning fraction make no sense."""


class InvalidQueue(AbuseDeskError):
    """Raise when a queue has no name, or an unknown tier or department."""
