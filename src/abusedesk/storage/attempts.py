"""The bookkeeping of a failed attempt, the same for actions, suppression pushes and messages.

A connector call or a delivery that raised is counted, its error kept as text (cut to
`MAX_FAILURE` characters), and either given a next attempt after backoff or, once the
attempts are used up, dead-lettered at the moment it failed. Each store writes the
outcome into its own rows and says it in its own audit and history words.
"""

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from abusedesk.enforcement.signing import RetryPolicy, next_attempt_at

MAX_FAILURE: Final = 2000

_RNG: Final = random.SystemRandom()


@dataclass(frozen=True)
class FailedAttempt:
    """The outcome of attempt number *attempts* that failed at *failed_at*."""

    attempts: int
    failure: str
    failed_at: datetime
    next_attempt_at: datetime | None

    @property
    def dead(self) -> bool:
        """Tell whether no attempt is left: the call goes to the dead-letter list."""
        return self.next_attempt_at is None

    @property
    def dead_at(self) -> datetime | None:
        """Return when the call was dead-lettered (when it failed), or None while it retries."""
        return self.failed_at if self.dead else None

    @property
    def verb(self) -> str:
        """Return the audit verb: ``fail`` while it retries, ``dead_letter`` when it gave up."""
        return "dead_letter" if self.dead else "fail"

    def columns(self) -> dict[str, Any]:
        """Return the values of the attempts, failure, next_attempt_at and dead_at columns."""
        return {
            "attempts": self.attempts,
            "failure": self.failure,
            "next_attempt_at": self.next_attempt_at,
            "dead_at": self.dead_at,
        }


def failure_text(error: BaseException) -> str:
    """Return what an error says, with its kind: ``WebhookFailed: ... answered HTTP 503``."""
    return f"{type(error).__name__}: {error}"[:MAX_FAILURE]


def failed_attempt(
    failure: str,
    *,
    attempts: int,
    retry: RetryPolicy,
    now: datetime,
    rng: random.Random | None = None,
) -> FailedAttempt:
    """Return the outcome of attempt *attempts* failing at *now* with *failure*.

    The next attempt follows *retry*'s backoff (drawn with *rng*, the system's by
    default); None once the attempts are used up.
    """
    return FailedAttempt(
        attempts=attempts,
        failure=failure[:MAX_FAILURE],
        failed_at=now,
        next_attempt_at=next_attempt_at(retry, attempts, now, rng or _RNG),
    )
