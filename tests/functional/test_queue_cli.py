"""``abusedesk queue``, ``routing`` and ``calendar`` as real commands."""

import json
from pathlib import Path

from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, QueueRow, RoutingVersion, User
from tests.functional.cli import run_cli

CALENDAR = {
    "name": "berlin-office",
    "timezone": "Europe/Berlin",
    "hours": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [{"date": "2026-12-25", "hours": [], "name": "Christmas"}],
}
RULES = {
    "note": "phishing goes to the advanced queue",
    "default_queue": "triage",
    "rules": [
        {
            "name": "phishing",
            "queue": "advanced",
            "when": [{"field": "category_group", "op": "in", "value": ["phishing", "malware"]}],
        }
    ],
}


def test_an_admin_sets_up_a_queue_its_calendar_members_and_routing(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """Calendar, queue, members and a routing version, each audited and shown back."""
    with unit_of_work(container.sessions) as session:
        session.add(
            User(
                username="ana",
                display_name="Ana",
                email="ana@example.org",
                role="analyst_advanced",
                password_hash="x",
                created_at=utcnow(),
            )
        )
    (tmp_path / "calendar.json").write_text(json.dumps(CALENDAR))
    (tmp_path / "rules.json").write_text(json.dumps(RULES))

    def cli(*args: str) -> str:
        done = run_cli(*args, "--actor", "lead1", database_url=database_url, workdir=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("calendar", "save", "calendar.json")
    cli(
        "queue", "save", "advanced", "--tier", "advanced", "--calendar", "berlin-office",
        "--response-hours", "8", "--resolution-hours", "40",
    )  # fmt: skip
    cli("queue", "members", "advanced", "ana")
    cli("routing", "save", "rules.json")
    shown = run_cli("routing", "show", database_url=database_url, workdir=tmp_path).stdout
    listed = run_cli("queue", "list", database_url=database_url, workdir=tmp_path).stdout

    assert "routing version 2 by lead1: phishing goes to the advanced queue" in shown
    assert all(word in listed for word in ("advanced", "berlin-office", "ana"))
    with read_only(container.sessions) as session:
        advanced = session.scalars(select(QueueRow).where(QueueRow.name == "advanced")).one()
        assert (advanced.tier, advanced.response_minutes, advanced.resolution_minutes) == (
            "advanced",
            480,
            2400,
        )
        assert (
            session.scalar(select(RoutingVersion.author).where(RoutingVersion.version == 2))
            == "lead1"
        )
        tags = set(session.scalars(select(AuditEntry.tag).where(AuditEntry.actor == "lead1")))
    assert tags == {
        "case:calendar:save",
        "case:queue:save",
        "case:queue:members",
        "case:routing:save",
    }


def test_bad_input_is_refused_with_the_reason(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """Rules naming an unknown queue, a bad calendar and an unknown member each say why."""
    (tmp_path / "rules.json").write_text(json.dumps({**RULES, "note": "x"}))
    (tmp_path / "calendar.json").write_text(json.dumps({**CALENDAR, "timezone": "Mars/Olympus"}))
    (tmp_path / "list.json").write_text("[1, 2]")

    rules = run_cli("routing", "save", "rules.json", database_url=database_url, workdir=tmp_path)
    calendar = run_cli(
        "calendar", "save", "calendar.json", database_url=database_url, workdir=tmp_path
    )
    member = run_cli(
        "queue", "members", "triage", "nobody", database_url=database_url, workdir=tmp_path
    )
    not_object = run_cli(
        "routing", "save", "list.json", database_url=database_url, workdir=tmp_path
    )

    assert (rules.returncode, "unknown queue 'advanced'" in rules.stderr) == (2, True)
    assert (calendar.returncode, "Mars/Olympus" in calendar.stderr) == (2, True)
    assert (member.returncode, "nobody" in member.stderr) == (2, True)
    assert (not_object.returncode, "one JSON object" in not_object.stderr) == (2, True)
