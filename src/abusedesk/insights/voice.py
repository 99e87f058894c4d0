"""The voice of the customer: what appeals and customer replies say, grouped into themes.

A theme is a named list of keywords. A text belongs to every theme one of whose keywords
it contains, as whole words and in any case; a text that matches no theme is "other".
Keywords are written plainly: a space or a hyphen in a keyword matches any run of spaces
or hyphens (``third party`` finds "third-party"), a trailing ``*`` matches any ending
(``hack*`` finds "hacked", "hacker"), and curly apostrophes count as straight ones.
Matching is by words, not meaning: "not compromised" is counted as "compromised account".

Counting is per text: an appeal (its root cause, fix and prevention together) or a
reply counts once in each theme it matches, in the week (Monday 00:00 UTC) it arrived.
Quoted earlier mail in a reply (lines starting with ``>``, and everything after an
"On ... wrote:" line or an "Original Message" rule) is left out, so our own notice quoted
back does not count as the customer's words.
"""

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from abusedesk.insights.document import (
    Block,
    ChartSeries,
    Heading,
    LineChart,
    Paragraph,
    Table,
)
from abusedesk.insights.weeks import week_start

OTHER = "other"
APPEAL = "appeal"
REPLY = "reply"
SOURCES = (APPEAL, REPLY)
SOURCE_WORDS = {APPEAL: "Appeals", REPLY: "Replies"}
# Only the start of a very long text is read: a theme is said early or not at all.
MAX_TEXT = 20_000
MAX_KEYWORD = 80
MAX_THEMES = 40
# An excerpt's cut moves to a space at most this many characters away.
SNAP = 20
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_QUOTE_HEADER = re.compile(
    r"^\s*(on\b.{0,200}\bwrote:\s*$|-{2,}\s*original message\s*-{2,}|_{5,}\s*$|from:\s)",
    re.IGNORECASE,
)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")


def _compile(words: Sequence[str]) -> re.Pattern[str]:
    parts = []
    for word in words:
        prefix = word.endswith("*")
        pieces = [re.escape(piece) for piece in re.split(r"[\s\-]+", word.rstrip("*").strip(" -"))]
        body = r"[\s\-]+".join(piece for piece in pieces if piece)
        parts.append(body + (r"\w*" if prefix else "") + r"(?!\w)")
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + ")", re.IGNORECASE)


class ThemeInvalid(ValueError):
    """Raise when a theme is written wrongly (bad key, no keywords, a duplicate)."""


@dataclass(frozen=True)
class Theme:
    """A named group of keywords; *key* is stable (stored, in URLs), *label* is shown."""

    key: str
    label: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _KEY.match(self.key) or self.key == OTHER:
            raise ThemeInvalid(
                f"theme key {self.key!r}: use lower-case letters, digits and _ "
                f"(at most 40, starting with a letter), not {OTHER!r}"
            )
        if not self.label.strip():
            raise ThemeInvalid(f"theme {self.key!r} needs a label")
        words = [_normalise(keyword).strip() for keyword in self.keywords]
        if not words or not all(words) or any(len(word) > MAX_KEYWORD for word in words):
            raise ThemeInvalid(
                f"theme {self.key!r} needs keywords, each 1 to {MAX_KEYWORD} characters"
            )
        if any(word.strip("*- ") == "" for word in words):
            raise ThemeInvalid(f"theme {self.key!r}: a keyword needs a letter or digit")
        object.__setattr__(self, "pattern", _compile(words))

    def matches(self, text: str) -> bool:
        """Tell whether *text* holds one of the theme's keywords."""
        return self.pattern.search(_normalise(text[:MAX_TEXT])) is not None

    def first_match(self, text: str) -> int | None:
        """Return where in *text* the first keyword starts, or None."""
        found = self.pattern.search(_normalise(text[:MAX_TEXT]))
        return found.start() if found else None


@dataclass(frozen=True)
class ThemeCount:
    """How many texts of one *source* ("appeal" or "reply") fell in *theme* in one week."""

    week_start: datetime
    theme: str
    source: str
    count: int


@dataclass(frozen=True)
class Quote:
    """An example of a theme: an excerpt of one text, where it came from and when."""

    theme: str
    source: str
    at: datetime
    text: str
    case_id: int | None


