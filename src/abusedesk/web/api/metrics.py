"""``GET /metrics``: report counts and parser health in the Prometheus text format.

Every metric is a gauge (a count as it is now, which may go down), so none ends in
``_total``, which Prometheus keeps for counters:

- ``abusedesk_reports{status}``: reports stored, by pipeline status, every status listed;
- ``abusedesk_unknown_format_inbox``: reports no parser recognised, waiting for one;
- ``abusedesk_unattributed_inbox``: events no account was found for, waiting for an analyst;
- ``abusedesk_parser_reports{reporter,format,outcome,window}``: reports received within
  the window, by parse outcome (see ``storage/parser_health.py``);
- ``abusedesk_parser_success_drops_open``: open signals saying a reporter's reports
  stopped parsing.
"""

from collections.abc import Iterable, Mapping

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.parsing.health import SIGNAL_KIND, SIGNAL_SUBJECT
from abusedesk.storage.db import read_only
from abusedesk.storage.parser_health import (
    DEFAULT_WINDOWS,
    OUTCOMES,
    OutcomeCount,
    count_outcomes,
)
from abusedesk.storage.reports import REPORT_STATUSES, ReportStatus
from abusedesk.storage.signals import open_signals
from abusedesk.storage.unattributed import inbox_size
from abusedesk.web import container_of
from abusedesk.web.auth import require_token

router = APIRouter(tags=["metrics"])

SCOPE = "metrics:read"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = REPORT_STATUSES
# Figures are only true when they are made; no cache may keep them.
NO_STORE = {"Cache-Control": "no-store"}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    # A scrape target, not part of the JSON API: it stays out of the API description.
    include_in_schema=False,
    dependencies=[Depends(require_token(SCOPE))],
)
def metrics(container: Container = Depends(container_of)) -> PlainTextResponse:
    """Answer report counts by status and parser outcomes per reporter, format and window."""
    with read_only(container.sessions) as session:
        statuses = container.reports.count_by_status(session)
        outcomes = count_outcomes(session, now=utcnow(), windows=DEFAULT_WINDOWS)
        drops = [
            signal
            for signal in open_signals(session, subject_type=SIGNAL_SUBJECT)
            if signal.kind == SIGNAL_KIND
        ]
        unattributed = inbox_size(session)
    text = exposition(
        statuses,
        outcomes,
        windows=list(DEFAULT_WINDOWS),
        open_drops=len(drops),
        unattributed_inbox=unattributed,
    )
    return PlainTextResponse(text, media_type=CONTENT_TYPE, headers=NO_STORE)


def exposition(
    statuses: Mapping[str, int],
    outcomes: Iterable[OutcomeCount],
    *,
    windows: list[str],
    open_drops: int = 0,
    unattributed_inbox: int = 0,
) -> str:
    """Return the metrics as Prometheus text; every reporter and format lists every outcome."""
    lines = [
        "# HELP abusedesk_reports Reports stored, by pipeline status.",
        "# TYPE abusedesk_reports gauge",
    ]
    # Zeros are written too, so that a status never vanishes when it empties.
    every_status = dict.fromkeys(STATUSES, 0) | dict(statuses)
    for status, count in sorted(every_status.items()):
        lines.append(f"abusedesk_reports{_labels(status=status)} {count}")
    lines += [
        "# HELP abusedesk_unknown_format_inbox Reports no parser recognised, waiting for one.",
        "# TYPE abusedesk_unknown_format_inbox gauge",
        f"abusedesk_unknown_format_inbox {every_status[ReportStatus.UNKNOWN]}",
        "# HELP abusedesk_unattributed_inbox Events no account was found for, waiting"
        " for an analyst.",
        "# TYPE abusedesk_unattributed_inbox gauge",
        f"abusedesk_unattributed_inbox {unattributed_inbox}",
        "# HELP abusedesk_parser_success_drops_open Open signals of a reporter whose"
        " reports stopped parsing.",
        "# TYPE abusedesk_parser_success_drops_open gauge",
        f"abusedesk_parser_success_drops_open {open_drops}",
    ]
    counts: dict[tuple[str, str, str, str], int] = {}
    pairs: set[tuple[str, str]] = set()
    for item in outcomes:
        counts[(item.reporter, item.report_format, item.outcome, item.window)] = item.reports
        pairs.add((item.reporter, item.report_format))
    lines += [
        "# HELP abusedesk_parser_reports Reports received within a window,"
        " by reporter, format and parse outcome.",
        "# TYPE abusedesk_parser_reports gauge",
    ]
    # Zeros are written too, so that a series never vanishes when a count drops to nothing.
    known = list(OUTCOMES) + sorted({key[2] for key in counts} - set(OUTCOMES))
    for reporter, report_format in sorted(pairs):
        for outcome in known:
            for window in windows:
                value = counts.get((reporter, report_format, outcome, window), 0)
                labels = _labels(
                    reporter=reporter, format=report_format, outcome=outcome, window=window
                )
                lines.append(f"abusedesk_parser_reports{labels} {value}")
    return "\n".join(lines) + "\n"


def escape_label_value(value: str) -> str:
    """Escape a label value as the exposition format asks: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    inner = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in labels.items())
    return "{" + inner + "}"
