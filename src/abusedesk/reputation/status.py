"""Each rate's reputation status, the account's status, and the action the change asks for.

A rate is read against its policy thresholds (fractions: review at 5% bounces or 0.1%
complaints, pause at 10% or 0.5% by default) and the account's standing on the ladder:

- **healthy**: below the review threshold, and not the cause of a review now open;
- **almost healed**: caused the review (or pause) now open, but is back below the review
  threshold; the review ends at the end of its period (see ``policy.after_review``);
- **under review**: at or above the review threshold, below the pause threshold;
- **pending pause**: at or above the pause threshold (or at or above the review threshold
  while a pause is already proposed); the pause waits for a second approver;
- **paused**: the account's sending is stopped (paused, suspended or terminated) and the
  rate is still at or above its review threshold.

The action is what the change asks of the ladder: ``review`` for a healthy or warned
account whose rate reaches the review threshold, ``propose_pause`` for a sending account
whose rate reaches the pause threshold while no pause is proposed yet, otherwise ``none``.
An account already under review is not reviewed again, and a stopped account is left to
its analyst. Repeat offences (a second review within the policy window becomes a pause) are
decided afterwards by ``policy.required_action``.

A rate over fewer than :data:`MIN_MESSAGES_TO_ACT` eligible messages is shown but never
acted on: it says only what the account's standing already says.
"""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from abusedesk.enforcement.errors import InvalidPolicy
from abusedesk.enforcement.ladder import Standing, check_standing
from abusedesk.enforcement.policy import Policy, Threshold
from abusedesk.reputation.rates import AccountFigures, Rate, percent

# Below this many eligible messages a rate is shown but never acted on. (A rate is
# *representative* from rates.MIN_MESSAGES, 10,000; between the two it is acted on,
# having been read over the longest window allowed.)
MIN_MESSAGES_TO_ACT: Final = 1_000


class Status:
    """A rate's (or an account's) reputation status, mildest first."""

    HEALTHY = "healthy"
    ALMOST_HEALED = "almost_healed"
    UNDER_REVIEW = "under_review"
    PENDING_PAUSE = "pending_pause"
    PAUSED = "paused"

    ALL = (HEALTHY, ALMOST_HEALED, UNDER_REVIEW, PENDING_PAUSE, PAUSED)


class Step:
    """What a status asks of the enforcement ladder, weakest first."""

    NONE = "none"
    REVIEW = "review"
    PROPOSE_PAUSE = "propose_pause"

    ALL = (NONE, REVIEW, PROPOSE_PAUSE)


_STATUS_WORDS: Final = {
    Status.HEALTHY: "healthy",
    Status.ALMOST_HEALED: "almost healed",
    Status.UNDER_REVIEW: "under review",
    Status.PENDING_PAUSE: "pending pause",
    Status.PAUSED: "paused",
}
# Standings whose review (or worse) is open: the account is watched.
_WATCHED: Final = frozenset({Standing.UNDER_REVIEW, Standing.THROTTLED})
# Standings where the account sends nothing.
_STOPPED: Final = frozenset({Standing.PAUSED, Standing.SUSPENDED, Standing.TERMINATED})
# Standings from which a rate at the review threshold opens a review.
_REVIEWABLE: Final = frozenset({Standing.HEALTHY, Standing.WARNED})


@dataclass(frozen=True)
class MetricStatus:
    """One rate's status, the ladder step it asks for, and why in one sentence."""

    rate: Rate
    status: str
    step: str
    reason: str
    min_to_act: int = MIN_MESSAGES_TO_ACT

    @property
    def metric(self) -> str:
        """Return the rate's name (``complaint_rate`` or ``bounce_rate``)."""
        return self.rate.metric

    @property
    def acted_on(self) -> bool:
        """Tell whether the rate covers enough messages to act on."""
        return self.rate.value is not None and self.rate.eligible >= self.min_to_act

    @property
    def words(self) -> str:
        """Return the status as an analyst reads it, e.g. ``almost healed``."""
        return _STATUS_WORDS[self.status]


@dataclass(frozen=True)
class AccountStatus:
    """An account's status (the worst of its rates'), the step it asks for, and why."""

    account_id: int
    standing: str
    status: str
    step: str
    reason: str
    metrics: tuple[MetricStatus, ...]

    @property
    def words(self) -> str:
        """Return the status as an analyst reads it, e.g. ``pending pause``."""
        return _STATUS_WORDS[self.status]

    def metric(self, name: str) -> MetricStatus:
        """Return the status of the rate named *name*."""
        for item in self.metrics:
            if item.metric == name:
                return item
        raise ValueError(
            f"unknown rate {name!r}; known: {', '.join(m.metric for m in self.metrics)}"
        )


