"""Parser health on a real database: outcomes per reporter and format, and drop signals."""

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.parsing.arf import ArfParser
from abusedesk.parsing.health import ALL_FORMATS, SIGNAL_KIND, DropRule, WindowTally
from abusedesk.parsing.registry import ParserRegistry
from abusedesk.pipeline.parser_health import ParserHealthWatch
from abusedesk.pipeline.processor import ReportProcessor
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.parser_health import (
    OutcomeCount,
    count_outcomes,
    health_table,
    tally_windows,
)
from abusedesk.storage.signals import resolve_signal
from abusedesk.storage.tables import Report, Signal
from tests.factories.arf import arf_report
from tests.support.scripted import ScriptedParser, scripted

DOMAIN = "news.example.com"
REPORTER = "fbl.example.net"
# Failed and unknown reports have no events: their reporter is the envelope sender's domain.
FROM_REPORTER = {"mail_from": f"feedback@{REPORTER}"}
RULE = DropRule(min_recent=10, min_baseline=20, min_drop=0.25)


def _process(container: Container, batch: list[Incoming]) -> list[int]:
    """Store *batch* and process it with the ARF and scripted parsers; return report ids."""
    stored = container.intake.accept_many(batch)
    processor = ReportProcessor(
        container.sessions, container.reports, ParserRegistry([ArfParser(), ScriptedParser()])
    )
    for item in stored:
        processor.process_report(item.report_id)
    return [s.report_id for s in stored]


def _mixed(container: Container) -> list[int]:
    """Store and process one report of every outcome but pending and stage_failed."""
    return _process(
        container,
        [
            Incoming(arf_report(message_id=f"m{n}@x", from_domain=DOMAIN, serial=n), "smtp", {})
            for n in range(2)
        ]
        + [
            Incoming(scripted(1, "partial", "partner.example"), "api", {}),
            Incoming(scripted(2, "kind", "ses.example"), "sns", {}),
            Incoming(scripted(3, "empty"), "api", {}),
            Incoming(scripted(4, "malformed"), "api", {}),
            Incoming(b"\x00 garbage \xff", "smtp", {"mail_from": "Alice@Mail.Example.ORG"}),
        ],
    )


def _counts(container: Container, hours: int = 24) -> list[OutcomeCount]:
    with read_only(container.sessions) as session:
        return count_outcomes(session, now=utcnow(), windows={"w": timedelta(hours=hours)})


def _age(container: Container, report_ids: Iterable[int], hours: float) -> None:
    """Make reports look received *hours* ago."""
    with unit_of_work(container.sessions) as session:
        session.execute(
            update(Report)
            .where(Report.id.in_(list(report_ids)))
            .values(received_at=utcnow() - timedelta(hours=hours))
        )


def _signals(container: Container) -> list[Any]:
    """Return every signal's id, kind, subject, state and figures, oldest first."""
    columns = (Signal.id, Signal.kind, Signal.subject_id, Signal.state, Signal.figures)
    with read_only(container.sessions) as session:
        return list(session.execute(select(*columns).order_by(Signal.id)))


def _reporter_batch(
    what: str, count: int, *, start: int, reporter: str = REPORTER
) -> list[Incoming]:
    envelope = {"mail_from": f"feedback@{reporter}"}
    return [Incoming(scripted(start + n, what, reporter), "smtp", envelope) for n in range(count)]


def _broken_reporter(container: Container, reporter: str = REPORTER) -> None:
    """Give *reporter* a week of reports read, then a recent window of mostly failures."""
    before = _process(container, _reporter_batch("events", 30, start=0, reporter=reporter))
    _age(container, before, hours=48)
    _process(container, _reporter_batch("malformed", 12, start=100, reporter=reporter))
    _process(container, _reporter_batch("events", 3, start=200, reporter=reporter))


def test_outcomes_are_counted_per_reporter_and_format(container: Container) -> None:
    """Each report counts once under its reporter, format and outcome."""
    _mixed(container)
    assert [
        OutcomeCount("api", "scripted", "empty", "w", 1),
        OutcomeCount("api", "scripted", "failed", "w", 1),
        OutcomeCount("fbl.example.net", "arf", "parsed", "w", 2),
        OutcomeCount("mail.example.org", "none", "unknown", "w", 1),
        OutcomeCount("partner.example", "scripted", "partial", "w", 1),
        # No events, so no reporter from one: the channel stands in.
        OutcomeCount("sns", "scripted", "recognised", "w", 1),
    ] == _counts(container)


def test_unprocessed_reports_count_as_pending(container: Container) -> None:
    """A stored report no worker has taken yet is pending under its channel."""
    container.intake.accept_many([Incoming(b"not yet read", "imap", {})])
    assert [OutcomeCount("imap", "none", "pending", "w", 1)] == _counts(container)


def test_reports_older_than_the_window_are_left_out(container: Container) -> None:
    """Only reports received within the window are counted, in each window separately."""
    ids = _mixed(container)
    _age(container, ids[:2], hours=30)
    with read_only(container.sessions) as session:
        counts = count_outcomes(
            session,
            now=utcnow(),
            windows={"24h": timedelta(hours=24), "7d": timedelta(days=7)},
        )
    arf = [c for c in counts if c.reporter == "fbl.example.net"]
    assert [OutcomeCount("fbl.example.net", "arf", "parsed", "7d", 2)] == arf


