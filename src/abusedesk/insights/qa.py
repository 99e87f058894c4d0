"""Quality assurance, the pure part: scorecards and scores, the sampling policy, agreement.

A scorecard lists the criteria a reviewer rates a piece of work on, each ``met``,
``not_met`` or ``na`` (does not apply), with a weight and whether it is critical. The
score is the weight of the criteria met over the weight of the criteria rated (``na``
left out), as a percentage with one decimal; a critical criterion not met is a critical
failure and makes the score 0, whatever else was met.

The sampling policy decides which closed cases and executed actions go to the QA queue:
each at the rate of its queue's tier, at a higher rate while its analyst is new, and
every action whose appeal was overturned. Calibration agreement is Cohen's kappa for two
reviewers and Fleiss' kappa for two or more, per criterion.
"""

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from typing import Any, Final

from abusedesk.core.errors import AbuseDeskError
from abusedesk.insights.weeks import week_start

MAX_CRITERIA: Final = 40
MAX_WEIGHT: Final = 100
MAX_LABEL: Final = 200
MAX_GUIDANCE: Final = 1000
MAX_COMMENT: Final = 4000
_KEY: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CASE_TYPE: Final = re.compile(r"^([a-z][a-z0-9_]{0,39})?$")


class InvalidScorecard(AbuseDeskError):
    """Raise when a scorecard's criteria break a rule; the message names each problem."""


class InvalidRatings(AbuseDeskError):
    """Raise when a review's ratings do not fit its scorecard."""


class Rating:
    """How a reviewer rates one criterion."""

    MET: Final = "met"
    NOT_MET: Final = "not_met"
    NA: Final = "na"
    ALL: Final = (MET, NOT_MET, NA)


class Reason:
    """Why a piece of work is in the QA queue."""

    RANDOM: Final = "random"
    NEW_ANALYST: Final = "new_analyst"
    OVERTURNED_APPEAL: Final = "overturned_appeal"
    TARGETED: Final = "targeted"
    CALIBRATION: Final = "calibration"
    ALL: Final = (RANDOM, NEW_ANALYST, OVERTURNED_APPEAL, TARGETED, CALIBRATION)


@dataclass(frozen=True)
class Criterion:
    """One thing a reviewer checks: its key, label, weight, and whether failing it is critical."""

    key: str
    label: str
    weight: int
    critical: bool = False
    guidance: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the criterion as stored in a scorecard's definition."""
        return {
            "key": self.key,
            "label": self.label,
            "weight": self.weight,
            "critical": self.critical,
            "guidance": self.guidance,
        }


@dataclass(frozen=True)
class Scorecard:
    """The criteria of one case type ("" for any case type without a scorecard of its own)."""

    case_type: str
    criteria: tuple[Criterion, ...]

    def __post_init__(self) -> None:
        problems = scorecard_problems(self.case_type, self.criteria)
        if problems:
            raise InvalidScorecard("; ".join(problems))

    @classmethod
    def from_definition(cls, case_type: str, definition: Mapping[str, Any]) -> "Scorecard":
        """Return the scorecard a stored definition describes."""
        raw = definition.get("criteria")
        if not isinstance(raw, list):
            raise InvalidScorecard("the definition has no list of criteria")
        criteria = []
        for item in raw:
            if not isinstance(item, Mapping):
                raise InvalidScorecard("each criterion is an object with key, label and weight")
            criteria.append(
                Criterion(
                    key=str(item.get("key", "")),
                    label=str(item.get("label", "")),
                    weight=_int(item.get("weight")),
                    critical=bool(item.get("critical", False)),
                    guidance=str(item.get("guidance", "")),
                )
            )
        return cls(case_type, tuple(criteria))

    def to_definition(self) -> dict[str, Any]:
        """Return the definition stored for this scorecard."""
        return {"criteria": [c.to_dict() for c in self.criteria]}

    def criterion(self, key: str) -> Criterion | None:
        """Return the criterion *key*, or None."""
        return next((c for c in self.criteria if c.key == key), None)

    @property
    def label(self) -> str:
        """Return the case type as people read it."""
        return self.case_type or "any case type"


def _int(value: object) -> int:
    if isinstance(value, bool):
        return -1
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return -1


