"""The enforcement policy as versioned data, and the pure decision of which action it requires.

The JSON form admins edit (every field checked by :meth:`Policy.from_dict`)::

    {"version": 3, "author": "mara", "note": "stricter complaint pause",
     "thresholds": {"bounce_rate": {"review": 0.05, "pause": 0.10},
                    "complaint_rate": {"review": 0.001, "pause": 0.005}},
     "review_period_days": 14,
     "repeat_offences": [{"action": "review", "within_days": 90, "escalate_to": "pause"}],
     "approval_required": ["pause", "suspend", "terminate"]}

Rates are fractions (0.001 is 0.1%). Suspend and terminate always need a second
approver; the default adds pause. A policy may add actions to that list but never remove
suspend and terminate.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from abusedesk.core.clock import as_utc
from abusedesk.enforcement.errors import InvalidPolicy, ReasonRequired
from abusedesk.enforcement.ladder import (
    ACCOUNT_ACTIONS,
    ALL_ACTIONS,
    AccountAction,
    check_action,
    needs_second_approver,
    plan_account_action,
)

ALWAYS_APPROVED = frozenset({AccountAction.SUSPEND, AccountAction.TERMINATE})
# The default adds pausing: stopping a business's sending outright deserves a second look.
DEFAULT_APPROVALS = ALWAYS_APPROVED | {AccountAction.PAUSE}
METRICS = ("bounce_rate", "complaint_rate")


@dataclass(frozen=True)
class Threshold:
    """The rate at which an account goes under review, and the rate at which it is paused."""

    review: float
    pause: float


@dataclass(frozen=True)
class RepeatRule:
    """A repeat of *action* for the same cause within *within_days* becomes *escalate_to*."""

    action: str
    within_days: int
    escalate_to: str


@dataclass(frozen=True)
class PastAction:
    """An action already taken on the account, with its cause and time."""

    action: str
    cause: str
    at: datetime


@dataclass(frozen=True)
class Requirement:
    """The action the policy requires, the policy version it rests on, and why in one sentence."""

    action: str
    proposed: str
    policy_version: int
    why: str

    @property
    def escalated(self) -> bool:
        """Tell whether the policy changed the proposed action."""
        return self.action != self.proposed


def _defaults() -> dict[str, Threshold]:
    return {
        "bounce_rate": Threshold(0.05, 0.10),
        "complaint_rate": Threshold(0.001, 0.005),
    }


@dataclass(frozen=True)
class Policy:
    """One version of the enforcement policy: thresholds, review period, repeats, approvals."""

    version: int
    author: str
    note: str = ""
    thresholds: Mapping[str, Threshold] = field(default_factory=_defaults)
    review_period_days: int = 14
    repeat_offences: tuple[RepeatRule, ...] = (
        RepeatRule(AccountAction.REVIEW, 90, AccountAction.PAUSE),
    )
    approval_required: frozenset[str] = DEFAULT_APPROVALS

    def __post_init__(self) -> None:
        if not self.approval_required >= ALWAYS_APPROVED:
            raise InvalidPolicy(["approval_required: suspend and terminate always need approval"])

    @property
    def review_period(self) -> timedelta:
        """Return how long an account stays under review before the policy pauses it."""
        return timedelta(days=self.review_period_days)

    def needs_approval(self, action: str, standing: str) -> bool:
        """Tell whether *action* from *standing* needs a second approver under this policy."""
        return action in self.approval_required or needs_second_approver(action, standing)

    def action_for_rate(self, metric: str, rate: float) -> str | None:
        """Return ``pause``, ``review`` or None for a *rate* of *metric* (fractions)."""
        if metric not in self.thresholds:
            raise InvalidPolicy([f"{metric}: unknown metric; known: {', '.join(METRICS)}"])
        limit = self.thresholds[metric]
        if rate >= limit.pause:
            return AccountAction.PAUSE
        if rate >= limit.review:
            return AccountAction.REVIEW
        return None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Policy":
        """Build a policy from its JSON form; raise InvalidPolicy naming every problem by place."""
        problems: list[str] = []
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            problems.append("version: give a whole number from 1 up")
        author = data.get("author")
        if not isinstance(author, str) or not author.strip():
            problems.append("author: say who wrote this version")
        note = data.get("note", "")
        if not isinstance(note, str):
            problems.append("note: give the change in words")
        thresholds = _thresholds(data.get("thresholds", {}), problems)
        period = data.get("review_period_days", 14)
        if not _whole(period):
            problems.append("review_period_days: give a whole number of days from 1 up")
        repeats = _repeats(data.get("repeat_offences", []), problems)
        approvals = _approvals(data.get("approval_required", sorted(DEFAULT_APPROVALS)), problems)
        if problems:
            raise InvalidPolicy(problems)
        return cls(
            version=int(version),  # type: ignore[arg-type]
            author=str(author).strip(),
            note=str(note),
            thresholds=thresholds,
            review_period_days=int(period),
            repeat_offences=tuple(repeats),
            approval_required=approvals,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the policy in the JSON form :meth:`from_dict` reads."""
        return {
            "version": self.version,
            "author": self.author,
            "note": self.note,
            "thresholds": {
                name: {"review": t.review, "pause": t.pause} for name, t in self.thresholds.items()
            },
            "review_period_days": self.review_period_days,
            "repeat_offences": [
                {"action": r.action, "within_days": r.within_days, "escalate_to": r.escalate_to}
                for r in self.repeat_offences
            ],
            "approval_required": sorted(self.approval_required),
        }


