"""The spike monitor on a real database: series counted by SQL, drafts for spikes,
collapsing reporters and new accounts' bursts."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from abusedesk.bootstrap import Container
from abusedesk.config import SpikeSettings
from abusedesk.core.hashing import sha256_hex
from abusedesk.monitoring.signals import SignalDraft, SignalKind
from abusedesk.pipeline.spike_monitor import SpikeMonitor
from abusedesk.storage import spike_series
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.events import upsert_event_rows
from abusedesk.storage.tables import Account, Report, SendingStat
from tests.factories.inventory import make_account

NOW = datetime(2026, 11, 25, 10, 20, tzinfo=UTC)
# The last complete hour before NOW: the one a run judges last.
LAST_HOUR = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
HISTORY_DAYS = 14
FEED = "fbl.example.net"
SETTINGS = SpikeSettings(history_days=HISTORY_DAYS, dimensions=["account", "category"])


@dataclass(frozen=True)
class Complaint:
    """One complaint as a feed sends it: about an account, from one recipient."""

    received_at: datetime
    account_id: int | None
    recipient: str
    category: str = "spam"
    reporter: str = FEED
    domain: str = "mail.example.org"
    url: str | None = None
    # When the reporter says it made the complaint; None: when it reached us.
    reported_at: datetime | None = None
    # A report that gives no date of its own (only the reported message's).
    undated: bool = False


def _store(container: Container, complaints: Sequence[Complaint]) -> None:
    """Store each complaint as a report with one event, indexed as the pipeline does."""
    with unit_of_work(container.sessions) as session:
        reports = [
            Report(
                sha256=sha256_hex(f"{n}:{c.received_at.isoformat()}:{c.recipient}".encode()),
                channel="test",
                size=100,
                raw=b"",
                envelope={},
                received_at=c.received_at,
                status="done",
                next_attempt_at=c.received_at,
            )
            for n, c in enumerate(complaints)
        ]
        session.add_all(reports)
        session.flush()
        rows: list[dict[str, Any]] = []
        for report, complaint in zip(reports, complaints, strict=True):
            indicators = {
                "recipient_hash": [sha256_hex(complaint.recipient.encode())],
                "recipient_domain": [complaint.domain],
                "message_id": [f"{report.id}@news.example.com"],
            }
            if complaint.url:
                indicators["url"] = [complaint.url]
            rows.append(
                {
                    "report_id": report.id,
                    "seq": 0,
                    "category": complaint.category,
                    "service": "email",
                    "report_format": "arf",
                    "occurred_at": complaint.received_at - HOUR,
                    "reported_at": None
                    if complaint.undated
                    else complaint.reported_at or complaint.received_at,
                    "reporter": complaint.reporter,
                    "indicators": indicators,
                    "details": {},
                    "account_id": complaint.account_id,
                    "resource_id": None,
                    "attribution_method": None,
                    "attribution_confidence": None,
                    "attribution_reason": None,
                    "attribution_state": "attributed" if complaint.account_id else "unattributed",
                    "attribution_details": {},
                    "created_at": complaint.received_at,
                }
            )
        upsert_event_rows(session, rows)


def _usual_traffic(account_id: int, *, until: datetime, per_hour: float = 2.0) -> list[Complaint]:
    """Return two weeks of ordinary complaints: busier by day, a different recipient each."""
    rng = np.random.default_rng(11)
    complaints: list[Complaint] = []
    hour = until - (HISTORY_DAYS * 24 + 6) * HOUR
    serial = 0
    while hour < until:
        daytime = 1.5 if 8 <= hour.hour < 20 else 0.5
        for _ in range(int(rng.poisson(per_hour * daytime))):
            serial += 1
            complaints.append(
                Complaint(hour + timedelta(minutes=10), account_id, f"usual{serial}@example.org")
            )
        hour += HOUR
    return complaints


def _spike(account_id: int, hour: datetime, recipients: Sequence[str]) -> list[Complaint]:
    return [
        Complaint(hour + timedelta(minutes=5 + n % 50), account_id, recipient)
        for n, recipient in enumerate(recipients)
    ]


def _account(container: Container, external_id: str = "4411") -> int:
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session, external_id)
    return account_id


def _of(drafts: Sequence[SignalDraft], kind: str, subject_type: str) -> list[SignalDraft]:
    return [d for d in drafts if d.kind == kind and d.subject_type == subject_type]


def test_forty_recipients_complaining_in_an_hour_raise_a_spike(container: Container) -> None:
    """40 distinct complainants in an hour on an account used to ~2 raise a spike on it."""
    account_id = _account(container)
    recipients = [f"angry{n}@example.org" for n in range(40)]
    _store(
        container,
        _usual_traffic(account_id, until=LAST_HOUR) + _spike(account_id, LAST_HOUR, recipients),
    )
    drafts = SpikeMonitor(SETTINGS).run(container.sessions, NOW)
    spikes = _of(drafts, SignalKind.SPIKE, "account")
    assert [(d.account_id, d.subject_id, d.figures["observed"]) for d in spikes] == [
        (account_id, str(account_id), 40)
    ]
    figures = spikes[0].figures
    assert (figures["hour"], figures["category"], figures["series"]) == (
        LAST_HOUR.isoformat(),
        "spam",
        f"account:{account_id}",
    )
    assert figures["expected"] < 6.0
    assert "40 distinct recipients complained about account 4411" in spikes[0].reason


def test_one_complainant_reporting_forty_times_is_no_spike(container: Container) -> None:
    """The same recipient complaining 40 times in an hour counts once: nothing is raised."""
    account_id = _account(container)
    _store(
        container,
        _usual_traffic(account_id, until=LAST_HOUR)
        + _spike(account_id, LAST_HOUR, ["same@example.org"] * 40),
    )
    drafts = SpikeMonitor(SETTINGS).run(container.sessions, NOW)
    assert _of(drafts, SignalKind.SPIKE, "account") == []


def test_running_again_raises_nothing_new(container: Container) -> None:
    """Running at the same time, or an hour later, gives only dedupe keys already given."""
    account_id = _account(container)
    recipients = [f"angry{n}@example.org" for n in range(40)]
    _store(
        container,
        _usual_traffic(account_id, until=LAST_HOUR + HOUR)
        + _spike(account_id, LAST_HOUR, recipients)
        + _spike(account_id, LAST_HOUR + HOUR, [f"later{n}@example.org" for n in range(45)]),
    )
    monitor = SpikeMonitor(SETTINGS)
    first = {d.dedupe_key for d in monitor.run(container.sessions, NOW)}
    again = {d.dedupe_key for d in monitor.run(container.sessions, NOW)}
    later = {d.dedupe_key for d in monitor.run(container.sessions, NOW + HOUR)}
    assert (again == first, later <= first, any("account" in key for key in first)) == (
        True,
        True,
        True,
    )


def test_a_reporter_going_silent_raises_a_collapse(container: Container) -> None:
    """A feed that brought ~6 an hour and nothing for 7 hours raises one collapse, no account."""
    account_id = _account(container)
    silent_from = LAST_HOUR - 6 * HOUR
    _store(container, _usual_traffic(account_id, until=silent_from, per_hour=6.0))
    monitor = SpikeMonitor(SETTINGS)
    drafts = monitor.run(container.sessions, NOW)
    collapses = _of(drafts, SignalKind.REPORTER_COLLAPSE, "reporter")
    assert [(d.subject_id, d.account_id, d.figures["observed"]) for d in collapses] == [
        (FEED, None, 0)
    ]
    assert collapses[0].figures["expected"] >= 30
    # An hour later the feed is still silent: the same collapse, not a new one.
    later = monitor.run(container.sessions, NOW + HOUR)
    assert _of(later, SignalKind.REPORTER_COLLAPSE, "reporter") == []


def test_a_new_account_sending_burst_is_raised(container: Container) -> None:
    """A 3-day-old account going from 100 to 20,000 messages an hour raises a burst."""
    with unit_of_work(container.sessions) as session:
        fresh = Account(
            external_id="new-1",
            name="New customer",
            created_at=LAST_HOUR - timedelta(days=3),
            attributes={},
        )
        settled = Account(
            external_id="old-1", name="Old customer", created_at=datetime(2020, 1, 1, tzinfo=UTC)
        )
        session.add_all([fresh, settled])
        session.flush()
        hour = LAST_HOUR - timedelta(days=3)
        while hour <= LAST_HOUR:
            sent = 20_000 if hour == LAST_HOUR else 100
            for account in (fresh, settled):
                for group in ("gmail", "microsoft"):
                    session.add(
                        SendingStat(
                            account_id=account.id, hour=hour, destination_group=group, sent=sent
                        )
                    )
            hour += HOUR
        fresh_id = fresh.id
    drafts = SpikeMonitor(SETTINGS).run(container.sessions, NOW)
    bursts = _of(drafts, SignalKind.SENDING_BURST, "account")
    assert [(d.account_id, d.figures["observed"], d.figures["expected"]) for d in bursts] == [
        (fresh_id, 40_000, 200.0)
    ]


def test_series_count_distinct_recipients_per_provider_and_content(container: Container) -> None:
    """Provider series merge a provider's domains; bounces are left out; content is per host."""
    account_id = _account(container)
    hour = LAST_HOUR
    _store(
        container,
        [
            Complaint(
                hour, account_id, "a@hotmail.com", domain="hotmail.com", url="http://x.test/1"
            ),
            Complaint(
                hour, account_id, "b@outlook.com", domain="outlook.com", url="http://x.test/2"
            ),
            Complaint(
                hour, account_id, "b@outlook.com", domain="outlook.com", url="http://x.test/3"
            ),
            Complaint(hour, account_id, "c@gmail.com", domain="gmail.com", category="bounce"),
            Complaint(hour - HOUR, None, "d@isp.example", domain="isp.example"),
        ],
    )
    groups = {"hotmail.com": "microsoft", "outlook.com": "microsoft"}
    with read_only(container.sessions) as session:
        providers = spike_series.complaint_series(
            session,
            "provider",
            start=hour - HOUR,
            end=hour + HOUR,
            excluded_categories=["bounce"],
            provider_groups=groups,
        )
        content = spike_series.complaint_series(
            session,
            "content",
            start=hour - HOUR,
            end=hour + HOUR,
            excluded_categories=["bounce"],
            content_keys=["url_host"],
        )
    assert dict(zip(providers.keys, providers.counts.tolist(), strict=True)) == {
        "isp.example": [1, 0],
        "microsoft": [0, 2],
    }
    assert dict(zip(content.keys, content.counts.tolist(), strict=True)) == {
        "url_host:x.test": [0, 2]
    }


