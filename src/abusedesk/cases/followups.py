"""Follow-ups: snooze a case until a time, until the customer replies, or whichever comes first.

A snoozed case leaves its queue's working view and its SLA clock pauses (see
:func:`Snooze.pause`); the rule in :func:`wake` decides when it comes back.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from abusedesk.cases.errors import InvalidSnooze
from abusedesk.cases.sla import Pause
from abusedesk.core.clock import as_utc


@dataclass(frozen=True)
class Snooze:
    """A follow-up set at *set_at* by *set_by*: back at *until*, on a reply, or both."""

    set_at: datetime
    set_by: str
    until: datetime | None = None
    until_reply: bool = False

    def __post_init__(self) -> None:
        if self.until is None and not self.until_reply:
            raise InvalidSnooze("a snooze needs a time to come back, or to wait for a reply")
        if self.until is not None and as_utc(self.until) <= as_utc(self.set_at):
            raise InvalidSnooze(
                f"a snooze must end after it starts: {as_utc(self.until).isoformat()} is not"
                f" after {as_utc(self.set_at).isoformat()}"
            )

    def pause(self, woke_at: datetime | None = None) -> Pause:
        """Return the SLA pause this snooze causes, open while the snooze has not woken."""
        end = as_utc(woke_at) if woke_at is not None else None
        if end is None and not self.until_reply and self.until is not None:
            end = as_utc(self.until)
        return Pause(as_utc(self.set_at), end, "snoozed")


@dataclass(frozen=True)
class Wake:
    """When a snoozed case comes back, and why in words."""

    at: datetime
    reason: str


def wake(snooze: Snooze, *, now: datetime, replies: Iterable[datetime] = ()) -> Wake | None:
    """Return when and why *snooze* ends if it has by *now*, else None.

    It ends at the first customer reply after it was set (when it waits for one) or at its
    time, whichever is earlier.
    """
    now = as_utc(now)
    start = as_utc(snooze.set_at)
    candidates: list[Wake] = []
    if snooze.until_reply:
        after = sorted(at for at in map(as_utc, replies) if start < at <= now)
        if after:
            candidates.append(Wake(after[0], "the customer replied"))
    if snooze.until is not None and as_utc(snooze.until) <= now:
        candidates.append(Wake(as_utc(snooze.until), "the snooze time was reached"))
    return min(candidates, key=lambda w: w.at) if candidates else None
