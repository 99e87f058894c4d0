"""The weekly leadership report: the list, one week's report, its PDF and Markdown, the summary.

``/reports/weekly`` lists the stored reports, newest first, and the recent weeks that
have none; a lead (``insight.write``) generates a week's report on demand there.
``/reports/weekly/{week}`` shows the report of the week starting that Monday (any date of
the week is taken to its Monday) as HTML with server-drawn charts, with the lead's
summary form; ``.pdf`` and ``.md`` download the same document. Reading needs
``insight.view``; generating and writing the summary need ``insight.write``, and both
are audited (``report:weekly:generate``, ``report:weekly:summary``).
"""

from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import INSIGHT_VIEW, INSIGHT_WRITE
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.documents.markdown import to_markdown
from abusedesk.documents.pdf import to_pdf
from abusedesk.insights.document import Document
from abusedesk.insights.trends import MAX_SUMMARY, InvalidWeek, parse_week, weekly_document
from abusedesk.insights.weeks import WEEK, week_start
from abusedesk.pipeline.weekly_reports import CATCH_UP_BATCHES, WeeklyReports
from abusedesk.storage import trends as store
from abusedesk.storage.db import read_only
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.errors import http_error_for
from abusedesk.web.ui.documents import document_html
from abusedesk.web.ui.rendering import private_page
from abusedesk.web.ui.steps import run_step

router = APIRouter(include_in_schema=False)

# Recent weeks the list offers to generate when they have no report.
RECENT_WEEKS: Final = 8
NOTICES: Final = {
    "generated": "The report was generated from the figures as they stand now.",
    "summary": "The summary was saved.",
}


def _week(text: str) -> datetime:
    return parse_week(text, now=utcnow())


def _reports(request: Request) -> WeeklyReports:
    container = container_of(request)
    return WeeklyReports(container.sessions, container.settings)


@router.get("/reports/weekly")
def weekly_reports_page(
    request: Request, principal: Principal = Depends(require_permission(INSIGHT_VIEW))
) -> Response:
    """List the stored weekly reports and the recent weeks without one."""
    return _list(request, principal)


def _list(
    request: Request, principal: Principal, *, problem: str | None = None, status: int = 200
) -> Response:
    now = utcnow()
    this_week = week_start(now)
    recent = [this_week - i * WEEK for i in range(1, RECENT_WEEKS + 1)]
    with read_only(container_of(request).sessions) as session:
        lines = store.report_lines(session)
        missing = store.weeks_without_report(session, recent)
        last, newest = store.rollup_state(session)
    return private_page(
        request,
        "workbench/reports_weekly.html",
        {
            "lines": lines,
            "missing": missing,
            "may_write": principal.user.may(INSIGHT_WRITE),
            "last_week": this_week - WEEK,
            "waiting": max(0, newest - last),
            "problem": problem,
        },
        status_code=status,
    )


@router.post("/reports/weekly/generate")
async def generate_weekly_report(
    request: Request,
    *,
    week: str = Form("", max_length=200),
    principal: Principal = Depends(require_permission(INSIGHT_WRITE)),
) -> Response:
    """Generate (or generate again) the report of the week holding the date *week*."""
    try:
        start = _week(week)
    except InvalidWeek as refused:
        said = str(refused)
        return await run_in_threadpool(lambda: _list(request, principal, problem=said, status=400))
    container = container_of(request)
    reports = _reports(request)
    now = utcnow()
    # The roll-up catches up in transactions of its own; the report is one more.
    await run_in_threadpool(lambda: reports.roll_up(now, batches=CATCH_UP_BATCHES, settle=False))

    def step(session: Session) -> store.WeeklyReportRecord:
        return store.generate(
            session, start, actor=principal.user.username, now=now, options=reports.options
        )

    result = await run_step(container.sessions, step)
    if isinstance(result, AbuseDeskError):
        return await run_in_threadpool(
            lambda: _list(request, principal, problem=str(result), status=409)
        )
    return RedirectResponse(f"/reports/weekly/{start:%Y-%m-%d}?done=generated", status_code=303)