def test_an_unknown_series_dimension_is_refused(container: Container) -> None:
    """Asking for a series the monitor does not keep names the known ones."""
    with read_only(container.sessions) as session:
        try:
            spike_series.complaint_series(session, "planet", start=LAST_HOUR, end=NOW)
        except ValueError as exc:
            message = str(exc)
        else:
            message = ""
    assert "known: account, reporter" in message


def test_bad_sending_figures_are_skipped_and_the_rest_judged(container: Container) -> None:
    """A negative message count (a broken import) skips the bursts; spikes still come."""
    account_id = _account(container)
    recipients = [f"angry{n}@example.org" for n in range(40)]
    _store(
        container,
        _usual_traffic(account_id, until=LAST_HOUR) + _spike(account_id, LAST_HOUR, recipients),
    )
    with unit_of_work(container.sessions) as session:
        broken = Account(external_id="new-2", name="New", created_at=LAST_HOUR - timedelta(days=1))
        session.add(broken)
        session.flush()
        session.add(SendingStat(account_id=broken.id, hour=LAST_HOUR, sent=-5))
    drafts = SpikeMonitor(SETTINGS).run(container.sessions, NOW)
    assert (
        len(_of(drafts, SignalKind.SPIKE, "account")),
        _of(drafts, SignalKind.SENDING_BURST, "account"),
    ) == (1, [])


