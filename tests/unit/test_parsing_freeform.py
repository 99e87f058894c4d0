"""The free-form parser: evidence attached, forwarded inline, or named in the letter."""

import pytest

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError, UnknownReportFormat
from abusedesk.parsing.freeform import FreeformParser
from abusedesk.parsing.model import EventDraft
from tests.factories.reports import forwarded_complaint

TOP = (
    "From: Pat Person <pat@home.example.net>\n"
    "To: abuse@example.org\n"
    "Subject: {subject}\n"
    "Date: Tue, 11 Mar 2025 08:15:00 +0000\n"
    "Message-ID: <complaint-1@home.example.net>\n"
)
QUOTED = (
    "From: Offers <offers@bulk.example.com>\n"
    "Date: Mon, 10 Mar 2025 22:01:00 +0000\n"
    "Subject: Last chance\n"
    "To: <pat@home.example.net>\n"
    "\n"
    "Buy at https://bulk.example.com/buy\n"
)


def letter(body: str, subject: str = "complaint") -> bytes:
    """Return a plain-text letter from a person with *body*."""
    return (TOP.format(subject=subject) + "Content-Type: text/plain\n\n" + body).encode()


def only_event(raw: bytes) -> EventDraft:
    """Return the one event the free-form parser reads from *raw*."""
    (event,) = FreeformParser().parse(RawDocument(raw)).events
    return event


def test_attached_message_gives_its_indicators_not_the_complainants() -> None:
    """With a message/rfc822 part, the ids come from it, not from the complaint around it."""
    raw = forwarded_complaint(
        7, message_id="spam-7@sender.example.com", from_domain="sender.example.com"
    )
    event = only_event(raw)
    assert (
        event.indicators["message_id"],
        event.indicators["from_domain"],
        event.reporter,
        event.details["evidence"],
    ) == (("spam-7@sender.example.com",), ("sender.example.com",), "people.example.org", "attached")


@pytest.mark.parametrize(
    "marker",
    [
        "---------- Forwarded message ---------",
        "Begin forwarded message:",
        "-----Original Message-----",
        "-------- Forwarded Message --------",
    ],
)
def test_inline_forward_markers_make_the_quoted_headers_the_evidence(marker: str) -> None:
    """Every common forward marker makes the quoted headers the evidence message."""
    event = only_event(letter(f"Stop this please.\n\n{marker}\n{QUOTED}"))
    assert (
        event.indicators["from_domain"],
        event.indicators["url"],
        event.details["evidence"],
    ) == (
        ("bulk.example.com",),
        ("https://bulk.example.com/buy",),
        "inline",
    )


def test_outlook_sent_line_is_read_as_the_date() -> None:
    """Outlook's quoted ``Sent:`` line gives the evidence's date."""
    quoted = QUOTED.replace(
        "Date: Mon, 10 Mar 2025 22:01:00 +0000", "Sent: Mon, 10 Mar 2025 22:01:00 +0000"
    )
    event = only_event(letter(f"-----Original Message-----\n{quoted}"))
    assert event.occurred_at is not None
    assert event.occurred_at.isoformat() == "2025-03-10T22:01:00+00:00"


def test_quoted_forward_with_angle_brackets_is_read() -> None:
    """A forward quoted with ``>`` prefixes is read like an unquoted one."""
    quoted = "".join(f"> {line}\n" for line in QUOTED.splitlines())
    event = only_event(letter(f"See below.\n\n> Begin forwarded message:\n>\n{quoted}"))
    assert event.indicators["from_domain"] == ("bulk.example.com",)


def test_pasted_headers_without_a_marker_are_the_evidence() -> None:
    """Headers pasted into the body (Received first) are read as the evidence message."""
    pasted = (
        "Received: from out.bulk.example.com (out.bulk.example.com [203.0.113.80]) by mx; x\n"
        + QUOTED.replace("To: <pat", "Message-ID: <m-80@bulk.example.com>\nTo: <pat")
    )
    event = only_event(letter(f"Full headers:\n\n{pasted}"))
    assert (event.indicators["source_ip"], event.indicators["message_id"]) == (
        ("203.0.113.80",),
        ("m-80@bulk.example.com",),
    )


def test_from_line_in_prose_is_not_taken_for_pasted_headers() -> None:
    """A lone ``From:`` line without other header lines does not make a quoted message."""
    event = only_event(letter("From: my neighbour, who got hxxp://spam[.]example/x too\n"))
    assert (event.details["evidence"], event.indicators) == (
        "body",
        {"url": ("http://spam.example/x",)},
    )


def test_letter_without_any_evidence_is_an_unknown_format() -> None:
    """A complaint naming no message, address, URL or number is refused, not guessed at."""
    with pytest.raises(UnknownReportFormat) as caught:
        FreeformParser().parse(RawDocument(letter("I keep getting junk from you. Stop it.\n")))
    assert caught.value.reason == "unknown_format"