DEFAULT_THEMES: tuple[Theme, ...] = (
    Theme(
        "compromised",
        "Compromised account",
        (
            "compromised",
            "hacked",
            "hacker*",
            "breach*",
            "stolen",
            "leaked",
            "unauthorised",
            "unauthorized",
            "someone else",
            "not us",
            "exposed key*",
            "exposed credential*",
            "malware",
        ),
    ),
    Theme(
        "legitimate",
        "False positive / legitimate mail",
        (
            "false positive",
            "legitimate",
            "opted in",
            "opt-in",
            "double opt*",
            "subscribed",
            "signed up",
            "not spam",
            "transactional",
            "requested it",
            "asked for",
            "wrongly",
        ),
    ),
    Theme(
        "purchased_list",
        "Purchased or rented list",
        (
            "purchased list",
            "purchased a list",
            "purchased the list",
            "bought list",
            "bought a list",
            "bought the list",
            "rented list",
            "rented a list",
            "list vendor",
            "list broker",
            "data broker",
            "lead list",
            "scraped",
            "third-party list",
        ),
    ),
    Theme(
        "fixed",
        "Fixed / will fix",
        (
            "fixed",
            "will fix",
            "resolved",
            "removed",
            "cleaned",
            "patched",
            "rotated",
            "reset",
            "disabled",
            "two-factor",
            "2fa",
            "mfa",
            "suppression list",
            "unsubscribe link",
            "will make sure",
        ),
    ),
    Theme(
        "urgent",
        "Urgent business impact",
        (
            "urgent*",
            "asap",
            "immediately",
            "emergency",
            "losing money",
            "lost revenue",
            "revenue",
            "business critical",
            "critical",
            "outage",
            "our customers cannot",
            "our users cannot",
            "production",
        ),
    ),
    Theme(
        "third_party",
        "Third-party sender",
        (
            "third party",
            "vendor",
            "contractor",
            "agency",
            "reseller",
            "on behalf of",
            "our client*",
            "partner",
            "plugin",
            "integration",
            "freelancer",
        ),
    ),
    Theme(
        "did_not_know",
        "Did not know",
        (
            "did not know",
            "didn't know",
            "was not aware",
            "wasn't aware",
            "were not aware",
            "weren't aware",
            "unaware",
            "no idea",
            "did not realise",
            "did not realize",
            "didn't realise",
            "didn't realize",
            "first time",
            "new to",
        ),
    ),
)


def classify(text: str, themes: Sequence[Theme] = DEFAULT_THEMES) -> tuple[str, ...]:
    """Return the keys of the themes *text* matches, in the themes' order, or ``("other",)``."""
    normal = _normalise(text[:MAX_TEXT])
    found = tuple(theme.key for theme in themes if theme.pattern.search(normal))
    return found or (OTHER,)


def appeal_text(root_cause: str, fix: str, prevention: str) -> str:
    """Return what an appeal says, its three answers as one text."""
    return "\n\n".join(part for part in (root_cause, fix, prevention) if part.strip())


def reply_text(subject: str, body: str) -> str:
    """Return the customer's own words in a reply: subject and body, quoted mail left out."""
    own = []
    for line in body[:MAX_TEXT].splitlines():
        if _QUOTE_HEADER.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        own.append(line)
    # A reply's subject is mostly "Re: <our subject>": the reply marker alone says nothing.
    subject = re.sub(r"^\s*((re|fwd?|aw|sv)\s*:\s*)+", "", subject, flags=re.IGNORECASE)
    return "\n".join([subject, *own]).strip()


