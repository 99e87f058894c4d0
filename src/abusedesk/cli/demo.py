"""``abusedesk demo``: load a simulated provider, and write the reports outsiders send about it.

``demo seed`` generates the provider from a seed, loads its inventory and traffic into the
database, and writes reports plus their ground truth to files. ``demo reports`` writes more
reports about the same provider (regenerated from the same seed) without the database.
The ground truth goes to its own file beside the reports folder, never into the database.
"""

import json
import os
import re
import secrets
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import typer
from rich.table import Table

from abusedesk.access.errors import WeakPassword
from abusedesk.access.policy import check_password
from abusedesk.bootstrap import Container
from abusedesk.cli.context import console, errors, open_container
from abusedesk.cli.user import hashing_for
from abusedesk.core.clock import as_utc, utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.demo.analysts import DAY
from abusedesk.demo.model import AccountKind, DemoProvider, Traffic
from abusedesk.demo.provider import MIN_ACCOUNTS, generate_provider
from abusedesk.demo.reports import ReportGenerator
from abusedesk.demo.traffic import generate_traffic
from abusedesk.intake.service import Incoming
from abusedesk.storage import analyst_day
from abusedesk.storage.cases import fold_account_events
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.enforcement import LocalConnector
from abusedesk.storage.seed import (
    DEMO_USERS,
    has_accounts,
    seed_casework,
    seed_provider,
    seed_users,
)

app = typer.Typer(
    help="Load a simulated provider and write the reports outsiders send about it.",
    no_args_is_help=True,
)

DEFAULT_OUT = Path("var/demo/reports")
GROUND_TRUTH_NAME = "ground-truth.jsonl"
MANIFEST_NAME = "provider.json"
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
_REPORT_FILE = re.compile(r"report-\d{6,}\.(eml|json|xml)")
# How the summaries name reports about mail none of the provider's accounts sent.
NOT_OURS = "not ours (look-alike)"
# Reports processed by the seed itself for the scripted analyst day.
DAY_REPORTS = 80
# The name of the variable, not a password.
DEMO_PASSWORD_VARIABLE = "ABUSEDESK_DEMO_PASSWORD"  # noqa: S105


@app.command("seed")
def seed_command(
    *,
    accounts: int = typer.Option(60, min=MIN_ACCOUNTS, help="How many accounts to create."),
    days: int = typer.Option(14, min=1, max=366, help="Days of traffic, ending at --end."),
    seed: int = typer.Option(1, help="Random seed: the same seed gives the same provider."),
    reports: int = typer.Option(300, min=0, help="How many reports to write about it."),
    out: Path = typer.Option(
        DEFAULT_OUT,
        help="Folder the reports are written to; report files an earlier seed left are replaced.",
    ),
    ground_truth: Path | None = typer.Option(
        None, help=f"Ground-truth file [default: {GROUND_TRUTH_NAME} beside the reports folder]."
    ),
    end: datetime | None = typer.Option(
        None, formats=DATE_FORMATS, help="End of the traffic window, UTC [default: this hour]."
    ),
    if_empty: bool = typer.Option(
        False, "--if-empty", help="Do nothing (and say so) when accounts already exist."
    ),
    analyst_day: bool = typer.Option(
        True,
        "--analyst-day/--no-analyst-day",
        help="Also process the first reports into cases and play a scripted day of analyst "
        "work on them, for the insights pages.",
    ),
) -> None:
    """Generate a provider, load it into the database, and write reports about it."""
    truth_path = _ground_truth_path(out, ground_truth)
    end_at = as_utc(end) if end is not None else utcnow()
    with open_container() as container:
        _seed_demo_users(container)
        with unit_of_work(container.sessions) as session:
            present = has_accounts(session)
        if present:
            if if_empty:
                console.print("accounts already exist: nothing seeded")
                return
            errors.print(
                "the inventory already has accounts; demo seed loads into an empty one "
                "(pass --if-empty to skip quietly)"
            )
            raise typer.Exit(1)
        # Generated before the transaction opens, so the write lock is held only to insert.
        provider = generate_provider(seed=seed, accounts=accounts, days=days, end=end_at)
        traffic = generate_traffic(provider)
        with unit_of_work(container.sessions) as session:
            if has_accounts(session):
                errors.print("accounts appeared while the provider was generated; nothing seeded")
                raise typer.Exit(1)
            counts = seed_provider(session, provider, traffic)
    _write_manifest(truth_path.parent / MANIFEST_NAME, provider, accounts, days)
    by_kind = _write_reports(
        provider, traffic, count=reports, start=0, out=out, truth_path=truth_path, clear=True
    )

    loaded = Table("table", "rows", title="Loaded into the database")
    for name, rows in counts.items():
        loaded.add_row(name, f"{rows:,}")
    console.print(loaded)
    _print_by_kind(provider, traffic, by_kind)
    if analyst_day and reports:
        with open_container() as container:
            _play_analyst_day(container, provider, traffic, count=min(reports, DAY_REPORTS))
    console.print(
        f"provider: seed {seed}, {accounts} accounts, {days} days ending "
        f"{provider.end:%Y-%m-%d %H:%M} UTC"
    )
    console.print(f"reports: {sum(by_kind.values()):,} written to {out}")
    console.print(f"ground truth: {truth_path} (kept out of the database)")


