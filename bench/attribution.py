"""Attribution: accuracy on the simulated provider's reports, and throughput at scale.

    uv run python bench/attribution.py --seed S [--accounts N --days D --reports R]
        [--database-url URL] [--mode accuracy|throughput|both]

**accuracy** generates the simulated provider and its reports from the seed, loads the
provider into a new database, stores every report through intake and processes it through
the pipeline, then compares each event's attribution with the report's ground truth:
precision at high confidence and overall, coverage, calibration per confidence level,
breakdowns per evidence and report kind, and every wrong attribution with its reason.

**throughput** times the resolver alone, in batches of the pipeline's size on one core,
against a generated inventory at scale (see ``bench/attribution_scale.py``): once asking
SQL for everything, once through the in-memory inventory copy the pipeline uses, with the
copy's reading time and memory.

Without ``--database-url`` the bench runs on SQLite; a PostgreSQL URL names a server on
which the bench makes a database of its own (and drops it afterwards).
Exit status: 0 when every figure meets its goal, 1 otherwise.
"""

import argparse
import hashlib
import ipaddress
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from abusedesk.attribution.model import AttributionState, Confidence  # noqa: E402
from abusedesk.bootstrap import build  # noqa: E402
from abusedesk.config import Settings  # noqa: E402
from abusedesk.core.clock import utcnow  # noqa: E402
from abusedesk.demo.provider import generate_provider  # noqa: E402
from abusedesk.demo.reports import GroundTruth, ReportGenerator  # noqa: E402
from abusedesk.demo.traffic import generate_traffic  # noqa: E402
from abusedesk.intake.service import Incoming  # noqa: E402
from abusedesk.logging import configure_logging  # noqa: E402
from abusedesk.parsing.model import Category  # noqa: E402
from abusedesk.storage.db import is_sqlite, make_engine, read_only, unit_of_work  # noqa: E402
from abusedesk.storage.migrate import upgrade  # noqa: E402
from abusedesk.storage.seed import seed_provider  # noqa: E402
from abusedesk.storage.tables import Account, Event, Report, table_of  # noqa: E402

# The goals.
GOAL_HIGH_PRECISION = 0.995
GOAL_PRECISION = 0.97
GOAL_COVERAGE = 0.95

CHANNEL = "demo"
SPOOFED_DMARC_RECORD = "DMARC record from an IP the provider never sent from"
INTAKE_BATCH = 200

# Reports that end in one of these statuses have no events although they are about a sender:
# each counts as one event that was not attributed.
_FAILED_STATUSES = ("quarantined", "unknown_format", "pending", "processing")


@dataclass(frozen=True)
class EventOutcome:
    """One event beside the ground truth of its report."""

    file: str
    seq: int
    report_kind: str
    evidence: str
    category: str
    # The external id of the account truly behind the event; None when it is not ours.
    truth: str | None
    state: str
    # The account the event was settled on (only when its state is ``attributed``).
    attributed: str | None
    # The best guess of a low-confidence attribution, left in the inbox.
    suggested: str | None
    confidence: str | None
    method: str | None
    reason: str | None
    note: str = ""

    @property
    def settled(self) -> bool:
        """Tell whether the event was put on an account."""
        return self.state == AttributionState.ATTRIBUTED and self.attributed is not None

    @property
    def correct(self) -> bool:
        """Tell whether the event was settled on the account truly behind it."""
        return self.settled and self.attributed == self.truth

    @property
    def named(self) -> str | None:
        """Return the account the attribution names: settled, or suggested when low."""
        return self.attributed if self.settled else self.suggested


@dataclass(frozen=True)
class Calibration:
    """How often a confidence level named the right account."""

    confidence: str
    n: int
    correct: int

    @property
    def share(self) -> float:
        """Return the share of events at this level that named the true account."""
        return self.correct / self.n if self.n else 0.0


@dataclass(frozen=True)
class Tally:
    """Events of one evidence label or report kind: how many, settled, right, waiting."""

    label: str
    n: int = 0
    with_truth: int = 0
    settled: int = 0
    correct: int = 0
    wrong: int = 0
    waiting: int = 0


