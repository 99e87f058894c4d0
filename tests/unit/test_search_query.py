"""How typed searches are read, and how event indicators are normalised for the index."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abusedesk.core.hashing import sha256_hex
from abusedesk.search.query import (
    MAX_TERMS,
    QueryInvalid,
    SearchTerm,
    TermKind,
    classify,
    event_text,
    index_entries,
    parse_query,
)


@pytest.mark.parametrize(
    ("typed", "kind", "value"),
    [
        ("192.0.2.7", TermKind.IP, "192.0.2.7"),
        ("[2001:DB8::0:1]", TermKind.IP, "2001:db8::1"),
        ("Promo@Deals.Example.COM", TermKind.EMAIL, "promo@deals.example.com"),
        ("<abc.123@mail.example.com>", TermKind.MESSAGE_ID, "abc.123@mail.example.com"),
        ("0100018c-aaaa@email.amazonses.com", TermKind.EMAIL, "0100018c-aaaa@email.amazonses.com"),
        ("abc@localhost", TermKind.MESSAGE_ID, "abc@localhost"),
        ("hxxps://Bad.Example[.]com/Path?a=B", TermKind.URL, "https://bad.example.com/Path?a=B"),
        ("+1 (555) 010-9999", TermKind.PHONE, "+15550109999"),
        ("a" * 64, TermKind.HASH, "a" * 64),
        ("News.Example.com.", TermKind.DOMAIN, "news.example.com"),
        ("news[.]example[.]com", TermKind.DOMAIN, "news.example.com"),
        ("#42", TermKind.CASE, "42"),
        ("case:42", TermKind.CASE, "42"),
        ("account:acme-77", TermKind.ACCOUNT, "acme-77"),
        ("4411", TermKind.NUMBER, "4411"),
        ("feedback_id:camp1:cust9:mail", TermKind.INDICATOR, "camp1:cust9:mail"),
        ("phishing", TermKind.TEXT, "phishing"),
    ],
)
def test_each_typed_word_is_recognised(typed: str, kind: TermKind, value: str) -> None:
    """The kind of a word decides which indicators it is looked up in."""
    term = classify(typed)

    assert (term.kind, term.value) == (kind, value)


def test_an_address_is_also_looked_up_as_a_recipient_or_complainant_hash() -> None:
    """Parsers keep recipients and complainants only as the SHA-256 of the lowercased address."""
    lookups = classify("Person@Example.org").lookups()

    hashed = sha256_hex(b"person@example.org")
    assert ("complainant_hash", hashed) in lookups
    assert ("recipient_hash", hashed) in lookups
    assert ("from_address", "person@example.org") in lookups


def test_words_are_letters_and_digits_only() -> None:
    """Punctuation the full-text engines would read as syntax never reaches them."""
    query = parse_query('"spam" OR* (NEAR phish-kit) 192.0.2.1')

    assert query.words == ("spam", "OR", "NEAR", "phish", "kit")
    assert query.terms == (SearchTerm(TermKind.IP, "192.0.2.1"),)


@pytest.mark.parametrize(
    ("typed", "problem"),
    [("", "type something"), ("   ", "type something"), ("-- !!", "no letters")],
)
def test_unusable_queries_are_refused_with_the_reason(typed: str, problem: str) -> None:
    """An empty search or one with nothing to look for says so."""
    with pytest.raises(QueryInvalid, match=problem):
        parse_query(typed)


def test_too_many_terms_are_refused() -> None:
    """A query is capped so one request cannot become a huge statement."""
    with pytest.raises(QueryInvalid, match="at most"):
        parse_query(" ".join(["word"] * (MAX_TERMS + 1)))


def test_index_entries_normalise_as_search_terms_do() -> None:
    """What an event stores is found by the term an analyst types for it."""
    entries = index_entries(
        {
            "source_ip": ["2001:0DB8::0001"],
            "message_id": ["<x@y.example>"],
            "url": ["HTTP://Offers.Example.com/A"],
            "from_domain": ["Example.com."],
            "recipient_hash": [],
        }
    )

    assert entries == {
        ("source_ip", "2001:db8::1"),
        ("message_id", "x@y.example"),
        ("url", "http://offers.example.com/A"),
        ("url_host", "offers.example.com"),
        ("from_domain", "example.com"),
    }
    for typed in ("2001:db8::1", "<x@y.example>", "http://OFFERS.example.com/A", "EXAMPLE.COM"):
        assert set(classify(typed).lookups()) & entries, typed


@given(st.text(max_size=200))
def test_any_text_is_read_or_refused_cleanly(text: str) -> None:
    """No input makes the reader fail other than with QueryInvalid."""
    try:
        query = parse_query(text)
    except QueryInvalid:
        return
    assert query.terms or query.words


def test_event_text_takes_the_reporter_and_wordy_details_only() -> None:
    """Free text is the reporter and the subject-like details, not every field."""
    text = event_text(
        "fbl.example.net",
        {"evidence_subject": "You won", "status": "5.1.1", "reason": "spam content"},
    )

    assert text == "fbl.example.net You won spam content"