def test_only_series_busy_enough_lately_are_read_whole(container: Container) -> None:
    """With a recent minimum, a series busy only long ago is left out; a busy one comes whole."""
    account_id = _account(container)
    old = LAST_HOUR - 10 * HOUR
    _store(
        container,
        [Complaint(old, account_id, f"o{n}@example.org", reporter="old.example") for n in range(9)]
        + [
            Complaint(old, account_id, f"p{n}@example.org", reporter="busy.example")
            for n in range(2)
        ]
        + [
            Complaint(LAST_HOUR, account_id, f"q{n}@example.org", reporter="busy.example")
            for n in range(5)
        ],
    )
    with read_only(container.sessions) as session:
        series = spike_series.complaint_series(
            session,
            "reporter",
            start=LAST_HOUR - 12 * HOUR,
            end=LAST_HOUR + HOUR,
            candidates_since=LAST_HOUR - 2 * HOUR,
            candidate_min=5,
        )
    assert (series.keys, series.counts.sum(axis=1).tolist()) == (("busy.example",), [7])


def test_a_backlog_of_old_complaints_arriving_at_once_is_no_spike(container: Container) -> None:
    """40 complaints made five days ago and imported now count in their own hours."""
    account_id = _account(container)
    made = LAST_HOUR - timedelta(days=5)
    backlog = [
        Complaint(
            LAST_HOUR + timedelta(minutes=n),
            account_id,
            f"old{n}@example.org",
            reported_at=made + timedelta(hours=n % 20),
        )
        for n in range(40)
    ]
    _store(container, _usual_traffic(account_id, until=LAST_HOUR) + backlog)
    drafts = SpikeMonitor(SETTINGS).run(container.sessions, NOW)
    assert _of(drafts, SignalKind.SPIKE, "account") == []


