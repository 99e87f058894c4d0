"""Incident and problem reviews: the timeline, the template, follow-ups and the document.

A review looks at a window of time and, when it names them, some accounts. Storage reads
what happened in that window from events, signals, actions, notes, case history and
customer messages and hands it here as `TimelineEntry` values; `merge_timeline` puts
them in one order. The lead writes the template (impact, root cause, what went well,
what went badly) and adds follow-up items, tracked until done or dropped.
`review_document` turns the whole review into a `Document` for Markdown and PDF.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import quote

from abusedesk.core.errors import AbuseDeskError
from abusedesk.insights.document import (
    Block,
    BulletList,
    ChartSeries,
    Document,
    Figures,
    Heading,
    LineChart,
    Paragraph,
    Table,
)

# Where a review was opened from.
SPIKE: Final = "spike"
CASE: Final = "case"
PERIOD: Final = "period"
ORIGINS: Final = (SPIKE, CASE, PERIOD)

# A review's states: opened, being written, closed (a closed review can be reopened).
DRAFT: Final = "draft"
IN_REVIEW: Final = "in_review"
CLOSED: Final = "closed"
STATES: Final = (DRAFT, IN_REVIEW, CLOSED)

# A follow-up item's states.
OPEN: Final = "open"
DONE: Final = "done"
DROPPED: Final = "dropped"
FOLLOW_UP_STATES: Final = (OPEN, DONE, DROPPED)

# Timeline sources, in the order entries at the same moment are listed.
EVENTS: Final = "events"
SIGNAL: Final = "signal"
CASE_HISTORY: Final = "case"
NOTE: Final = "note"
ACTION: Final = "action"
MESSAGE: Final = "message"
SOURCES: Final = (EVENTS, SIGNAL, CASE_HISTORY, NOTE, ACTION, MESSAGE)
SOURCE_LABELS: Final = {
    EVENTS: "events",
    SIGNAL: "signal",
    CASE_HISTORY: "case history",
    NOTE: "note",
    ACTION: "action",
    MESSAGE: "customer message",
}

MAX_TITLE: Final = 200
MAX_TEXT: Final = 20_000
MAX_FOLLOW_UP: Final = 2_000
MAX_ACCOUNTS: Final = 50


@dataclass(frozen=True)
class Section:
    """One field of the review template: its name, heading and what to write in it."""

    name: str
    heading: str
    prompt: str


TEMPLATE: Final = (
    Section(
        "impact",
        "Impact",
        "Who and what was hurt, how much and for how long: recipients, reporters, the"
        " provider's IP space and deliverability, customers acted on.",
    ),
    Section(
        "root_cause",
        "Root cause",
        "Why it happened, and why it was not caught sooner. Ask why until the answer is"
        " something the team can change.",
    ),
    Section("went_well", "What went well", "What helped: signals, tools, decisions, people."),
    Section(
        "went_badly",
        "What went badly",
        "What slowed the response or made it worse: gaps, noise, missing data, handoffs.",
    ),
)
SECTION_NAMES: Final = tuple(section.name for section in TEMPLATE)


class ReviewInvalid(AbuseDeskError):
    """Raise when what was asked of a review cannot be done as given (the text says why)."""


class ReviewClosed(ReviewInvalid):
    """Raise when a closed review is changed without being reopened first."""


class FollowUpClosed(ReviewInvalid):
    """Raise when a follow-up item that is done or dropped is closed again."""


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened, as the review's timeline shows it.

    *link* is a workbench path (``/cases/12``) or empty; *key* orders entries of one
    source at the same moment (their row id).
    """

    at: datetime
    source: str
    what: str
    actor: str = ""
    detail: str = ""
    link: str = ""
    key: int = 0

    @property
    def source_label(self) -> str:
        """Return the source in words."""
        return SOURCE_LABELS.get(self.source, self.source)


@dataclass(frozen=True)
class EventBucket:
    """Events in one hour about one account, of one category and service."""

    hour: datetime
    account: str
    category: str
    service: str
    count: int
    reporters: int


@dataclass(frozen=True)
class Review:
    """A review as read: where it came from, its window and accounts, the template."""

    id: int
    title: str
    origin: str
    origin_id: int | None
    account_ids: tuple[int, ...]
    accounts: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    state: str
    impact: str
    root_cause: str
    went_well: str
    went_badly: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    def text_of(self, section: str) -> str:
        """Return what the template's *section* holds."""
        texts = {
            "impact": self.impact,
            "root_cause": self.root_cause,
            "went_well": self.went_well,
            "went_badly": self.went_badly,
        }
        return texts[section]

    @property
    def origin_words(self) -> str:
        """Return where the review came from, in words."""
        if self.origin == SPIKE:
            return f"signal #{self.origin_id}"
        if self.origin == CASE:
            return f"case #{self.origin_id}"
        return "a period"

    @property
    def origin_link(self) -> str:
        """Return the workbench path of the review's origin, or empty."""
        if self.origin == CASE and self.origin_id is not None:
            return f"/cases/{self.origin_id}"
        return ""

    @property
    def is_closed(self) -> bool:
        """Tell whether the review is closed."""
        return self.state == CLOSED


