"""Trends and the weekly report: the roll-ups and every figure, counted by hand.

The seeded week (``tests/support/trends.py``) is the week of Monday 16 November 2026.
This week: 7 events in 6 reports (Mon 2, Tue 1, Wed 1, Thu 2, Sun 1), one report that
failed to parse and one of an unknown format; the week before: 2 events; the week after:
1. Account A (acct-a) has 4 of this week's events, account B (acct-b) 2, one event is
unattributed.
"""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.core.errors import NotFound
from abusedesk.insights.trends import (
    Count,
    Durations,
    SlaLine,
    SummaryTooLong,
    from_json,
    to_json,
)
from abusedesk.pipeline.weekly_reports import WeeklyReports, trend_options
from abusedesk.storage import trends, unattributed
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Account, AuditEntry, Event, ReportDirtyDay, WeeklyReport
from tests.support.databases import wait_for_a_lock_waiter
from tests.support.trends import NOW, WEEK, at, report, seed_week


def _seed_and_roll(container: Container) -> None:
    with unit_of_work(container.sessions) as session:
        seed_week(session)
    WeeklyReports(container.sessions, container.settings).roll_up(NOW, settle=False)


def test_rollup_counts_every_event_once_in_batches(container: Container) -> None:
    """Rolled up three event ids at a time, then again, the counts equal the events once."""
    with unit_of_work(container.sessions) as session:
        seed_week(session)
    steps = 0
    while True:
        with unit_of_work(container.sessions) as session:
            step = trends.roll_up(session, now=NOW, settle=timedelta(0), batch=3)
        if not step.counted:
            break
        steps += 1
    with unit_of_work(container.sessions) as session:
        again = trends.roll_up(session, now=NOW, settle=timedelta(0), batch=3)
    with read_only(container.sessions) as session:
        services = trends.dimension_counts(session, "service", start=WEEK, end=WEEK + timedelta(7))
        accounts = trends.dimension_counts(session, "account", start=WEEK, end=WEEK + timedelta(7))
        state = trends.rollup_state(session)
    # 10 events in all: 3 batches of 3 and one of 1.
    assert (steps, again.counted, services, sorted(accounts.values()), state) == (
        4,
        False,
        {"email": 6, "sms": 1},
        [1, 2, 4],
        (10, 10),
    )


def test_rollup_counts_an_event_only_once_it_has_settled(container: Container) -> None:
    """With a settling time, new events wait until they were the newest that long ago."""
    with unit_of_work(container.sessions) as session:
        seed_week(session)
    settle = timedelta(minutes=2)
    counted = []
    for moment in (NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=3)):
        with unit_of_work(container.sessions) as session:
            step = trends.roll_up(session, now=moment, settle=settle)
        counted.append(step.counted_to - step.counted_from)
    with unit_of_work(container.sessions) as session:
        report(session, at(1, 1), "arf", [("email", "spam", "late.example", None, None)])
    for moment in (NOW + timedelta(minutes=4), NOW + timedelta(minutes=7)):
        with unit_of_work(container.sessions) as session:
            step = trends.roll_up(session, now=moment, settle=settle)
        counted.append(step.counted_to - step.counted_from)
    assert counted == [0, 0, 10, 0, 1]


def test_catching_up_before_a_report_leaves_events_too_new_to_have_settled(
    container: Container,
) -> None:
    """Catching up counts every event created a settling time (120 s) ago at once; on
    PostgreSQL, where a transaction may still be writing lower ids, a newer event waits
    for the next catch-up instead of being passed over for good. SQLite writes one
    transaction at a time: every stored event is counted."""
    reports = WeeklyReports(container.sessions, container.settings)
    with unit_of_work(container.sessions) as session:
        seed_week(session)
        report(
            session,
            NOW - timedelta(seconds=30),
            "arf",
            [("email", "spam", "x.example", None, None)],
        )
    first = reports.roll_up(NOW, settle=False)
    later = reports.roll_up(NOW + timedelta(minutes=3), settle=False)
    postgres = container.engine.dialect.name == "postgresql"
    assert (first, later) == ((10, 1) if postgres else (11, 0))


