"""``abusedesk shifts import``, ``abusedesk user team`` and the demo seed's analyst day."""

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abusedesk.storage.db import make_engine
from abusedesk.storage.tables import AnalystActivity, AnalystShift, AuditEntry, User
from tests.functional.cli import run_cli
from tests.support.casework import make_user

ROTA = """username,kind,starts_at,ends_at,note
basic,shift,2026-11-02T08:00Z,2026-11-02T16:00Z,early
basic,break,2026-11-02T12:00Z,2026-11-02T12:30Z,
advanced,shift,2026-11-02T09:00+01:00,2026-11-02T17:00+01:00,
"""


def _users(database_url: str, *names: str) -> None:
    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():
        for name in names:
            make_user(session, name)
    engine.dispose()


def _rows(database_url: str, statement: object) -> list[tuple[object, ...]]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = [tuple(row) for row in conn.execute(statement)]  # type: ignore[call-overload]
    engine.dispose()
    return rows


def test_a_rota_is_imported_once_and_audited(database_url: str, tmp_path: Path) -> None:
    """Three periods import; the same file again skips all three; each import is audited."""
    _users(database_url, "basic", "advanced")
    rota = tmp_path / "rota.csv"
    rota.write_text(ROTA, encoding="utf-8")
    first = run_cli(
        "shifts", "import", str(rota), "--actor", "lea", database_url=database_url, workdir=tmp_path
    )
    again = run_cli("shifts", "import", str(rota), database_url=database_url, workdir=tmp_path)
    assert (first.returncode, again.returncode) == (0, 0), first.stderr
    assert "imported 3 period(s), skipped 0" in first.stdout
    assert "imported 0 period(s), skipped 3" in again.stdout
    periods = _rows(
        database_url,
        select(
            AnalystShift.username, AnalystShift.kind, AnalystShift.source, AnalystShift.note
        ).order_by(AnalystShift.id),
    )
    assert periods == [
        ("basic", "shift", "imported", "early"),
        ("basic", "break", "imported", ""),
        ("advanced", "shift", "imported", ""),
    ]
    tags = _rows(
        database_url,
        select(AuditEntry.tag, AuditEntry.actor).where(AuditEntry.tag.like("insights:%")),
    )
    assert tags == [("insights:shift:import", "lea")] * 3


def test_a_rota_with_problems_is_refused_whole_naming_each_line(
    database_url: str, tmp_path: Path
) -> None:
    """Unknown user, unknown kind, a time without zone, a backwards period: exit 1, nothing in."""
    _users(database_url, "basic")
    rota = tmp_path / "rota.csv"
    rota.write_text(
        "username,kind,starts_at,ends_at\n"
        "basic,shift,2026-11-02T08:00Z,2026-11-02T16:00Z\n"
        "ghost,shift,2026-11-02T08:00Z,2026-11-02T16:00Z\n"
        "basic,nap,2026-11-02T08:00Z,2026-11-02T09:00Z\n"
        "basic,shift,2026-11-02T08:00,2026-11-02T16:00Z\n"
        "basic,break,2026-11-02T13:00Z,2026-11-02T12:00Z\n"
        "basic,shift\n",
        encoding="utf-8",
    )
    result = run_cli("shifts", "import", str(rota), database_url=database_url, workdir=tmp_path)
    assert result.returncode == 1
    problems = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert problems == [
        "line 3: no active user named 'ghost'",
        "line 4: kind 'nap' is not one of shift, break, training, meeting",
        "line 5: starts_at '2026-11-02T08:00' has no timezone (add Z for UTC)",
        "line 6: the period ends before it starts",
        "line 7: expected 4 or 5 columns, found 2",
    ]
    assert _rows(database_url, select(func.count()).select_from(AnalystShift)) == [(0,)]


def test_a_file_that_is_not_a_rota_is_refused(database_url: str, tmp_path: Path) -> None:
    """Binary bytes, or a file without the header, are refused with a sentence."""
    binary = tmp_path / "rota.bin"
    binary.write_bytes(b"\xff\xfe\x00bad")
    headless = tmp_path / "rota.csv"
    headless.write_text("basic,shift,2026-11-02T08:00Z,2026-11-02T16:00Z\n", encoding="utf-8")
    first = run_cli("shifts", "import", str(binary), database_url=database_url, workdir=tmp_path)
    second = run_cli("shifts", "import", str(headless), database_url=database_url, workdir=tmp_path)
    assert (first.returncode, "cannot read" in first.stderr) == (2, True)
    assert second.returncode == 1
    assert "line 1: the columns must start username, kind, starts_at, ends_at" in second.stderr


def test_user_team_puts_a_user_in_a_team(database_url: str, tmp_path: Path) -> None:
    """The team is set and audited; an unknown user exits 1 with the reason."""
    _users(database_url, "basic")
    done = run_cli("user", "team", "basic", "emea", database_url=database_url, workdir=tmp_path)
    ghost = run_cli("user", "team", "ghost", "emea", database_url=database_url, workdir=tmp_path)
    assert (done.returncode, ghost.returncode) == (0, 1), done.stderr
    assert "no user named 'ghost'" in ghost.stderr
    assert _rows(database_url, select(User.team).where(User.username == "basic")) == [("emea",)]
    assert _rows(
        database_url, select(AuditEntry.tag).where(AuditEntry.tag == "auth:user:team")
    ) == [("auth:user:team",)]


def test_demo_seed_plays_the_analyst_day(database_url: str, tmp_path: Path) -> None:
    """The demo seed processes its first reports into cases and plays the scripted day."""
    result = run_cli(
        "demo", "seed", "--accounts", "14", "--days", "2", "--seed", "5", "--reports", "80",
        "--end", "2026-11-02T05:00", database_url=database_url, workdir=tmp_path,
        ABUSEDESK_DEMO_PASSWORD="demo password for the analyst day",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "analyst day played on" in result.stdout
    teams = _rows(
        database_url,
        select(User.username, User.team).where(User.team != "").order_by(User.username),
    )
    assert teams == [("advanced", "emea"), ("basic", "emea"), ("lead", "emea")]
    focus = _rows(database_url, select(func.count()).select_from(AnalystActivity))
    # Eight focus steps in the script: basic four, advanced three, the lead one.
    assert focus == [(8,)]
