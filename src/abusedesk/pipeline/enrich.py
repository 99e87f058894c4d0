"""The enrich stage: normalise indicators so that matching and search agree."""

from dataclasses import replace

from abusedesk.parsing.model import EventDraft

_LOWERCASE_KINDS = frozenset({"from_domain", "envelope_domain", "dkim_domain", "dkim_selector"})


def enrich(draft: EventDraft) -> EventDraft:
    """Return *draft* with domain indicators lowercased and duplicates removed."""
    indicators = {
        kind: tuple(
            dict.fromkeys(v.lower().rstrip(".") if kind in _LOWERCASE_KINDS else v for v in values)
        )
        for kind, values in draft.indicators.items()
        if values
    }
    return replace(draft, indicators=indicators)