@app.command("reports")
def reports_command(
    *,
    count: int = typer.Option(1000, min=1, help="How many reports to write."),
    start: int = typer.Option(
        0, min=0, help="Number of the first report; batches that do not overlap never repeat one."
    ),
    seed: int | None = typer.Option(None, help="Seed of the provider [default: as seeded]."),
    accounts: int | None = typer.Option(
        None, min=MIN_ACCOUNTS, help="Accounts of the provider [default: as seeded]."
    ),
    days: int | None = typer.Option(None, min=1, max=366, help="Days [default: as seeded]."),
    end: datetime | None = typer.Option(
        None, formats=DATE_FORMATS, help="End of the window, UTC [default: as seeded]."
    ),
    provider_file: Path = typer.Option(
        DEFAULT_OUT.parent / MANIFEST_NAME,
        "--provider",
        help="What demo seed recorded about the provider; fills in the options not given.",
    ),
    out: Path = typer.Option(DEFAULT_OUT, help="Folder the reports are written to."),
    ground_truth: Path | None = typer.Option(
        None, help=f"Ground-truth file [default: {GROUND_TRUTH_NAME} beside the reports folder]."
    ),
) -> None:
    """Write reports about a seeded provider, regenerated from its seed; no database needed."""
    truth_path = _ground_truth_path(out, ground_truth)
    recorded = _read_manifest(provider_file)
    if not recorded and end is None:
        errors.print(
            f"{provider_file} not found: the reports are about a provider whose window ends "
            "this hour; pass --end to match one seeded earlier"
        )
    end_at = as_utc(end) if end is not None else _recorded_end(recorded) or utcnow()
    provider = generate_provider(
        seed=seed if seed is not None else _recorded_int(recorded, "seed", 1),
        accounts=accounts if accounts is not None else _recorded_int(recorded, "accounts", 60),
        days=days if days is not None else _recorded_int(recorded, "days", 14),
        end=end_at,
    )
    traffic = generate_traffic(provider, with_stats=False)
    by_kind = _write_reports(
        provider, traffic, count=count, start=start, out=out, truth_path=truth_path, clear=False
    )
    console.print(
        f"reports {start} to {start + count - 1}: {sum(by_kind.values()):,} written to {out} "
        f"(seed {provider.seed}, window ending {provider.end:%Y-%m-%d %H:%M} UTC)"
    )
    console.print(", ".join(f"{kind}: {n}" for kind, n in sorted(by_kind.items())))
    console.print(f"ground truth: {truth_path}")


def _seed_demo_users(container: Container) -> None:
    """Create the demo users (one per role that signs in) that do not exist yet.

    Their password is ABUSEDESK_DEMO_PASSWORD, or one made here and printed this once.
    """
    settings = container.settings.access
    given = os.environ.get(DEMO_PASSWORD_VARIABLE, "")
    try:
        password = given or _random_password(settings.password_min_length)
        _check_demo_password(password, settings.password_min_length)
    except WeakPassword as exc:
        errors.print(f"{DEMO_PASSWORD_VARIABLE} is refused: {exc}; set a stronger one")
        raise typer.Exit(2) from exc
    with unit_of_work(container.sessions) as session:
        created = seed_users(
            session,
            password=password,
            hashing=hashing_for(settings),
            min_password_length=settings.password_min_length,
            now=utcnow(),
        )
        desk = seed_casework(session, now=utcnow())
    if desk:
        console.print("demo desk set up: queues triage, advanced, appeals, security, legal")
    if not created:
        return
    names = ", ".join(f"{user.username} ({user.role})" for user in created)
    console.print(f"demo users created: {names}")
    if given:
        console.print(f"their password is the one in {DEMO_PASSWORD_VARIABLE}")
    else:
        console.print("their password, shown only this once:")
        # Printed plainly on a line of its own so that no terminal width wraps it.
        typer.echo(password)


def _play_analyst_day(
    container: Container, provider: DemoProvider, traffic: Traffic, *, count: int
) -> None:
    """Process the first *count* reports into cases opened before the day, and play the
    scripted analyst day (``demo/analysts.py``) on them.

    The day is today's when its shifts are over (17:00 UTC), else yesterday's. The same
    reports ingested again later are recognised as the same bytes and skipped.
    """
    now = utcnow()
    today = now.replace(hour=8, minute=0, second=0, microsecond=0)
    start = today if now >= today + timedelta(hours=9) else today - timedelta(days=1)
    generated = ReportGenerator(provider, traffic).generate(count)
    stored = container.intake.accept_many(
        [Incoming(r.raw, "demo", {"source": r.file_name}) for r in generated]
    )
    container.processor.process_reports([s.report_id for s in stored])
    opened_at = start - DAY.cases_open_before
    with unit_of_work(container.sessions) as session:
        for account_id in analyst_day.unfolded_accounts(session):
            fold_account_events(
                session,
                account_id,
                now=opened_at,
                grace=container.processor.reopen_grace,
                groups=container.processor.case_groups,
            )
    metrics = container.settings.metrics
    try:
        with unit_of_work(container.sessions) as session:
            analyst_day.play(
                session,
                DAY,
                start=start,
                cases=analyst_day.day_cases(session, DAY),
                connector=LocalConnector(),
                heartbeat=timedelta(seconds=metrics.heartbeat_seconds),
                gap=timedelta(seconds=metrics.gap()),
            )
    except AbuseDeskError as skipped:
        console.print(f"analyst day not played: {skipped}")
        return
    console.print(
        f"analyst day played on {start:%Y-%m-%d}: {', '.join(n for n, _ in DAY.analysts)} "
        f"worked {DAY.cases} cases (see /insights)"
    )