def _whole(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


def _rate(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 < value <= 1


def _thresholds(raw: object, problems: list[str]) -> dict[str, Threshold]:
    result = _defaults()
    if not isinstance(raw, Mapping):
        problems.append("thresholds: give {bounce_rate: {review, pause}, complaint_rate: ...}")
        return result
    for name, limits in raw.items():
        where = f"thresholds.{name}"
        if name not in METRICS:
            problems.append(f"{where}: unknown metric; known: {', '.join(METRICS)}")
            continue
        if not isinstance(limits, Mapping):
            problems.append(f"{where}: give {{review, pause}} as fractions")
            continue
        review, pause = limits.get("review"), limits.get("pause")
        ok = True
        for key, value in (("review", review), ("pause", pause)):
            if not _rate(value):
                problems.append(f"{where}.{key}: give a fraction above 0 and at most 1")
                ok = False
        if ok and float(review) >= float(pause):  # type: ignore[arg-type]
            problems.append(f"{where}: the review rate must be below the pause rate")
            ok = False
        if ok:
            result[str(name)] = Threshold(float(review), float(pause))  # type: ignore[arg-type]
    return result


def _repeats(raw: object, problems: list[str]) -> list[RepeatRule]:
    if not isinstance(raw, list):
        problems.append("repeat_offences: give a list of {action, within_days, escalate_to}")
        return []
    rules: list[RepeatRule] = []
    for index, item in enumerate(raw):
        where = f"repeat_offences[{index}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: give {{action, within_days, escalate_to}}")
            continue
        action, days, target = item.get("action"), item.get("within_days"), item.get("escalate_to")
        bad = False
        for key, value in (("action", action), ("escalate_to", target)):
            if value not in AccountAction.PUNITIVE:
                problems.append(
                    f"{where}.{key}: name a punitive account action:"
                    f" {', '.join(sorted(AccountAction.PUNITIVE))}"
                )
                bad = True
        if not _whole(days):
            problems.append(f"{where}.within_days: give a whole number of days from 1 up")
            bad = True
        if not bad and action == target:
            problems.append(f"{where}: escalate_to must differ from action")
            bad = True
        if not bad:
            rules.append(RepeatRule(str(action), int(days), str(target)))  # type: ignore[arg-type]
    return rules


def _approvals(raw: object, problems: list[str]) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
        problems.append("approval_required: give a list of action names")
        return ALWAYS_APPROVED
    names = frozenset(raw)
    problems.extend(
        f"approval_required: unknown action {name!r}" for name in sorted(names - ALL_ACTIONS)
    )
    missing = ALWAYS_APPROVED - names
    if missing:
        problems.append(
            f"approval_required: add back {', '.join(sorted(missing))};"
            " suspend and terminate always need a second approver"
        )
    return names | ALWAYS_APPROVED


def required_action(
    policy: Policy,
    standing: str,
    history: Sequence[PastAction],
    proposed: str,
    *,
    cause: str,
    at: datetime,
) -> Requirement:
    """Return the action the policy requires for *proposed* with *cause* at *at*, and why.

    A repeat rule applies when the account had the rule's action for the same cause within
    its window before *at*; the proposal then escalates (e.g. a second review pauses at
    once). The result is checked against the ladder from *standing*.
    """
    check_action(proposed)
    reason = cause.strip()
    if not reason:
        raise ReasonRequired(f"say what cause {proposed} is proposed for")
    now = as_utc(at)
    for rule in policy.repeat_offences:
        if rule.action != proposed:
            continue
        since = now - timedelta(days=rule.within_days)
        earlier = [
            p
            for p in history
            if p.action == rule.action and p.cause == reason and since <= as_utc(p.at) <= now
        ]
        if earlier:
            last = max(as_utc(p.at) for p in earlier)
            why = (
                f"policy v{policy.version}: a repeat {proposed} for {reason} within"
                f" {rule.within_days} days (last on {last:%Y-%m-%d}) requires {rule.escalate_to}"
            )
            plan_account_action(standing, rule.escalate_to, reason=why)
            return Requirement(rule.escalate_to, proposed, policy.version, why)
    why = f"policy v{policy.version}: no repeat rule applies; {proposed} for {reason} as proposed"
    if proposed in ACCOUNT_ACTIONS:
        plan_account_action(standing, proposed, reason=why)
    return Requirement(proposed, proposed, policy.version, why)


def after_review(policy: Policy, rates: Mapping[str, float | None]) -> Requirement:
    """Return what ends a review whose period is over, given the rates now (fractions).

    A rate still at or above its review threshold pauses the account, as the review
    warned; otherwise the review ends. A rate that cannot be read (too little mail) is
    no reason to pause.
    """
    over = sorted(
        f"{metric} {rate:.2%}"
        for metric, rate in rates.items()
        if rate is not None and metric in policy.thresholds
        if rate >= policy.thresholds[metric].review
    )
    if over:
        why = (
            f"policy v{policy.version}: the {policy.review_period_days}-day review period"
            f" is over and {', '.join(over)} is still at or above the review threshold"
        )
        return Requirement(AccountAction.PAUSE, AccountAction.PAUSE, policy.version, why)
    why = (
        f"policy v{policy.version}: the {policy.review_period_days}-day review period is over"
        " and every rate is below its review threshold"
    )
    return Requirement(AccountAction.END_REVIEW, AccountAction.END_REVIEW, policy.version, why)
