"""Hourly mailbox and SMS activity in the database, and the monitor that judges it."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abusedesk.anomalies.model import MailboxHour, SmsHour, mailbox_totals, sms_totals
from abusedesk.attribution.keys import ResourceKind
from abusedesk.bootstrap import Container
from abusedesk.config import ActivitySettings
from abusedesk.demo.model import AccountKind, DemoAccount, DemoProvider
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.traffic import generate_traffic
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind, Step
from abusedesk.pipeline.activity_monitor import ActivityMonitor
from abusedesk.storage.activity import (
    mailbox_baselines,
    mailbox_hours,
    seed_activity,
    sms_baselines,
    sms_hours,
    write_mailbox_hours,
    write_sms_hours,
)
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.signals import find_signals
from abusedesk.storage.tables import Account, ActivityEpisode, Case, MailboxStat
from tests.factories.inventory import LONG_AGO, make_resource
from tests.support.monitoring import apply

HOUR = timedelta(hours=1)
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
MAILBOX = "ann@florist.example"
NUMBER = "+12025550100"
HOME = ("2001:db8:c001::1",)


def _account(session: Session, external_id: str) -> int:
    account = Account(
        external_id=external_id, name=f"Customer {external_id}", created_at=LONG_AGO, attributes={}
    )
    session.add(account)
    session.flush()
    return account.id


def _organisation(container: Container) -> None:
    """Insert an organisation with one mailbox and an SMS sender with one number."""
    with unit_of_work(container.sessions) as session:
        org = _account(session, "ac-org")
        make_resource(session, org, ResourceKind.MAILBOX, MAILBOX, since=LONG_AGO)
        sms = _account(session, "ac-sms")
        make_resource(session, sms, ResourceKind.ORIGINATION_NUMBER, NUMBER, since=LONG_AGO)


def _usual_hours(start: datetime, end: datetime) -> list[MailboxHour]:
    """Return an ordinary mailbox's hours: 4 messages an hour of the working day, from home."""
    hours, hour = [], start
    while hour < end:
        if 8 <= hour.hour < 18:
            hours.append(MailboxHour("ac-org", MAILBOX, hour, 4, 3, 0, 0, 0, HOME, ("DE",)))
        hour += HOUR
    return hours


def _flood(start: datetime, hours: int) -> list[MailboxHour]:
    """Return a takeover's hours: hundreds of messages from abroad, bouncing, matching spam."""
    return [
        MailboxHour(
            "ac-org", MAILBOX, start + HOUR * n, 400, 400, 70, 6, 20, ("2001:db8:c9::7",), ("NG",)
        )
        for n in range(hours)
    ]


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _about(container: Container, drafts: Sequence[SignalDraft]) -> list[str]:
    """Return the external id of the account each draft is about (its subject: the id)."""
    with read_only(container.sessions) as session:
        names = {str(k): v for k, v in session.execute(select(Account.id, Account.external_id))}
    return [
        names.get(d.subject_id, "?") if d.subject_id == str(d.account_id) else "not its account"
        for d in drafts
    ]


def _run(container: Container, at: datetime, **settings: Any) -> list[SignalDraft]:
    monitor = ActivityMonitor(ActivitySettings(**settings))
    return list(monitor.run(container.sessions, at))


# --- loading ---------------------------------------------------------------------------------


def test_loading_the_same_hours_twice_changes_nothing(container: Container) -> None:
    """A second load of the same hours replaces their figures; no row is added."""
    _organisation(container)
    hours = _usual_hours(NOW - timedelta(days=2), NOW)
    with unit_of_work(container.sessions) as session:
        write_mailbox_hours(session, hours)
    with unit_of_work(container.sessions) as session:
        again = write_mailbox_hours(session, [replace(h, sent=9) for h in hours])
        count = _count(session, MailboxStat)
        sent = session.scalar(select(func.sum(MailboxStat.sent)))

    assert (again.written, count, sent) == (len(hours), len(hours), 9 * len(hours))


def test_refused_rows_are_named_and_the_others_written(container: Container) -> None:
    """Unknown mailboxes and impossible figures are refused by line; sound rows are written."""
    _organisation(container)
    at = NOW - HOUR
    rows = [
        MailboxHour("ac-org", MAILBOX, at, 4, 3),
        MailboxHour("ac-org", "nobody@florist.example", at, 4, 3),
        MailboxHour("ac-org", MAILBOX, at - HOUR, 4, 3, bounces=7),
    ]
    with unit_of_work(container.sessions) as session:
        outcome = write_mailbox_hours(session, rows)
        stored = mailbox_hours(session, at - timedelta(days=1), NOW)

    assert [(p.line, p.message) for p in outcome.refused] == [
        (2, "no mailbox 'nobody@florist.example' of account 'ac-org'"),
        (3, "bounces (7) exceed messages sent (4)"),
    ]
    assert stored == [rows[0]]


