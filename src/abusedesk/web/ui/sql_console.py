"""``/sql``: the read-only SQL console over the analytics views, saved queries, CSV.

A query runs on a connection of its own that can only read the analytics views
(``storage/sql_console.py``), within the row and time limits of the server's settings,
whatever the browser sends. Every query is audited, refused ones too; the page lists the
user's recent queries from the audit log. Saved queries are shared by the team: their
author or a lead changes or deletes them.
"""

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import INSIGHT_WRITE, SQL_QUERY
from abusedesk.config import AnalyticsSettings
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.storage import saved_queries as saved
from abusedesk.storage import sql_console as console
from abusedesk.storage.analytics import VIEWS
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**63 - 1
# Form fields are cut off well above any setting, so that a huge post is refused unread.
MAX_FORM_SQL: Final = 1_000_000
DONE: Final = {
    "saved": "The query is saved for the team.",
    "changed": "The saved query is changed.",
    "deleted": "The saved query is deleted.",
}
# Cells that a spreadsheet would take for a formula start with one of these: such cells
# are written with a leading apostrophe in CSV downloads.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def _limits(settings: AnalyticsSettings, *, csv_download: bool = False) -> console.ConsoleLimits:
    return console.ConsoleLimits(
        row_limit=settings.csv_row_limit if csv_download else settings.row_limit,
        time_limit_seconds=settings.time_limit_seconds,
        max_query_chars=settings.max_query_chars,
    )


def _console(request: Request) -> console.Console:
    settings = container_of(request).settings
    analytics = settings.analytics
    return console.console_for(
        settings.database.url,
        role=analytics.role,
        password=analytics.password.get_secret_value() if analytics.password else None,
        url=analytics.url.get_secret_value() if analytics.url else None,
    )


@router.get("/sql")
def sql_page(
    request: Request,
    *,
    saved_id: int | None = Query(None, alias="saved", ge=1, le=MAX_ID),
    done: str = Query("", max_length=20),
    principal: Principal = Depends(require_permission(SQL_QUERY)),
) -> Response:
    """Show the console: the editor, the views and their columns, saved queries, history."""
    sql = ""
    problem = None
    status = 200
    chosen = None
    if saved_id is not None:
        try:
            with read_only(container_of(request).sessions) as session:
                chosen = saved.saved_query(session, saved_id)
            sql = chosen.sql
        except NotFound as missing:
            problem, status = str(missing), 404
    return _page(
        request,
        principal,
        sql=sql,
        chosen=chosen,
        notice=DONE.get(done),
        problem=problem,
        status=status,
    )


def _page(
    request: Request,
    principal: Principal,
    *,
    sql: str = "",
    chosen: saved.SavedQueryLine | None = None,
    result: console.QueryResult | None = None,
    notice: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    user = principal.user
    settings = container_of(request).settings.analytics
    with read_only(container_of(request).sessions) as session:
        queries = saved.saved_queries(session)
        recent = console.history(session, user.username)
    return private_page(
        request,
        "workbench/sql.html",
        {
            "sql": sql,
            "chosen": chosen,
            "result": result,
            "cells": [[_shown(value) for value in row] for row in result.rows] if result else [],
            "views": VIEWS,
            "saved": queries,
            "history": recent,
            "limits": settings,
            "may_change": {
                q.id for q in queries if q.author == user.username or user.may(INSIGHT_WRITE)
            },
            "notice": notice,
            "problem": problem,
        },
        status_code=status,
    )


def _shown(value: Any) -> str:
    """Return a cell as text: times in ISO form, empty for NULL."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, Decimal | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return str(value)


def _run(
    request: Request, principal: Principal, sql: str, limits: console.ConsoleLimits, purpose: str
) -> console.QueryResult | console.ConsoleProblem:
    """Run *sql* in the console and audit it, whatever became of it."""
    container = container_of(request)
    runner = _console(request)
    outcome: console.QueryResult | console.ConsoleProblem
    try:
        outcome = runner.run(sql, limits)
    except console.ConsoleProblem as problem:
        outcome = problem
    with unit_of_work(container.sessions) as session:
        console.record_run(
            session,
            actor=principal.user.username,
            sql=sql,
            outcome=outcome.outcome,
            rows=len(outcome.rows) if isinstance(outcome, console.QueryResult) else 0,
            duration_ms=outcome.duration_ms if isinstance(outcome, console.QueryResult) else 0,
            at=utcnow(),
            purpose=purpose,
            problem=str(outcome) if isinstance(outcome, console.ConsoleProblem) else None,
        )
    return outcome


@router.post("/sql/run")
async def run_query(
    request: Request,
    *,
    sql: str = Form("", max_length=MAX_FORM_SQL),
    principal: Principal = Depends(require_permission(SQL_QUERY)),
) -> Response:
    """Run a query and show its rows (at most the row limit), or why it did not run."""
    limits = _limits(container_of(request).settings.analytics)
    outcome = await run_in_threadpool(_run, request, principal, sql, limits, "page")
    if isinstance(outcome, console.ConsoleProblem):
        return await run_in_threadpool(
            lambda: _page(request, principal, sql=sql, problem=str(outcome), status=400)
        )
    return await run_in_threadpool(lambda: _page(request, principal, sql=sql, result=outcome))


@router.post("/sql/csv")
async def download_csv(
    request: Request,
    *,
    sql: str = Form("", max_length=MAX_FORM_SQL),
    principal: Principal = Depends(require_permission(SQL_QUERY)),
) -> Response:
    """Run a query and download its rows as CSV (at most the CSV row limit)."""
    limits = _limits(container_of(request).settings.analytics, csv_download=True)
    outcome = await run_in_threadpool(_run, request, principal, sql, limits, "csv")
    if isinstance(outcome, console.ConsoleProblem):
        return await run_in_threadpool(
            lambda: _page(request, principal, sql=sql, problem=str(outcome), status=400)
        )
    body = to_csv(outcome)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "Content-Disposition": f'attachment; filename="abusedesk-query-{stamp}.csv"',
        "Cache-Control": "no-store",
        "X-Abusedesk-Truncated": "yes" if outcome.truncated else "no",
    }
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


def to_csv(result: console.QueryResult) -> str:
    """Return *result* as CSV: a header row, then the rows; formula-like text defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_csv_cell(value) for value in row])
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return _shown(value)