def metric_status(
    rate: Rate,
    threshold: Threshold,
    standing: str,
    *,
    pause_proposed: bool = False,
    caused_review: bool = True,
    min_to_act: int = MIN_MESSAGES_TO_ACT,
) -> MetricStatus:
    """Return *rate*'s status against *threshold* for an account that is *standing*.

    *pause_proposed* says a pause of the account already waits for approval (so none is
    proposed again). *caused_review* says whether this rate is among the causes of the
    review or pause now open; when unknown, leave it True: a rate below its threshold on
    a watched account then reads almost healed rather than healthy. *min_to_act* is the
    fewest eligible messages a rate is acted on with.
    """
    check_standing(standing)
    figures = rate.sentence()
    review, pause = percent(threshold.review), percent(threshold.pause)
    value = rate.value
    if value is None or rate.eligible < min_to_act:
        status = _standing_status(standing, caused_review)
        reason = (
            f"{figures}; fewer than {min_to_act:,} messages, too few to act on:"
            f" {_STATUS_WORDS[status]} as the account stands ({_words(standing)})"
        )
        return MetricStatus(rate, status, Step.NONE, reason, min_to_act)
    if standing in _STOPPED:
        if value >= threshold.review:
            status, why = Status.PAUSED, f"is at or above the {review} review threshold"
        else:
            status = Status.ALMOST_HEALED if caused_review else Status.HEALTHY
            why = f"is below the {review} review threshold"
        reason = f"{figures} {why}; the account is {_words(standing)}, sending stopped"
        return MetricStatus(rate, status, Step.NONE, reason, min_to_act)
    if value >= threshold.pause:
        limit = f"{pause} pause"
        if pause_proposed:
            status, step, why = Status.PENDING_PAUSE, Step.NONE, "a pause waits for approval"
        else:
            status, step, why = Status.PENDING_PAUSE, Step.PROPOSE_PAUSE, "propose a pause"
        return MetricStatus(rate, status, step, _at(figures, limit, why), min_to_act)
    if value >= threshold.review:
        limit = f"{review} review"
        if pause_proposed:
            status, step, why = Status.PENDING_PAUSE, Step.NONE, "a pause waits for approval"
        elif standing in _REVIEWABLE:
            status, step = Status.UNDER_REVIEW, Step.REVIEW
            why = f"open a review (the account is {_words(standing)})"
        else:
            status, step = Status.UNDER_REVIEW, Step.NONE
            why = f"the account is already {_words(standing)}"
        return MetricStatus(rate, status, step, _at(figures, limit, why), min_to_act)
    if standing in _WATCHED and caused_review:
        reason = (
            f"{figures} is back below the {review} review threshold;"
            f" the account stays {_words(standing)} until its review ends"
        )
        return MetricStatus(rate, Status.ALMOST_HEALED, Step.NONE, reason, min_to_act)
    reason = f"{figures} is below the {review} review threshold"
    return MetricStatus(rate, Status.HEALTHY, Step.NONE, reason, min_to_act)


def account_status(
    figures: AccountFigures,
    policy: Policy,
    standing: str,
    *,
    pause_proposed: bool = False,
    review_causes: Collection[str] | None = None,
) -> AccountStatus:
    """Return the account's status: the worst of its rates' statuses, with the strongest step.

    *review_causes* names the rates that caused the review or pause now open (e.g.
    ``{"complaint_rate"}``); None when unknown, which counts every rate as a cause.
    """
    check_standing(standing)
    metrics = []
    for rate in (figures.complaint, figures.bounce):
        if rate.metric not in policy.thresholds:
            raise InvalidPolicy([f"{rate.metric}: policy v{policy.version} has no threshold"])
        caused = review_causes is None or rate.metric in review_causes
        metrics.append(
            metric_status(
                rate,
                policy.thresholds[rate.metric],
                standing,
                pause_proposed=pause_proposed,
                caused_review=caused,
            )
        )
    status = max((m.status for m in metrics), key=Status.ALL.index)
    step = max((m.step for m in metrics), key=Step.ALL.index)
    worst = [m.reason for m in metrics if m.status == status]
    reason = f"{_STATUS_WORDS[status]} (policy v{policy.version}): {'; '.join(worst)}"
    return AccountStatus(
        account_id=figures.account_id,
        standing=standing,
        status=status,
        step=step,
        reason=reason,
        metrics=tuple(metrics),
    )


def _standing_status(standing: str, caused_review: bool) -> str:
    """Return the status a rate too thin to judge takes from the account's standing alone."""
    if standing in _STOPPED:
        return Status.PAUSED if caused_review else Status.HEALTHY
    if standing in _WATCHED:
        return Status.UNDER_REVIEW if caused_review else Status.HEALTHY
    return Status.HEALTHY


def _at(figures: str, limit: str, consequence: str) -> str:
    return f"{figures} is at or above the {limit} threshold; {consequence}"


def _words(standing: str) -> str:
    return standing.replace("_", " ")
