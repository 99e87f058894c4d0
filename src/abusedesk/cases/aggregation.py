"""Rules for folding events into cases: the group key, reopen-or-open, merge and split.

Every function here decides; storage applies the decision inside one transaction and
audits it with the ``reason`` the decision carries.
"""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from abusedesk.cases.errors import (
    InvalidGrouping,
    InvalidSpan,
    MergeNotAllowed,
    ReasonRequired,
    SplitNotAllowed,
)
from abusedesk.cases.policy import category_group
from abusedesk.cases.states import CaseState, CloseReason
from abusedesk.core.clock import as_utc

# What a case may be grouped by. A case is always about one account.
GROUPABLE_FIELDS = ("account", "category_group", "service", "resource")

# A case closed for these reasons is never reopened: its events live on elsewhere.
_NOT_REOPENED = frozenset({CloseReason.DUPLICATE, CloseReason.MERGED})


@dataclass(frozen=True)
class Grouping:
    """Which facts of an event pick its case; the default is account and category group."""

    fields: tuple[str, ...] = ("account", "category_group")

    def __post_init__(self) -> None:
        unknown = [f for f in self.fields if f not in GROUPABLE_FIELDS]
        if unknown:
            raise InvalidGrouping(
                f"cannot group cases by {', '.join(unknown)}; use {', '.join(GROUPABLE_FIELDS)}"
            )
        if "account" not in self.fields:
            raise InvalidGrouping("a grouping must include account: a case is about one account")
        if len(set(self.fields)) != len(self.fields):
            raise InvalidGrouping(f"a grouping names a field twice: {', '.join(self.fields)}")


DEFAULT_GROUPING = Grouping()


@dataclass(frozen=True)
class FoldableEvent:
    """What aggregation reads of an attributed event."""

    event_id: int
    account_id: int
    category: str
    service: str | None = None
    resource_id: int | None = None


@dataclass(frozen=True, order=True)
class CaseKey:
    """The facts that pick one case, in grouping order, as (field, value) pairs."""

    parts: tuple[tuple[str, str], ...]

    def value(self, name: str) -> str | None:
        """Return the value of one field of the key, or None when the key lacks it."""
        return dict(self.parts).get(name)

    def describe(self) -> str:
        """Return the key in words, e.g. ``account 7, category group spam``."""
        return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in self.parts)


def group_key(event: FoldableEvent, grouping: Grouping = DEFAULT_GROUPING) -> CaseKey | None:
    """Return the key of the case *event* folds into, or None when it makes no casework."""
    group = category_group(event.category)
    if group is None:
        return None
    values = {
        "account": str(event.account_id),
        "category_group": group,
        "service": event.service or "unknown",
        "resource": "none" if event.resource_id is None else str(event.resource_id),
    }
    return CaseKey(tuple((name, values[name]) for name in grouping.fields))


@dataclass(frozen=True)
class Grouped:
    """Events sorted by case key, and the events that make no casework."""

    by_key: dict[CaseKey, tuple[int, ...]]
    no_casework: tuple[int, ...]


def group_events(events: Iterable[FoldableEvent], grouping: Grouping = DEFAULT_GROUPING) -> Grouped:
    """Sort *events* by the case they fold into, keeping each key's events in input order."""
    by_key: dict[CaseKey, list[int]] = {}
    none: list[int] = []
    for event in events:
        key = group_key(event, grouping)
        if key is None:
            none.append(event.event_id)
        else:
            by_key.setdefault(key, []).append(event.event_id)
    return Grouped({k: tuple(v) for k, v in sorted(by_key.items())}, tuple(none))


@dataclass(frozen=True)
class CaseStanding:
    """What the fold decision needs of an existing case with the same key."""

    case_id: int
    state: str
    closed_at: datetime | None = None
    close_reason: str | None = None


class FoldOutcome:
    """What happens to new events for a key."""

    ATTACH = "attach"
    REOPEN = "reopen"
    OPEN_NEW = "open_new"


@dataclass(frozen=True)
class FoldDecision:
    """Where new events go, the state to reopen to if any, and why in words."""

    outcome: str
    case_id: int | None
    reason: str
    reopen_to: str | None = None


def decide_fold(
    key: CaseKey, cases: Sequence[CaseStanding], *, now: datetime, grace: timedelta
) -> FoldDecision:
    """Decide whether new events for *key* join an open case, reopen a closed one, or open one.

    An open case takes the events; a resolved one is reopened to triaged. Otherwise the
    case closed most recently reopens when it closed no longer than *grace* ago and not as a
    duplicate or by a merge; else a new case opens.
    """
    if grace < timedelta(0):
        raise InvalidSpan(f"the reopen grace period cannot be negative ({grace})")
    open_cases = sorted((c for c in cases if c.state != CaseState.CLOSED), key=lambda c: c.case_id)
    if open_cases:
        case = open_cases[0]
        if case.state == CaseState.RESOLVED:
            return FoldDecision(
                FoldOutcome.REOPEN,
                case.case_id,
                f"case {case.case_id} for {key.describe()} was resolved; new events reopen it",
                reopen_to=CaseState.TRIAGED,
            )
        return FoldDecision(
            FoldOutcome.ATTACH,
            case.case_id,
            f"case {case.case_id} is the open case for {key.describe()}",
        )
    closed = [(as_utc(c.closed_at), c.case_id, c) for c in cases if c.closed_at is not None]
    if not closed:
        return FoldDecision(
            FoldOutcome.OPEN_NEW, None, f"no case yet for {key.describe()}; a new one opens"
        )
    closed_at, _, last = max(closed, key=lambda item: item[:2])
    age = as_utc(now) - closed_at
    if last.close_reason in _NOT_REOPENED:
        return FoldDecision(
            FoldOutcome.OPEN_NEW,
            None,
            f"case {last.case_id} was closed as {last.close_reason} and is not reopened;"
            f" a new case opens for {key.describe()}",
        )
    if age <= grace:
        return FoldDecision(
            FoldOutcome.REOPEN,
            last.case_id,
            f"case {last.case_id} for {key.describe()} closed {_words(age)} ago, within the"
            f" {_words(grace)} grace period; it reopens instead of a duplicate",
            reopen_to=CaseState.TRIAGED,
        )
    return FoldDecision(
        FoldOutcome.OPEN_NEW,
        None,
        f"case {last.case_id} closed {_words(age)} ago, beyond the {_words(grace)} grace"
        f" period; a new case opens for {key.describe()}",
    )