@dataclass(frozen=True)
class FollowUp:
    """A follow-up item of a review, tracked to completion."""

    id: int
    review_id: int
    title: str
    owner: str
    due_at: datetime | None
    state: str
    outcome: str | None
    closed_by: str | None
    closed_at: datetime | None
    created_at: datetime

    def overdue(self, now: datetime) -> bool:
        """Tell whether the item is still open past its due time."""
        return self.state == OPEN and self.due_at is not None and self.due_at < now


@dataclass(frozen=True)
class ReviewSummary:
    """A review in the list, with its follow-ups counted."""

    review: Review
    open_follow_ups: int
    overdue_follow_ups: int


def merge_timeline(*sources: Iterable[TimelineEntry]) -> tuple[TimelineEntry, ...]:
    """Return the entries of every source in one order: time, then source, then row id."""
    rank = {source: index for index, source in enumerate(SOURCES)}
    merged = [entry for entries in sources for entry in entries]
    merged.sort(key=lambda e: (e.at, rank.get(e.source, len(SOURCES)), e.key, e.what))
    return tuple(merged)


def event_entries(buckets: Iterable[EventBucket]) -> list[TimelineEntry]:
    """Return one timeline entry per hour, account, category and service of events."""
    entries = []
    for bucket in buckets:
        plural = "s" if bucket.count != 1 else ""
        reporters = f"{bucket.reporters} reporter{'s' if bucket.reporters != 1 else ''}"
        entries.append(
            TimelineEntry(
                at=bucket.hour,
                source=EVENTS,
                what=(
                    f"{bucket.count} {bucket.category} event{plural} ({bucket.service})"
                    f" about account {bucket.account}"
                ),
                detail=f"in the hour from {bucket.hour:%H:00} UTC, from {reporters}",
                link=f"/accounts/{quote(bucket.account, safe='')}",
            )
        )
    return entries


def events_per_hour(buckets: Iterable[EventBucket]) -> tuple[tuple[datetime, float], ...]:
    """Return the events of every bucket summed per hour, in time order."""
    totals: dict[datetime, int] = {}
    for bucket in buckets:
        totals[bucket.hour] = totals.get(bucket.hour, 0) + bucket.count
    return tuple((hour, float(count)) for hour, count in sorted(totals.items()))


def check_title(title: str) -> str:
    """Return *title* trimmed, or refuse an empty or over-long one."""
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ReviewInvalid("Give the review a title.")
    if len(cleaned) > MAX_TITLE:
        raise ReviewInvalid(f"A review's title is at most {MAX_TITLE} characters.")
    return cleaned