def scorecard_problems(case_type: str, criteria: Sequence[Criterion]) -> list[str]:
    """Return what is wrong with a scorecard of *criteria* for *case_type*, in words."""
    problems: list[str] = []
    if not _CASE_TYPE.match(case_type):
        problems.append(
            f"case type {case_type[:40]!r} is not a case group name "
            "(a lowercase word: letters, digits, _; or empty for any)"
        )
    if not criteria:
        problems.append("a scorecard needs at least one criterion")
    if len(criteria) > MAX_CRITERIA:
        problems.append(f"a scorecard has at most {MAX_CRITERIA} criteria, not {len(criteria)}")
    seen: set[str] = set()
    for number, item in enumerate(criteria, 1):
        name = f"criterion {number}"
        if not _KEY.match(item.key):
            problems.append(
                f"{name}: the key {item.key[:40]!r} must be a lowercase word "
                "(letters, digits, _; at most 40)"
            )
        elif item.key in seen:
            problems.append(f"{name}: the key {item.key!r} is used twice")
        seen.add(item.key)
        if not item.label.strip():
            problems.append(f"{name}: give it a label")
        elif len(item.label) > MAX_LABEL:
            problems.append(f"{name}: the label is longer than {MAX_LABEL} characters")
        if not 1 <= item.weight <= MAX_WEIGHT:
            problems.append(f"{name}: the weight must be a whole number from 1 to {MAX_WEIGHT}")
        if len(item.guidance) > MAX_GUIDANCE:
            problems.append(f"{name}: the guidance is longer than {MAX_GUIDANCE} characters")
    return problems


@dataclass(frozen=True)
class Score:
    """The result of rating every criterion of a scorecard."""

    score: float
    critical_failure: bool
    met_weight: int
    rated_weight: int
    failed_critical: tuple[str, ...] = ()


def score(card: Scorecard, ratings: Mapping[str, str]) -> Score:
    """Return the score of *ratings* (criterion key -> met, not_met or na) on *card*.

    Every criterion must be rated, and at least one met or not met.
    """
    unknown = sorted(set(ratings) - {c.key for c in card.criteria})
    if unknown:
        raise InvalidRatings(f"the scorecard has no criterion {', '.join(unknown)[:200]}")
    missing = [c.label for c in card.criteria if c.key not in ratings]
    if missing:
        raise InvalidRatings(f"rate every criterion; not rated: {', '.join(missing)[:400]}")
    wrong = sorted(k for k, v in ratings.items() if v not in Rating.ALL)
    if wrong:
        raise InvalidRatings(f"rate {', '.join(wrong)[:200]} as met, not met or does not apply")
    met = sum(c.weight for c in card.criteria if ratings[c.key] == Rating.MET)
    rated = sum(c.weight for c in card.criteria if ratings[c.key] != Rating.NA)
    if rated == 0:
        raise InvalidRatings("rate at least one criterion met or not met")
    failed = tuple(c.key for c in card.criteria if c.critical and ratings[c.key] == Rating.NOT_MET)
    value = 0.0 if failed else round(100 * met / rated, 1)
    return Score(value, bool(failed), met, rated, failed)


def _card(case_type: str, *criteria: Criterion) -> Scorecard:
    return Scorecard(case_type, criteria)


_ATTRIBUTION = Criterion(
    "attribution",
    "Right account and resource, attribution checked",
    3,
    critical=True,
    guidance="The case is about the account the evidence points at; a weak attribution "
    "was checked before acting.",
)
_DECISION = Criterion(
    "decision",
    "Decision follows the policy and the ladder",
    3,
    critical=True,
    guidance="The action (or no action) is what the enforcement policy asks for at the "
    "account's standing; any step off the ladder is explained.",
)
_EVIDENCE = Criterion(
    "evidence",
    "Evidence read and cited",
    2,
    guidance="The notes or the action cite the events and figures the decision rests on.",
)
_NOTICE = Criterion(
    "notice",
    "Customer notice correct and redacted",
    2,
    critical=True,
    guidance="The right template, the facts right, and no complainant address or name.",
)
_TIMELINESS = Criterion(
    "timeliness", "Handled within the SLA", 1, guidance="Response and resolution in time."
)
_NOTES = Criterion(
    "notes",
    "Notes clear for the next analyst",
    1,
    guidance="Someone reading the case later can tell what was done and why.",
)