def test_complainants_own_site_and_signature_phone_are_left_out() -> None:
    """Links to the writer's own site and numbers in the signature identify the writer."""
    body = (
        "Your customer sends spam linking to hxxps://cheap-pills[.]example/buy\n"
        "See https://www.home.example.net/blog for my earlier post.\n"
        "-- \nPat, +1 202 555 0199\n"
    )
    event = only_event(letter(body))
    assert event.indicators == {"url": ("https://cheap-pills.example/buy",)}


def test_urls_are_kept_refanged_and_shown_defanged() -> None:
    """Indicators hold the URL as sent; the details hold the defanged form for display."""
    event = only_event(letter("It links to hxxp://evil[.]example/login\n"))
    assert (event.indicators["url"], event.details["display_urls"]) == (
        ("http://evil.example/login",),
        ["hxxp://evil[.]example/login"],
    )


@pytest.mark.parametrize(
    ("subject", "words", "expected"),
    [
        ("Fwd: fake login page", "", "phishing"),
        ("Fwd: look", "It asks for my password.", "phishing"),
        ("Fwd: look", "The attachment is a trojan.", "malware"),
        ("Fwd: look", "An advance fee scam.", "fraud"),
        ("Fwd: look", "I never signed up.", "spam"),
    ],
)
def test_forwarded_message_category_comes_from_the_complainants_words(
    subject: str, words: str, expected: str
) -> None:
    """Phishing, malware and fraud words win over the default of spam."""
    event = only_event(
        letter(f"{words}\n\n---------- Forwarded message ---------\n{QUOTED}", subject)
    )
    assert event.category == expected


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("Report for 198.51.100.1", "The host made SSH brute force attempts.", "attack"),
        ("198.51.100.1", "Client software detected as botnet member.", "compromised"),
        ("Report", "198.51.100.1 has attacked us; others may be infected.", "attack"),
        ("Report", "Hosts seen: 198.51.100.1", "other"),
        ("Report", "I got this link: http://offer.example/x", "spam"),
    ],
)
def test_letter_category_is_the_first_word_that_says_what_happened(
    subject: str, body: str, expected: str
) -> None:
    """Without a forwarded message the earliest category word decides; hosts alone are other."""
    assert only_event(letter(body, subject)).category == expected


def test_letter_names_every_address_it_mentions() -> None:
    """Addresses in the subject and body are source IPs, subject first, without duplicates."""
    event = only_event(letter("Seen: 2001:db8::9 and 198.51.100.4\n", "About 198.51.100.4"))
    assert event.indicators["source_ip"] == ("198.51.100.4", "2001:db8::9")


def test_html_only_letter_is_read_without_its_tags() -> None:
    """A letter sent only as HTML is read as text, its tags removed."""
    raw = (
        TOP.format(subject="phishing")
        + "Content-Type: text/html\n\n<p>Bad link: <b>hxxp://bank-login[.]example/</b></p>\n"
    ).encode()
    assert only_event(raw).indicators == {"url": ("http://bank-login.example/",)}


def outcome(raw: bytes) -> str:
    """Return how the free-form parser reads *raw*: its evidence kind, or the error reason."""
    try:
        return str(only_event(raw).details["evidence"])
    except ParseError as error:
        return error.reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"Subject: x\n\n" + b"> " * 50_000, "unknown_format"),
        (b"Subject: x\n\n-----Original Message-----\n" + b"From: a@b.example\n" * 5000, "inline"),
        (b"Subject: x\n\n" + b"hxxp://a[.]" * 20_000, "body"),
    ],
)
def test_hostile_letters_end_in_a_report_or_a_parse_error(raw: bytes, expected: str) -> None:
    """Long quoting, endless header blocks and runs of defanged text end cleanly."""
    assert outcome(raw) == expected


@pytest.mark.parametrize("charset", ["undefined", "idna", "utf-7"])
def test_letter_in_a_charset_that_cannot_decode_it_is_read_as_utf8(charset: str) -> None:
    """A declared charset that fails or yields lone surrogates still gives the letter's evidence."""
    raw = letter("Spam from 198.51.100.23 \u00e4 +2AA-").replace(
        b"Content-Type: text/plain", f"Content-Type: text/plain; charset={charset}".encode()
    )
    assert only_event(raw).indicators == {"source_ip": ("198.51.100.23",)}


def test_from_field_of_nested_comments_gives_no_reporter_not_an_error() -> None:
    """A From field nested deeper than the stack allows is read as no address."""
    raw = letter("Spam from 198.51.100.23").replace(
        b"From: Pat Person <pat@home.example.net>", b"From: " + b"(" * 50_000
    )
    event = only_event(raw)
    assert (event.reporter, event.indicators) == (None, {"source_ip": ("198.51.100.23",)})
