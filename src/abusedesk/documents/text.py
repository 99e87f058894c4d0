"""Text helpers shared by the Markdown and PDF writers: cleaning, figures, dates."""

import math
import unicodedata
from datetime import UTC, datetime

# Bidi embeddings, overrides and isolates reorder what a reader sees without showing
# themselves, so a customer's text could make a figure read backwards; they are dropped.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def clean(text: str, *, keep_newlines: bool = True) -> str:
    """Return *text* without control and bidi control characters; tabs become spaces.

    Line breaks are kept (as ``\\n``) unless *keep_newlines* is false, when they become
    spaces too. Lone surrogates and noncharacters go; zero-width joiners stay (emoji
    sequences need them).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for char in text:
        if char == "\n":
            out.append("\n" if keep_newlines else " ")
        elif char == "\t":
            out.append(" ")
        elif not _dropped(char):
            out.append(char)
    return "".join(out)


def _dropped(char: str) -> bool:
    return (
        char in _BIDI_CONTROLS
        or char in "\ufffe\uffff"
        or unicodedata.category(char) in ("Cc", "Cs")
    )


def figure(value: float, *, unit: str = "", percent: bool = False) -> str:
    """Return *value* as a reader writes it: thousands separated, a percentage, a unit.

    A value that is not a number (NaN, infinity) reads "n/a".
    """
    if not math.isfinite(value):
        return "n/a"
    if percent:
        return f"{value * 100:.2f}%"
    text = f"{value:,.0f}" if value == int(value) or abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".strip()


def short_date(at: datetime) -> str:
    """Return *at* as ``01 Nov`` or, when it has a time of day, ``01 Nov 14:00``."""
    return at.strftime("%d %b %H:%M") if at.hour or at.minute else at.strftime("%d %b")


def timestamp(at: datetime) -> str:
    """Return *at* as ``2026-11-01 14:00 UTC`` (naive times are taken as UTC)."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M UTC")


def clip(text: str, limit: int) -> str:
    """Return *text* cut to *limit* characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