def test_an_event_attributed_after_it_was_counted_moves_to_its_account(
    container: Container,
) -> None:
    """The week's unattributed event attributed by hand to acct-b, then one of acct-a's
    moved to acct-b by force, after both were rolled up: the next roll-up counts that
    day's accounts afresh (A 4 -> 3, B 2 -> 4, unattributed 1 -> 0); the other dimensions
    and the other days stay as they were."""
    _seed_and_roll(container)
    end = WEEK + timedelta(7)
    with read_only(container.sessions) as session:
        before = trends.dimension_counts(session, "account", start=WEEK, end=end)
        services = trends.dimension_counts(session, "service", start=WEEK, end=end)
        waiting = session.scalars(
            select(Event.id).where(Event.account_id.is_(None), Event.report_id.is_not(None))
        ).all()
        a_ids = session.scalars(
            select(Event.id)
            .where(
                Event.account_id
                == select(Account.id).where(Account.external_id == "acct-a").scalar_subquery()
            )
            .order_by(Event.id)
        ).all()
    with unit_of_work(container.sessions) as session:
        a_id = str(session.scalar(select(Account.id).where(Account.external_id == "acct-a")))
        b_id = str(session.scalar(select(Account.id).where(Account.external_id == "acct-b")))
        unattributed.attribute(
            session,
            waiting,
            account="acct-b",
            reason="the send log says so",
            actor="lead",
            now=NOW,
        )
        unattributed.attribute(
            session,
            a_ids[:1],
            account="acct-b",
            reason="a shared IP, B's",
            actor="lead",
            now=NOW,
            force=True,
        )
    WeeklyReports(container.sessions, container.settings).roll_up(NOW, settle=False)
    with read_only(container.sessions) as session:
        after = trends.dimension_counts(session, "account", start=WEEK, end=end)
        services_after = trends.dimension_counts(session, "service", start=WEEK, end=end)
        stale = session.scalars(select(ReportDirtyDay.day)).all()
    assert (before, after) == ({a_id: 4, b_id: 2, "": 1}, {a_id: 3, b_id: 4})
    assert (services_after, stale) == (services, [])
    assert len(waiting) == 1


def test_weekly_volumes_equal_hand_counts(container: Container) -> None:
    """Volumes by service, category, format, reporter and provider, this week and last."""
    _seed_and_roll(container)
    with read_only(container.sessions) as session:
        f = trends.weekly_figures(session, WEEK, now=NOW, options=trend_options(container.settings))
    assert (f.events, f.previous_events) == (7, 2)
    assert f.by_service == (Count("email", 6, 2), Count("sms", 1, 0))
    assert f.by_category == (
        Count("spam", 3, 2),
        Count("bounce", 2, 0),
        Count("phishing", 1, 0),
        Count("sms_spam", 1, 0),
    )
    assert f.by_format == (
        Count("arf", 3, 2),
        Count("ses", 2, 0),
        Count("sms", 1, 0),
        Count("xarf", 1, 0),
    )
    # Reporters by domain, never by address; no reporter counts as "unknown". Equal
    # counts rank by the week before, then by name.
    assert f.by_reporter == (
        Count("yahoo.com", 2, 1),
        Count("unknown", 2, 0),
        Count("gmail.com", 1, 1),
        Count("abuse.example.net", 1, 0),
        Count("carrier.example", 1, 0),
    )
    # yahoo.com and aol.com are one provider, outlook.com is microsoft's.
    assert f.by_provider == (
        Count("yahoo", 2, 1),
        Count("microsoft", 2, 0),
        Count("gmail", 1, 1),
        Count("example.org", 1, 0),
    )
    assert f.daily_events == (2, 1, 1, 2, 0, 0, 1)
    # Eight weeks of trend, the last two holding the week before (2) and this week.
    assert (len(f.trend_weeks), f.trend_weeks[-1]) == (8, WEEK)
    assert [(s.label, s.counts[-2:]) for s in f.service_trend] == [
        ("email", (2, 6)),
        ("sms", (0, 1)),
    ]


