"""The evidence viewer's reading of raw reports: complete enough to judge, safe to show."""

import re
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from abusedesk.evidence.view import (
    MAX_BODY_CHARACTERS,
    MAX_DEPTH,
    MAX_HEADERS,
    authentication_results,
    evidence_view,
    html_to_text,
)
from tests.factories.reports import forwarded_complaint
from tests.support.browser import hostile_payloads


def html_report(html: str, *, subject: str = "Offer") -> bytes:
    message = EmailMessage()
    message["From"] = "Offers <offers@news.example.com>"
    message["To"] = "someone@mail.example.net"
    message["Subject"] = subject
    message.set_content("plain part")
    message.add_alternative(html, subtype="html")
    return message.as_bytes()


def test_a_forwarded_complaint_shows_the_complaint_and_the_reported_message() -> None:
    """The report and the message attached to it are both shown, the latter one level down."""
    view = evidence_view(
        forwarded_complaint(7, message_id="m7@news.example.com", from_domain="news.example.com")
    )

    assert view.kind == "message"
    assert [(m.depth, m.subject) for m in view.messages] == [
        (0, "Spam from your customer (7)"),
        (1, "Offer number 7"),
    ]
    reported = view.messages[1]
    assert reported.message_id == "<m7@news.example.com>"
    assert reported.urls == ["hxxp://offers[.]news[.]example[.]com/deal/7"]


def test_html_bodies_become_text_with_links_and_images_written_out_defanged() -> None:
    """Nothing in HTML is kept as markup; link targets are shown but cannot be followed."""
    view = evidence_view(
        html_report(
            "<html><head><style>p{}</style><script>steal()</script></head><body>"
            '<p>Hello <a href="https://login.bad.example/x">your bank</a></p>'
            '<img src="https://track.bad.example/p.gif" alt="logo">'
            '<a href="javascript:alert(1)">js</a></body></html>'
        )
    )

    body = view.messages[0].body
    assert "Hello your bank [hxxps://login[.]bad[.]example/x]" in body
    assert "[image: logo hxxps://track[.]bad[.]example/p.gif]" in body
    assert "js [javascript[:]alert(1)]" in body
    assert "steal" not in body
    assert "p{}" not in body


def test_authentication_results_are_read_per_method() -> None:
    """Each method's verdict and properties are shown, with the receiver that checked."""
    results = authentication_results(
        "mx.google.com; spf=pass smtp.mailfrom=news.example.com; "
        "dkim=fail header.d=news.example.com; dmarc=fail (p=REJECT) header.from=x.example"
    )

    assert [(r.method, r.result, r.by) for r in results] == [
        ("spf", "pass", "mx.google.com"),
        ("dkim", "fail", "mx.google.com"),
        ("dmarc", "fail", "mx.google.com"),
    ]
    assert results[0].properties == "smtp.mailfrom=news.example.com"


def test_encoded_headers_are_decoded_and_invisible_direction_marks_removed() -> None:
    """RFC 2047 words are decoded; a right-to-left override cannot disguise a file name."""
    message = EmailMessage()
    message["Subject"] = "=?utf-8?b?R3LDvMOfZQ==?="
    message.set_content("see attached")
    message.add_attachment(
        b"MZ", maintype="application", subtype="octet-stream", filename="invoice\u202etxt.exe"
    )

    view = evidence_view(message.as_bytes())

    shown = view.messages[0]
    assert shown.subject == "Grüße"
    assert [a.filename for a in shown.attachments] == ["invoicetxt.exe"]
    assert shown.attachments[0].size == 2


def test_sizes_are_capped_and_the_cut_is_said() -> None:
    """Many headers and a huge body are cut, and the view says so."""
    head = "".join(f"X-Filler-{n}: {n}\r\n" for n in range(MAX_HEADERS + 30))
    raw = (head + "Subject: big\r\n\r\n" + "word " * MAX_BODY_CHARACTERS).encode()

    shown = evidence_view(raw).messages[0]

    assert (len(shown.headers), shown.headers_cut, shown.body_cut) == (MAX_HEADERS, 31, True)
    assert len(shown.body) < MAX_BODY_CHARACTERS + 10


def test_deeply_attached_messages_stop_at_the_depth_limit() -> None:
    """A message attached inside a message, many times over, is shown to a fixed depth."""
    raw = b"Subject: level 0\r\n\r\nbody\r\n"
    for level in range(1, 9):
        outer = EmailMessage()
        outer["Subject"] = f"level {level}"
        outer.set_content("wrapper")
        outer.add_attachment(raw, maintype="message", subtype="rfc822")
        raw = outer.as_bytes()

    view = evidence_view(raw)

    assert len(view.messages) == MAX_DEPTH + 1
    assert view.messages[0].subject == "level 8"


def test_json_reports_are_shown_pretty_printed() -> None:
    """An SES notification or X-ARF document is shown as indented JSON text."""
    view = evidence_view(b'{"notificationType":"Complaint","mail":{"messageId":"x"}}')

    assert view.kind == "json"
    assert '  "notificationType": "Complaint"' in view.text


def test_markup_in_html_bodies_never_survives_as_tags() -> None:
    """Payloads inside HTML come out as text: tags are gone, only escaped text may look like one.

    Text written as entities (``&lt;script&gt;``) is text in the message too, and is shown
    as the characters it stands for; the page escapes them.
    """
    for payload in hostile_payloads():
        text = html_to_text(f"<p>{payload}</p>")
        if "&" not in payload:
            assert re.search(r"<[a-z!/]", text, re.IGNORECASE) is None, (payload, text)


@settings(max_examples=200)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_view(raw: bytes) -> None:
    """No input makes the viewer fail: broken input is shown as text with the problem."""
    view = evidence_view(raw)

    assert view.size == len(raw)