def test_sms_hours_round_trip(container: Container) -> None:
    """SMS figures read back as written, conversions unreported stay unreported."""
    _organisation(container)
    rows = [
        SmsHour("ac-sms", NUMBER, NOW - HOUR, "US", "+1202", 10, 9, 6),
        SmsHour("ac-sms", NUMBER, NOW - HOUR, "LV", "+37126", 50, 10, None),
    ]
    with unit_of_work(container.sessions) as session:
        outcome = write_sms_hours(session, rows)
        stored = sms_hours(session, NOW - timedelta(days=1), NOW)

    assert outcome.refused == []
    assert sorted(stored, key=lambda r: r.country) == sorted(rows, key=lambda r: r.country)


def test_baselines_summed_by_the_database_match_the_hours(container: Container) -> None:
    """The database's baseline sums equal the same hours summed in Python."""
    _organisation(container)
    start, end = NOW - timedelta(days=10), NOW
    mail = _usual_hours(start + timedelta(days=2), end - 6 * HOUR) + _flood(end - 6 * HOUR, 6)
    texts = [
        SmsHour("ac-sms", NUMBER, end - HOUR * h, country, prefix, 10 + h, 8, converted)
        for h in range(1, 30)
        for country, prefix, converted in (("US", "+1202", 5), ("LV", "+37126", None))
    ]
    with unit_of_work(container.sessions) as session:
        write_mailbox_hours(session, mail)
        write_sms_hours(session, texts)
        mail_sums = mailbox_baselines(session, {"ac-org": (start, end)})
        sms_sums = sms_baselines(session, {"ac-sms": (start, end)})

    expected_sms = sms_totals(texts, start, end, since_first=True)["ac-sms"]
    assert mail_sums == mailbox_totals(mail, start, end, since_first=True)
    assert (sms_sums["ac-sms"].hours, sms_sums["ac-sms"].by_country) == (
        expected_sms.hours,
        expected_sms.by_country,
    )


# --- the monitor on hand-made activity -----------------------------------------------------------


@pytest.fixture
def taken(container: Container) -> Container:
    """Return the container with four usual weeks of a mailbox, then six hours of takeover."""
    _organisation(container)
    with unit_of_work(container.sessions) as session:
        write_mailbox_hours(session, _usual_hours(NOW - timedelta(days=30), NOW - 6 * HOUR))
        write_mailbox_hours(session, _flood(NOW - 6 * HOUR, 6))
    return container


def test_a_takeover_raises_one_compromise_naming_the_mailbox(taken: Container) -> None:
    """The monitor raises a high compromise signal about the organisation, naming the mailbox."""
    drafts = _run(taken, NOW)

    assert [
        (d.kind, about, d.severity, d.step)
        for d, about in zip(drafts, _about(taken, drafts), strict=True)
    ] == [(SignalKind.MAILBOX_COMPROMISE, "ac-org", Severity.HIGH, Step.NONE)]
    assert [m["mailbox"] for m in drafts[0].evidence["mailboxes"]] == [MAILBOX]
    # The window's day holds six usual working hours (24 messages) and the flood (2,400).
    assert drafts[0].figures["sent"] == 2_424


def test_running_again_raises_nothing_new(taken: Container) -> None:
    """The same run twice gives the same dedupe key and keeps one episode."""
    first = _run(taken, NOW)
    second = _run(taken, NOW)
    with unit_of_work(taken.sessions) as session:
        episodes = _count(session, ActivityEpisode)

    assert [d.dedupe_key for d in second] == [d.dedupe_key for d in first]
    assert episodes == 1


def test_an_ongoing_takeover_keeps_its_episode(taken: Container) -> None:
    """Later runs during the takeover carry the episode's first key, its baseline unmoved."""
    with unit_of_work(taken.sessions) as session:
        write_mailbox_hours(session, _flood(NOW, 48))
    first = _run(taken, NOW)
    later = _run(taken, NOW + 48 * HOUR)

    assert [d.dedupe_key for d in later] == [d.dedupe_key for d in first]
    assert later[0].figures["episode_started_at"] == NOW.isoformat()


def test_a_quiet_episode_ends_and_a_new_takeover_raises_again(taken: Container) -> None:
    """After the quiet hours pass the episode ends; the next takeover is a new signal."""
    first = _run(taken, NOW)
    quiet = _run(taken, NOW + 80 * HOUR)
    with unit_of_work(taken.sessions) as session:
        write_mailbox_hours(session, _flood(NOW + 100 * HOUR, 6))
    again = _run(taken, NOW + 106 * HOUR)

    assert [(d.kind, d.resolves) for d in quiet] == [
        (SignalKind.ACTIVITY_ENDED, first[0].dedupe_key)
    ]
    assert len(again) == 1
    assert again[0].dedupe_key != first[0].dedupe_key