# The scorecards abusedesk ships, one per default case group and one for any other.
DEFAULT_SCORECARDS: Final[Mapping[str, Scorecard]] = {
    "": _card("", _ATTRIBUTION, _DECISION, _EVIDENCE, _NOTICE, _TIMELINESS, _NOTES),
    "spam": _card(
        "spam",
        _ATTRIBUTION,
        _DECISION,
        _EVIDENCE,
        Criterion(
            "list_hygiene",
            "List source and complaint rate examined",
            2,
            guidance="How the recipients were collected, and the complaint rate on a "
            "representative volume.",
        ),
        _NOTICE,
        _TIMELINESS,
        _NOTES,
    ),
    "phishing": _card(
        "phishing",
        _ATTRIBUTION,
        _DECISION,
        _EVIDENCE,
        Criterion(
            "containment",
            "Sending stopped and URLs blocked quickly",
            3,
            critical=True,
            guidance="Phishing is contained first: the account paused or suspended and the "
            "URLs blocked before anything else.",
        ),
        Criterion(
            "compromise",
            "Compromised account considered",
            2,
            guidance="A long-standing customer may be a victim: signs of takeover checked.",
        ),
        _NOTICE,
        _TIMELINESS,
        _NOTES,
    ),
    "malware": _card(
        "malware",
        _ATTRIBUTION,
        _DECISION,
        _EVIDENCE,
        Criterion(
            "safe_handling",
            "Samples handled safely",
            2,
            critical=True,
            guidance="Attachments only opened as raw evidence; nothing run or forwarded.",
        ),
        _NOTICE,
        _TIMELINESS,
        _NOTES,
    ),
    "authentication": _card(
        "authentication",
        _ATTRIBUTION,
        _DECISION,
        _EVIDENCE,
        Criterion(
            "spoofing",
            "Spoofing told apart from misconfiguration",
            2,
            guidance="Failures from others' servers are spoofing, not the customer's fault.",
        ),
        _NOTICE,
        _TIMELINESS,
        _NOTES,
    ),
}


def default_scorecard(case_type: str) -> Scorecard:
    """Return the shipped scorecard of *case_type*, or the one for any case type."""
    return DEFAULT_SCORECARDS.get(case_type) or DEFAULT_SCORECARDS[""]


# --- sampling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A closed case or an executed action that may be sampled.

    *kind* is ``case`` or ``action``; *new_analyst*: its analyst was new when doing it.
    """

    kind: str
    case_id: int
    action_id: int | None
    analyst: str
    tier: str
    new_analyst: bool = False


@dataclass(frozen=True)
class Pick:
    """A candidate the policy sends to the QA queue, and why."""

    candidate: Candidate
    reason: str


@dataclass(frozen=True)
class SamplingPolicy:
    """Sampling rates (0 to 1): per queue tier, a default, and for new analysts."""

    tier_rates: Mapping[str, float] = field(
        default_factory=lambda: {"basic": 0.05, "advanced": 0.10}
    )
    default_rate: float = 0.05
    new_analyst_rate: float = 0.25

    def __post_init__(self) -> None:
        rates = [*self.tier_rates.values(), self.default_rate, self.new_analyst_rate]
        if any(not 0 <= rate <= 1 for rate in rates):
            raise ValueError("a sampling rate is a fraction from 0 to 1")

    def tier_rate(self, tier: str) -> float:
        """Return the rate of work in queues of *tier*."""
        return self.tier_rates.get(tier, self.default_rate)

    def rate_for(self, candidate: Candidate) -> tuple[float, str]:
        """Return the rate *candidate* is sampled at and the reason a pick would carry."""
        rate = self.tier_rate(candidate.tier)
        if candidate.new_analyst and self.new_analyst_rate > rate:
            return self.new_analyst_rate, Reason.NEW_ANALYST
        return rate, Reason.RANDOM

    def draw(self, candidates: Iterable[Candidate], seed: int) -> list[Pick]:
        """Return the candidates drawn, each independently at its rate, in the order given.

        A candidate's draw depends on *seed* and the work alone (`unit_draw`), not on the
        order, the window or what else is drawn: the same seed picks the same work again.
        """
        picks = []
        for candidate in candidates:
            rate, reason = self.rate_for(candidate)
            if unit_draw(seed, candidate) < rate:
                picks.append(Pick(candidate, reason))
        return picks


def unit_draw(seed: int, candidate: Candidate) -> float:
    """Return *candidate*'s draw, from 0 (inclusive) to 1, fixed by *seed* and the work
    (its kind, case and action): uniform over the work, and repeatable by whoever knows
    the seed."""
    unit = f"{seed}:{candidate.kind}:{candidate.case_id}:{candidate.action_id or 0}"
    digest = hashlib.sha256(unit.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_person(actor: str | None) -> bool:
    """Tell whether *actor* is a person (not ``system:...`` or empty)."""
    return bool(actor) and ":" not in str(actor)


def analyst_of_action(
    proposed_by: str | None, approved_by: str | None, executed_by: str | None
) -> str | None:
    """Return the person whose decision an action was: who proposed it, else who approved
    it (the policy proposed), else who executed it; None when no person had a hand in it."""
    for actor in (proposed_by, approved_by, executed_by):
        if actor is not None and is_person(actor):
            return actor
    return None


# --- calibration agreement --------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """Agreement of raters on a set of items: kappa (None when undefined), observed and
    chance agreement, and how many items it rests on."""

    kappa: float | None
    observed: float
    expected: float
    items: int


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> Agreement:
    """Return Cohen's kappa of two raters, one (rating A, rating B) pair per item.

    Kappa is undefined (None) when chance agreement is 1: both raters gave one and the
    same category to every item.
    """
    n = len(pairs)
    if n == 0:
        return Agreement(None, 0.0, 0.0, 0)
    observed = sum(1 for a, b in pairs if a == b) / n
    categories = {c for pair in pairs for c in pair}
    expected = sum(
        (sum(1 for a, _ in pairs if a == c) / n) * (sum(1 for _, b in pairs if b == c) / n)
        for c in categories
    )
    return Agreement(_kappa(observed, expected), observed, expected, n)


def fleiss_kappa(items: Sequence[Sequence[str]]) -> Agreement:
    """Return Fleiss' kappa of items each rated by the same number (two or more) of raters.

    ``items[i]`` holds the ratings item *i* got; the raters need not be the same people.
    """
    if not items:
        return Agreement(None, 0.0, 0.0, 0)
    raters = len(items[0])
    if raters < 2 or any(len(item) != raters for item in items):
        raise ValueError("Fleiss' kappa needs the same number, two or more, of ratings per item")
    n = len(items)
    categories = sorted({c for item in items for c in item})
    observed = (
        sum(
            (sum(item.count(c) ** 2 for c in categories) - raters) / (raters * (raters - 1))
            for item in items
        )
        / n
    )
    shares = [sum(item.count(c) for item in items) / (n * raters) for c in categories]
    expected = sum(p * p for p in shares)
    return Agreement(_kappa(observed, expected), observed, expected, n)


def fleiss_kappa_from_counts(table: Sequence[Sequence[int]]) -> Agreement:
    """Return Fleiss' kappa from counts: ``table[i][j]`` raters put item *i* in category *j*."""
    items = [[str(j) for j, count in enumerate(row) for _ in range(count)] for row in table]
    return fleiss_kappa(items)


