"""Read appeals and customer replies, and count them by theme and week (insights/voice.py).

Sources: an appeal's root cause, fix and prevention (dated when it was submitted), and
every inbound customer message (a reply by mail or portal; dated when it was received).
Texts are read in batches and classified in Python: the rules are the domain's, the same
on SQLite and PostgreSQL, and appeals and replies are few beside events.
"""

import heapq
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from abusedesk.insights.voice import (
    APPEAL,
    DEFAULT_THEMES,
    MAX_TEXT,
    OTHER,
    REPLY,
    SOURCES,
    Quote,
    Theme,
    ThemeCount,
    appeal_text,
    classify,
    excerpt,
    reply_text,
)
from abusedesk.insights.weeks import week_start
from abusedesk.storage.tables import AppealRow, CustomerMessage

__all__ = ["Quote", "ThemeCount", "quotes", "texts", "theme_counts"]

INBOUND: Final = "in"
BATCH: Final = 500
# Quotes are looked for among the newest texts only, so the page stays quick.
QUOTE_SCAN: Final = 2_000


def texts(
    session: Session, *, start: datetime, end: datetime, newest_first: bool = False
) -> Iterator[tuple[str, datetime, str, int | None]]:
    """Yield (source, at, text, case_id) for every appeal and reply in [*start*, *end*)."""
    yield from _appeals(session, start, end, newest_first=newest_first)
    yield from _replies(session, start, end, newest_first=newest_first)


def theme_counts(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    themes: Sequence[Theme] = DEFAULT_THEMES,
) -> list[ThemeCount]:
    """Count the appeals and replies of [*start*, *end*) per week, theme and source.

    A text counts once in each theme it matches, or once in "other". Only non-zero
    counts are returned, ordered by week, then the themes' order ("other" last), then source.
    """
    counter: Counter[tuple[datetime, str, str]] = Counter()
    for source, at, text, _ in texts(session, start=start, end=end):
        week = week_start(at)
        for key in classify(text, themes):
            counter[(week, key, source)] += 1
    order = {theme.key: index for index, theme in enumerate(themes)} | {OTHER: len(themes)}
    return [
        ThemeCount(week_start=week, theme=key, source=source, count=count)
        for (week, key, source), count in sorted(
            counter.items(),
            key=lambda item: (item[0][0], order[item[0][1]], SOURCES.index(item[0][2])),
        )
    ]


def quotes(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    themes: Sequence[Theme] = DEFAULT_THEMES,
    per_theme: int = 3,
    width: int = 240,
) -> dict[str, list[Quote]]:
    """Return up to *per_theme* of the newest texts of each theme, cut to about *width*.

    Only the newest texts (appeals first, then replies, each newest first) are looked at.
    """
    by_key = {theme.key: theme for theme in themes}
    found: dict[str, list[Quote]] = {key: [] for key in [*by_key, OTHER]}
    for scanned, (source, at, text, case_id) in enumerate(_newest(session, start, end)):
        if scanned >= QUOTE_SCAN or all(len(q) >= per_theme for q in found.values()):
            break
        for key in classify(text, themes):
            if len(found[key]) < per_theme:
                shown = excerpt(text, by_key.get(key), width=width)
                found[key].append(Quote(key, source, at, shown, case_id))
    return found


def _newest(
    session: Session, start: datetime, end: datetime
) -> Iterator[tuple[str, datetime, str, int | None]]:
    """Yield appeals and replies merged newest first (each source is read newest first)."""
    return heapq.merge(
        _appeals(session, start, end, newest_first=True),
        _replies(session, start, end, newest_first=True),
        key=lambda item: item[1],
        reverse=True,
    )


def _appeals(
    session: Session, start: datetime, end: datetime, *, newest_first: bool
) -> Iterator[tuple[str, datetime, str, int | None]]:
    order = (
        (AppealRow.submitted_at.desc(), AppealRow.id.desc()) if newest_first else (AppealRow.id,)
    )
    query = (
        select(
            AppealRow.submitted_at,
            AppealRow.root_cause,
            AppealRow.fix,
            AppealRow.prevention,
            AppealRow.case_id,
        )
        .where(AppealRow.submitted_at >= start, AppealRow.submitted_at < end)
        .order_by(*order)
        .execution_options(yield_per=BATCH)
    )
    for at, root_cause, fix, prevention, case_id in session.execute(query):
        text = appeal_text(root_cause[:MAX_TEXT], fix[:MAX_TEXT], prevention[:MAX_TEXT])
        yield APPEAL, at, text, case_id


def _replies(
    session: Session, start: datetime, end: datetime, *, newest_first: bool
) -> Iterator[tuple[str, datetime, str, int | None]]:
    order = (
        (CustomerMessage.created_at.desc(), CustomerMessage.id.desc())
        if newest_first
        else (CustomerMessage.id,)
    )
    query = (
        select(
            CustomerMessage.created_at,
            CustomerMessage.subject,
            CustomerMessage.body,
            CustomerMessage.case_id,
        )
        .where(
            CustomerMessage.direction == INBOUND,
            CustomerMessage.created_at >= start,
            CustomerMessage.created_at < end,
        )
        .order_by(*order)
        .execution_options(yield_per=BATCH)
    )
    for at, subject, body, case_id in session.execute(query):
        yield REPLY, at, reply_text(subject, body), case_id