def _check_demo_password(password: str, min_length: int) -> None:
    """Raise WeakPassword unless *password* passes the policy for every demo user."""
    for username, _, _ in DEMO_USERS:
        check_password(password, username=username, min_length=min_length)


def _random_password(min_length: int) -> str:
    """Return a random password that passes the policy for every demo user.

    A random one can contain a short username (``ana``) by chance: draw again then.
    """
    while True:
        password = secrets.token_urlsafe(max(15, min_length))
        try:
            _check_demo_password(password, min_length)
        except WeakPassword:
            continue
        return password


def _ground_truth_path(out: Path, given: Path | None) -> Path:
    """Return where the ground truth goes; refuse the reports folder itself."""
    path = given if given is not None else out.resolve().parent / GROUND_TRUTH_NAME
    if path.resolve().parent == out.resolve():
        errors.print(
            "keep the ground truth out of the reports folder: ingesting the folder would read it"
        )
        raise typer.Exit(2)
    return path


def _write_reports(
    provider: DemoProvider,
    traffic: Traffic,
    *,
    count: int,
    start: int,
    out: Path,
    truth_path: Path,
    clear: bool,
) -> Counter[str]:
    """Write reports *start*.. as files and their ground truth; return counts per account kind.

    Reports about mail no account sent are counted under ``NOT_OURS``.

    With *clear*, report files an earlier run left in *out* are removed first, so the
    folder holds exactly the reports the ground truth describes.
    """
    out.mkdir(parents=True, exist_ok=True)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    if clear:
        for old in out.iterdir():
            if old.is_file() and _REPORT_FILE.fullmatch(old.name):
                old.unlink()
    by_kind: Counter[str] = Counter()
    if count == 0:
        truth_path.write_text("")
        return by_kind
    generator = ReportGenerator(provider, traffic)
    with truth_path.open("w", encoding="utf-8") as truth:
        for report in generator.generate(count, start=start):
            (out / report.file_name).write_bytes(report.raw)
            truth.write(report.truth.to_json() + "\n")
            by_kind[report.truth.account_kind or NOT_OURS] += 1
    return by_kind


def _write_manifest(path: Path, provider: DemoProvider, accounts: int, days: int) -> None:
    """Record what regenerates the provider, so that ``demo reports`` can match it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "seed": provider.seed,
        "accounts": accounts,
        "days": days,
        "end": provider.end.isoformat(),
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _read_manifest(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        errors.print(f"{path} is not readable JSON: {exc}")
        raise typer.Exit(2) from exc
    if not isinstance(loaded, dict):
        errors.print(f"{path} does not describe a provider")
        raise typer.Exit(2)
    return loaded


def _recorded_int(recorded: dict[str, object], key: str, default: int) -> int:
    value = recorded.get(key, default)
    if not isinstance(value, int):
        errors.print(f"the recorded {key} {value!r} is not a whole number")
        raise typer.Exit(2)
    return value


def _recorded_end(recorded: dict[str, object]) -> datetime | None:
    value = recorded.get("end")
    if not isinstance(value, str):
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError as exc:
        errors.print(f"the recorded end {value!r} is not a date and time")
        raise typer.Exit(2) from exc


def _print_by_kind(provider: DemoProvider, traffic: Traffic, reports: Counter[str]) -> None:
    accounts: Counter[str] = Counter(a.kind for a in provider.accounts)
    resources: Counter[str] = Counter()
    for account in provider.accounts:
        resources[account.kind] += len(account.resources)
    kind_of = {a.external_id: a.kind for a in provider.accounts}
    messages: Counter[str] = Counter(kind_of[m.account] for m in traffic.messages)
    texts: Counter[str] = Counter(kind_of[s.account] for s in traffic.sms)
    table = Table(
        "account kind",
        "accounts",
        "resources",
        "send-log entries",
        "sms (not stored)",
        "reports",
        title="By account kind (the kind is in the ground truth only)",
    )
    for kind in AccountKind.ALL:
        table.add_row(
            kind,
            str(accounts[kind]),
            f"{resources[kind]:,}",
            f"{messages[kind]:,}",
            f"{texts[kind]:,}",
            f"{reports[kind]:,}",
        )
    if reports[NOT_OURS]:
        table.add_row(NOT_OURS, "-", "-", "-", "-", f"{reports[NOT_OURS]:,}")
    console.print(table)