def test_weekly_accounts_and_casework_equal_hand_counts(container: Container) -> None:
    """Top accounts, rings, backlog, response and action times, SLA per queue."""
    _seed_and_roll(container)
    with read_only(container.sessions) as session:
        f = trends.weekly_figures(session, WEEK, now=NOW)
    # Open cases now: acct-a's cases 1, 3 and the one opened the week after.
    assert [(a.external_id, a.events, a.open_cases) for a in f.top_accounts] == [
        ("acct-a", 4, 3),
        ("acct-b", 2, 0),
    ]
    # The standing cluster holds both accounts: 6 events; the dissolved one is left out.
    assert [(r.size, r.events, r.members) for r in f.rings] == [(2, 6, ("acct-a", "acct-b"))]
    # Opened: cases 2 and 3; closed: case 2. Open at the start: case 1 (case 4 closed
    # the week before); at the end: cases 1 and 3; case 2 open until Wednesday 09:00.
    assert (f.cases_opened, f.cases_closed, f.backlog_start, f.backlog_end) == (2, 1, 1, 2)
    assert f.daily_backlog == (2, 3, 2, 2, 2, 2, 2)
    # First responses: 30 and 120 minutes. Actions: the warning 60 minutes after its case
    # opened, the suspension 5 days (7,200 minutes) after.
    assert f.first_response == Durations(2, 75.0, 120.0)
    assert f.time_to_action == Durations(2, 3630.0, 7200.0)
    # Response clocks due: case 2 met, case 1 (never answered) and case 3 (late)
    # breached; resolution due: case 2, met.
    assert f.sla == (SlaLine("triage", "basic", 1, 2, 1, 0),)


def test_weekly_enforcement_contacts_parsers_incidents_equal_hand_counts(
    container: Container,
) -> None:
    """Actions, appeals, contact spikes, parser health, incidents and notable signals."""
    _seed_and_roll(container)
    with read_only(container.sessions) as session:
        f = trends.weekly_figures(session, WEEK, now=NOW)
    assert f.actions_executed == (Count("warn", 1, 1), Count("suspend", 1, 0))
    assert (f.actions_proposed, f.actions_rejected, f.appeals_submitted) == (3, 1, 1)
    assert f.appeal_outcomes == (Count("overturned", 1, 0), Count("upheld", 1, 0))
    # 14 messages in the 28 days before: 0.5 a day. Wednesday's 6 reach twice that and
    # the minimum of 5; Monday's 1 does not.
    assert (f.daily_contacts, f.contact_baseline, f.contact_spike_days) == (
        (1, 0, 6, 0, 0, 0, 0),
        0.5,
        (at(2),),
    )
    assert [
        (p.report_format, p.received, p.read, p.partial, p.failed, p.unknown) for p in f.parser
    ] == [
        ("arf", 4, 2, 1, 1, 0),
        ("none", 1, 0, 0, 0, 1),
        ("ses", 1, 1, 0, 0, 0),
        ("sms", 1, 1, 0, 0, 0),
        ("xarf", 1, 1, 0, 0, 0),
    ]
    assert f.parser_signals == 1
    assert [i.title for i in f.incidents] == ["Phishing wave from acct-a"]
    assert [(s.kind, s.subject, s.raised_at) for s in f.signals] == [
        ("spike.jump", "acct-a", at(2, 6))
    ]


def test_frozen_figures_read_back_equal(container: Container) -> None:
    """Figures frozen as JSON read back equal to the figures counted."""
    _seed_and_roll(container)
    with read_only(container.sessions) as session:
        figures = trends.weekly_figures(session, WEEK, now=NOW)
    assert from_json(to_json(figures)) == figures


def test_generating_again_keeps_the_summary_and_is_audited(container: Container) -> None:
    """The lead's summary survives a second generation; both steps are in the audit log."""
    _seed_and_roll(container)
    reports = WeeklyReports(container.sessions, container.settings)
    reports.generate(WEEK + timedelta(days=3), actor="lena", now=NOW)
    with unit_of_work(container.sessions) as session:
        trends.set_summary(
            session, WEEK, "A quiet week.\r\nOne phishing wave.", actor="lena", now=NOW
        )
    record = reports.generate(WEEK, actor="system:reports", now=NOW + timedelta(hours=1))
    with read_only(container.sessions) as session:
        tags = session.scalars(
            select(AuditEntry.tag)
            .where(AuditEntry.subject_type == "weekly_report")
            .order_by(AuditEntry.id)
        ).all()
        rows = session.scalar(select(WeeklyReport.id).where(WeeklyReport.week_start == WEEK))
    assert (record.summary.text, record.summary.author, record.generated_by, rows) == (
        "A quiet week.\nOne phishing wave.",
        "lena",
        "system:reports",
        1,
    )
    assert tags == [
        "report:weekly:generate",
        "report:weekly:summary",
        "report:weekly:generate",
    ]