def excerpt(text: str, theme: Theme | None, *, width: int = 240) -> str:
    """Return about *width* characters of *text* around the theme's first keyword.

    The cut falls between words where a space lies near it; an ellipsis marks each cut.
    """
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    where = theme.first_match(flat) if theme is not None else None
    begin = max(0, (where or 0) - width // 3)
    if begin > 0:
        space = flat.find(" ", begin, begin + SNAP)
        begin = space + 1 if space >= 0 and (where is None or space < where) else begin
    end = min(len(flat), begin + width)
    if end < len(flat):
        space = flat.rfind(" ", end - SNAP, end)
        end = space if space > begin else end
    return ("…" if begin > 0 else "") + flat[begin:end] + ("…" if end < len(flat) else "")


def themes_from_settings(items: Iterable[Mapping[str, object]]) -> tuple[Theme, ...]:
    """Build themes from settings (each ``{"key", "label", "keywords"}``); empty means default.

    Raises `ThemeInvalid` with a sentence naming the theme that is wrong.
    """
    themes = []
    for item in items:
        keywords = item.get("keywords")
        if not isinstance(keywords, list | tuple) or not all(isinstance(k, str) for k in keywords):
            raise ThemeInvalid(f"theme {item.get('key')!r}: keywords must be a list of words")
        themes.append(Theme(str(item.get("key", "")), str(item.get("label", "")), tuple(keywords)))
    if len(themes) > MAX_THEMES:
        raise ThemeInvalid(f"at most {MAX_THEMES} themes")
    keys = [theme.key for theme in themes]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ThemeInvalid(f"theme key(s) given twice: {', '.join(duplicates)}")
    return tuple(themes) or DEFAULT_THEMES


def theme_labels(themes: Sequence[Theme]) -> dict[str, str]:
    """Return each theme's label by key, "Other" included."""
    return {**{theme.key: theme.label for theme in themes}, OTHER: "Other"}


def totals_by_theme(counts: Iterable[ThemeCount], source: str = "") -> dict[str, int]:
    """Return how many texts fell in each theme (of *source*, or of both when empty)."""
    totals: dict[str, int] = {}
    for count in counts:
        if not source or count.source == source:
            totals[count.theme] = totals.get(count.theme, 0) + count.count
    return totals


def weekly_series(
    counts: Iterable[ThemeCount],
    themes: Sequence[Theme],
    weeks: Sequence[datetime],
    *,
    source: str = "",
) -> tuple[ChartSeries, ...]:
    """Return one chart line per theme (and "other") over *weeks*, zero where none arrived."""
    per: dict[tuple[str, datetime], int] = {}
    for count in counts:
        if not source or count.source == source:
            key = (count.theme, count.week_start)
            per[key] = per.get(key, 0) + count.count
    labels = theme_labels(themes)
    keys = [theme.key for theme in themes] + [OTHER]
    return tuple(
        ChartSeries(labels[key], tuple((week, float(per.get((key, week), 0))) for week in weeks))
        for key in keys
        if any(per.get((key, week)) for week in weeks)
    )


def voice_section(
    counts: Sequence[ThemeCount],
    themes: Sequence[Theme],
    *,
    week: datetime,
    previous_weeks: int = 7,
) -> tuple[Block, ...]:
    """Return the weekly report's "Voice of the customer" blocks for the week from *week*.

    A table of the week's count per theme by source, with the change from the week before,
    and a chart of each theme over the *previous_weeks* weeks before it and the week itself.
    *counts* must cover those weeks.
    """
    week = week_start(week)
    before = week - timedelta(days=7)
    labels = theme_labels(themes)
    this = {
        source: totals_by_theme([c for c in counts if c.week_start == week], source)
        for source in SOURCES
    }
    last = totals_by_theme([c for c in counts if c.week_start == before])
    rows = []
    for key in [theme.key for theme in themes] + [OTHER]:
        appeals, replies = this[APPEAL].get(key, 0), this[REPLY].get(key, 0)
        total, earlier = appeals + replies, last.get(key, 0)
        if total or earlier:
            rows.append(
                (labels[key], str(appeals), str(replies), str(total), f"{total - earlier:+d}")
            )
    blocks: list[Block] = [Heading("Voice of the customer")]
    if not rows:
        blocks.append(Paragraph("No appeals or customer replies this week or the week before."))
        return tuple(blocks)
    blocks.append(
        Paragraph(
            "Appeals and customer replies grouped into themes by their words; a text may "
            "fall in several themes, and one that matches none is counted as other."
        )
    )
    blocks.append(
        Table(
            "Themes this week",
            ("Theme", "Appeals", "Replies", "Total", "Change from last week"),
            tuple(rows),
        )
    )
    weeks = [week - timedelta(days=7 * n) for n in range(previous_weeks, -1, -1)]
    blocks.append(LineChart("Themes by week", weekly_series(counts, themes, weeks), unit="texts"))
    return tuple(blocks)