@dataclass
class AccuracyResult:
    """Every event's outcome and the figures derived from them."""

    seed: int
    accounts: int
    days: int
    reports: int
    backend: str
    events: list[EventOutcome] = field(default_factory=list)
    # Reports about a sender that gave no event, by their final status.
    failed_reports: dict[str, list[str]] = field(default_factory=dict)
    # Reports settled without any event (a recognised report with nothing to attribute).
    empty_reports: list[str] = field(default_factory=list)
    # CPU seconds per phase: generating, loading the provider, intake and pipeline.
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def missed_reports(self) -> int:
        """Return how many reports about a sender gave no event because they failed."""
        return sum(len(files) for files in self.failed_reports.values())

    @property
    def high(self) -> list[EventOutcome]:
        """Return the events settled with high confidence."""
        return [e for e in self.events if e.settled and e.confidence == Confidence.HIGH]

    @property
    def settled(self) -> list[EventOutcome]:
        """Return the events settled on an account (high or medium confidence)."""
        return [e for e in self.events if e.settled]

    @property
    def high_precision(self) -> float:
        """Return the share of high-confidence attributions that are right."""
        return _share(sum(e.correct for e in self.high), len(self.high))

    @property
    def precision(self) -> float:
        """Return the share of settled attributions (high and medium) that are right."""
        return _share(sum(e.correct for e in self.settled), len(self.settled))

    @property
    def ours(self) -> list[EventOutcome]:
        """Return the events truly about one of the provider's accounts."""
        return [e for e in self.events if e.truth is not None]

    @property
    def coverage(self) -> float:
        """Return settled events with a true account over events with one (failed reports too)."""
        return _share(sum(e.settled for e in self.ours), len(self.ours) + self.missed_reports)

    @property
    def not_ours(self) -> list[EventOutcome]:
        """Return the events about nobody at the provider."""
        return [e for e in self.events if e.truth is None]

    @property
    def false_on_not_ours(self) -> int:
        """Return how many events about nobody at the provider were settled on an account."""
        return sum(e.settled for e in self.not_ours)

    @property
    def wrong(self) -> list[EventOutcome]:
        """Return every event settled on an account that is not the one behind it."""
        return [e for e in self.events if e.settled and not e.correct]

    def calibration(self) -> list[Calibration]:
        """Return, per confidence level, how often the named account was the true one."""
        rows = []
        for level in (Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW):
            named = [e for e in self.events if e.confidence == level and e.named is not None]
            rows.append(Calibration(level, len(named), sum(e.named == e.truth for e in named)))
        return rows

    def by(self, key: str) -> list[Tally]:
        """Return the events tallied by ``evidence`` or ``report_kind``."""
        groups: dict[str, list[EventOutcome]] = defaultdict(list)
        for event in self.events:
            groups[getattr(event, key)].append(event)
        return [
            Tally(
                label,
                n=len(events),
                with_truth=sum(e.truth is not None for e in events),
                settled=sum(e.settled for e in events),
                correct=sum(e.correct for e in events),
                wrong=sum(e.settled and not e.correct for e in events),
                waiting=sum(not e.settled for e in events),
            )
            for label, events in sorted(groups.items())
        ]

    def misses(self) -> list[str]:
        """Return the goals this run missed, in words (empty when all are met)."""
        missed = []
        if self.high_precision < GOAL_HIGH_PRECISION:
            missed.append(
                f"precision at high confidence {self.high_precision:.2%} < {GOAL_HIGH_PRECISION:.1%}"
            )
        if self.precision < GOAL_PRECISION:
            missed.append(f"precision overall {self.precision:.2%} < {GOAL_PRECISION:.0%}")
        if self.coverage < GOAL_COVERAGE:
            missed.append(f"coverage {self.coverage:.2%} < {GOAL_COVERAGE:.0%}")
        return missed


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


# --- measuring --------------------------------------------------------------------------------


def measure_accuracy(
    *,
    seed: int,
    accounts: int,
    days: int,
    reports: int,
    database_url: str,
    evidence_dir: Path,
    end: datetime | None = None,
) -> AccuracyResult:
    """Attribute the simulated provider's reports in *database_url* and compare with the truth.

    *database_url* names an empty database (it is migrated here); *evidence_dir* takes the
    reports too large to keep in a row. The provider's window ends at *end* (this hour
    when not given), as ``abusedesk demo seed`` does.
    """
    clock = _Clock()
    end_at = (end or utcnow()).replace(minute=0, second=0, microsecond=0)
    provider = generate_provider(seed=seed, accounts=accounts, days=days, end=end_at)
    traffic = generate_traffic(provider)
    generated = list(ReportGenerator(provider, traffic).generate(reports))
    truths = {hashlib.sha256(g.raw).hexdigest(): g.truth for g in generated}
    our_ips = {a.ip for a in provider.allocations} | {m.source_ip for m in traffic.messages}
    clock.lap("generate")

    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    container = build(
        Settings(
            database={"url": database_url},
            storage={"evidence_dir": evidence_dir},
            smtp={"enabled": False},
            log_level="WARNING",
        )
    )
    try:
        with unit_of_work(container.sessions) as session:
            seed_provider(session, provider, traffic)
        clock.lap("load")
        for start in range(0, len(generated), INTAKE_BATCH):
            container.intake.accept_many(
                [
                    Incoming(g.raw, CHANNEL, {"source": g.file_name})
                    for g in generated[start : start + INTAKE_BATCH]
                ]
            )
        while container.embedded.run_once():
            pass
        clock.lap("pipeline")
        with read_only(container.sessions) as session:
            result = _compare(session, truths, our_ips)
    finally:
        container.close()
    result.seed, result.accounts, result.days, result.reports = seed, accounts, days, reports
    result.backend = "sqlite" if is_sqlite(database_url) else "postgresql"
    result.cpu_seconds = clock.laps
    return result