def test_the_end_of_an_episode_ends_its_signal_and_its_case_stops_counting_it(
    taken: Container,
) -> None:
    """The compromise signal raises the case's priority while the episode lasts, not after."""
    [raised] = apply(taken, _run(taken, NOW), now=NOW)
    with read_only(taken.sessions) as session:
        during = session.scalar(select(Case.priority).where(Case.id == raised.case_id))
    ended = apply(taken, _run(taken, NOW + 80 * HOUR), now=NOW + 80 * HOUR)
    again = apply(taken, _run(taken, NOW + 80 * HOUR), now=NOW + 80 * HOUR)
    with read_only(taken.sessions) as session:
        after = session.scalar(select(Case.priority).where(Case.id == raised.case_id))
        org = session.scalar(select(Account.id).where(Account.external_id == "ac-org"))
        states = [(s.kind, s.state) for s in find_signals(session, account_id=org)]

    assert sorted(states) == [
        (SignalKind.ACTIVITY_ENDED, "resolved"),
        (SignalKind.MAILBOX_COMPROMISE, "resolved"),
    ]
    assert [a.raised for a in ended] == [True]
    assert again == []
    assert during is not None
    assert after is not None
    assert after < during


def test_impossible_rows_are_left_out_and_the_run_goes_on(taken: Container) -> None:
    """A row another loader wrote with impossible figures is skipped, not fatal."""
    with unit_of_work(taken.sessions) as session:
        sample = session.scalars(select(MailboxStat).limit(1)).one()
        session.add(
            MailboxStat(
                account_id=sample.account_id,
                resource_id=sample.resource_id,
                hour=NOW - 7 * HOUR,
                sent=1,
                recipients=1,
                bounces=50,
                complaints=0,
                fingerprint_hits=0,
                client_ips=[],
                client_countries=["Nowhere"],
            )
        )

    drafts = _run(taken, NOW)

    assert _about(taken, drafts) == ["ac-org"]


def test_a_disabled_monitor_raises_nothing(taken: Container) -> None:
    """With the monitor disabled a run reads and raises nothing."""
    assert _run(taken, NOW, enabled=False) == []


def test_pumping_asks_for_a_review(container: Container) -> None:
    """An SMS sender suddenly texting unused codes to Latvia raises a pumping signal."""
    _organisation(container)
    usual = [
        SmsHour("ac-sms", NUMBER, NOW - timedelta(days=d, hours=h), "US", "+1202", 10, 10, 7)
        for d in range(2, 28)
        for h in range(8)
    ]
    pumped = [
        SmsHour("ac-sms", NUMBER, NOW - HOUR * h, "LV", f"+3712{h % 10}", 200, 60, 0)
        for h in range(1, 13)
    ]
    with unit_of_work(container.sessions) as session:
        write_sms_hours(session, usual + pumped)

    drafts = _run(container, NOW)

    assert [
        (d.kind, about, d.step) for d, about in zip(drafts, _about(container, drafts), strict=True)
    ] == [(SignalKind.SMS_PUMPING, "ac-sms", Step.REVIEW)]
    assert drafts[0].evidence["countries"] == ["LV"]
    assert drafts[0].evidence["originations"] == [NUMBER]


# --- the monitor on the simulated provider ------------------------------------------------------


@pytest.fixture(scope="module")
def provider() -> DemoProvider:
    """Return a provider of 20 accounts over 35 days: a takeover, a pumper, honest senders."""
    return generate_provider(seed=23, accounts=20, days=35, end=datetime(2026, 4, 1, tzinfo=UTC))


def _activity_accounts(provider: DemoProvider) -> tuple[DemoAccount, ...]:
    kinds = {ResourceKind.MAILBOX, ResourceKind.ORIGINATION_NUMBER, ResourceKind.SENDER_ID}
    return tuple(a for a in provider.accounts if {r.kind for r in a.resources} & kinds)


def _load_inventory(session: Session, accounts: Sequence[DemoAccount]) -> None:
    kinds = (ResourceKind.MAILBOX, ResourceKind.ORIGINATION_NUMBER, ResourceKind.SENDER_ID)
    for account in accounts:
        account_id = _account(session, account.external_id)
        for resource in account.resources:
            if resource.kind in kinds:
                make_resource(session, account_id, resource.kind, resource.value, since=LONG_AGO)


def test_the_monitor_finds_the_simulated_takeover_and_pumping(
    container: Container, provider: DemoProvider
) -> None:
    """Half a day into the takeover, the monitor flags the taken organisation and the pumper
    and no honest sender."""
    active = replace(provider, accounts=_activity_accounts(provider))
    with unit_of_work(container.sessions) as session:
        _load_inventory(session, active.accounts)
        counts = seed_activity(session, active, generate_traffic(active, with_stats=False))
    taken = next(a for a in active.accounts if a.kind == AccountKind.COMPROMISED_MAILBOX)
    pumping = next(a for a in active.accounts if a.kind == AccountKind.SMS_PUMPING)
    assert taken.compromised_at is not None

    drafts = _run(container, taken.compromised_at + 12 * HOUR)

    assert counts["mailbox_stats"] > 0
    assert counts["sms_stats"] > 0
    assert sorted(zip(_about(container, drafts), (d.kind for d in drafts), strict=True)) == sorted(
        [
            (taken.external_id, SignalKind.MAILBOX_COMPROMISE),
            (pumping.external_id, SignalKind.SMS_PUMPING),
        ]
    )
    named = {
        m["mailbox"]
        for d in drafts
        if d.kind == SignalKind.MAILBOX_COMPROMISE
        for m in d.evidence["mailboxes"]
    }
    assert named
    assert named <= set(taken.compromised_mailboxes)