def test_complaints_arriving_late_count_in_the_hour_they_were_made(container: Container) -> None:
    """Complaints made at 07:00 that reach us at 09:00 make a spike at 07:00."""
    account_id = _account(container)
    made = LAST_HOUR - 2 * HOUR
    late = [
        Complaint(
            LAST_HOUR + timedelta(minutes=n), account_id, f"late{n}@example.org", reported_at=made
        )
        for n in range(40)
    ]
    _store(container, _usual_traffic(account_id, until=LAST_HOUR) + late)
    drafts = SpikeMonitor(SETTINGS).run(container.sessions, NOW)
    assert [d.figures["hour"] for d in _of(drafts, SignalKind.SPIKE, "account")] == [
        made.isoformat()
    ]


def test_a_reporter_date_after_arrival_is_not_trusted(container: Container) -> None:
    """A complaint dated after its arrival counts when the reported mail came instead."""
    account_id = _account(container)
    _store(
        container,
        [Complaint(LAST_HOUR, account_id, "a@example.org", reported_at=LAST_HOUR + 30 * HOUR)],
    )
    with read_only(container.sessions) as session:
        series = spike_series.complaint_series(
            session, "account", start=LAST_HOUR - HOUR, end=LAST_HOUR + 32 * HOUR
        )
    assert np.nonzero(series.counts[0])[0].tolist() == [0]


def test_an_undated_complaint_counts_when_the_reported_mail_came(container: Container) -> None:
    """Without a report date, the reported message's date (an hour before arrival) counts."""
    account_id = _account(container)
    _store(container, [Complaint(LAST_HOUR, account_id, "a@example.org", undated=True)])
    with read_only(container.sessions) as session:
        series = spike_series.complaint_series(
            session, "account", start=LAST_HOUR - HOUR, end=LAST_HOUR + HOUR
        )
    assert series.counts.tolist() == [[1, 0]]


def test_an_account_spike_names_the_category_most_complaints_had(container: Container) -> None:
    """A spike made of phishing reports says phishing: the rule joins the phishing case."""
    account_id = _account(container)
    phishing = [
        Complaint(LAST_HOUR + timedelta(minutes=n), account_id, f"p{n}@example.org", "phishing")
        for n in range(30)
    ]
    spam = _spike(account_id, LAST_HOUR, [f"s{n}@example.org" for n in range(10)])
    _store(container, _usual_traffic(account_id, until=LAST_HOUR) + phishing + spam)
    drafts = SpikeMonitor(SETTINGS).run(container.sessions, NOW)
    assert [d.figures["category"] for d in _of(drafts, SignalKind.SPIKE, "account")] == ["phishing"]


def test_two_spikes_of_a_long_link_host_are_raised_apart(container: Container) -> None:
    """A host too long for a readable dedupe key still gets one key per spike hour."""
    account_id = _account(container)
    host = ".".join(["a" * 60, "b" * 60, "c" * 60, "example"])
    settings = SpikeSettings(
        history_days=HISTORY_DAYS, dimensions=["content"], content_keys=["url_host"]
    )
    earlier = LAST_HOUR - 4 * HOUR
    _store(
        container,
        [
            Complaint(hour + timedelta(minutes=5), account_id, f"r{n}@{hour:%H}.example", url=url)
            for hour in (earlier, LAST_HOUR)
            for n in range(40)
            for url in [f"http://{host}/{n}"]
        ],
    )
    monitor = SpikeMonitor(settings)
    first = _of(monitor.run(container.sessions, NOW - 4 * HOUR), SignalKind.SPIKE, "content")
    second = _of(monitor.run(container.sessions, NOW), SignalKind.SPIKE, "content")
    keys = [d.dedupe_key for d in (*first, *second)]
    assert [d.figures["hour"] for d in (*first, *second)] == [
        earlier.isoformat(),
        LAST_HOUR.isoformat(),
    ]
    assert len(set(keys)) == 2
    assert all(len(key) <= 200 for key in keys)