def test_two_generations_of_a_new_week_at_once_take_turns(container: Container) -> None:
    """PostgreSQL: while lena's first generation of a week is not committed, omar's waits on
    the week; once lena's commits, omar's generates it again: one report, two steps."""
    if container.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer by design")
    _seed_and_roll(container)
    holder = container.sessions()
    trends.generate(holder, WEEK, actor="lena", now=NOW)
    failed: list[Exception] = []

    def second() -> None:
        try:
            with unit_of_work(container.sessions) as session:
                trends.generate(session, WEEK, actor="omar", now=NOW + timedelta(minutes=1))
        except Exception as problem:  # the test reports whatever went wrong
            failed.append(problem)

    rival = threading.Thread(target=second)
    rival.start()
    waited = wait_for_a_lock_waiter(container.engine)
    holder.commit()
    holder.close()
    rival.join(timeout=60)
    with read_only(container.sessions) as session:
        reports = session.scalars(select(WeeklyReport.generated_by)).all()
        again = session.scalars(
            select(AuditEntry.after)
            .where(AuditEntry.tag == "report:weekly:generate")
            .order_by(AuditEntry.id)
        ).all()
    assert (waited, failed, reports) == (True, [], ["omar"])
    assert [entry["again"] for entry in again] == [False, True]


def test_summary_of_a_week_without_report_or_too_long_is_refused(container: Container) -> None:
    """A summary needs the week's report first, and fits in 20,000 characters."""
    with (
        pytest.raises(NotFound, match="generate it first"),
        unit_of_work(container.sessions) as session,
    ):
        trends.set_summary(session, WEEK, "text", actor="lena", now=NOW)
    WeeklyReports(container.sessions, container.settings).generate(WEEK, actor="lena", now=NOW)
    with pytest.raises(SummaryTooLong, match="20,000"), unit_of_work(container.sessions) as session:
        trends.set_summary(session, WEEK, "x" * 20_001, actor="lena", now=NOW)


def test_tender_generates_last_week_once_after_the_delay(container: Container) -> None:
    """The tender waits generate_after_hours after the week, then generates it once."""
    _seed_and_roll(container)
    reports = WeeklyReports(container.sessions, container.settings)
    week_over = WEEK + timedelta(days=7)
    done = [
        reports.tend(week_over + timedelta(hours=1)),
        reports.tend(week_over + timedelta(hours=7)),
        reports.tend(week_over + timedelta(hours=8)),
    ]
    with read_only(container.sessions) as session:
        record = trends.report_of(session, WEEK)
    assert done == [None, WEEK, None]
    assert (record.generated_by, record.figures is not None and record.figures.events) == (
        "system:reports",
        7,
    )


def test_tender_reports_nothing_before_the_first_report_arrived(container: Container) -> None:
    """An install that had received no report by the week's end generates no report of it."""
    reports = WeeklyReports(container.sessions, container.settings)
    empty = reports.tend(WEEK + timedelta(days=7, hours=7))
    with unit_of_work(container.sessions) as session:
        report(session, at(7, 1), "arf", [("email", "spam", "late.example", None, None)])
    only_later = reports.tend(WEEK + timedelta(days=7, hours=8))
    with read_only(container.sessions) as session:
        stored = trends.report_lines(session)
    assert (empty, only_later, stored) == (None, None, [])


def test_voice_of_the_customer_counts_the_weeks_appeals_and_replies(container: Container) -> None:
    """This week's appeal says "compromised" and "two-factor"; its 7 replies match no theme."""
    _seed_and_roll(container)
    with read_only(container.sessions) as session:
        f = trends.weekly_figures(session, WEEK, now=NOW)
    assert f.voice_available
    assert [(t.theme, t.appeals, t.replies) for t in f.voice] == [
        ("Other (no theme)", 0, 7),
        ("Compromised account", 1, 0),
        ("Fixed / will fix", 1, 0),
    ]