async def _change(
    request: Request, principal: Principal, sql: str, step: Any, done: str
) -> Response:
    container = container_of(request)

    def apply() -> str | None:
        try:
            with unit_of_work(container.sessions) as session:
                step(session)
        except AbuseDeskError as problem:
            return str(problem)
        return None

    problem = await run_in_threadpool(apply)
    if problem is None:
        return RedirectResponse(f"/sql?done={done}", status_code=303)
    return await run_in_threadpool(
        lambda: _page(request, principal, sql=sql, problem=problem, status=409)
    )


@router.post("/sql/saved")
async def save_query(
    request: Request,
    *,
    name: str = Form("", max_length=saved.MAX_NAME * 2),
    description: str = Form("", max_length=saved.MAX_DESCRIPTION * 2),
    sql: str = Form("", max_length=MAX_FORM_SQL),
    principal: Principal = Depends(require_permission(SQL_QUERY)),
) -> Response:
    """Save the query in the editor for the team."""
    return await _change(
        request,
        principal,
        sql,
        lambda session: saved.create_saved_query(
            session,
            name=name,
            description=description,
            sql=sql,
            actor=principal.user.username,
            now=utcnow(),
        ),
        "saved",
    )


@router.post("/sql/saved/{query_id}")
async def change_query(
    request: Request,
    *,
    query_id: int = Path(ge=1, le=MAX_ID),
    name: str = Form("", max_length=saved.MAX_NAME * 2),
    description: str = Form("", max_length=saved.MAX_DESCRIPTION * 2),
    sql: str = Form("", max_length=MAX_FORM_SQL),
    principal: Principal = Depends(require_permission(SQL_QUERY)),
) -> Response:
    """Change a saved query (its author, or a lead)."""
    user = principal.user
    return await _change(
        request,
        principal,
        sql,
        lambda session: saved.update_saved_query(
            session,
            query_id,
            name=name,
            description=description,
            sql=sql,
            actor=user.username,
            lead=user.may(INSIGHT_WRITE),
            now=utcnow(),
        ),
        "changed",
    )


@router.post("/sql/saved/{query_id}/delete")
async def delete_query(
    request: Request,
    *,
    query_id: int = Path(ge=1, le=MAX_ID),
    principal: Principal = Depends(require_permission(SQL_QUERY)),
) -> Response:
    """Delete a saved query (its author, or a lead)."""
    user = principal.user
    return await _change(
        request,
        principal,
        "",
        lambda session: saved.delete_saved_query(
            session, query_id, actor=user.username, lead=user.may(INSIGHT_WRITE), now=utcnow()
        ),
        "deleted",
    )
