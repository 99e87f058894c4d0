"""The voice of the customer page: appeal reasons and customer replies grouped into themes.

``/insights/voice`` (insight.view) shows, for the weeks asked (``weeks``, ending with the
week holding ``until``, a date; ``source`` narrows to appeals or replies): a chart of
each theme over the weeks, the totals by theme and source, example quotes per theme
(newest first, cut short, escaped) linking to their cases, and what each theme's
keywords are. Counting is `storage.voice`; the themes are `insights.voice` or settings.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from abusedesk.access.model import INSIGHT_VIEW
from abusedesk.core.clock import utcnow
from abusedesk.insights.voice import (
    APPEAL,
    OTHER,
    REPLY,
    SOURCE_WORDS,
    Quote,
    Theme,
    ThemeCount,
    theme_labels,
    totals_by_theme,
    weekly_series,
)
from abusedesk.insights.weeks import week_start, weeks_between
from abusedesk.storage import voice as store
from abusedesk.storage.db import read_only
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.charts import Series, bar_chart, line_chart
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_WEEKS: Final = 104
WEEK_CHOICES: Final = (4, 8, 12, 26, 52)
SOURCE_CHOICES: Final = ("", APPEAL, REPLY)
EARLIEST: Final = date(2000, 1, 3)
CHART_LINES: Final = 6


@dataclass(frozen=True)
class ThemeLine:
    """One theme's row on the page: totals by source and its example quotes."""

    key: str
    label: str
    keywords: tuple[str, ...]
    appeals: int
    replies: int
    quotes: tuple[Quote, ...]

    @property
    def total(self) -> int:
        """Return appeals and replies together."""
        return self.appeals + self.replies


@dataclass(frozen=True)
class Window:
    """The weeks the page counts, as asked or as defaulted, and what was wrong with the ask."""

    weeks: int
    until: date
    source: str
    problems: tuple[str, ...]

    @property
    def start(self) -> datetime:
        """Return the Monday that starts the first week shown."""
        return self.end - timedelta(days=7 * self.weeks)

    @property
    def end(self) -> datetime:
        """Return the Monday after the week holding *until* (the window's open end)."""
        return week_start(datetime.combine(self.until, time(), tzinfo=UTC)) + timedelta(days=7)


def read_window(weeks: str, until: str, source: str, *, default_weeks: int, today: date) -> Window:
    """Read the query string; a value that cannot be used gives the default and a sentence."""
    problems = []
    count = default_weeks
    if weeks.strip():
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        if re.fullmatch(r"[0-9]{1,4}", weeks.strip()) and 1 <= int(weeks.strip()) <= MAX_WEEKS:
            count = int(weeks.strip())
        else:
            problems.append(f"Weeks must be a whole number from 1 to {MAX_WEEKS}.")
    day = today
    if until.strip():
        try:
            day = date.fromisoformat(until.strip())
        except ValueError:
            problems.append("Give the last day as a date, like 2026-11-30.")
        else:
            if not EARLIEST <= day <= today:
                problems.append(f"The last day must lie between {EARLIEST} and today.")
                day = today
    if source not in SOURCE_CHOICES:
        problems.append("Choose appeals, replies or both.")
        source = ""
    return Window(count, day, source, tuple(problems))


@router.get("/insights/voice")
def voice_page(
    request: Request,
    *,
    weeks: str = Query("", max_length=10),
    until: str = Query("", max_length=20),
    source: str = Query("", max_length=10),
    principal: Principal = Depends(require_permission(INSIGHT_VIEW)),
) -> Response:
    """Show the themes of appeals and replies over the weeks asked, with example quotes."""
    container = container_of(request)
    settings = container.settings.voice
    themes = settings.theme_list()
    window = read_window(weeks, until, source, default_weeks=settings.weeks, today=utcnow().date())
    with read_only(container.sessions) as session:
        counts = store.theme_counts(session, start=window.start, end=window.end, themes=themes)
        examples = store.quotes(
            session,
            start=window.start,
            end=window.end,
            themes=themes,
            per_theme=settings.quotes_per_theme,
            width=settings.quote_chars,
        )
    context = _context(counts, examples, themes, window)
    return private_page(
        request,
        "workbench/voice.html",
        {"principal": principal, **context},
        status_code=400 if window.problems else 200,
    )


def _context(
    counts: list[ThemeCount],
    examples: dict[str, list[Quote]],
    themes: tuple[Theme, ...],
    window: Window,
) -> dict[str, Any]:
    weeks = weeks_between(window.start, window.end)
    shown = [c for c in counts if not window.source or c.source == window.source]
    appeals = totals_by_theme(counts, APPEAL)
    replies = totals_by_theme(counts, REPLY)
    labels = theme_labels(themes)
    keywords = {theme.key: theme.keywords for theme in themes} | {OTHER: ()}
    lines = [
        ThemeLine(
            key=key,
            label=labels[key],
            keywords=keywords[key],
            appeals=appeals.get(key, 0) if window.source != REPLY else 0,
            replies=replies.get(key, 0) if window.source != APPEAL else 0,
            quotes=tuple(
                quote
                for quote in examples.get(key, [])
                if not window.source or quote.source == window.source
            ),
        )
        for key in [theme.key for theme in themes] + [OTHER]
    ]
    # The chart has six colours: it draws the six most frequent themes, largest first.
    series = sorted(
        weekly_series(shown, themes, weeks),
        key=lambda line: -sum(value for _, value in line.points),
    )[:CHART_LINES]
    words = SOURCE_WORDS.get(window.source, "Appeals and replies")
    chart = line_chart(
        [Series(line.name, line.points) for line in series],
        title=f"{words} by theme and week",
    )
    bars = bar_chart(
        [(line.label, float(line.total)) for line in lines if line.total],
        title=f"{words} by theme, {len(weeks)} week(s)",
    )
    return {
        "window": window,
        "last_day": (window.end - timedelta(days=1)).date(),
        "weeks_shown": weeks,
        "lines": lines,
        "chart": chart,
        "bars": bars,
        "legend": [line.name for line in series],
        "words": words,
        "week_choices": sorted({*WEEK_CHOICES, window.weeks}),
        "source_words": SOURCE_WORDS,
        "problem": " ".join(window.problems) or None,
        "texts_total": sum(line.total for line in lines),
    }
