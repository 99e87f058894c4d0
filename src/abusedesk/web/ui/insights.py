"""The insights pages: analyst metrics and utilisation, for leads and for each analyst.

``/insights`` is the lead's hub (the team table of the week, teams and tiers, weekly
trends, outliers, links to QA, reports, reviews, SQL and the voice of the customer);
``/insights/me`` shows an analyst their own figures against their team's median, and
``/insights/analysts/{username}`` the same for a lead; ``/insights/definitions`` says
what every figure means, with an anchor per figure that every figure links to;
``/insights/shifts`` records availability. ``POST /cases/{id}/activity`` is the case
page's focus heartbeat. Figures come from `storage.analyst_metrics`.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse, Response

from abusedesk.access.errors import PermissionDenied
from abusedesk.access.model import (
    CASE_WORK,
    INSIGHT_VIEW,
    INSIGHT_WRITE,
    WEB_SIGN_IN,
    User,
)
from abusedesk.config import MetricsSettings
from abusedesk.core.clock import as_utc, utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.insights.metrics import (
    DEFINITION_OF,
    DEFINITIONS,
    HEADLINE,
    LOWER_IS_BETTER,
    MAX_NOTE,
    STATUSES,
    AnalystFigures,
    Outlier,
    ShiftKind,
    median,
    outliers,
)
from abusedesk.insights.weeks import week_start
from abusedesk.storage import analyst_activity, analyst_metrics
from abusedesk.storage.analyst_activity import ShiftView
from abusedesk.storage.analyst_metrics import TeamFigures
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.charts import Series, bar_chart, line_chart
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**63 - 1
SHIFT_DAYS: Final = 14
DONE: Final = {
    "status": "Your status is recorded.",
    "period": "The period is recorded.",
}
LINKS: Final = (
    ("/qa", "Quality assurance", "qa.review"),
    ("/reports/weekly", "Weekly reports", INSIGHT_VIEW),
    ("/reviews", "Incident reviews", INSIGHT_VIEW),
    ("/sql", "SQL analytics", "sql.query"),
    ("/insights/voice", "Voice of the customer", INSIGHT_VIEW),
    ("/insights/shifts", "Shifts and availability", INSIGHT_VIEW),
)


@dataclass(frozen=True)
class Cell:
    """One figure as a page shows it: its key (for the definition link) and its text."""

    key: str
    text: str
    value: float | None


@dataclass(frozen=True)
class Line:
    """A row of the team table: a name (with a link when it is an analyst) and its cells."""

    name: str
    link: str | None
    team: str
    tier: str
    cells: list[Cell]


def figure_text(key: str, value: float | None) -> str:
    """Return a headline figure as words: ``1.4 h``, ``20.3 min``, ``75%``, ``4``."""
    if value is None:
        return "-"
    unit = DEFINITION_OF[key].unit
    if unit == "%":
        return f"{value * 100:.0f}%" if value * 100 == round(value * 100) else f"{value * 100:.1f}%"
    if unit == "hours":
        return f"{value:.2f} h"
    if unit == "minutes":
        return f"{value:.1f} min"
    return f"{value:g}"


def cells(figures: AnalystFigures) -> list[Cell]:
    """Return the headline figures of *figures* as cells, in the pages' order."""
    values = {key: figures.value(key) for key in HEADLINE}
    return [Cell(key, figure_text(key, value), value) for key, value in values.items()]


def _week(raw: str, now: datetime) -> tuple[datetime, str | None]:
    """Return the Monday of the week the query asks for (default: this week), and a problem."""
    this_week = week_start(now)
    if not raw:
        return this_week, None
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        return this_week, f"{raw[:40]!r} is not a date like 2026-11-02; showing this week"
    return week_start(datetime.combine(day, time(), tzinfo=UTC)), None


def _settings(request: Request) -> MetricsSettings:
    return container_of(request).settings.metrics


def _span(settings: MetricsSettings) -> timedelta:
    return timedelta(seconds=settings.action_span_seconds)


