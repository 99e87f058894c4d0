"""``abusedesk demo seed`` and ``demo reports`` as a user runs them."""

import json
from pathlib import Path

from sqlalchemy import func, select

from abusedesk.storage.db import make_engine
from abusedesk.storage.tables import Account, SendLogEntry
from tests.functional.cli import run_cli

SMALL = ("--accounts", "12", "--days", "2", "--end", "2026-03-02T12:00")


def _rows(database_url: str, model: type) -> int:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(model)) or 0
    engine.dispose()
    return count


def _truth(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_seed_loads_the_provider_and_writes_reports_with_ground_truth_apart(
    database_url: str, tmp_path: Path
) -> None:
    """Seed fills the inventory, writes one file per report, and the ground truth beside them."""
    result = run_cli(
        "demo", "seed", *SMALL, "--reports", "25", database_url=database_url, workdir=tmp_path
    )
    reports = tmp_path / "var" / "demo" / "reports"
    truth = _truth(tmp_path / "var" / "demo" / "ground-truth.jsonl")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in reports.iterdir()) == sorted(t["file"] for t in truth)
    assert (len(truth), _rows(database_url, Account)) == (25, 12)
    assert _rows(database_url, SendLogEntry) > 0
    assert "ground truth:" in result.stdout


def test_seed_if_empty_leaves_a_seeded_database_alone(database_url: str, tmp_path: Path) -> None:
    """With --if-empty a second seed says so, changes nothing, and succeeds."""
    first = run_cli(
        "demo", "seed", *SMALL, "--reports", "0", database_url=database_url, workdir=tmp_path
    )
    accounts = _rows(database_url, Account)
    again = run_cli(
        "demo", "seed", "--if-empty", "--seed", "2", database_url=database_url, workdir=tmp_path
    )
    assert (first.returncode, again.returncode) == (0, 0), again.stderr
    assert "nothing seeded" in again.stdout
    assert _rows(database_url, Account) == accounts


def test_seed_refuses_a_database_that_already_has_accounts(
    database_url: str, tmp_path: Path
) -> None:
    """Without --if-empty a second seed fails with a reason and loads nothing more."""
    run_cli("demo", "seed", *SMALL, "--reports", "0", database_url=database_url, workdir=tmp_path)
    again = run_cli(
        "demo", "seed", *SMALL, "--seed", "2", database_url=database_url, workdir=tmp_path
    )
    assert again.returncode == 1
    assert "already has accounts" in again.stderr
    assert _rows(database_url, Account) == 12


def test_reports_command_regenerates_the_seeded_reports(database_url: str, tmp_path: Path) -> None:
    """``demo reports`` after a seed writes the same bytes for the same report numbers."""
    run_cli("demo", "seed", *SMALL, "--reports", "15", database_url=database_url, workdir=tmp_path)
    result = run_cli(
        "demo",
        "reports",
        "--count",
        "15",
        "--out",
        "again/reports",
        database_url=database_url,
        workdir=tmp_path,
    )
    seeded = tmp_path / "var" / "demo" / "reports"
    assert result.returncode == 0, result.stderr
    assert {p.name: p.read_bytes() for p in seeded.iterdir()} == {
        p.name: p.read_bytes() for p in (tmp_path / "again" / "reports").iterdir()
    }


def _no_database(tmp_path: Path) -> str:
    """Return a database URL for commands that must not need one (the file never appears)."""
    return f"sqlite:///{tmp_path / 'unused.db'}"


def test_reports_batches_with_other_starts_are_new_reports(tmp_path: Path) -> None:
    """A batch starting after the first writes other files with other bytes, without a database."""
    database_url = _no_database(tmp_path)
    args = ("demo", "reports", *SMALL[:4], "--end", "2026-03-02T12:00", "--count", "10")
    first = run_cli(*args, "--out", "a/reports", database_url=database_url, workdir=tmp_path)
    second = run_cli(
        *args, "--start", "10", "--out", "b/reports", database_url=database_url, workdir=tmp_path
    )
    a = {p.name: p.read_bytes() for p in (tmp_path / "a" / "reports").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b" / "reports").iterdir()}
    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    assert (len(a), len(b), set(a) & set(b), set(a.values()) & set(b.values())) == (
        10,
        10,
        set(),
        set(),
    )
    assert not (tmp_path / "unused.db").exists()


def test_ground_truth_inside_the_reports_folder_is_refused(tmp_path: Path) -> None:
    """Putting the ground truth among the reports is an error: ingesting would read it."""
    database_url = _no_database(tmp_path)
    result = run_cli(
        "demo",
        "reports",
        "--count",
        "1",
        "--out",
        "r",
        "--ground-truth",
        "r/truth.jsonl",
        "--end",
        "2026-03-02",
        database_url=database_url,
        workdir=tmp_path,
    )
    assert result.returncode == 2
    assert "out of the reports folder" in result.stderr
    assert not (tmp_path / "r").exists()


def test_reports_about_mail_nobody_here_sent_are_counted_apart(tmp_path: Path) -> None:
    """Look-alike reports have a null account in the ground truth and their own summary line."""
    database_url = _no_database(tmp_path)
    result = run_cli(
        "demo",
        "reports",
        *SMALL,
        "--count",
        "200",
        "--out",
        "r/reports",
        database_url=database_url,
        workdir=tmp_path,
    )
    truth = _truth(tmp_path / "r" / "ground-truth.jsonl")
    not_ours = [t for t in truth if t["account"] is None]
    assert result.returncode == 0, result.stderr
    assert not_ours
    assert {(t["account_kind"], t["evidence"]) for t in not_ours} == {(None, "not_ours")}
    assert f"not ours (look-alike): {len(not_ours)}" in result.stdout