def check_window(starts_at: datetime, ends_at: datetime, *, max_days: int) -> None:
    """Refuse a window that ends before it starts or is longer than *max_days*."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ReviewInvalid("Give the window's times in UTC.")
    if ends_at <= starts_at:
        raise ReviewInvalid("The review's window must end after it starts.")
    if ends_at - starts_at > timedelta(days=max_days):
        raise ReviewInvalid(
            f"A review's window is at most {max_days} days; narrow it or open two reviews."
        )


def check_text(text: str, *, limit: int = MAX_TEXT, what: str = "A template field") -> str:
    """Return *text* with its line ends made plain, or refuse it when it is too long."""
    cleaned = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(cleaned) > limit:
        raise ReviewInvalid(f"{what} is at most {limit:,} characters.")
    return cleaned


def check_close(review: Review) -> None:
    """Refuse to close a review that is closed or lacks its impact or root cause."""
    if review.is_closed:
        raise ReviewClosed("The review is already closed.")
    missing = [
        section.heading.lower()
        for section in TEMPLATE[:2]
        if not review.text_of(section.name).strip()
    ]
    if missing:
        raise ReviewInvalid(f"Write the {' and the '.join(missing)} before closing the review.")


def parse_time(value: str, *, what: str) -> datetime:
    """Return a form's time (``2026-11-02T10:00``, taken as UTC) or refuse it in words."""
    text = value.strip()
    if not text:
        raise ReviewInvalid(f"Give the {what} (YYYY-MM-DD HH:MM, UTC).")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReviewInvalid(
            f"The {what} {text[:40]!r} is not a time; write YYYY-MM-DD HH:MM (UTC)."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_accounts(value: str) -> tuple[str, ...]:
    """Return the account ids written in a form (commas or spaces between), each once."""
    seen: list[str] = []
    for word in value.replace(",", " ").split():
        if word not in seen:
            seen.append(word)
    if len(seen) > MAX_ACCOUNTS:
        raise ReviewInvalid(f"A review covers at most {MAX_ACCOUNTS} accounts.")
    return tuple(seen)


def review_document(
    review: Review,
    timeline: Sequence[TimelineEntry],
    follow_ups: Sequence[FollowUp],
    *,
    hourly_events: Sequence[tuple[datetime, float]] = (),
    truncated: Sequence[str] = (),
    limit: int = 0,
    generated_at: datetime,
) -> Document:
    """Return the review as a document: facts, template, follow-ups, chart and timeline."""
    accounts = ", ".join(review.accounts) if review.accounts else "every account"
    counts = dict.fromkeys(SOURCES, 0)
    for entry in timeline:
        counts[entry.source] = counts.get(entry.source, 0) + 1
    blocks: list[Block] = [
        Figures(
            (
                ("State", review.state.replace("_", " "), ""),
                ("Opened from", review.origin_words, f"by {review.created_by}"),
                ("Window", f"{_when(review.starts_at)} to {_when(review.ends_at)}", "UTC"),
                ("Accounts", accounts, ""),
                ("Timeline entries", str(len(timeline)), _counted(counts)),
                ("Follow-up items", str(len(follow_ups)), _follow_up_counts(follow_ups)),
            )
        )
    ]
    for section in TEMPLATE:
        blocks.append(Heading(section.heading))
        blocks.append(Paragraph(review.text_of(section.name) or "Not written yet."))
    blocks.append(Heading("Follow-up items"))
    if follow_ups:
        blocks.append(
            Table(
                "Items, owners and due times (UTC)",
                ("Item", "Owner", "Due", "State", "Outcome"),
                tuple(
                    (
                        item.title,
                        item.owner,
                        _when(item.due_at) if item.due_at else "-",
                        item.state,
                        item.outcome or "-",
                    )
                    for item in follow_ups
                ),
            )
        )
    else:
        blocks.append(Paragraph("None yet."))
    blocks.append(Heading("Timeline"))
    if len(hourly_events) >= 2:
        blocks.append(
            LineChart(
                "Events per hour",
                (ChartSeries("events", tuple(hourly_events)),),
            )
        )
    if truncated:
        blocks.append(
            Paragraph(
                f"Only the first {limit:,} entries of each of these sources are shown:"
                f" {', '.join(truncated)}. Narrow the window or name the accounts."
            )
        )
    if timeline:
        blocks.append(
            Table(
                "Timeline (UTC)",
                ("Time", "Source", "What", "Who", "Detail"),
                tuple(
                    (
                        _when(entry.at),
                        entry.source_label,
                        entry.what,
                        entry.actor or "-",
                        entry.detail or "-",
                    )
                    for entry in timeline
                ),
            )
        )
    else:
        blocks.append(Paragraph("Nothing happened in the window about these accounts."))
    blocks.append(
        BulletList(
            (
                "Events are counted per hour, account, category and service.",
                "Notes, case history and customer messages are those of the accounts' cases;"
                " message bodies are left out.",
            )
        )
    )
    return Document(
        title=f"Incident review #{review.id}: {review.title}",
        generated_at=generated_at,
        subtitle=f"{_when(review.starts_at)} to {_when(review.ends_at)} UTC, {accounts}",
        blocks=tuple(blocks),
    )


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _counted(counts: dict[str, int]) -> str:
    shown = [f"{SOURCE_LABELS[source]}: {count}" for source, count in counts.items() if count]
    return ", ".join(shown)


def _follow_up_counts(follow_ups: Sequence[FollowUp]) -> str:
    states = dict.fromkeys(FOLLOW_UP_STATES, 0)
    for item in follow_ups:
        states[item.state] = states.get(item.state, 0) + 1
    return ", ".join(f"{count} {state}" for state, count in states.items() if count)


@dataclass(frozen=True)
class WindowRules:
    """How far a review opened from a spike or a case looks around it, and its longest window."""

    lead_hours: int = 24
    follow_hours: int = 72
    max_days: int = 92
    # A review of every account (none named) reads every event of its window: it covers
    # at most this many hours (a spike with no account, 24 + 1 + 72 hours, fits).
    every_account_max_hours: int = 7 * 24

    def check(self, starts_at: datetime, ends_at: datetime, *, accounts: int) -> None:
        """Refuse a window *check_window* refuses, or one longer than
        *every_account_max_hours* for a review that names no account."""
        check_window(starts_at, ends_at, max_days=self.max_days)
        if not accounts and ends_at - starts_at > timedelta(hours=self.every_account_max_hours):
            raise ReviewInvalid(
                f"A review of every account covers at most {self.every_account_max_hours}"
                f" hours; name the accounts it is about (up to {MAX_ACCOUNTS}) or narrow"
                " the window."
            )

    def around_spike(self, hour: datetime) -> tuple[datetime, datetime]:
        """Return the window of a review of the spike in the hour from *hour*."""
        return (
            hour - timedelta(hours=self.lead_hours),
            hour + timedelta(hours=1 + self.follow_hours),
        )

    def around_case(self, first_at: datetime, last_at: datetime) -> tuple[datetime, datetime]:
        """Return the window of a review of a case seen from *first_at* until *last_at*."""
        starts = first_at - timedelta(hours=self.lead_hours)
        ends = last_at + timedelta(hours=self.follow_hours)
        # A case that ran for months is reviewed over its last max_days.
        return max(starts, ends - timedelta(days=self.max_days)), ends
