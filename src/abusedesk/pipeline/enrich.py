"""The enrich stage: normalise indicators so that matching and search agree."""

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from abusedesk.parsing.model import EventDraft

# Domains and addresses: matched without regard to case (the local part of an address
# may be case-sensitive in theory; no mail system that matters treats it so).
_LOWERCASE_KINDS = frozenset(
    {
        "from_domain",
        "envelope_domain",
        "dkim_domain",
        "dkim_selector",
        "envelope_sender",
        "from_address",
    }
)


def enrich(draft: EventDraft) -> EventDraft:
    """Return *draft* with NULs removed, domains and sender addresses lowercased and
    duplicate indicators dropped."""
    indicators = {
        kind: tuple(
            dict.fromkeys(
                _normal(v).lower().rstrip(".") if kind in _LOWERCASE_KINDS else _normal(v)
                for v in values
            )
        )
        for kind, values in draft.indicators.items()
        if values
    }
    return replace(
        draft,
        reporter=None if draft.reporter is None else _normal(draft.reporter),
        indicators=indicators,
        details=_scrub(draft.details),
    )


def _normal(value: str) -> str:
    # A NUL never belongs in an indicator, and PostgreSQL refuses it in text: drop it here
    # so that hostile input behaves the same on every database.
    return value.replace("\x00", "")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _normal(value)
    if isinstance(value, Mapping):
        return {_normal(str(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value