def _document(request: Request, week: str) -> tuple[store.WeeklyReportRecord, Document]:
    start = _week(week)
    with read_only(container_of(request).sessions) as session:
        record = store.report_of(session, start)
    if record.figures is None:
        raise NotFound(
            f"the report of the week of {start:%Y-%m-%d} was stored in an older shape: "
            "generate it again"
        )
    doc = weekly_document(record.figures, summary=record.summary, generated_at=record.generated_at)
    return record, doc


def _download(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


def _refused(request: Request, principal: Principal, error: AbuseDeskError) -> Response:
    """Answer a week that cannot be read (400) or has no report (404) on the list page."""
    mapped = http_error_for(error)
    status = 400 if isinstance(error, InvalidWeek) else (mapped.status if mapped else 409)
    return _list(request, principal, problem=str(error), status=status)


def _file(
    request: Request, principal: Principal, week: str, kind: str, media_type: str
) -> Response:
    """Answer the week's report as a download of *kind* (``pdf`` or ``md``)."""
    try:
        record, doc = _document(request, week)
    except (InvalidWeek, NotFound) as error:
        return _refused(request, principal, error)
    content = to_pdf(doc) if kind == "pdf" else to_markdown(doc).encode("utf-8")
    return Response(
        content=content,
        media_type=media_type,
        headers=_download(f"weekly-report-{record.week_start:%Y-%m-%d}.{kind}"),
    )


@router.get("/reports/weekly/{week}.pdf")
def weekly_report_pdf(
    request: Request,
    week: str,
    principal: Principal = Depends(require_permission(INSIGHT_VIEW)),
) -> Response:
    """Download the week's report as PDF."""
    return _file(request, principal, week, "pdf", "application/pdf")


@router.get("/reports/weekly/{week}.md")
def weekly_report_markdown(
    request: Request,
    week: str,
    principal: Principal = Depends(require_permission(INSIGHT_VIEW)),
) -> Response:
    """Download the week's report as Markdown."""
    return _file(request, principal, week, "md", "text/markdown; charset=utf-8")


@router.get("/reports/weekly/{week}")
def weekly_report_page(
    request: Request,
    week: str,
    done: str = Query(""),
    principal: Principal = Depends(require_permission(INSIGHT_VIEW)),
) -> Response:
    """Show the week's report with its charts, and the summary form to those who write it."""
    return _show(request, principal, week, notice=NOTICES.get(done))


def _show(
    request: Request,
    principal: Principal,
    week: str,
    *,
    notice: str | None = None,
    problem: str | None = None,
    draft: str | None = None,
    status: int = 200,
) -> Response:
    try:
        record, doc = _document(request, week)
    except (InvalidWeek, NotFound) as error:
        return _refused(request, principal, error)
    context: dict[str, Any] = {
        "record": record,
        "document": document_html(doc),
        "week": f"{record.week_start:%Y-%m-%d}",
        "may_write": principal.user.may(INSIGHT_WRITE),
        "summary": record.summary.text if draft is None else draft,
        "max_summary": MAX_SUMMARY,
        "notice": notice,
        "problem": problem,
    }
    return private_page(request, "workbench/report_weekly.html", context, status_code=status)


@router.post("/reports/weekly/{week}/summary")
async def save_weekly_summary(
    request: Request,
    week: str,
    *,
    summary: str = Form("", max_length=MAX_SUMMARY * 2),
    principal: Principal = Depends(require_permission(INSIGHT_WRITE)),
) -> Response:
    """Save the lead's written summary of the week."""
    try:
        start = _week(week)
    except InvalidWeek as refused:
        error = refused
        return await run_in_threadpool(lambda: _refused(request, principal, error))
    now = utcnow()

    def step(session: Session) -> store.WeeklyReportRecord:
        return store.set_summary(session, start, summary, actor=principal.user.username, now=now)

    result = await run_step(container_of(request).sessions, step)
    if isinstance(result, AbuseDeskError):
        mapped = http_error_for(result)
        status = mapped.status if mapped and mapped.status < 500 else 400
        return await run_in_threadpool(
            lambda: _show(
                request,
                principal,
                week,
                problem=str(result),
                draft=summary[: MAX_SUMMARY * 2],
                status=status,
            )
        )
    return RedirectResponse(f"/reports/weekly/{start:%Y-%m-%d}?done=summary", status_code=303)