# --- the lead's hub -----------------------------------------------------------------


@router.get("/insights")
def hub(
    request: Request,
    week: str = Query("", max_length=40),
    principal: Principal = Depends(require_permission(INSIGHT_VIEW)),
) -> Response:
    """Show the team table of a week, teams and tiers, outliers and weekly trends."""
    now = utcnow()
    start, problem = _week(week, now)
    settings = _settings(request)
    container = container_of(request)
    with read_only(container.sessions) as session:
        trend = analyst_metrics.weekly(
            session,
            start=start - timedelta(days=7 * (settings.weeks_shown - 1)),
            end=start + timedelta(days=7),
            now=now,
            action_span=_span(settings),
        )
    this = trend[-1]
    found = [
        o
        for key in HEADLINE
        for o in outliers(
            {f.name: f.value(key) for f in this.analysts}, key, factor=settings.outlier_factor
        )
    ]
    user = principal.user
    return private_page(
        request,
        "workbench/insights.html",
        {
            "week": start,
            "previous": (start - timedelta(days=7)).date().isoformat(),
            "next": (start + timedelta(days=7)).date().isoformat()
            if start + timedelta(days=7) <= now
            else None,
            "problem": problem,
            "headline": [DEFINITION_OF[key] for key in HEADLINE],
            "analysts": [_line(f, link=True) for f in this.analysts],
            "teams": [_line(f) for f in this.teams.values()],
            "tiers": [_line(f) for f in this.tiers.values()],
            "everyone": None if this.everyone is None else _line(this.everyone),
            "outliers": [_outlier_words(o) for o in found],
            "factor": settings.outlier_factor,
            "charts": _trend_charts(trend),
            "links": [(href, label) for href, label, permission in LINKS if user.may(permission)],
        },
    )


def _line(figures: AnalystFigures, *, link: bool = False) -> Line:
    return Line(
        figures.name,
        f"/insights/analysts/{figures.name}" if link else None,
        figures.team,
        figures.tier,
        cells(figures),
    )


def _outlier_words(outlier: Outlier) -> dict[str, str]:
    definition = DEFINITION_OF[outlier.key]
    better = (outlier.direction == "below") == (outlier.key in LOWER_IS_BETTER)
    return {
        "name": outlier.name,
        "key": outlier.key,
        "label": definition.label,
        "value": figure_text(outlier.key, outlier.value),
        "median": figure_text(outlier.key, outlier.median),
        "direction": outlier.direction,
        "reading": "better than most" if better else "worth a look",
    }


def _trend_charts(trend: list[TeamFigures]) -> list[Any]:
    """Return the weekly charts: utilisation and handling time per team, cases per analyst."""
    names = sorted({name for week in trend for name in week.teams})
    people = sorted({f.name for week in trend for f in week.analysts})
    utilisation = [
        Series(
            name,
            [
                (w.start, value)
                for w in trend
                if name in w.teams and (value := w.teams[name].utilisation) is not None
            ],
        )
        for name in names
    ]
    handling = [
        Series(
            name,
            [
                (w.start, w.teams[name].handling.total_seconds() / 3600)
                for w in trend
                if name in w.teams
            ],
        )
        for name in names
    ]
    handled = [
        Series(
            person,
            [
                (w.start, float(f.cases_handled))
                for w in trend
                for f in w.analysts
                if f.name == person
            ],
        )
        for person in people
    ]
    return [
        line_chart(utilisation, title="Utilisation per team, by week", percent=True),
        line_chart(handling, title="Handling time per team, by week", unit="h"),
        line_chart(handled, title="Cases handled per analyst, by week"),
    ]


# --- one analyst's figures ----------------------------------------------------------


