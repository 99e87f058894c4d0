"""Folding rules: case keys, reopen within the grace period, merge and split plans."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abusedesk.cases.aggregation import (
    CaseKey,
    CaseStanding,
    CaseSummary,
    FoldableEvent,
    FoldOutcome,
    Grouping,
    decide_fold,
    group_events,
    group_key,
    plan_merge,
    plan_split,
)
from abusedesk.cases.errors import (
    InvalidGrouping,
    InvalidSpan,
    MergeNotAllowed,
    ReasonRequired,
    SplitNotAllowed,
)
from abusedesk.cases.states import CaseState, CloseReason

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=7)
KEY = CaseKey((("account", "7"), ("category_group", "spam")))


def test_the_default_key_is_account_and_category_group() -> None:
    """Spam and SMS spam of one account share a key; phishing has its own."""
    keys = [
        group_key(FoldableEvent(1, 7, "spam", "email")),
        group_key(FoldableEvent(2, 7, "sms_spam", "sms")),
        group_key(FoldableEvent(3, 7, "phishing", "email")),
    ]
    assert [k.describe() if k else None for k in keys] == [
        "account 7, category group spam",
        "account 7, category group spam",
        "account 7, category group phishing",
    ]


def test_grouping_by_service_separates_channels() -> None:
    """With service in the grouping, email and SMS spam of one account are two cases."""
    grouping = Grouping(("account", "category_group", "service"))
    first = group_key(FoldableEvent(1, 7, "spam", "email"), grouping)
    second = group_key(FoldableEvent(2, 7, "sms_spam", "sms"), grouping)
    assert first != second


def test_events_that_make_no_casework_have_no_key() -> None:
    """Bounces feed monitoring, not a case."""
    assert group_key(FoldableEvent(1, 7, "bounce")) is None


@pytest.mark.parametrize(
    "fields", [("category_group",), ("account", "colour"), ("account", "account")]
)
def test_a_bad_grouping_is_refused(fields: tuple[str, ...]) -> None:
    """A grouping without account, with an unknown field or a repeated one, is refused."""
    with pytest.raises(InvalidGrouping):
        Grouping(fields)


def test_group_events_sorts_events_by_case_and_keeps_the_rest_apart() -> None:
    """Each key keeps its events in arrival order; no-casework events are listed apart."""
    grouped = group_events(
        [
            FoldableEvent(5, 7, "spam"),
            FoldableEvent(6, 7, "bounce"),
            FoldableEvent(4, 7, "phishing"),
            FoldableEvent(3, 7, "spam"),
        ]
    )
    assert (
        {k.value("category_group"): v for k, v in grouped.by_key.items()},
        grouped.no_casework,
    ) == (
        {"phishing": (4,), "spam": (5, 3)},
        (6,),
    )


def test_new_events_join_the_open_case() -> None:
    """An open case for the key takes the events, whatever older closed cases exist."""
    decision = decide_fold(
        KEY,
        [
            CaseStanding(3, CaseState.CLOSED, NOW - timedelta(hours=1), CloseReason.NO_ACTION),
            CaseStanding(9, CaseState.INVESTIGATING),
        ],
        now=NOW,
        grace=GRACE,
    )
    assert (decision.outcome, decision.case_id) == (FoldOutcome.ATTACH, 9)


def test_a_resolved_case_reopens_to_triaged() -> None:
    """New evidence on a resolved case sends it back for a look."""
    decision = decide_fold(KEY, [CaseStanding(9, CaseState.RESOLVED)], now=NOW, grace=GRACE)
    assert (decision.outcome, decision.case_id, decision.reopen_to) == (
        FoldOutcome.REOPEN,
        9,
        CaseState.TRIAGED,
    )


def test_the_case_closed_last_reopens_within_the_grace_period() -> None:
    """Of two cases closed within the grace period, the more recent one reopens."""
    decision = decide_fold(
        KEY,
        [
            CaseStanding(3, CaseState.CLOSED, NOW - timedelta(days=2), CloseReason.NO_ACTION),
            CaseStanding(4, CaseState.CLOSED, NOW - timedelta(days=1), CloseReason.RESOLVED),
        ],
        now=NOW,
        grace=GRACE,
    )
    assert (decision.outcome, decision.case_id, decision.reason) == (
        FoldOutcome.REOPEN,
        4,
        "case 4 for account 7, category group spam closed 24 hours ago, within the 7 days"
        " grace period; it reopens instead of a duplicate",
    )


def test_a_case_closed_exactly_at_the_grace_limit_reopens() -> None:
    """The grace period includes its last instant."""
    case = CaseStanding(3, CaseState.CLOSED, NOW - GRACE, CloseReason.NO_ACTION)
    assert decide_fold(KEY, [case], now=NOW, grace=GRACE).outcome == FoldOutcome.REOPEN


def test_a_case_closed_before_the_grace_period_stays_closed() -> None:
    """Past the grace period a new case opens, and the reason says how long ago."""
    case = CaseStanding(3, CaseState.CLOSED, NOW - timedelta(days=8), CloseReason.RESOLVED)
    decision = decide_fold(KEY, [case], now=NOW, grace=GRACE)
    assert (decision.outcome, decision.case_id) == (FoldOutcome.OPEN_NEW, None)


@pytest.mark.parametrize("reason", [CloseReason.DUPLICATE, CloseReason.MERGED])
def test_duplicates_and_merged_cases_never_reopen(reason: str) -> None:
    """A case whose events live elsewhere does not come back."""
    case = CaseStanding(3, CaseState.CLOSED, NOW - timedelta(minutes=5), reason)
    assert decide_fold(KEY, [case], now=NOW, grace=GRACE).outcome == FoldOutcome.OPEN_NEW


def test_a_negative_grace_period_is_refused() -> None:
    """A grace period cannot run backwards."""
    with pytest.raises(InvalidSpan):
        decide_fold(KEY, [], now=NOW, grace=timedelta(seconds=-1))


@settings(deadline=None, database=None)
@given(
    ages=st.lists(st.integers(min_value=0, max_value=30 * 86400), max_size=5),
    grace_seconds=st.integers(min_value=0, max_value=14 * 86400),
)
def test_only_a_case_closed_within_grace_reopens(ages: list[int], grace_seconds: int) -> None:
    """With only closed cases, the decision reopens exactly when the latest closed within grace."""
    cases = [
        CaseStanding(i, CaseState.CLOSED, NOW - timedelta(seconds=age), CloseReason.NO_ACTION)
        for i, age in enumerate(ages)
    ]
    decision = decide_fold(KEY, cases, now=NOW, grace=timedelta(seconds=grace_seconds))
    expected = FoldOutcome.REOPEN if ages and min(ages) <= grace_seconds else FoldOutcome.OPEN_NEW
    assert decision.outcome == expected


def _summary(
    case_id: int, *, account: int = 7, state: str = CaseState.TRIAGED, day: int = 1, events: int = 1
) -> CaseSummary:
    opened = datetime(2026, 6, day, tzinfo=UTC)
    return CaseSummary(
        case_id, account, "spam", state, opened, events, opened, opened + timedelta(hours=events)
    )


def test_a_merge_keeps_the_oldest_case_and_combines_counts() -> None:
    """The earliest opened case survives; counts add up; first and last seen span all."""
    plan = plan_merge(
        [_summary(5, day=3, events=4), _summary(8, day=1, events=2), _summary(2, day=2, events=1)],
        reason="same campaign",
    )
    assert (
        plan.survivor_id,
        plan.absorbed_ids,
        plan.event_count,
        plan.first_seen_at,
        plan.last_seen_at,
    ) == (
        8,
        (2, 5),
        7,
        datetime(2026, 6, 1, tzinfo=UTC),
        datetime(2026, 6, 3, 4, tzinfo=UTC),
    )


def test_a_merge_may_name_its_survivor() -> None:
    """An analyst can choose which case survives."""
    plan = plan_merge(
        [_summary(5, day=3), _summary(8, day=1)], reason="same campaign", survivor_id=5
    )
    assert (plan.survivor_id, plan.absorbed_ids, plan.close_reason) == (5, (8,), CloseReason.MERGED)


@pytest.mark.parametrize(
    ("cases", "survivor"),
    [
        ([_summary(5)], None),
        ([_summary(5), _summary(5)], None),
        ([_summary(5), _summary(6, account=8)], None),
        ([_summary(5), _summary(6, state=CaseState.CLOSED)], None),
        ([_summary(5), _summary(6)], 99),
    ],
)
def test_impossible_merges_are_refused(cases: list[CaseSummary], survivor: int | None) -> None:
    """One case, a repeated case, two accounts, a closed case or a stranger survivor: refused."""
    with pytest.raises(MergeNotAllowed):
        plan_merge(cases, reason="same campaign", survivor_id=survivor)


def test_a_merge_needs_a_reason() -> None:
    """A blank reason is refused."""
    with pytest.raises(ReasonRequired):
        plan_merge([_summary(5), _summary(6)], reason="  ")


def test_a_split_moves_the_chosen_events_to_a_new_case() -> None:
    """The chosen events leave; the rest stay; the new case starts as new."""
    plan = plan_split(
        _summary(5), [1, 2, 3, 4], [3, 1], category_group="phishing", reason="credential lures"
    )
    assert (plan.moved_event_ids, plan.kept_event_count, plan.category_group, plan.new_state) == (
        (1, 3),
        2,
        "phishing",
        CaseState.NEW,
    )


@pytest.mark.parametrize(
    ("move", "group"),
    [([], "phishing"), ([9], "phishing"), ([1, 2], "phishing"), ([1], "spam")],
)
def test_impossible_splits_are_refused(move: list[int], group: str) -> None:
    """Nothing chosen, a stranger event, every event, or the same group: refused."""
    with pytest.raises(SplitNotAllowed):
        plan_split(_summary(5), [1, 2], move, category_group=group, reason="two campaigns")


def test_a_closed_case_cannot_be_split() -> None:
    """Splitting a closed case needs it reopened first."""
    with pytest.raises(SplitNotAllowed):
        plan_split(
            _summary(5, state=CaseState.CLOSED), [1, 2], [1], category_group="phishing", reason="x"
        )


def test_a_split_needs_a_reason() -> None:
    """A blank reason is refused."""
    with pytest.raises(ReasonRequired):
        plan_split(_summary(5), [1, 2], [1], category_group="phishing", reason="")
