"""Analyst metrics on the simulator's cases plus the scripted day equal figures worked by hand.

The day (``abusedesk.demo.analysts.DAY``) starts Monday 2 November 2026 08:00 UTC; its six
cases open at 06:00 in ``triage`` (response within 4 h: due 10:00). A step counts the
2 minutes before it as active time; focus stretches count from first to last ping.

basic (tier 1): shift 08:00-16:00 less break 12:00-12:30 and training 14:00-15:00 = 390 min.
  case 0: take 08:00 [07:58-08:00] + focus 08:00-08:20 (note 08:10, resolve 08:20) = 22 min
  case 1: take 08:30 [08:28-08:30] + focus 08:30-08:40 + close 08:45 [08:43-08:45] = 14 min
  case 2: take 09:00 [08:58-09:00] + focus 09:00-09:30 + warn 09:20, actioned 09:30,
          resolve 09:31 [09:29-09:31] = 33 min
  case 5: take 11:00 [10:58-11:00] + focus 11:00-11:10 (close 11:10) = 12 min
  handling 81 min, utilisation 81/390; handled 4, handle time 81/4 = 20.25 min;
  first responses 120, 150, 180, 300 min: median 165; SLA 3 of 4 (case 5 answered 11:00,
  after 10:00); reopened 2 of 4 (case 0 by the lead, case 2 by the appeal); escalated
  0 of 4 worked; the warning on case 2 overturned: 1 of 1.
advanced (tier 2): shift 09:00-17:00 less meeting 10:00-10:30 = 450 min.
  case 3: take 09:15 [09:13-09:15] + focus 09:15-09:45 (escalate 09:40) = 32 min
  case 4: take 10:40 [10:38-10:40] + focus 10:40-11:00 (propose 10:50) + actioned 11:10
          [11:08-11:10] + close 11:12 [11:10-11:12] = 26 min
  case 2: focus 14:50-15:00 (decides the appeal at 15:00) = 10 min
  handling 68 min, utilisation 68/450; handled 1 (case 4, 26 min); first responses 195 and
  280 min: median 237.5; SLA 0 of 1 (case 4 answered 10:40); escalated 1 of 3 worked.
lead: shift 08:00-12:00 = 240 min; approves case 4's pause 11:05 [11:03-11:05] = 2 min;
  focus case 0 11:20-11:30 and reopens it 11:30 = 10 min; handling 12 min, 12/240 = 5%.
team emea: handling 161 of 1080 min; handled 5; first responses pooled: median of
  120 150 180 195 280 300 = 187.5 min; SLA 3 of 5; reopened 2 of 5; escalated 1 of 9.
"""

from datetime import timedelta

import pytest

from abusedesk.bootstrap import Container
from abusedesk.insights.metrics import AnalystFigures, Figure, median, outliers
from abusedesk.storage import analyst_metrics
from abusedesk.storage.analyst_metrics import TeamFigures
from abusedesk.storage.db import read_only
from tests.support.analysts import DAY_START, play_scripted_day

MINUTE = timedelta(minutes=1)
SPAN = timedelta(minutes=2)


@pytest.fixture
def day(container: Container) -> TeamFigures:
    """Return the figures of the scripted day (the whole UTC day) on the simulator's cases."""
    play_scripted_day(container)
    with read_only(container.sessions) as session:
        return analyst_metrics.figures(
            session,
            start=DAY_START - timedelta(hours=8),
            end=DAY_START + timedelta(hours=16),
            now=DAY_START + timedelta(days=1),
            action_span=SPAN,
        )


def _by_name(day: TeamFigures) -> dict[str, AnalystFigures]:
    return {figures.name: figures for figures in day.analysts}