def _kappa(observed: float, expected: float) -> float | None:
    if expected >= 1 - 1e-12:
        return None
    return (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class CriterionAgreement:
    """How reviewers of a calibration round agreed on one criterion.

    *cohen* is Cohen's kappa when the round has two reviewers, else the mean of every
    pair's (Light's kappa, None when any pair's is undefined); *fleiss* is Fleiss' kappa.
    """

    key: str
    label: str
    items: int
    percent_agreement: float
    cohen: float | None
    fleiss: float | None


def criterion_agreement(
    card: Scorecard,
    ratings: Mapping[int, Mapping[str, Mapping[str, str]]],
    reviewers: Sequence[str],
) -> list[CriterionAgreement]:
    """Return the agreement per criterion of *card*.

    *ratings* maps a sample to each reviewer's ratings (criterion key -> rating); only
    samples every reviewer rated count.
    """
    complete = [
        sample
        for sample in sorted(ratings)
        if all(reviewer in ratings[sample] for reviewer in reviewers)
    ]
    result = []
    for criterion in card.criteria:
        items = [[ratings[s][r].get(criterion.key, Rating.NA) for r in reviewers] for s in complete]
        if len(reviewers) < 2 or not items:
            result.append(
                CriterionAgreement(criterion.key, criterion.label, len(items), 0.0, None, None)
            )
            continue
        unanimous = sum(1 for item in items if len(set(item)) == 1) / len(items)
        pairwise = [
            cohen_kappa([(item[a], item[b]) for item in items]).kappa
            for a, b in combinations(range(len(reviewers)), 2)
        ]
        cohen = (
            None
            if any(k is None for k in pairwise)
            else sum(k for k in pairwise if k is not None) / len(pairwise)
        )
        result.append(
            CriterionAgreement(
                criterion.key,
                criterion.label,
                len(items),
                unanimous,
                cohen,
                fleiss_kappa(items).kappa,
            )
        )
    return result


# --- trends -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredReview:
    """One review as trends read it."""

    analyst: str
    team: str
    scored_at: datetime
    score: float
    critical_failure: bool


@dataclass(frozen=True)
class WeeklyQuality:
    """The quality of one analyst or team in one week."""

    who: str
    week_start: datetime
    reviews: int
    mean_score: float
    critical_failures: int


def weekly_quality(reviews: Iterable[ScoredReview], *, by: str) -> list[WeeklyQuality]:
    """Return the mean score per week of each analyst (*by* ``analyst``) or team (``team``).

    Reviews of analysts without a team count for the team "(no team)".
    """
    if by not in ("analyst", "team"):
        raise ValueError("by is analyst or team")
    groups: dict[tuple[str, datetime], list[ScoredReview]] = {}
    for review in reviews:
        who = review.analyst if by == "analyst" else (review.team or "(no team)")
        groups.setdefault((who, week_start(review.scored_at)), []).append(review)
    return [
        WeeklyQuality(
            who,
            week,
            len(rows),
            round(sum(r.score for r in rows) / len(rows), 1),
            sum(1 for r in rows if r.critical_failure),
        )
        for (who, week), rows in sorted(groups.items())
    ]
