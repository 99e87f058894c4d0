"""The success-rate drop rule: when a reporter's reports stop parsing, and when not."""

from datetime import timedelta

import pytest

from abusedesk.parsing.health import (
    ALL_FORMATS,
    DropRule,
    WindowTally,
    success_drops,
    with_all_formats,
)

RULE = DropRule(min_recent=10, min_baseline=20, min_drop=0.25)


def tally(
    recent: tuple[int, int], baseline: tuple[int, int], reporter: str = "r", fmt: str = "arf"
) -> WindowTally:
    """Return a tally of (read, unread) reports in the recent and baseline windows."""
    return WindowTally(reporter, fmt, *recent, *baseline)


def test_a_fall_beyond_the_amount_is_a_drop() -> None:
    """From 95% read to 40% read on enough reports is a drop, with both rates."""
    (drop,) = success_drops([tally((4, 6), (95, 5))], RULE)
    assert (drop.baseline_rate, drop.recent_rate, round(drop.drop, 2)) == (0.95, 0.4, 0.55)


def test_a_fall_exactly_at_the_amount_is_a_drop() -> None:
    """The amount is inclusive: 100% to 75% with a 0.25 rule is a drop."""
    assert len(success_drops([tally((15, 5), (40, 0))], RULE)) == 1


def test_a_fall_below_the_amount_is_not_a_drop() -> None:
    """100% to 80% with a 0.25 rule is no drop."""
    assert success_drops([tally((16, 4), (40, 0))], RULE) == []


@pytest.mark.parametrize(("recent", "baseline"), [((0, 9), (40, 0)), ((0, 20), (19, 0))])
def test_too_few_reports_in_either_window_is_not_a_drop(
    recent: tuple[int, int], baseline: tuple[int, int]
) -> None:
    """A small reporter whose every recent report failed raises nothing below the minimums."""
    assert success_drops([tally(recent, baseline)], RULE) == []


def test_a_rise_is_not_a_drop() -> None:
    """A reporter that parses better than before raises nothing."""
    assert success_drops([tally((20, 0), (10, 30))], RULE) == []


def test_all_formats_row_adds_up_a_reporters_formats() -> None:
    """The all-formats row sums every format of one reporter, in both windows."""
    rows = with_all_formats([tally((10, 0), (30, 0)), tally((0, 12), (0, 1), fmt="none")])
    assert rows[-1] == WindowTally("r", ALL_FORMATS, 10, 12, 30, 1)


def test_a_reporter_whose_reports_turn_unrecognised_drops_across_formats() -> None:
    """ARF read before, unrecognised now: no single format fell, all formats together did."""
    rows = with_all_formats([tally((0, 0), (60, 0)), tally((0, 15), (0, 0), fmt="none")])
    (drop,) = success_drops(rows, RULE)
    assert (drop.tally.report_format, drop.recent_rate, drop.baseline_rate) == (
        ALL_FORMATS,
        0.0,
        1.0,
    )


def test_a_format_drop_is_not_repeated_by_its_reporters_all_formats_row() -> None:
    """When one format dropped, the reporter's all-formats row raises nothing more."""
    rows = with_all_formats([tally((2, 18), (60, 0))])
    assert [d.subject_id for d in success_drops(rows, RULE)] == ["r|arf"]


def test_drops_are_listed_largest_first() -> None:
    """The largest fall comes first."""
    rows = [tally((10, 10), (40, 0), reporter="a"), tally((0, 20), (40, 0), reporter="b")]
    assert [d.tally.reporter for d in success_drops(rows, RULE)] == ["b", "a"]


def test_figures_and_reason_say_what_fell() -> None:
    """The signal's figures hold counts and rates of both windows; the reason names them."""
    (drop,) = success_drops([tally((4, 16), (50, 0))], RULE)
    figures = drop.figures(RULE)
    assert (
        figures["recent_reports"],
        figures["recent_rate"],
        figures["baseline_reports"],
        figures["baseline_rate"],
        figures["drop"],
        figures["recent_hours"],
        figures["baseline_hours"],
    ) == (20, 0.2, 50, 1.0, 0.8, 6.0, 168.0)
    assert drop.reason().startswith("r (arf): 20% of 20 recent reports read, against 100% of 50")


@pytest.mark.parametrize(
    "bad",
    [
        {"recent": timedelta(0)},
        {"min_recent": 0},
        {"min_baseline": 0},
        {"min_drop": 0},
        {"min_drop": 1.5},
    ],
)
def test_rules_that_could_never_or_always_fire_are_refused(bad: dict[str, object]) -> None:
    """A rule with an empty window, no minimum or a drop outside (0, 1] is refused."""
    with pytest.raises(ValueError, match="must be"):
        DropRule(**bad)  # type: ignore[arg-type]  # deliberately mixed values