def test_a_sender_address_is_reduced_to_its_last_domain(container: Container) -> None:
    """An envelope sender with several @ gives only what follows the last one, lowercased."""
    _process(container, [Incoming(b"junk bytes", "smtp", {"mail_from": "a@b@Relay.Example"})])
    assert [OutcomeCount("relay.example", "none", "unknown", "w", 1)] == _counts(container)


def test_health_table_puts_the_worst_reporter_first(container: Container) -> None:
    """Rows are sorted by success rate (read among read and not read), lowest first."""
    _mixed(container)
    _process(container, [Incoming(scripted(9, "events", "api"), "api", {})])
    rows = health_table(_counts(container), window="w")
    assert [(r.reporter, r.report_format, r.success_rate) for r in rows] == [
        ("mail.example.org", "none", 0.0),
        ("api", "scripted", 2 / 3),
        ("fbl.example.net", "arf", 1.0),
        ("partner.example", "scripted", 1.0),
        ("sns", "scripted", 1.0),
    ]


def test_windows_are_tallied_into_read_and_not_read(container: Container) -> None:
    """Recent and baseline windows count reports read and not read, apart from each other."""
    baseline = _process(container, _reporter_batch("events", 4, start=0))
    baseline += _process(container, _reporter_batch("malformed", 1, start=10))
    _age(container, baseline, hours=30)
    _process(container, _reporter_batch("kind", 2, start=20))
    _process(container, _reporter_batch("malformed", 3, start=30))
    # Older than both windows: left out.
    _age(container, _process(container, _reporter_batch("events", 5, start=40)), hours=24 * 30)
    with read_only(container.sessions) as session:
        tallies = tally_windows(session, now=utcnow(), rule=RULE)
    assert tallies == [WindowTally(REPORTER, "scripted", 2, 3, 4, 1)]


def test_a_reporter_whose_reports_stop_parsing_raises_one_signal(container: Container) -> None:
    """A fall from all read to a fifth read raises one signal with the figures, once."""
    _broken_reporter(container)
    watch = ParserHealthWatch(container.sessions, rule=RULE)

    first, second = watch.check(), watch.check()

    (signal,) = _signals(container)
    figures = signal.figures
    assert (first, second, signal.kind, signal.subject_id, signal.state) == (
        [signal.id],
        [],
        SIGNAL_KIND,
        f"{REPORTER}|scripted",
        "open",
    )
    assert (
        figures["recent_read"],
        figures["recent_reports"],
        figures["baseline_read"],
        figures["baseline_reports"],
        figures["recent_rate"],
        figures["baseline_rate"],
    ) == (3, 15, 30, 30, 0.2, 1.0)


def test_a_resolved_drop_is_not_raised_again_the_same_day(container: Container) -> None:
    """Resolving the signal while the drop lasts does not make every check raise it anew."""
    _broken_reporter(container)
    watch = ParserHealthWatch(container.sessions, rule=RULE)
    (signal_id,) = watch.check()
    with unit_of_work(container.sessions) as session:
        resolve_signal(session, signal_id, at=utcnow())

    assert (watch.check(), len(_signals(container))) == ([], 1)


def test_small_reporters_raise_nothing(container: Container) -> None:
    """A reporter below the minimum counts raises no signal, however badly it parses."""
    before = _process(container, _reporter_batch("events", 19, start=0))
    _age(container, before, hours=48)
    _process(container, _reporter_batch("malformed", 15, start=100))

    assert (ParserHealthWatch(container.sessions, rule=RULE).check(), _signals(container)) == (
        [],
        [],
    )


def test_a_steady_reporter_raises_nothing(container: Container) -> None:
    """A reporter that parses as well as before raises no signal."""
    before = _process(container, _reporter_batch("events", 30, start=0))
    _age(container, before, hours=48)
    _process(container, _reporter_batch("events", 12, start=100))

    assert ParserHealthWatch(container.sessions, rule=RULE).check() == []


def test_reports_turning_unrecognised_raise_a_signal_for_all_formats(
    container: Container,
) -> None:
    """A reporter whose reports stop being recognised at all drops across its formats."""
    before = _process(container, _reporter_batch("events", 30, start=0))
    _age(container, before, hours=48)
    _process(
        container,
        [Incoming(f"changed format {n}\r\n".encode(), "smtp", FROM_REPORTER) for n in range(12)],
    )

    ParserHealthWatch(container.sessions, rule=RULE).check()

    assert [s.subject_id for s in _signals(container)] == [f"{REPORTER}|{ALL_FORMATS}"]


def test_the_check_runs_at_most_once_per_interval(container: Container) -> None:
    """check_if_due runs the check, then not again until the interval has passed."""
    _broken_reporter(container)
    ticks = iter([0.0, 10.0, 700.0])
    watch = ParserHealthWatch(
        container.sessions, rule=RULE, interval_seconds=600, clock=lambda: next(ticks)
    )
    first = watch.check_if_due()
    with unit_of_work(container.sessions) as session:
        session.execute(update(Signal).values(state="resolved"))
        session.execute(update(Signal).values(dedupe_key=None))

    assert (len(first), watch.check_if_due(), len(watch.check_if_due())) == (1, [], 1)