def _words(span: timedelta) -> str:
    seconds = max(int(span.total_seconds()), 0)
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    return f"{seconds // 60} minutes"


@dataclass(frozen=True)
class CaseSummary:
    """What merge and split need of a case."""

    case_id: int
    account_id: int
    category_group: str
    state: str
    opened_at: datetime
    event_count: int = 0
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None


def _reason(reason: str, what: str) -> str:
    text = reason.strip()
    if not text:
        raise ReasonRequired(f"a {what} needs a reason in words")
    return text


@dataclass(frozen=True)
class MergePlan:
    """Fold the absorbed cases into the survivor: move their events, close them as merged.

    Distinct reporters cannot be added up; storage recounts them from the moved events.
    """

    survivor_id: int
    absorbed_ids: tuple[int, ...]
    event_count: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    reason: str
    close_reason: str = CloseReason.MERGED
    explanation: str = ""


def plan_merge(
    cases: Sequence[CaseSummary], *, reason: str, survivor_id: int | None = None
) -> MergePlan:
    """Plan a merge of *cases*; the survivor is *survivor_id* or the earliest opened case."""
    text = _reason(reason, "merge")
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        raise MergeNotAllowed(f"a case is named twice in the merge: {sorted(ids)}")
    if len(cases) < 2:
        raise MergeNotAllowed("a merge needs at least two cases")
    accounts = sorted({c.account_id for c in cases})
    if len(accounts) > 1:
        raise MergeNotAllowed(
            f"cases of different accounts cannot be merged (accounts {accounts});"
            " a case is about one account"
        )
    closed = [c.case_id for c in cases if c.state == CaseState.CLOSED]
    if closed:
        raise MergeNotAllowed(f"closed cases cannot be merged; reopen {closed} first")
    if survivor_id is None:
        survivor = min(cases, key=lambda c: (as_utc(c.opened_at), c.case_id))
    else:
        found = [c for c in cases if c.case_id == survivor_id]
        if not found:
            raise MergeNotAllowed(f"the survivor {survivor_id} is not one of the cases {ids}")
        survivor = found[0]
    absorbed = tuple(sorted(c.case_id for c in cases if c.case_id != survivor.case_id))
    firsts = [as_utc(c.first_seen_at) for c in cases if c.first_seen_at is not None]
    lasts = [as_utc(c.last_seen_at) for c in cases if c.last_seen_at is not None]
    return MergePlan(
        survivor_id=survivor.case_id,
        absorbed_ids=absorbed,
        event_count=sum(c.event_count for c in cases),
        first_seen_at=min(firsts) if firsts else None,
        last_seen_at=max(lasts) if lasts else None,
        reason=text,
        explanation=(
            f"case {survivor.case_id} keeps the events of {', '.join(map(str, absorbed))},"
            f" which close as merged: {text}"
        ),
    )


@dataclass(frozen=True)
class SplitPlan:
    """Move some of a case's events into a new case of the same account."""

    source_case_id: int
    moved_event_ids: tuple[int, ...]
    kept_event_count: int
    account_id: int
    category_group: str
    reason: str
    new_state: str = CaseState.NEW
    explanation: str = field(default="")


def plan_split(
    case: CaseSummary,
    case_event_ids: Collection[int],
    move: Iterable[int],
    *,
    category_group: str,
    reason: str,
) -> SplitPlan:
    """Plan moving the events *move* of *case* into a new case of *category_group*.

    The new case needs another category group than the source: an account has one open
    case per category group, so the same group would fold both back together.
    """
    text = _reason(reason, "split")
    if case.state == CaseState.CLOSED:
        raise SplitNotAllowed(f"case {case.case_id} is closed; reopen it before splitting")
    moved = tuple(sorted(set(move)))
    if not moved:
        raise SplitNotAllowed("choose at least one event to split off")
    strangers = sorted(set(moved) - set(case_event_ids))
    if strangers:
        raise SplitNotAllowed(f"events {strangers} are not in case {case.case_id}")
    kept = len(set(case_event_ids)) - len(moved)
    if kept == 0:
        raise SplitNotAllowed(
            f"splitting off every event would empty case {case.case_id}; close or regroup it"
        )
    group = category_group.strip()
    if not group or group == case.category_group:
        raise SplitNotAllowed(
            f"the new case needs a category group other than {case.category_group!r}:"
            " an account has one open case per category group"
        )
    return SplitPlan(
        source_case_id=case.case_id,
        moved_event_ids=moved,
        kept_event_count=kept,
        account_id=case.account_id,
        category_group=group,
        reason=text,
        explanation=(
            f"{len(moved)} event(s) leave case {case.case_id} for a new {group} case,"
            f" {kept} stay: {text}"
        ),
    )
