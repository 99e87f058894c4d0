"""``/api/v1/inventory``: the provider's change feed upserts inventory rows; read one account.

``PUT /api/v1/inventory/{table}`` takes a JSON list of rows shaped like the import files'
rows (see docs/inventory.md) and upserts them in one transaction. The answer names what
became of each row by its position (counting from 1): ``200`` with the counts and the
row errors when at least one row was taken, ``422`` with the row errors when none was.
"""

import json
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from abusedesk.bootstrap import Container
from abusedesk.inventory.errors import RowRejected
from abusedesk.inventory.model import NumberedRecord, RowError, Table, dashed, table_named
from abusedesk.inventory.rows import parse_row
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.inventory_store import (
    RowResult,
    UpsertOutcome,
    account_inventory,
    upsert_records,
)
from abusedesk.storage.tokens import TokenInfo
from abusedesk.web import container_of
from abusedesk.web.api.root import PREFIX
from abusedesk.web.auth import require_token
from abusedesk.web.errors import error_response

log = structlog.get_logger(__name__)

router = APIRouter(prefix=f"{PREFIX}/inventory", tags=["inventory"])

READ_SCOPE = "inventory:read"
WRITE_SCOPE = "inventory:write"
TABLES = [dashed(t) for t in Table.ALL]


class _BodyTooLarge(Exception):
    """The request body passed the configured byte limit."""


@router.put(
    "/{table}",
    summary="Upsert inventory rows",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {"type": "object"},
                        "description": "rows shaped like the import rows of the table "
                        "(docs/inventory.md)",
                    }
                }
            },
        }
    },
)
async def put_rows(
    request: Request,
    table: str = Path(description=f"one of {', '.join(TABLES)}"),
    token: TokenInfo = Depends(require_token(WRITE_SCOPE)),
    container: Container = Depends(container_of),
) -> Response:
    """Upsert the rows by their natural keys; answer each row's result and the row errors."""
    canonical = table_named(table)
    if canonical is None:
        return error_response(
            request, 404, "not_found", f"no inventory table {table!r}; use one of {TABLES}"
        )
    limits = container.settings.inventory
    try:
        body = await _read_body(request, limits.api_max_bytes)
    except _BodyTooLarge:
        return error_response(
            request, 413, "too_large", f"the body exceeds {limits.api_max_bytes:,} bytes"
        )
    rows = await run_in_threadpool(_rows_of, body)
    if isinstance(rows, str):
        return error_response(request, 400, "invalid_json", rows)
    if len(rows) > limits.api_max_rows:
        return error_response(
            request,
            413,
            "too_large",
            f"{len(rows):,} rows; send at most {limits.api_max_rows:,} rows per request",
        )
    outcome = await run_in_threadpool(_upsert, container, canonical, rows)
    counts = outcome.counts()
    log.info("inventory_upserted", table=canonical, token=token.display_prefix, **counts)
    answer: dict[str, Any] = {
        "table": dashed(canonical),
        **counts,
        "results": [
            {"line": line, "result": result} for line, result in sorted(outcome.results.items())
        ],
        "errors": [error.as_dict() for error in sorted(outcome.errors, key=lambda e: e.line)],
    }
    if counts[RowResult.REJECTED] == len(rows):
        answer = {"error": "rejected", "detail": "every row was rejected", **answer}
        return JSONResponse(answer, status_code=422)
    return JSONResponse(answer)


@router.get(
    "/accounts/{external_id}",
    summary="An account with its resources and IPs",
    dependencies=[Depends(require_token(READ_SCOPE))],
)
def get_account(
    external_id: str = Path(max_length=64),
    container: Container = Depends(container_of),
) -> dict[str, Any]:
    """Show an account as the inventory holds it, with its resources, pools and IP allocations."""
    with read_only(container.sessions) as session:
        found = account_inventory(session, external_id)
    return {
        "account": {**found.account.as_row(), "standing": found.standing},
        "resources": [resource.as_row() for resource in found.resources],
        "pools": [pool.as_row() for pool in found.pools],
        "ip_allocations": [allocation.as_row() for allocation in found.allocations],
    }


async def _read_body(request: Request, limit: int) -> bytes:
    """Return the body, having held no more than *limit* + 1 bytes of it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    body = bytearray()
    async for piece in request.stream():
        if len(body) + len(piece) > limit:
            raise _BodyTooLarge
        body += piece
    return bytes(body)


def _rows_of(body: bytes) -> list[Any] | str:
    """Return the body's list of rows, or say why it is not one."""
    try:
        document = json.loads(body)
    except RecursionError:
        return "the JSON body is nested too deeply"
    except ValueError:
        return "the body is not valid JSON"
    if not isinstance(document, list):
        return "send a JSON list of rows"
    if not document:
        return "the list of rows is empty"
    return document


def _upsert(container: Container, table: str, rows: list[Any]) -> UpsertOutcome:
    """Validate every row, then write the good ones in one transaction."""
    rejected: list[RowError] = []
    records: list[NumberedRecord] = []
    for line, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            rejected.append(RowError(line, "", "each row must be a JSON object"))
            continue
        try:
            records.append(NumberedRecord(line, parse_row(table, line, row)))
        except RowRejected as exc:
            rejected.extend(exc.errors)
    with unit_of_work(container.sessions) as session:
        outcome = upsert_records(session, table, records)
    for error in rejected:
        outcome.reject(error)
    return outcome
