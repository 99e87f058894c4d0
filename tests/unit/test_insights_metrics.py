"""The pure arithmetic of analyst metrics: intervals, availability, medians, outliers."""

from datetime import UTC, datetime, timedelta

import pytest

from abusedesk.insights.metrics import (
    DEFINITIONS,
    HEADLINE,
    AnalystFacts,
    CaseStep,
    Focus,
    Handled,
    Period,
    active_intervals,
    analyst_figures,
    available_intervals,
    check_period,
    clip,
    combine,
    median,
    median_span,
    outliers,
    parse_rota,
    subtract,
    total,
    union,
    weeks,
)
from abusedesk.insights.weeks import week_start

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """Return T0 plus *minutes*."""
    return T0 + timedelta(minutes=minutes)


def test_union_merges_overlapping_and_touching_intervals() -> None:
    """[0,10] [5,15] [15,20] [30,40] and an empty one give [0,20] [30,40]."""
    merged = union(
        [(at(30), at(40)), (at(0), at(10)), (at(5), at(15)), (at(15), at(20)), (at(50), at(50))]
    )
    assert merged == [(at(0), at(20)), (at(30), at(40))]
    assert total(merged) == timedelta(minutes=30)


def test_subtract_cuts_holes_out_of_intervals() -> None:
    """A shift 0-480 less a break 240-270 and a meeting 400-500 leaves 0-240 and 270-400."""
    kept = subtract([(at(0), at(480))], [(at(400), at(500)), (at(240), at(270))])
    assert kept == [(at(0), at(240)), (at(270), at(400))]


def test_clip_keeps_only_the_window() -> None:
    """Intervals across the window's edges are cut at them; those outside vanish."""
    assert clip([(at(-10), at(5)), (at(8), at(20)), (at(30), at(40))], at(0), at(10)) == [
        (at(0), at(5)),
        (at(8), at(10)),
    ]


def test_two_cases_in_focus_at_once_count_once_in_handling_time() -> None:
    """Focus on case 1 (0-20) and case 2 (10-30): 30 minutes handling, 20 on each case."""
    facts = AnalystFacts(
        "ana",
        "emea",
        "tier 1",
        focus=(Focus(1, at(0), at(20)), Focus(2, at(10), at(30))),
        steps=(CaseStep(2, at(29)),),
    )
    figures = analyst_figures(
        facts, start=at(-60), end=at(60), now=at(60), action_span=timedelta(minutes=2)
    )
    assert (figures.handling, figures.per_case) == (
        timedelta(minutes=30),
        {1: timedelta(minutes=20), 2: timedelta(minutes=20)},
    )


def test_sla_attainment_is_split_per_queue_and_tier() -> None:
    """Three cases in triage (basic), two met; one in advanced, met; one with no SLA and
    one handled outside the window count in no line: 3 of 4 overall."""
    facts = AnalystFacts(
        "ana",
        "emea",
        "tier 1",
        handled=(
            Handled(1, at(5), "triage", "basic", True, True, False),
            Handled(2, at(6), "triage", "basic", False, True, False),
            Handled(3, at(7), "triage", "basic", True, True, False),
            Handled(4, at(8), "advanced", "advanced", True, True, True),
            Handled(5, at(9), "triage", "basic", None, None, False),
            Handled(6, at(90), "triage", "basic", False, False, False),
        ),
    )
    figures = analyst_figures(
        facts, start=at(0), end=at(60), now=at(60), action_span=timedelta(minutes=2)
    )
    assert [(x.queue, x.tier, x.handled, x.met) for x in figures.sla] == [
        ("advanced", "advanced", 1, 1),
        ("triage", "basic", 3, 2),
    ]
    assert (figures.cases_handled, figures.sla_attainment, figures.reopen_rate) == (5, 0.75, 0.2)


def test_a_step_counts_its_span_before_it() -> None:
    """A step at minute 10 with a 2-minute span is active 8-10."""
    parts = active_intervals([], [CaseStep(7, at(10))], action_span=timedelta(minutes=2))
    assert parts == {7: [(at(8), at(10))]}


def test_an_open_shift_counts_up_to_now_and_breaks_outside_a_shift_do_not_count() -> None:
    """Shift from 0 still open at 90 with a break 30-45, and a break at 200: 75 minutes."""
    periods = [
        Period("shift", at(0), None),
        Period("break", at(30), at(45)),
        Period("break", at(200), at(210)),
    ]
    assert total(available_intervals(periods, at(0), at(300), now=at(90))) == timedelta(minutes=75)