class _Clock:
    """CPU seconds per phase (CPU, not wall: a busy machine does not blur them)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.process_time()

    def lap(self, name: str) -> None:
        now = time.process_time()
        self.laps[name] = now - self._last
        self._last = now


def _compare(session: Any, truths: dict[str, GroundTruth], our_ips: set[str]) -> AccuracyResult:
    """Read every report and event back and set each event beside its report's truth."""
    result = AccuracyResult(seed=0, accounts=0, days=0, reports=0, backend="")
    external = dict(session.execute(select(Account.id, Account.external_id)).all())
    reports = table_of(Report)
    events = table_of(Event)
    statuses = dict(session.execute(select(reports.c.sha256, reports.c.status)).all())
    with_events: set[str] = set()
    rows = session.execute(
        select(
            reports.c.sha256,
            events.c.seq,
            events.c.category,
            events.c.indicators,
            events.c.account_id,
            events.c.attribution_state,
            events.c.attribution_confidence,
            events.c.attribution_method,
            events.c.attribution_reason,
            events.c.attribution_details,
        )
        .join(reports, reports.c.id == events.c.report_id)
        .order_by(reports.c.id, events.c.seq)
    )
    for (
        sha,
        seq,
        category,
        indicators,
        account_id,
        state,
        confidence,
        method,
        reason,
        details,
    ) in rows:
        truth = truths.get(sha)
        if truth is None:
            continue
        with_events.add(sha)
        account, note = event_truth(truth, category, indicators or {}, our_ips)
        suggested = ((details or {}).get("suggested") or {}).get("account_id")
        result.events.append(
            EventOutcome(
                file=truth.file,
                seq=seq,
                report_kind=truth.report_kind,
                evidence=truth.evidence,
                category=category,
                truth=account,
                state=state,
                attributed=external.get(account_id) if account_id is not None else None,
                suggested=external.get(suggested) if suggested is not None else None,
                confidence=confidence,
                method=method,
                reason=reason,
                note=note,
            )
        )
    for sha, truth in truths.items():
        if sha in with_events:
            continue
        status = statuses.get(sha, "missing")
        if status == "done":
            result.empty_reports.append(truth.file)
        else:
            result.failed_reports.setdefault(status, []).append(truth.file)
    return result


def event_truth(
    truth: GroundTruth, category: str, indicators: dict[str, Any], our_ips: set[str]
) -> tuple[str | None, str]:
    """Return the account truly behind one event of a report, and a note on how it was judged.

    Every event of a report is about the report's account (None when the report is about
    nobody at the provider). A DMARC aggregate record is about the domain it reports on,
    whoever sent the mail: a record from an IP the provider never sent from (someone
    spoofing the customer's domain) still belongs to the domain's account, and is noted.
    """
    account = truth.account or None
    if category == Category.DMARC_AGGREGATE and account is not None:
        ips = [ip for ip in indicators.get("source_ip", []) if isinstance(ip, str)]
        if ips and not any(_same_ip(ip, our_ips) for ip in ips):
            return account, SPOOFED_DMARC_RECORD
    return account, ""


def _same_ip(value: str, ours: set[str]) -> bool:
    if value in ours:
        return True
    try:
        return str(ipaddress.ip_address(value)) in ours
    except ValueError:
        return False


# --- printing ---------------------------------------------------------------------------------


