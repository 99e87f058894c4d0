"""``abusedesk queue``, ``abusedesk routing``, ``abusedesk calendar``: where cases wait.

Admins keep queues (tier, department, SLA targets, calendar, members), business-hours
calendars and the routing rules here or in the workbench; every change is audited, and
routing rules are versioned: saving writes the next version, never edits one.

Exit codes: 0 done, 1 refused (unknown queue, calendar or user), 2 invalid input.
"""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from abusedesk.cases.calendars import BusinessCalendar
from abusedesk.cases.routing import Department, Queue, Tier
from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.cli.unattributed import default_actor
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.storage import queues as stored
from abusedesk.storage.db import read_only, unit_of_work

queue_app = typer.Typer(help="List and keep the queues cases wait in.", no_args_is_help=True)
routing_app = typer.Typer(help="Show and version the rules that route cases.", no_args_is_help=True)
calendar_app = typer.Typer(help="Keep business-hours calendars for SLAs.", no_args_is_help=True)

_ACTOR = typer.Option(None, help="Who changes it, for the audit log [default: the OS user].")
MAX_FILE_BYTES = 1024 * 1024


def _fail(problem: AbuseDeskError) -> typer.Exit:
    errors.print(plain(problem))
    return typer.Exit(1 if isinstance(problem, NotFound) else 2)


@queue_app.command("list")
def list_queues() -> None:
    """Show every queue with its open work and SLA targets."""
    with open_container() as container, read_only(container.sessions) as session:
        loads = stored.queue_loads(session, now=utcnow())
        members = {load.queue.id: stored.member_names(session, load.queue.id) for load in loads}
    table = Table(
        "queue", "tier", "department", "response", "resolution", "calendar", "open",
        "unassigned", "breached", "members",
    )  # fmt: skip
    for load in loads:
        queue = load.queue
        table.add_row(
            plain(queue.name),
            queue.tier,
            queue.department,
            _hours(queue.response),
            _hours(queue.resolution),
            plain(queue.calendar or "24x7 UTC"),
            str(load.open_cases),
            str(load.unassigned),
            str(load.breached),
            plain(", ".join(members[queue.id]) or "-"),
        )
    console.print(table)


@queue_app.command("save")
def save_queue(
    name: str,
    *,
    tier: str = typer.Option(Tier.BASIC, help=f"One of {', '.join(Tier.ALL)}."),
    department: str = typer.Option(
        Department.TRUST_SAFETY, help=f"One of {', '.join(Department.ALL)}."
    ),
    response_hours: float = typer.Option(4, min=0.01, help="First response target."),
    resolution_hours: float = typer.Option(72, min=0.01, help="Resolution target."),
    calendar: str | None = typer.Option(None, help="Business-hours calendar [default: 24x7]."),
    description: str = typer.Option("", help="What the queue is for."),
    actor: str | None = _ACTOR,
) -> None:
    """Create a queue, or change the one of that name."""
    try:
        with open_container() as container, unit_of_work(container.sessions) as session:
            stored.save_queue(
                session,
                Queue(name, tier, department),
                response=timedelta(hours=response_hours),
                resolution=timedelta(hours=resolution_hours),
                calendar=calendar,
                description=description,
                actor=actor or default_actor(),
                now=utcnow(),
            )
    except AbuseDeskError as problem:
        raise _fail(problem) from problem
    console.print(plain(f"queue {name} saved"))


@queue_app.command("members")
def set_members(
    name: str,
    usernames: list[str] = typer.Argument(None, help="Every member; none empties the queue."),
    actor: str | None = _ACTOR,
) -> None:
    """Make exactly these users the queue's members (they pull its cases)."""
    try:
        with open_container() as container, unit_of_work(container.sessions) as session:
            stored.set_members(
                session, name, usernames or [], actor=actor or default_actor(), now=utcnow()
            )
    except AbuseDeskError as problem:
        raise _fail(problem) from problem
    console.print(plain(f"queue {name}: {len(usernames or [])} member(s)"))


