"""The enrich stage: indicators normalised so that matching and search agree."""

from abusedesk.parsing.model import Category, EventDraft, Service
from abusedesk.pipeline.enrich import enrich


def draft(indicators: dict[str, tuple[str, ...]]) -> EventDraft:
    """Return a spam event draft holding *indicators*."""
    return EventDraft(category=Category.SPAM, service=Service.EMAIL, indicators=indicators)


def test_sender_addresses_are_lowercased_and_repeats_dropped() -> None:
    """envelope_sender and from_address are matched without case, like domains."""
    enriched = enrich(
        draft(
            {
                "envelope_sender": ("Bounce-1@Mail.Example.com", "bounce-1@mail.example.com"),
                "from_address": ("News@Example.COM",),
            }
        )
    )
    assert enriched.indicators == {
        "envelope_sender": ("bounce-1@mail.example.com",),
        "from_address": ("news@example.com",),
    }


def test_case_sensitive_kinds_keep_their_case() -> None:
    """Message ids and hashes keep the case they were written in; NULs are dropped."""
    enriched = enrich(
        draft({"message_id": ("AbC\x00@Example.com",), "url": ("http://X.example/A",)})
    )
    assert enriched.indicators == {
        "message_id": ("AbC@Example.com",),
        "url": ("http://X.example/A",),
    }