def print_accuracy(result: AccuracyResult) -> None:
    """Print the figures beside their goals, the breakdowns, and every wrong attribution."""
    ok = "ok"
    print(
        f"attribution accuracy on {result.backend}: seed {result.seed}, {result.accounts} "
        f"accounts, {result.days} days, {result.reports} reports -> {len(result.events)} events "
        f"(CPU s: {', '.join(f'{k} {v:.1f}' for k, v in result.cpu_seconds.items())})"
    )
    print(
        "  truth: every event of a report is about the report's account; DMARC aggregate "
        "records are about their domain's account, also those sent from IPs that are not "
        "ours (spoofing); a report about a sender that failed to give any event counts as "
        "one event not attributed"
    )
    figures = [
        (
            "precision at high confidence",
            result.high_precision,
            GOAL_HIGH_PRECISION,
            len(result.high),
        ),
        ("precision overall (high+medium)", result.precision, GOAL_PRECISION, len(result.settled)),
        (
            "coverage (settled / events with a true account)",
            result.coverage,
            GOAL_COVERAGE,
            len(result.ours) + result.missed_reports,
        ),
    ]
    for name, value, goal, n in figures:
        verdict = ok if value >= goal else "MISSED"
        print(f"  {name:<50} {value:8.2%}  goal >= {goal:.1%}  n={n:<6} {verdict}")
    print(
        f"  events about nobody at the provider: {len(result.not_ours)}, settled on an account "
        f"anyway: {result.false_on_not_ours}"
    )
    spoofed = [e for e in result.events if e.note == SPOOFED_DMARC_RECORD]
    print(
        f"  DMARC records from IPs that are not ours: {len(spoofed)}, settled on the domain's "
        f"account: {sum(e.correct for e in spoofed)}"
    )
    if result.failed_reports:
        print(
            "  reports that gave no event: "
            + ", ".join(f"{status} {len(files)}" for status, files in result.failed_reports.items())
        )
    if result.empty_reports:
        print(
            f"  reports processed with no event to attribute (left out): {len(result.empty_reports)}"
        )
    print("  calibration (share naming the true account; low = the inbox's suggestion):")
    for row in result.calibration():
        print(f"    {row.confidence:<7} n={row.n:<6} {row.share:8.2%}")
    for key, title in (("evidence", "ground-truth evidence"), ("report_kind", "report kind")):
        print(f"  by {title}:")
        print(
            f"    {'':<22} {'events':>7} {'ours':>6} {'settled':>8} {'correct':>8} "
            f"{'wrong':>6} {'waiting':>8}"
        )
        for t in result.by(key):
            print(
                f"    {t.label:<22} {t.n:>7} {t.with_truth:>6} {t.settled:>8} {t.correct:>8} "
                f"{t.wrong:>6} {t.waiting:>8}"
            )
    wrong = result.wrong
    print(f"  wrong attributions: {len(wrong)}")
    for e in wrong:
        print(
            f"    {e.file}#{e.seq} [{e.report_kind}, evidence {e.evidence}] truth "
            f"{e.truth or 'not ours'} attributed {e.attributed} by {e.method} "
            f"({e.confidence}){' - ' + e.note if e.note else ''}: {e.reason}"
        )


# --- databases --------------------------------------------------------------------------------


@contextmanager
def scratch_database(server_url: str | None, directory: Path) -> Iterator[str]:
    """Yield the URL of a new empty database: a SQLite file, or one made on a PostgreSQL server."""
    if server_url is None or is_sqlite(server_url):
        yield f"sqlite:///{directory / 'attribution.db'}"
        return
    from bench.ingest import _create_pg_database, _drop_pg_database

    url = _create_pg_database(server_url)
    try:
        yield url
    finally:
        _drop_pg_database(server_url, url)


def run_accuracy(args: argparse.Namespace) -> bool:
    """Measure and print accuracy; return whether every goal was met."""
    configure_logging("WARNING")
    with (
        tempfile.TemporaryDirectory(prefix="abusedesk-attribution-") as tmp,
        scratch_database(args.database_url, Path(tmp)) as url,
    ):
        result = measure_accuracy(
            seed=args.seed,
            accounts=args.accounts,
            days=args.days,
            reports=args.reports,
            database_url=url,
            evidence_dir=Path(tmp) / "evidence",
            end=args.end,
        )
    print_accuracy(result)
    return not result.misses()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen measurements; return 0 when every goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument(
        "--end",
        type=lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC),
        help="end of the provider's window, UTC (default: this hour)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ABUSEDESK_BENCH_DATABASE_URL"),
        help="a PostgreSQL server to use instead of SQLite",
    )
    parser.add_argument("--mode", choices=("accuracy", "throughput", "both"), default="both")
    from bench.attribution_scale import add_arguments, run_throughput

    add_arguments(parser)
    args = parser.parse_args(argv)
    ok = True
    if args.mode in ("accuracy", "both"):
        ok = run_accuracy(args) and ok
    if args.mode in ("throughput", "both"):
        ok = run_throughput(args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