def test_utilisation_is_empty_without_available_time() -> None:
    """No shift recorded: utilisation is None, not a division by zero."""
    figures = analyst_figures(
        AnalystFacts("ana", "", "tier 1", focus=(Focus(1, at(0), at(5)),)),
        start=at(0),
        end=at(60),
        now=at(60),
        action_span=timedelta(0),
    )
    assert (figures.handling, figures.utilisation) == (timedelta(minutes=5), None)


def test_combining_nobody_is_refused() -> None:
    """A group needs someone in it."""
    with pytest.raises(ValueError, match="at least one"):
        combine("empty", [])


def test_medians_of_spans_and_values() -> None:
    """Odd and even counts, and nothing at all."""
    spans = [timedelta(minutes=m) for m in (120, 300, 150, 180)]
    assert median_span(spans) == timedelta(minutes=165)
    assert median_span(spans[:3]) == timedelta(minutes=150)
    assert (median_span([]), median([None, None]), median([3.0, None, 1.0])) == (None, None, 2.0)


def test_outliers_lie_beyond_the_median_absolute_deviation() -> None:
    """Values 10, 11, 12, 13, 40: median 12, deviations 2 1 0 1 28 (median 1): 40 is out."""
    values = {"a": 10.0, "b": 11.0, "c": 12.0, "d": 13.0, "e": 40.0, "f": None}
    found = outliers(values, "cases_handled", factor=3.0)
    assert [(o.name, o.median, o.spread, o.direction) for o in found] == [("e", 12.0, 1.0, "above")]
    assert outliers({"a": 1.0, "b": 100.0}, "cases_handled", factor=3.0) == []
    assert outliers({"a": 5.0, "b": 5.0, "c": 5.0}, "cases_handled", factor=3.0) == []


def test_one_analyst_off_a_team_that_otherwise_agrees_is_an_outlier() -> None:
    """Seven analysts meet every SLA, one 40%: the median absolute deviation is 0, so the
    spread is the mean absolute deviation, 0.6 / 8 = 0.075, times 0.8453 = 0.0634; 0.6 is
    over 3 of those. With three analysts, 5 5 9: spread 4 / 3 * 0.8453 = 1.127, 4 > 3.38."""
    team = {f"a{n}": 1.0 for n in range(7)} | {"slow": 0.4}
    (found,) = outliers(team, "sla_attainment", factor=3.0)
    assert (found.name, found.direction, round(found.spread, 4)) == ("slow", "below", 0.0634)
    (nine,) = outliers({"a": 5.0, "b": 5.0, "c": 9.0}, "cases_handled", factor=3.0)
    assert (nine.name, round(nine.spread, 3)) == ("c", 1.127)
    assert outliers({"a": 5.0, "b": 5.0, "c": 9.0}, "cases_handled", factor=4.0) == []


def test_weeks_run_monday_to_monday() -> None:
    """Sunday 8 November belongs to the week of Monday 2 November."""
    sunday = datetime(2026, 11, 8, 23, 59, tzinfo=UTC)
    assert week_start(sunday) == datetime(2026, 11, 2, tzinfo=UTC)
    assert [a.day for a, _ in weeks(T0, sunday + timedelta(days=2))] == [2, 9]


def test_every_headline_figure_has_a_definition() -> None:
    """The pages link each headline figure to a definition that exists."""
    assert set(HEADLINE) <= {d.key for d in DEFINITIONS}


def test_periods_are_checked_in_sentences() -> None:
    """An unknown kind, a backwards period and a 30-hour one are explained."""
    assert check_period("nap", at(0), at(-1)) == [
        "kind 'nap' is not one of shift, break, training, meeting",
        "the period ends before it starts",
    ]
    assert check_period("shift", at(0), at(30 * 60)) == [
        "a period longer than 24 hours is not a shift; split it by day"
    ]


def test_a_hostile_rota_gives_problems_never_an_exception() -> None:
    """Control characters, quotes, huge fields and blank lines are read or refused per line."""
    text = (
        "username,kind,starts_at,ends_at,note\n"
        '"an\x00a",shift,2026-11-02T08:00Z,2026-11-02T09:00Z\n'
        'ann,shift,2026-11-02T08:00Z,2026-11-02T09:00Z,"a ""quoted""\x1b[31m note\u202e"\n'
        "\n"
        f"bob,{'x' * 10000},2026-11-02T08:00Z,2026-11-02T09:00Z\n"
        "bob,shift,9999-99-99,2026-11-02T09:00Z\n"
    )
    lines, problems = parse_rota(text)
    assert [(line.line, line.username, line.note) for line in lines] == [
        (3, "ann", 'a "quoted"[31m note')
    ]
    assert problems == [
        "line 2: the username holds control characters",
        f"line 5: kind {'x' * 40!r} is not one of shift, break, training, meeting",
        "line 6: starts_at '9999-99-99' is not a date and time like 2026-11-02T08:00Z",
    ]
