"""When a reporter's reports stop parsing: the success-rate drop rule, as plain decisions.

A reporter that changes its format usually does so overnight: its reports that parsed
yesterday fail or go unrecognised today. The rule compares, per reporter and format, the
share of reports read successfully in a recent window with the share in a baseline
window before it, and calls a fall beyond a set amount a drop. Minimum counts in both
windows keep small reporters, whose shares swing with every report, from raising alarms.

Outcomes, as parser health names them:

- read: ``parsed`` (events), ``partial`` (events and warnings), ``recognised`` (no events,
  but the parser says what the report is, e.g. an SES delivery), ``empty`` (no events);
- not read: ``failed`` (a parser claimed the report and could not read it), ``unknown``
  (no parser recognised it);
- neither (left out of the shares): ``stage_failed`` (a later stage failed) and
  ``pending``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

READ_OUTCOMES = ("parsed", "partial", "recognised", "empty")
UNREAD_OUTCOMES = ("failed", "unknown")
# A reporter's formats taken together: a reporter whose reports move from one format to
# unrecognised drops here even though no single format's share fell.
ALL_FORMATS = "*"
SIGNAL_KIND = "parser_success_drop"
SIGNAL_SUBJECT = "parser_health"


@dataclass(frozen=True)
class DropRule:
    """How a drop is told: the two windows, the minimum counts and the fall that matters."""

    recent: timedelta = timedelta(hours=6)
    baseline: timedelta = timedelta(days=7)
    # Reports with a parse outcome needed in each window before shares are compared.
    min_recent: int = 20
    min_baseline: int = 50
    # The fall in the share of reports read, in points of a share (0.25 is 25 points).
    min_drop: float = 0.25

    def __post_init__(self) -> None:
        """Refuse rules that could never or would always fire."""
        if self.recent <= timedelta(0) or self.baseline <= timedelta(0):
            raise ValueError("both windows must be longer than nothing")
        if self.min_recent < 1 or self.min_baseline < 1:
            raise ValueError("the minimum counts must be at least 1")
        if not 0 < self.min_drop <= 1:
            raise ValueError("the drop must be a share between 0 (excluded) and 1")


@dataclass(frozen=True)
class WindowTally:
    """Reports of one reporter and format read and not read, in the recent and baseline windows."""

    reporter: str
    report_format: str
    recent_read: int
    recent_unread: int
    baseline_read: int
    baseline_unread: int

    @property
    def recent_total(self) -> int:
        """Return the reports with a parse outcome in the recent window."""
        return self.recent_read + self.recent_unread

    @property
    def baseline_total(self) -> int:
        """Return the reports with a parse outcome in the baseline window."""
        return self.baseline_read + self.baseline_unread


@dataclass(frozen=True)
class SuccessDrop:
    """A reporter and format whose share of reports read fell beyond the rule's amount."""

    tally: WindowTally
    recent_rate: float
    baseline_rate: float

    @property
    def drop(self) -> float:
        """Return the fall in the share of reports read, in points of a share."""
        return self.baseline_rate - self.recent_rate

    @property
    def subject_id(self) -> str:
        """Return the signal subject: the reporter and format."""
        return f"{self.tally.reporter}|{self.tally.report_format}"

    def figures(self, rule: DropRule) -> dict[str, Any]:
        """Return the figures an analyst needs to judge the drop, for the signal."""
        tally = self.tally
        return {
            "reporter": tally.reporter,
            "format": tally.report_format,
            "recent_hours": rule.recent.total_seconds() / 3600,
            "baseline_hours": rule.baseline.total_seconds() / 3600,
            "recent_read": tally.recent_read,
            "recent_reports": tally.recent_total,
            "recent_rate": round(self.recent_rate, 4),
            "baseline_read": tally.baseline_read,
            "baseline_reports": tally.baseline_total,
            "baseline_rate": round(self.baseline_rate, 4),
            "drop": round(self.drop, 4),
            "min_drop": rule.min_drop,
        }

    def reason(self) -> str:
        """Return the drop in one sentence an analyst reads."""
        tally = self.tally
        formats = "all formats" if tally.report_format == ALL_FORMATS else tally.report_format
        return (
            f"{tally.reporter} ({formats}): {self.recent_rate:.0%} of {tally.recent_total} "
            f"recent reports read, against {self.baseline_rate:.0%} of {tally.baseline_total} "
            "before; the reporter may have changed its format"
        )


def success_drops(tallies: Iterable[WindowTally], rule: DropRule) -> list[SuccessDrop]:
    """Return the drops among *tallies*, largest first.

    A reporter's all-formats row is left out when one of its own formats dropped: that
    format's drop already says it, and one change should raise one signal.
    """
    drops = [drop for tally in tallies if (drop := _drop(tally, rule)) is not None]
    by_format = {d.tally.reporter for d in drops if d.tally.report_format != ALL_FORMATS}
    kept = [
        d
        for d in drops
        if d.tally.report_format != ALL_FORMATS or d.tally.reporter not in by_format
    ]
    return sorted(kept, key=lambda d: (-d.drop, d.tally.reporter, d.tally.report_format))


def with_all_formats(tallies: Iterable[WindowTally]) -> list[WindowTally]:
    """Return *tallies* plus one row per reporter adding up all its formats."""
    rows = list(tallies)
    totals: dict[str, list[int]] = {}
    for row in rows:
        if row.report_format == ALL_FORMATS:
            continue
        total = totals.setdefault(row.reporter, [0, 0, 0, 0])
        total[0] += row.recent_read
        total[1] += row.recent_unread
        total[2] += row.baseline_read
        total[3] += row.baseline_unread
    return rows + [
        WindowTally(reporter, ALL_FORMATS, *counts) for reporter, counts in sorted(totals.items())
    ]


def _drop(tally: WindowTally, rule: DropRule) -> SuccessDrop | None:
    if tally.recent_total < rule.min_recent or tally.baseline_total < rule.min_baseline:
        return None
    recent_rate = tally.recent_read / tally.recent_total
    baseline_rate = tally.baseline_read / tally.baseline_total
    # Compared in whole reports per million, so that float rounding never decides.
    if round((baseline_rate - recent_rate) * 1_000_000) < round(rule.min_drop * 1_000_000):
        return None
    return SuccessDrop(tally, recent_rate, baseline_rate)