def _summary(figures: AnalystFigures) -> dict[str, object]:
    return {
        "cases_handled": figures.cases_handled,
        "decisions": dict(figures.decisions),
        "handling_minutes": figures.handling / MINUTE,
        "handle_minutes": None if figures.handle_time is None else figures.handle_time / MINUTE,
        "first_response_minutes": [w / MINUTE for w in figures.first_response_waits],
        "median_first_response": None
        if figures.first_response is None
        else figures.first_response / MINUTE,
        "sla": [(line.queue, line.tier, line.handled, line.met) for line in figures.sla],
        "reopened": figures.reopened,
        "worked": figures.worked,
        "escalated": figures.escalated,
        "appeals": (figures.appeals_decided, figures.appeals_overturned),
        "available_minutes": figures.available / MINUTE,
    }


def test_the_simulator_gives_the_day_its_cases(container: Container) -> None:
    """The simulator's reports open at least the six cases the day works, all in triage."""
    worked = play_scripted_day(container)
    assert len(worked) == 6


def test_basic_analysts_figures_equal_the_hand_worked_ones(day: TeamFigures) -> None:
    """basic's figures: four cases handled, 81 active minutes of 390 available."""
    basic = _by_name(day)["basic"]
    assert _summary(basic) == {
        "cases_handled": 4,
        "decisions": {
            "close as false_positive": 1,
            "close as no_action": 1,
            "propose warn": 1,
            "resolve": 2,
        },
        "handling_minutes": 81.0,
        "handle_minutes": 20.25,
        "first_response_minutes": [120.0, 150.0, 180.0, 300.0],
        "median_first_response": 165.0,
        "sla": [("triage", "basic", 4, 3)],
        "reopened": 2,
        "worked": 4,
        "escalated": 0,
        "appeals": (1, 1),
        "available_minutes": 390.0,
    }
    assert (basic.sla_attainment, basic.reopen_rate, basic.escalation_rate) == (0.75, 0.5, 0.0)
    assert (basic.overturn_rate, basic.utilisation) == (1.0, 81 / 390)
    assert sorted(m / MINUTE for m in basic.per_case.values()) == [12.0, 14.0, 22.0, 33.0]


def test_advanced_analysts_figures_equal_the_hand_worked_ones(day: TeamFigures) -> None:
    """advanced's figures: one case handled, an escalation, 68 of 450 minutes."""
    advanced = _by_name(day)["advanced"]
    assert _summary(advanced) == {
        "cases_handled": 1,
        "decisions": {"close as resolved": 1, "escalate": 1, "propose pause": 1},
        "handling_minutes": 68.0,
        "handle_minutes": 26.0,
        "first_response_minutes": [195.0, 280.0],
        "median_first_response": 237.5,
        "sla": [("triage", "basic", 1, 0)],
        "reopened": 0,
        "worked": 3,
        "escalated": 1,
        "appeals": (0, 0),
        "available_minutes": 450.0,
    }
    assert (advanced.sla_attainment, advanced.escalation_rate) == (0.0, 1 / 3)
    assert (advanced.overturn_rate, advanced.utilisation) == (None, 68 / 450)


def test_leads_figures_equal_the_hand_worked_ones(day: TeamFigures) -> None:
    """The lead handled nothing, worked two cases for 12 minutes of a 4-hour shift."""
    lead = _by_name(day)["lead"]
    assert _summary(lead) == {
        "cases_handled": 0,
        "decisions": {},
        "handling_minutes": 12.0,
        "handle_minutes": None,
        "first_response_minutes": [],
        "median_first_response": None,
        "sla": [],
        "reopened": 0,
        "worked": 2,
        "escalated": 0,
        "appeals": (0, 0),
        "available_minutes": 240.0,
    }
    assert (lead.reopen_rate, lead.utilisation) == (None, 0.05)


def test_team_figures_add_up_the_analysts(day: TeamFigures) -> None:
    """The team's counts and times are the sums; its rates come from the totals."""
    team = day.teams["emea"]
    assert _summary(team) == {
        "cases_handled": 5,
        "decisions": {
            "close as false_positive": 1,
            "close as no_action": 1,
            "close as resolved": 1,
            "escalate": 1,
            "propose pause": 1,
            "propose warn": 1,
            "resolve": 2,
        },
        "handling_minutes": 161.0,
        "handle_minutes": 107 / 5,
        "first_response_minutes": [120.0, 150.0, 180.0, 195.0, 280.0, 300.0],
        "median_first_response": 187.5,
        "sla": [("triage", "basic", 5, 3)],
        "reopened": 2,
        "worked": 9,
        "escalated": 1,
        "appeals": (1, 1),
        "available_minutes": 1080.0,
    }
    assert (team.analysts, team.utilisation, team.sla_attainment) == (3, 161 / 1080, 0.6)


