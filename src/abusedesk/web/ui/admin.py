"""The admin pages: queues and their members, business-hours calendars; with routing
(``admin_routing``) and users (``admin_users``) under one router.

Every change is a form posted with the session's CSRF token, written in one transaction
and audited by the storage layer, then answered with a redirect to the page (post,
redirect, get). A refused change shows the page again with every problem and the values
typed, so nothing typed is lost.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import APIRouter, Depends, Form, Path, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import QUEUE_ADMIN, can_sign_in
from abusedesk.cases.calendars import WEEKDAYS, BusinessCalendar
from abusedesk.cases.errors import InvalidCalendar, InvalidQueue
from abusedesk.cases.routing import Department, Queue, Tier
from abusedesk.core.clock import utcnow
from abusedesk.storage import queues
from abusedesk.storage.db import read_only
from abusedesk.storage.users import SqlUserRepository
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui import admin_routing, admin_users
from abusedesk.web.ui.admin_common import admin_pages, transact
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)
router.include_router(admin_routing.router)
router.include_router(admin_users.router)

MAX_ID = 2**63 - 1
MAX_NAME = 80
MAX_TEXT = 2000
MAX_HOURS_TEXT = 200
MAX_HOLIDAYS = 20_000
DAY_NAMES = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
DONE = {
    "queue": "The queue is saved.",
    "members": "The queue's members are saved.",
    "calendar": "The calendar is saved.",
}
_HOURS = re.compile(r"\d{1,2}:\d{2}-\d{1,2}:\d{2},?")
_HOLIDAY_PLACE = re.compile(r"holidays\[(\d+)\]")


# --- queues -------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueForm:
    """A queue as typed into the form."""

    name: str = ""
    tier: str = Tier.BASIC
    department: str = Department.TRUST_SAFETY
    response_hours: str = "4"
    resolution_hours: str = "72"
    warning_percent: str = "75"
    calendar: str = ""
    description: str = ""

    @classmethod
    def of(cls, queue: queues.QueueRecord) -> "QueueForm":
        """Return the form filled in with a stored queue."""
        return cls(
            queue.name,
            queue.tier,
            queue.department,
            f"{queue.response.total_seconds() / 3600:g}",
            f"{queue.resolution.total_seconds() / 3600:g}",
            str(queue.warning_percent),
            queue.calendar or "",
            queue.description,
        )


def _hours(text: str, what: str) -> timedelta:
    try:
        hours = float(text.strip().replace(",", "."))
    except ValueError:
        raise InvalidQueue(f"{what}: {text!r} is not a number of hours, e.g. 4 or 0.5") from None
    if not 0 < hours <= 24 * 365:
        raise InvalidQueue(f"{what}: give more than 0 and at most {24 * 365} hours")
    return timedelta(minutes=round(hours * 60))


@router.get("/admin/queues")
def queues_page(
    request: Request,
    done: str | None = None,
    edit: str | None = None,
    principal: Principal = Depends(require_permission(QUEUE_ADMIN)),
) -> Response:
    """List the queues with their targets, calendars and members; the forms to change them."""
    return _show_queues(request, principal, notice=DONE.get(done or ""), edit=edit)


@router.post("/admin/queues")
async def save_queue(
    request: Request,
    *,
    name: str = Form(max_length=MAX_NAME),
    tier: str = Form(max_length=40),
    department: str = Form(max_length=40),
    response_hours: str = Form(max_length=20),
    resolution_hours: str = Form(max_length=20),
    warning_percent: str = Form("75", max_length=10),
    calendar: str = Form("", max_length=MAX_NAME),
    description: str = Form("", max_length=MAX_TEXT),
    principal: Principal = Depends(require_permission(QUEUE_ADMIN)),
) -> Response:
    """Create the queue of that name, or change it when it exists."""
    typed = QueueForm(
        name=name.strip(),
        tier=tier,
        department=department,
        response_hours=response_hours,
        resolution_hours=resolution_hours,
        warning_percent=warning_percent,
        calendar=calendar,
        description=description.strip(),
    )
    actor = principal.user.username

    def change(session: Session) -> None:
        response = _hours(response_hours, "response target")
        resolution = _hours(resolution_hours, "resolution target")
        if not warning_percent.strip().isdigit() or not 1 <= int(warning_percent) <= 99:
            raise InvalidQueue("warning: give a whole percentage from 1 to 99")
        queues.save_queue(
            session,
            Queue(typed.name, tier, department),
            response=response,
            resolution=resolution,
            calendar=calendar or None,
            description=typed.description,
            warning_percent=int(warning_percent),
            actor=actor,
            now=utcnow(),
        )

    problems = await transact(container_of(request), change)
    if not problems:
        return RedirectResponse("/admin/queues?done=queue", status_code=303)
    return _show_queues(request, principal, problems=problems, typed=typed, status_code=422)


@router.post("/admin/queues/{queue_id}/members")
async def set_members(
    request: Request,
    *,
    queue_id: int = Path(ge=1, le=MAX_ID),
    members: list[str] = Form([]),
    principal: Principal = Depends(require_permission(QUEUE_ADMIN)),
) -> Response:
    """Make exactly the users ticked the members of the queue."""
    actor = principal.user.username

    def change(session: Session) -> None:
        queue = queues.queue_by_id(session, queue_id)
        chosen = sorted({member.strip() for member in members if member.strip()})
        queues.set_members(session, queue.name, chosen, actor=actor, now=utcnow())

    problems = await transact(container_of(request), change)
    if not problems:
        return RedirectResponse("/admin/queues?done=members", status_code=303)
    return _show_queues(request, principal, problems=problems, status_code=422)


@dataclass(frozen=True)
class QueueLine:
    """A queue with its members, for the list."""

    queue: queues.QueueRecord
    members: list[str]


def _show_queues(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problems: list[str] | None = None,
    edit: str | None = None,
    typed: QueueForm | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        lines = [QueueLine(q, queues.member_names(session, q.id)) for q in queues.queues(session)]
        calendar_names = sorted(queues.calendars(session))
        people = [
            user.username
            for user in SqlUserRepository().list_users(session)
            if user.disabled_at is None and can_sign_in(user.role)
        ]
    editing = next((line.queue for line in lines if line.queue.name == edit), None)
    form = typed or (QueueForm.of(editing) if editing else QueueForm())
    return private_page(
        request,
        "workbench/admin/queues.html",
        {
            "admin_pages": admin_pages(principal.user),
            "lines": lines,
            "calendar_names": calendar_names,
            "people": people,
            "form": form,
            "editing": editing is not None or typed is not None,
            "tiers": Tier.ALL,
            "departments": Department.ALL,
            "notice": notice,
            "problems": problems or [],
        },
        status_code=status_code,
    )


# --- calendars ----------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarForm:
    """A calendar as typed into the form: hours per weekday and one holiday a line."""

    name: str = ""
    timezone: str = "UTC"
    hours: dict[str, str] = field(
        default_factory=lambda: {
            day: ("09:00-17:00" if day not in ("sat", "sun") else "") for day in WEEKDAYS
        }
    )
    holidays: str = ""

    @classmethod
    def of(cls, calendar: BusinessCalendar) -> "CalendarForm":
        """Return the form filled in with a stored calendar."""
        lines = [
            " ".join(
                part for part in (h.day.isoformat(), ", ".join(map(str, h.hours)), h.name) if part
            )
            for h in sorted(calendar.holidays, key=lambda h: h.day)
        ]
        return cls(
            calendar.name,
            calendar.timezone,
            {
                day: ", ".join(map(str, hours))
                for day, hours in zip(WEEKDAYS, calendar.weekly, strict=True)
            },
            "\n".join(lines),
        )

    def to_dict(self) -> dict[str, object]:
        """Return the calendar's JSON form, for :meth:`BusinessCalendar.from_dict` to check."""
        holidays = []
        for line in self.holidays.splitlines():
            if not line.strip():
                continue
            day, _, rest = line.strip().partition(" ")
            words = rest.split()
            hours = []
            while words and _HOURS.fullmatch(words[0]):
                hours.append(words.pop(0).rstrip(","))
            holidays.append({"date": day, "hours": hours, "name": " ".join(words)})
        return {
            "name": self.name,
            "timezone": self.timezone,
            "hours": {
                day: [part.strip() for part in text.split(",") if part.strip()]
                for day, text in self.hours.items()
                if text.strip()
            },
            "holidays": holidays,
        }


