"""How urgent a case is: a score and the factors behind it, in words for the case page.

Higher is more urgent. Each factor adds points; none subtracts, so more evidence never
makes a case less urgent.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

# Severity of each category group: harm to people first (phishing, malware), then nuisance.
SEVERITY: Mapping[str, int] = MappingProxyType(
    {"phishing": 30, "malware": 30, "spam": 10, "authentication": 10, "other": 10}
)
_DEFAULT_SEVERITY = 10

# Events in the case: (at least this many, points).
_VOLUME_STEPS = ((1000, 9), (100, 6), (10, 3))
# Distinct reporters: many independent voices make a case surer and wider.
_REPORTER_STEPS = ((10, 4), (3, 2))
# Complaints per message sent in the last 30 days: (at least this rate, points).
# 0.1 % is the complaint rate at which large mailbox providers start to filter.
_RATE_STEPS = ((0.005, 8), (0.001, 5))
# Bigger accounts reach more recipients and any action on them needs more care.
_SIZE_POINTS: Mapping[str, int] = MappingProxyType({"large": 4, "medium": 2, "small": 0})
# An account already on the enforcement ladder is more urgent than a healthy one.
_STANDING_POINTS: Mapping[str, int] = MappingProxyType(
    {
        "healthy": 0,
        "warned": 2,
        "under_review": 3,
        "throttled": 3,
        "paused": 4,
        "suspended": 4,
        "terminated": 4,
    }
)
_UNKNOWN_STANDING_POINTS = 2
_PER_PAST_ACTION = 2
_MAX_HISTORY = 6


@dataclass(frozen=True)
class PriorityFacts:
    """What priority is computed from; account facts are optional and count only when known."""

    category_group: str
    event_count: int
    reporter_count: int
    size_tier: str | None = None
    sent_last_30_days: int | None = None
    past_actioned_cases: int = 0
    standing: str | None = None


@dataclass(frozen=True)
class Factor:
    """One reason a case is as urgent as it is: its name, its points and a sentence."""

    name: str
    points: int
    words: str


@dataclass(frozen=True)
class Priority:
    """A case's priority score and the factors that add up to it."""

    score: int
    factors: tuple[Factor, ...]

    @property
    def reason(self) -> str:
        """Return the factors as one line, strongest first, for lists and the audit log."""
        ranked = sorted(self.factors, key=lambda f: -f.points)
        return "; ".join(f"{f.words} (+{f.points})" for f in ranked)


def _step(value: float, steps: tuple[tuple[float, int], ...]) -> int:
    for threshold, points in steps:
        if value >= threshold:
            return points
    return 0


def case_priority(facts: PriorityFacts) -> Priority:
    """Return the priority of a case with *facts*, with every factor that added to it."""
    factors: list[Factor] = []
    severity = SEVERITY.get(facts.category_group, _DEFAULT_SEVERITY)
    factors.append(Factor("severity", severity, f"{facts.category_group} case"))
    volume = _step(facts.event_count, _VOLUME_STEPS)
    factors.append(Factor("volume", volume, f"{facts.event_count} event(s)"))
    breadth = _step(facts.reporter_count, _REPORTER_STEPS)
    factors.append(Factor("reporters", breadth, f"{facts.reporter_count} distinct reporter(s)"))
    if facts.sent_last_30_days:
        rate = facts.event_count / facts.sent_last_30_days
        factors.append(
            Factor(
                "complaint_rate",
                _step(rate, _RATE_STEPS),
                f"{rate:.3%} of {facts.sent_last_30_days} messages sent in 30 days",
            )
        )
    if facts.size_tier is not None:
        factors.append(
            Factor(
                "account_size", _SIZE_POINTS.get(facts.size_tier, 0), f"{facts.size_tier} account"
            )
        )
    if facts.past_actioned_cases > 0:
        factors.append(
            Factor(
                "history",
                min(facts.past_actioned_cases * _PER_PAST_ACTION, _MAX_HISTORY),
                f"{facts.past_actioned_cases} earlier case(s) ended in an action",
            )
        )
    if facts.standing is not None:
        factors.append(
            Factor(
                "standing",
                _STANDING_POINTS.get(facts.standing, _UNKNOWN_STANDING_POINTS),
                f"account standing {facts.standing}",
            )
        )
    return Priority(sum(f.points for f in factors), tuple(factors))