def test_tiers_group_analysts_by_role(day: TeamFigures) -> None:
    """Tier 1 is basic, tier 2 advanced, and the lead is a tier of its own: each tier's
    handling over its available minutes, and its SLA line."""
    assert {
        name: (t.analysts, t.handling / MINUTE, t.available / MINUTE, t.utilisation, t.sla)
        for name, t in day.tiers.items()
    } == {
        "lead": (1, 12.0, 240.0, 12 / 240, ()),
        "tier 1": (1, 81.0, 390.0, 81 / 390, basic_sla := _by_name(day)["basic"].sla),
        "tier 2": (1, 68.0, 450.0, 68 / 450, _by_name(day)["advanced"].sla),
    }
    assert [(line.queue, line.tier, line.handled, line.met) for line in basic_sla] == [
        ("triage", "basic", 4, 3)
    ]


def test_the_team_median_and_outliers_of_the_day(day: TeamFigures) -> None:
    """The team's median utilisation is advanced's; nobody is 3 deviations off it."""
    values = {f.name: f.value(Figure.UTILISATION) for f in day.analysts}
    assert median(values.values()) == 68 / 450
    # Deviations from the median: basic 0.0566, advanced 0, lead 0.1011; their median
    # is 0.0566, so nobody lies 3 of them away.
    assert outliers(values, Figure.UTILISATION, factor=3.0) == []


def test_a_window_that_ends_before_the_appeal_keeps_the_warning_standing(
    container: Container,
) -> None:
    """Figures of the morning only (until 12:00): the overturn at 15:00 is not in them."""
    play_scripted_day(container)
    with read_only(container.sessions) as session:
        morning = analyst_metrics.figures(
            session,
            start=DAY_START,
            end=DAY_START + timedelta(hours=4),
            now=DAY_START + timedelta(days=1),
            action_span=SPAN,
            usernames=["basic"],
        )
    basic = morning.analysts[0]
    # The take at 08:00 counts only from 08:00 (the window's start): 79 of 81 minutes;
    # shift 08:00-12:00 with no break yet: 240 minutes.
    assert (basic.handling / MINUTE, basic.available / MINUTE) == (79.0, 240.0)
    assert (basic.appeals_decided, basic.cases_handled) == (0, 4)


def test_weekly_figures_put_the_day_in_its_week(container: Container) -> None:
    """The week of Monday 2 November holds the whole day; the week before holds nothing."""
    play_scripted_day(container)
    with read_only(container.sessions) as session:
        weeks = analyst_metrics.weekly(
            session,
            start=DAY_START - timedelta(days=7),
            end=DAY_START + timedelta(days=1),
            now=DAY_START + timedelta(days=1),
            action_span=SPAN,
        )
    assert [
        (w.start.date().isoformat(), w.everyone and w.everyone.cases_handled) for w in weeks
    ] == [
        ("2026-10-26", 0),
        ("2026-11-02", 5),
    ]
    assert weeks[1].teams["emea"].handling / MINUTE == 161.0
    # Utilisation per week: each analyst's, the team's and each tier's, as on the day.
    week = weeks[1]
    assert {f.name: f.utilisation for f in week.analysts} == {
        "advanced": 68 / 450,
        "basic": 81 / 390,
        "lead": 12 / 240,
    }
    assert week.teams["emea"].utilisation == 161 / 1080
    assert {name: t.utilisation for name, t in week.tiers.items()} == {
        "lead": 12 / 240,
        "tier 1": 81 / 390,
        "tier 2": 68 / 450,
    }
    # The week before: shifts and work are none, so utilisation is undefined, not 0.
    assert [f.utilisation for f in weeks[0].analysts] == [None, None, None]
