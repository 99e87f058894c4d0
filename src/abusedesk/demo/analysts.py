"""A scripted day of analyst activity on the simulated provider's cases.

Three analysts of one team work six cases (numbered 0 to 5, the oldest open cases of
the day) from shift start to shift end: they take cases, keep case pages in focus, write
notes, resolve and close, propose and approve actions, escalate, reopen; a customer
appeals a warning and a second analyst overturns it. Every time is an offset from the
day's start (08:00 UTC in the demo). ``storage/analyst_day.py`` plays it through the
same storage functions the workbench uses, so the audit trail it leaves is the one
real work leaves; the metrics test works out its figures by hand (docs/metrics.md).
"""

from dataclasses import dataclass
from datetime import timedelta


class Do:
    """What a step of the day does."""

    PERIOD = "period"  # a shift, break, training or meeting (value), at..until
    TAKE = "take"  # the analyst assigns the case to themself
    FOCUS = "focus"  # the case page is visible and in focus, at..until (heartbeat pings)
    NOTE = "note"  # a note on the case (value: the text)
    MOVE = "move"  # move the case to a state (value), closing with close_reason
    ESCALATE = "escalate"  # escalate the case to a department (value)
    PROPOSE = "propose"  # propose an action (value) on the case's account; run it if allowed
    APPROVE = "approve"  # approve and run the case's waiting action
    APPEAL = "appeal"  # the customer appeals the case's executed action
    DECIDE = "decide"  # decide the case's open appeal (value: uphold, overturn)


@dataclass(frozen=True)
class ScriptStep:
    """One thing that happens in the day: who does what to which case, when."""

    at: timedelta
    analyst: str
    do: str
    case: int | None = None
    value: str = ""
    until: timedelta | None = None
    close_reason: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class AnalystDay:
    """The script of a day: its analysts (name, team), how many cases it needs, its steps."""

    analysts: tuple[tuple[str, str], ...]
    cases: int
    # How long before the day's start the cases open.
    cases_open_before: timedelta
    steps: tuple[ScriptStep, ...]


def _t(hours: int, minutes: int = 0) -> timedelta:
    """Return the offset of the clock time *hours*:*minutes* from the day's 08:00 start."""
    return timedelta(hours=hours - 8, minutes=minutes)


BASIC = "basic"
ADVANCED = "advanced"
LEAD = "lead"
TEAM = "emea"

DAY = AnalystDay(
    analysts=((BASIC, TEAM), (ADVANCED, TEAM), (LEAD, TEAM)),
    cases=6,
    cases_open_before=timedelta(hours=2),
    steps=(
        # Availability: basic 6.5 h, advanced 7.5 h, lead 4 h.
        ScriptStep(_t(8), BASIC, Do.PERIOD, value="shift", until=_t(16)),
        ScriptStep(_t(12), BASIC, Do.PERIOD, value="break", until=_t(12, 30)),
        ScriptStep(_t(14), BASIC, Do.PERIOD, value="training", until=_t(15)),
        ScriptStep(_t(9), ADVANCED, Do.PERIOD, value="shift", until=_t(17)),
        ScriptStep(_t(10), ADVANCED, Do.PERIOD, value="meeting", until=_t(10, 30)),
        ScriptStep(_t(8), LEAD, Do.PERIOD, value="shift", until=_t(12)),
        # basic: case 0, read, noted and resolved.
        ScriptStep(_t(8), BASIC, Do.TAKE, case=0),
        ScriptStep(_t(8), BASIC, Do.FOCUS, case=0, until=_t(8, 20)),
        ScriptStep(
            _t(8, 10), BASIC, Do.NOTE, case=0, value="Opt-in records asked for; list looks bought."
        ),
        ScriptStep(_t(8, 20), BASIC, Do.MOVE, case=0, value="resolved", reason="customer warned"),
        # basic: case 1, a false positive closed a few minutes after the page lost focus.
        ScriptStep(_t(8, 30), BASIC, Do.TAKE, case=1),
        ScriptStep(_t(8, 30), BASIC, Do.FOCUS, case=1, until=_t(8, 40)),
        ScriptStep(
            _t(8, 45),
            BASIC,
            Do.MOVE,
            case=1,
            value="closed",
            close_reason="false_positive",
            reason="the complaint is about a newsletter the reporter subscribed to",
        ),
        # basic: case 2, a warning, then resolved.
        ScriptStep(_t(9), BASIC, Do.TAKE, case=2),
        ScriptStep(_t(9), BASIC, Do.FOCUS, case=2, until=_t(9, 30)),
        ScriptStep(_t(9, 20), BASIC, Do.PROPOSE, case=2, value="warn"),
        ScriptStep(_t(9, 30), BASIC, Do.MOVE, case=2, value="actioned", reason="warned"),
        ScriptStep(_t(9, 31), BASIC, Do.MOVE, case=2, value="resolved", reason="warning sent"),
        # advanced: case 3, escalated to security.
        ScriptStep(_t(9, 15), ADVANCED, Do.TAKE, case=3),
        ScriptStep(_t(9, 15), ADVANCED, Do.FOCUS, case=3, until=_t(9, 45)),
        ScriptStep(
            _t(9, 40),
            ADVANCED,
            Do.ESCALATE,
            case=3,
            value="security",
            reason="credential phishing kit on a customer's pages",
        ),
        # advanced: case 4, taken after its response target, paused with the lead's approval.
        ScriptStep(_t(10, 40), ADVANCED, Do.TAKE, case=4),
        ScriptStep(_t(10, 40), ADVANCED, Do.FOCUS, case=4, until=_t(11)),
        ScriptStep(_t(10, 50), ADVANCED, Do.PROPOSE, case=4, value="pause"),
        ScriptStep(_t(11, 5), LEAD, Do.APPROVE, case=4),
        ScriptStep(_t(11, 10), ADVANCED, Do.MOVE, case=4, value="actioned", reason="paused"),
        ScriptStep(
            _t(11, 12),
            ADVANCED,
            Do.MOVE,
            case=4,
            value="closed",
            close_reason="resolved",
            reason="sending paused",
        ),
        # basic: case 5, taken late and closed with no action.
        ScriptStep(_t(11), BASIC, Do.TAKE, case=5),
        ScriptStep(_t(11), BASIC, Do.FOCUS, case=5, until=_t(11, 10)),
        ScriptStep(
            _t(11, 10),
            BASIC,
            Do.MOVE,
            case=5,
            value="closed",
            close_reason="no_action",
            reason="a single complaint about a transactional message",
        ),
        # lead: reads case 0 again and reopens it.
        ScriptStep(_t(11, 20), LEAD, Do.FOCUS, case=0, until=_t(11, 30)),
        ScriptStep(
            _t(11, 30),
            LEAD,
            Do.MOVE,
            case=0,
            value="triaged",
            reason="the reporter sent more evidence of a bought list",
        ),
        # The customer appeals the warning on case 2; advanced overturns it.
        ScriptStep(_t(13), "", Do.APPEAL, case=2),
        ScriptStep(_t(14, 50), ADVANCED, Do.FOCUS, case=2, until=_t(15)),
        ScriptStep(
            _t(15),
            ADVANCED,
            Do.DECIDE,
            case=2,
            value="overturn",
            reason="the complaints came from one reporter's misfiled mail",
        ),
    ),
)
