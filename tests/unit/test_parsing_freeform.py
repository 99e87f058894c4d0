"""The free-form parser: evidence attached, forwarded inline, or named in the letter."""

import base64
import hashlib

import pytest

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError, UnknownReportFormat
from abusedesk.parsing.freeform import FreeformParser, quoted_date
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


def evidence_of(event: EventDraft) -> dict[str, tuple[str, ...]]:
    """Return the event's indicators about the evidence: all but the complainant's hash."""
    return {k: v for k, v in event.indicators.items() if k != "complainant_hash"}


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
    assert (event.details["evidence"], evidence_of(event)) == (
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
    assert evidence_of(event) == {"url": ("https://cheap-pills.example/buy",)}


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
    assert evidence_of(only_event(raw)) == {"url": ("http://bank-login.example/",)}


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
    assert evidence_of(only_event(raw)) == {"source_ip": ("198.51.100.23",)}


def test_from_field_of_nested_comments_gives_no_reporter_not_an_error() -> None:
    """A From field nested deeper than the stack allows is read as no address."""
    raw = letter("Spam from 198.51.100.23").replace(
        b"From: Pat Person <pat@home.example.net>", b"From: " + b"(" * 50_000
    )
    event = only_event(raw)
    assert (event.reporter, event.indicators) == (None, {"source_ip": ("198.51.100.23",)})


def sha(address: str) -> str:
    """Return the SHA-256 hex of *address*, as recipient and complainant hashes are kept."""
    return hashlib.sha256(address.encode()).hexdigest()


def test_complainant_hash_is_the_letters_own_from() -> None:
    """The writer's address is kept only as its hash, for the send log to match."""
    event = only_event(letter(f"-----Original Message-----\n{QUOTED}"))
    assert event.indicators["complainant_hash"] == (sha("pat@home.example.net"),)


def test_forwarded_single_to_gives_the_recipient_hash_and_domain() -> None:
    """The forwarded message's one To address is the recipient, kept as hash and domain."""
    event = only_event(letter(f"---------- Forwarded message ---------\n{QUOTED}"))
    assert (event.indicators["recipient_hash"], event.indicators["recipient_domain"]) == (
        (sha("pat@home.example.net"),),
        ("home.example.net",),
    )


def test_forwarded_to_of_several_addresses_gives_no_recipient() -> None:
    """A To that names several people does not say which one got this copy."""
    quoted = QUOTED.replace("To: <pat@home.example.net>", "To: a@x.example, b@y.example")
    event = only_event(letter(f"Begin forwarded message:\n{quoted}"))
    assert "recipient_hash" not in event.indicators


def test_outlook_block_with_mailto_and_client_date() -> None:
    """Outlook's ``Name [mailto:a@b]`` and ``Monday, March 10, 2025 10:01 PM`` are read,
    the date in the complaint's own zone."""
    raw = letter(
        "-----Original Message-----\n"
        "From: Offers [mailto:Offers@Bulk.Example.com]\n"
        "Sent: Monday, March 10, 2025 10:01 PM\n"
        "To: Pat Person\n"
        "Subject: Last chance\n\nBuy.\n"
    ).replace(b"+0000", b"-0500")
    event = only_event(raw)
    assert (
        event.indicators["from_address"],
        event.occurred_at and event.occurred_at.isoformat(),
    ) == (
        ("offers@bulk.example.com",),
        "2025-03-11T03:01:00+00:00",
    )


def test_gmail_date_with_pm_is_not_read_as_morning() -> None:
    """``Mon, Mar 10, 2025 at 10:01 PM`` is 22:01, not 10:01."""
    quoted = QUOTED.replace("Mon, 10 Mar 2025 22:01:00 +0000", "Mon, Mar 10, 2025 at 10:01 PM")
    event = only_event(letter(f"---------- Forwarded message ---------\n{quoted}"))
    assert event.occurred_at is not None
    assert event.occurred_at.isoformat() == "2025-03-10T22:01:00+00:00"


def test_message_id_cut_across_lines_is_joined() -> None:
    """A Message-ID a mail client wrapped onto a second line is read whole."""
    quoted = QUOTED.replace(
        "To: <pat", "Message-ID: <0100019a-aaaa-bbbb-\n000000@email.example.com>\nTo: <pat"
    )
    event = only_event(letter(f"-----Original Message-----\n{quoted}"))
    assert event.indicators["message_id"] == ("0100019a-aaaa-bbbb-000000@email.example.com",)


def test_subject_wrapped_onto_its_own_line_keeps_the_fields_after_it() -> None:
    """A re-wrapped Subject does not end the quoted header block early."""
    quoted = QUOTED.replace("Subject: Last chance\n", "Subject: Last chance to get\nyour gift\n")
    event = only_event(letter(f"-----Original Message-----\n{quoted}"))
    assert (event.details["evidence_subject"], "recipient_hash" in event.indicators) == (
        "Last chance to get your gift",
        True,
    )


def test_html_forward_with_bold_names_and_mailto_links_is_read() -> None:
    """An HTML-only forward is read by its line breaks, with bold names and echoed links."""
    body = (
        "<div>Spam!<br><br>---------- Forwarded message ---------<br>\n"
        "<b>From:</b> Offers &lt;offers@bulk.example.com&lt;mailto:offers@bulk.example.com&gt;&gt;"
        "<br>\n<b>Date:</b> Mon, 10 Mar 2025 22:01:00 +0000<br>\n<b>Subject:</b> Last chance<br>"
        "\n<b>To:</b> pat@home.example.net<br><br>Buy at https://bulk.example.com/buy</div>\n"
    )
    raw = (TOP.format(subject="spam") + "Content-Type: text/html\n\n" + body).encode()
    event = only_event(raw)
    assert (event.indicators["from_address"], event.details["evidence"]) == (
        ("offers@bulk.example.com",),
        "inline",
    )


def test_eml_file_attached_as_octet_stream_is_the_evidence() -> None:
    """An ``.eml`` attachment of another type is read as the attached message."""
    spam = base64.b64encode(
        b"From: Offers <offers@bulk.example.com>\nMessage-ID: <e-1@bulk.example.com>\n\nBuy\n"
    ).decode()
    raw = (
        TOP.format(subject="spam") + 'Content-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nSee attached.\n"
        '--b\nContent-Type: application/octet-stream; name="spam.eml"\n'
        "Content-Transfer-Encoding: base64\n\n" + spam + "\n--b--\n"
    ).encode()
    event = only_event(raw)
    assert (event.indicators["message_id"], event.details["evidence"]) == (
        ("e-1@bulk.example.com",),
        "attached",
    )


COLLEAGUE_FORWARD = (
    "---------- Forwarded message ---------\n"
    "From: Jo <jo@{site}>\n"
    "Date: Mon, 10 Mar 2025 23:00:00 +0000\n"
    "Subject: Fwd: Last chance\n"
    "To: <pat@home.example.net>\n\n"
    "Look at this.\n\n"
    "-----Original Message-----\n" + QUOTED
)


def test_forward_from_a_colleague_is_followed_to_the_spam() -> None:
    """A forward from the complainant's own site is passed through to the message inside."""
    event = only_event(letter(COLLEAGUE_FORWARD.format(site="home.example.net")))
    assert event.indicators["from_address"] == ("offers@bulk.example.com",)


def test_quoted_chain_from_outside_is_not_followed() -> None:
    """A chain quoted by someone outside (a scam's fake history) is not taken as evidence."""
    event = only_event(letter(COLLEAGUE_FORWARD.format(site="scam.example.com")))
    assert event.indicators["from_address"] == ("jo@scam.example.com",)


def test_complaints_own_received_hops_never_give_the_source_ip() -> None:
    """The complaint's own Received chain is the complainant's, never the source IP."""
    raw = b"Received: from pc.home.example.net ([198.51.100.99]) by mx.example.org; x\n" + letter(
        f"-----Original Message-----\n{QUOTED}"
    )
    assert "source_ip" not in only_event(raw).indicators


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 10 Mar 2025 22:01:00 +0000", "Mon, 10 Mar 2025 22:01:00 +0000"),
        ("Monday, March 10, 2025 10:01 PM", "Mon, 10 Mar 2025 22:01:00 +0000"),
        ("Mon, Mar 10, 2025 at 9:05 AM", "Mon, 10 Mar 2025 09:05:00 +0000"),
        ("Monday, 10 March 2025 22:01", "Mon, 10 Mar 2025 22:01:00 +0000"),
        ("sometime last week", "sometime last week"),
    ],
)
def test_quoted_dates_in_client_words_are_rewritten(value: str, expected: str) -> None:
    """Client-written dates become RFC 5322 dates; anything else is left as it was."""
    assert quoted_date(value) == expected


def test_complaint_through_a_list_names_the_writer_by_reply_to() -> None:
    """A complaint whose From a list rewrote ("Name via List") is the Reply-To's writer."""
    raw = letter(f"-----Original Message-----\n{QUOTED}").replace(
        b"From: Pat Person <pat@home.example.net>\n",
        b'From: "Pat Person via Abuse Desk" <abuse-desk@lists.example.org>\n'
        b"Reply-To: pat@home.example.net\nList-Id: <abuse-desk.lists.example.org>\n",
    )
    assert only_event(raw).indicators["complainant_hash"] == (sha("pat@home.example.net"),)