@router.get("/insights/me")
def my_figures(
    request: Request,
    week: str = Query("", max_length=40),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Show the signed-in analyst's own figures against their team's median."""
    return _analyst_page(request, principal.user.username, week, own=True)


@router.get("/insights/analysts/{username}")
def analyst_page(
    request: Request,
    username: str = Path(min_length=1, max_length=64),
    week: str = Query("", max_length=40),
    principal: Principal = Depends(require_permission(INSIGHT_VIEW)),
) -> Response:
    """Show one analyst's figures against their team's median (a lead's view)."""
    return _analyst_page(request, username, week, own=principal.user.username == username)


def _analyst_page(request: Request, username: str, week: str, *, own: bool) -> Response:
    now = utcnow()
    start, problem = _week(week, now)
    settings = _settings(request)
    container = container_of(request)
    with read_only(container.sessions) as session:
        people = analyst_metrics.analysts(session, usernames=[username])
        if not people:
            raise NotFound(f"no analyst named {username!r}")
        person = people[0]
        team = [
            p.username
            for p in analyst_metrics.analysts(session)
            if person.team and p.team == person.team
        ] or [username]
        trend = analyst_metrics.weekly(
            session,
            start=start - timedelta(days=7 * (settings.weeks_shown - 1)),
            end=start + timedelta(days=7),
            now=now,
            action_span=_span(settings),
            usernames=sorted(set(team) | {username}),
        )
        status = analyst_activity.current_status(session, username)
    this = trend[-1]
    mine = next(f for f in this.analysts if f.name == username)
    others = [f for f in this.analysts if f.name in team]
    compared = [
        {
            "key": key,
            "label": DEFINITION_OF[key].label,
            "mine": figure_text(key, mine.value(key)),
            "median": figure_text(key, median(f.value(key) for f in others)),
        }
        for key in HEADLINE
    ]
    weekly_mine = [next(f for f in w.analysts if f.name == username) for w in trend]
    return private_page(
        request,
        "workbench/insights_analyst.html",
        {
            "person": person,
            "own": own,
            "status": status.replace("_", " "),
            "week": start,
            "path": "/insights/me" if own else f"/insights/analysts/{username}",
            "previous": (start - timedelta(days=7)).date().isoformat(),
            "next": (start + timedelta(days=7)).date().isoformat()
            if start + timedelta(days=7) <= now
            else None,
            "problem": problem,
            "team_size": len(others),
            "compared": compared,
            "decisions": sorted(mine.decisions.items()),
            "sla": mine.sla,
            "charts": [
                line_chart(
                    [
                        Series(
                            "utilisation",
                            [(f.start, u) for f in weekly_mine if (u := f.utilisation) is not None],
                        )
                    ],
                    title="Utilisation by week",
                    percent=True,
                ),
                bar_chart(
                    [(k, float(v)) for k, v in sorted(mine.decisions.items())],
                    title="Decisions this week by type",
                ),
            ],
        },
    )


# --- definitions --------------------------------------------------------------------


@router.get("/insights/definitions")
def definitions(
    request: Request,
    principal: Principal = Depends(require_permission(WEB_SIGN_IN)),
) -> Response:
    """Say what every figure means, how it is computed and where it comes from."""
    settings = _settings(request)
    return private_page(
        request,
        "workbench/insights_definitions.html",
        {
            "definitions": DEFINITIONS,
            "heartbeat": settings.heartbeat_seconds,
            "gap": settings.gap(),
            "span": settings.action_span_seconds,
            "factor": settings.outlier_factor,
        },
    )


# --- shifts -------------------------------------------------------------------------


@router.get("/insights/shifts")
def shifts_page(
    request: Request,
    done: str = Query("", max_length=20),
    principal: Principal = Depends(require_permission(WEB_SIGN_IN)),
) -> Response:
    """List recent shifts and breaks (one's own; everyone's with insight.view); record one's
    status, or (insight.write) anyone's."""
    return _shifts(request, principal.user, notice=DONE.get(done))


def _shifts(
    request: Request,
    user: User,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    everyone = user.may(INSIGHT_VIEW)
    container = container_of(request)
    with read_only(container.sessions) as session:
        rows: list[ShiftView] = analyst_activity.periods(
            session,
            start=now - timedelta(days=SHIFT_DAYS),
            end=now + timedelta(days=1),
            usernames=None if everyone else [user.username],
        )
        status = analyst_activity.current_status(session, user.username)
        names = (
            [p.username for p in analyst_metrics.analysts(session)]
            if user.may(INSIGHT_WRITE)
            else [user.username]
        )
    return private_page(
        request,
        "workbench/insights_shifts.html",
        {
            "periods": rows,
            "days": SHIFT_DAYS,
            "status": status,
            "statuses": STATUSES,
            "kinds": ShiftKind.ALL,
            "names": names,
            "may_write_others": user.may(INSIGHT_WRITE),
            "may_record": user.may(CASE_WORK),
            "everyone": everyone,
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


def _who(user: User, username: str) -> str:
    """Return whose shift a form changes: one's own, or (insight.write) anyone's."""
    name = username.strip() or user.username
    if name != user.username and not user.may(INSIGHT_WRITE):
        raise PermissionDenied(INSIGHT_WRITE)
    return name


async def _change(request: Request, user: User, step: Any, done: str) -> Response:
    container = container_of(request)

    def run() -> str | None:
        try:
            with unit_of_work(container.sessions) as session:
                step(session)
        except PermissionDenied:
            raise
        except AbuseDeskError as refused:
            return str(refused)
        return None

    problem = await run_in_threadpool(run)
    if problem is None:
        return RedirectResponse(f"/insights/shifts?done={done}", status_code=303)
    return await run_in_threadpool(_shifts, request, user, problem=problem, status_code=400)


@router.post("/insights/shifts/status")
async def record_status(
    request: Request,
    *,
    status: str = Form(max_length=20),
    username: str = Form("", max_length=64),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Set one's status (on shift, break, training, meeting, off), or a lead sets anyone's."""
    user = principal.user
    name = _who(user, username)

    def step(session: Session) -> None:
        analyst_activity.set_status(session, name, status, actor=user.username, now=utcnow())

    return await _change(request, user, step, "status")


@router.post("/insights/shifts/periods")
async def record_period(
    request: Request,
    *,
    kind: str = Form(max_length=20),
    starts_at: str = Form(max_length=40),
    ends_at: str = Form(max_length=40),
    username: str = Form("", max_length=64),
    note: str = Form("", max_length=MAX_NOTE),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Record a past period of availability (times in UTC)."""
    user = principal.user
    name = _who(user, username)

    def step(session: Session) -> None:
        start = _form_time(starts_at, "start")
        end = _form_time(ends_at, "end")
        analyst_activity.add_period(
            session, name, kind, start, end, actor=user.username, now=utcnow(), note=note
        )

    return await _change(request, user, step, "period")


def _form_time(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise analyst_activity.InvalidShift(
            f"the {what} {value[:40]!r} is not a date and time like 2026-11-02T08:00"
        ) from exc
    return as_utc(parsed)


# --- the focus heartbeat ------------------------------------------------------------


@router.post("/cases/{case_id}/activity")
async def heartbeat(
    request: Request,
    case_id: int = Path(ge=1, le=MAX_ID),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Record that the case page is visible and in focus; answer when to ping next."""
    settings = _settings(request)
    container = container_of(request)
    username = principal.user.username

    def run() -> bool:
        try:
            with unit_of_work(container.sessions) as session:
                analyst_activity.ping(
                    session,
                    username,
                    case_id,
                    now=utcnow(),
                    gap=timedelta(seconds=settings.gap()),
                )
        except NotFound:
            return False
        return True

    if not await run_in_threadpool(run):
        return JSONResponse({"error": f"there is no case {case_id}"}, status_code=404)
    response = JSONResponse({"recorded": True, "next_seconds": settings.heartbeat_seconds})
    response.headers["Cache-Control"] = "no-store"
    return response