@routing_app.command("show")
def show_routing(
    as_json: bool = typer.Option(False, "--json", help="Print the JSON form."),
) -> None:
    """Show the routing rules in force, first match wins."""
    with open_container() as container, unit_of_work(container.sessions) as session:
        rules = stored.current_rules(session)
    if as_json:
        console.print(plain(json.dumps(rules.to_dict(), indent=2)))
        return
    console.print(plain(f"routing version {rules.version} by {rules.author}: {rules.note}"))
    table = Table("#", "rule", "when", "queue")
    for position, rule in enumerate(rules.rules, start=1):
        when = "; ".join(json.dumps(c.to_dict()) for c in rule.conditions) or "always"
        table.add_row(str(position), plain(rule.name), plain(when), plain(rule.queue))
    table.add_row("", "(default)", "no rule matched", plain(rules.default_queue))
    console.print(table)


@routing_app.command("save")
def save_routing(
    path: Path = typer.Argument(..., help="JSON: {note, default_queue, rules: [...]}."),
    actor: str | None = _ACTOR,
) -> None:
    """Store the rules in PATH as the next routing version (see docs/cases.md for the form)."""
    data = _json_file(path)
    try:
        with open_container() as container, unit_of_work(container.sessions) as session:
            rules = stored.save_rules(session, data, actor=actor or default_actor(), now=utcnow())
    except AbuseDeskError as problem:
        raise _fail(problem) from problem
    console.print(plain(f"routing version {rules.version} saved: {len(rules.rules)} rule(s)"))


@routing_app.command("history")
def routing_history(limit: int = typer.Option(20, min=1)) -> None:
    """List the routing versions, newest first, with who wrote each and why."""
    with open_container() as container, read_only(container.sessions) as session:
        versions = stored.rule_versions(session, limit=limit)
    table = Table("version", "saved", "author", "rules", "default", "note")
    for saved in versions:
        rules = saved.rules
        table.add_row(
            str(rules.version),
            f"{saved.saved_at:%Y-%m-%d %H:%M}",
            plain(rules.author),
            str(len(rules.rules)),
            plain(rules.default_queue),
            plain(rules.note),
        )
    console.print(table)


@calendar_app.command("save")
def save_calendar(
    path: Path = typer.Argument(..., help="JSON: {name, timezone, hours, holidays}."),
    actor: str | None = _ACTOR,
) -> None:
    """Create or replace a business-hours calendar from PATH."""
    data = _json_file(path)
    try:
        calendar = BusinessCalendar.from_dict(data)
        with open_container() as container, unit_of_work(container.sessions) as session:
            stored.save_calendar(session, calendar, actor=actor or default_actor(), now=utcnow())
    except AbuseDeskError as problem:
        raise _fail(problem) from problem
    console.print(plain(f"calendar {calendar.name} saved"))


@calendar_app.command("list")
def list_calendars() -> None:
    """Show the calendars with their weekly hours and holidays."""
    with open_container() as container, read_only(container.sessions) as session:
        found = stored.calendars(session)
    table = Table("calendar", "time zone", "hours", "holidays")
    for calendar in found.values():
        shown = calendar.to_dict()
        hours = "; ".join(f"{day} {' '.join(spans)}" for day, spans in shown["hours"].items())
        table.add_row(
            plain(calendar.name),
            plain(calendar.timezone),
            plain(hours),
            str(len(shown["holidays"])),
        )
    console.print(table)


def _json_file(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        data = None if size > MAX_FILE_BYTES else json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        errors.print(plain(f"cannot read {path}: {problem}"))
        raise typer.Exit(2) from problem
    if not isinstance(data, dict):
        errors.print(plain(f"{path} must hold one JSON object of at most {MAX_FILE_BYTES} bytes"))
        raise typer.Exit(2)
    return data


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g} h"