@router.get("/admin/calendars")
def calendars_page(
    request: Request,
    done: str | None = None,
    edit: str | None = None,
    principal: Principal = Depends(require_permission(QUEUE_ADMIN)),
) -> Response:
    """List the business-hours calendars and the queues using them; the form to change them."""
    return _show_calendars(request, principal, notice=DONE.get(done or ""), edit=edit)


@router.post("/admin/calendars")
async def save_calendar(
    request: Request,
    *,
    name: str = Form(max_length=MAX_NAME),
    timezone: str = Form(max_length=MAX_NAME),
    mon: str = Form("", max_length=MAX_HOURS_TEXT),
    tue: str = Form("", max_length=MAX_HOURS_TEXT),
    wed: str = Form("", max_length=MAX_HOURS_TEXT),
    thu: str = Form("", max_length=MAX_HOURS_TEXT),
    fri: str = Form("", max_length=MAX_HOURS_TEXT),
    sat: str = Form("", max_length=MAX_HOURS_TEXT),
    sun: str = Form("", max_length=MAX_HOURS_TEXT),
    holidays: str = Form("", max_length=MAX_HOLIDAYS),
    principal: Principal = Depends(require_permission(QUEUE_ADMIN)),
) -> Response:
    """Create the calendar of that name, or replace it when it exists."""
    days = (mon, tue, wed, thu, fri, sat, sun)
    typed = CalendarForm(
        name.strip(), timezone.strip(), dict(zip(WEEKDAYS, days, strict=True)), holidays
    )
    actor = principal.user.username

    def change(session: Session) -> None:
        try:
            calendar = BusinessCalendar.from_dict(typed.to_dict())
        except InvalidCalendar as error:
            raise InvalidCalendar([_in_words(problem) for problem in error.problems]) from None
        queues.save_calendar(session, calendar, actor=actor, now=utcnow())

    problems = await transact(container_of(request), change)
    if not problems:
        return RedirectResponse("/admin/calendars?done=calendar", status_code=303)
    return _show_calendars(request, principal, problems=problems, typed=typed, status_code=422)


def _in_words(problem: str) -> str:
    """Name the form's places in a calendar problem: ``holidays line 2``, ``Monday``."""
    problem = _HOLIDAY_PLACE.sub(lambda m: f"holidays line {int(m.group(1)) + 1}", problem)
    for day, name in DAY_NAMES.items():
        problem = problem.replace(f"hours.{day}", name)
    return problem


def _show_calendars(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problems: list[str] | None = None,
    edit: str | None = None,
    typed: CalendarForm | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        known = queues.calendars(session)
        used_by: dict[str, list[str]] = {}
        for queue in queues.queues(session):
            if queue.calendar:
                used_by.setdefault(queue.calendar, []).append(queue.name)
    editing = known.get(edit or "")
    form = typed or (CalendarForm.of(editing) if editing else CalendarForm())
    return private_page(
        request,
        "workbench/admin/calendars.html",
        {
            "admin_pages": admin_pages(principal.user),
            "calendars": [known[name] for name in sorted(known)],
            "used_by": used_by,
            "form": form,
            "editing": editing is not None or typed is not None,
            "day_names": DAY_NAMES,
            "notice": notice,
            "problems": problems or [],
        },
        status_code=status_code,
    )
