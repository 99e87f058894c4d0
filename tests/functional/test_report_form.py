"""The public report form over real HTTP: render, post, store, refuse, rate-limit, escape."""

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container, build
from abusedesk.config import FormSettings, Settings
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.reports import ReportSummary
from abusedesk.storage.tables import Event, Report
from abusedesk.web.app import create_app
from abusedesk.web.ui.report_form import issue_token
from tests.support.web import serving

SECRET = "form-secret-for-tests"
ATTACHED_ID = "offer-1@news.example.com"
SPAM_EML = (
    b"From: Offers <offers@news.example.com>\r\n"
    b"To: someone@mail.example.net\r\n"
    b"Subject: You won\r\n"
    b"Date: Sat, 01 Mar 2025 08:00:00 +0000\r\n"
    b"Message-ID: <" + ATTACHED_ID.encode() + b">\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=news.example.com; s=s1; h=from:to:subject;"
    b" bh=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; b=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n"
    b"\r\n"
    b"Claim it at http://offers.news.example.com/win\r\n"
)
NO_FILE = ("", b"", "application/octet-stream")
TOKEN_INPUT = re.compile(r'<input type="hidden" name="token" value="([^"]*)">')


@contextmanager
def form_site(settings: Settings, **form: Any) -> Iterator[tuple[Container, httpx.Client]]:
    """Serve the app with the form settings *form*; yield its container and a client."""
    built = build(settings.model_copy(update={"form": FormSettings(token_secret=SECRET, **form)}))
    try:
        with serving(create_app(built)) as base_url, httpx.Client(base_url=base_url) as http:
            yield built, http
    finally:
        built.close()


@pytest.fixture
def site(settings: Settings) -> Iterator[tuple[Container, httpx.Client]]:
    """Serve the app with the default form settings and a known token secret."""
    with form_site(settings) as served:
        yield served


def fresh_token(http: httpx.Client) -> str:
    """Fetch the form and return the token it was rendered with."""
    match = TOKEN_INPUT.search(http.get("/report").text)
    assert match is not None
    return match.group(1)


def post(
    http: httpx.Client,
    *,
    token: str | None = None,
    attachment: tuple[str, bytes, str] = NO_FILE,
    **fields: str,
) -> httpx.Response:
    """Post the form as a browser would (multipart), with *fields* over sensible defaults."""
    data = {
        "token": fresh_token(http) if token is None else token,
        "category": "spam",
        "reporter": "",
        "sender": "offers@news.example.com",
        "text": "I never signed up for this.",
        "website": "",
        **fields,
    }
    return http.post("/report", data=data, files={"attachment": attachment})


def stored_reports(container: Container) -> list[tuple[ReportSummary, bytes]]:
    """Return every stored report's summary and raw bytes."""
    with unit_of_work(container.sessions) as session:
        ids = session.scalars(select(Report.id).order_by(Report.id)).all()
        return [(container.reports.get(session, i), container.reports.raw(session, i)) for i in ids]


def parsed(raw: bytes) -> EmailMessage:
    """Parse stored bytes as an email."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def parts_by_type(message: EmailMessage) -> dict[str, EmailMessage]:
    """Return the top-level parts of *message* by content type."""
    return {part.get_content_type(): part for part in message.iter_parts()}


def test_form_renders_with_a_token_and_a_hidden_trap_field(
    site: tuple[Container, httpx.Client],
) -> None:
    """GET /report shows the form with a signed token and a trap field people never see."""
    _, http = site

    response = http.get("/report")

    assert (
        response.status_code,
        response.headers["Cache-Control"],
        bool(re.fullmatch(r"\d+\.[0-9a-f]{64}", fresh_token(http))),
        '<div class="form-trap" aria-hidden="true">' in response.text,
        '<input id="website" name="website" type="text" tabindex="-1"' in response.text,
        '<option value="sms_spam">' in response.text,
        "<script" in response.text,
    ) == (200, "no-store", True, True, True, True, False)


def test_sign_in_page_links_to_the_form(site: tuple[Container, httpx.Client]) -> None:
    """Someone who lands on the site without an account finds the report form."""
    _, http = site

    assert '<a href="/report">' in http.get("/", follow_redirects=True).text


def test_valid_post_stores_one_webform_report(site: tuple[Container, httpx.Client]) -> None:
    """A valid post stores one report on the webform channel with the peer and category."""
    container, http = site

    post(http, category="phishing")

    ((summary, _),) = stored_reports(container)
    assert (summary.channel, summary.envelope) == (
        "webform",
        {"peer": "127.0.0.1", "category": "phishing"},
    )


def test_stored_message_carries_the_typed_fields(site: tuple[Container, httpx.Client]) -> None:
    """The stored message is From the reporter, subject-tagged, with every field in its text."""
    container, http = site

    post(
        http,
        category="phishing",
        reporter="person@people.example.org",
        sender="+44 7700 900123",
        text="Your parcel is waiting: http://parcel.example.com/pay",
        attachment=("spam.eml", SPAM_EML, "message/rfc822"),
    )

    ((_, raw),) = stored_reports(container)
    message = parsed(raw)
    text = parts_by_type(message)["text/plain"].get_content()
    assert (
        message["From"],
        message["Subject"],
        "Reporter: person@people.example.org" in text,
        "Complained-about sender: +44 7700 900123" in text,
        "Your parcel is waiting: http://parcel.example.com/pay" in text,
    ) == ("person@people.example.org", "[web form] phishing", True, True, True)


def test_post_without_reporter_address_is_from_the_placeholder(
    site: tuple[Container, httpx.Client],
) -> None:
    """Without a reporter address the stored message is From webform@invalid."""
    container, http = site

    post(http, reporter="")

    ((_, raw),) = stored_reports(container)
    assert parsed(raw)["From"] == "webform@invalid"


def test_attached_eml_is_stored_verbatim_as_message_rfc822(
    site: tuple[Container, httpx.Client],
) -> None:
    """An attached email is stored as a message/rfc822 part, its bytes unchanged."""
    container, http = site

    post(http, attachment=("spam.eml", SPAM_EML, "message/rfc822"))

    ((_, raw),) = stored_reports(container)
    attached = parts_by_type(parsed(raw))["message/rfc822"].get_content()
    assert (attached["Message-ID"], SPAM_EML in raw) == (f"<{ATTACHED_ID}>", True)


def test_attachment_that_is_not_an_email_is_kept_as_octet_stream(
    site: tuple[Container, httpx.Client],
) -> None:
    """A file that does not read as an email is kept as application/octet-stream."""
    container, http = site
    blob = b"\x89PNG\r\n\x1a\n\x00\x00 not a message"

    post(http, attachment=("screenshot.png", blob, "image/png"))

    ((_, raw),) = stored_reports(container)
    part = parts_by_type(parsed(raw))["application/octet-stream"]
    assert (part.get_filename(), part.get_content()) == ("screenshot.png", blob)


def test_posted_report_becomes_a_freeform_event(site: tuple[Container, httpx.Client]) -> None:
    """The pipeline reads a form report with the free-form parser, from the attached email."""
    container, http = site
    post(http, attachment=("spam.eml", SPAM_EML, "message/rfc822"))

    while container.embedded.run_once():
        pass

    with unit_of_work(container.sessions) as session:
        event = session.scalars(select(Event)).one()
        assert (event.report_format, event.category, event.indicators["message_id"]) == (
            "freeform",
            "spam",
            [ATTACHED_ID],
        )


def test_thanks_page_shows_the_report_reference(site: tuple[Container, httpx.Client]) -> None:
    """After the commit the reporter sees a thanks page naming the stored report's number."""
    container, http = site

    response = post(http)

    ((summary, _),) = stored_reports(container)
    assert (response.status_code, f"<strong>{summary.report_id}</strong>" in response.text) == (
        200,
        True,
    )


def test_filled_trap_field_gets_thanks_and_stores_nothing(
    site: tuple[Container, httpx.Client],
) -> None:
    """A post with the hidden trap field filled is thanked and discarded."""
    container, http = site

    response = post(http, website="http://cheap-pills.example")

    assert (
        response.status_code,
        "Thank you for your report" in response.text,
        stored_reports(container),
    ) == (200, True, [])


@pytest.mark.parametrize("kind", ["missing", "forged", "expired", "garbage"])
def test_post_without_a_fresh_signed_token_is_400(
    site: tuple[Container, httpx.Client], kind: str
) -> None:
    """A post with no token, a token signed elsewhere, or one over an hour old is refused."""
    container, http = site
    now = time.time()
    token = {
        "missing": "",
        "forged": issue_token(b"another key", now),
        "expired": issue_token(SECRET.encode(), now - 2 * 3600),
        "garbage": "9" * 40 + "." + "0" * 64,
    }[kind]

    response = post(http, token=token)

    assert (
        response.status_code,
        "This form was open too long" in response.text,
        stored_reports(container),
    ) == (400, True, [])


def test_token_within_its_age_is_accepted(site: tuple[Container, httpx.Client]) -> None:
    """A token signed with the app's key 50 minutes ago still lets the post through."""
    container, http = site

    response = post(http, token=issue_token(SECRET.encode(), time.time() - 50 * 60))

    assert (response.status_code, len(stored_reports(container))) == (200, 1)


def test_post_with_neither_text_nor_attachment_is_400(
    site: tuple[Container, httpx.Client],
) -> None:
    """A post with no pasted text and no file is refused and nothing is stored."""
    container, http = site

    response = post(http, text="  \r\n ")

    assert (
        response.status_code,
        "Paste the message or its headers" in response.text,
        stored_reports(container),
    ) == (400, True, [])


def test_unknown_category_is_400(site: tuple[Container, httpx.Client]) -> None:
    """A category the form does not offer is refused."""
    _, http = site

    response = post(http, category="../../etc")

    assert (response.status_code, "Choose what happened" in response.text) == (400, True)


def test_malformed_reporter_address_is_400_and_keeps_the_values(
    site: tuple[Container, httpx.Client],
) -> None:
    """A malformed reporter address re-shows the form with the error and the typed text."""
    container, http = site

    response = post(http, reporter="someone at example", text="keep <b>this</b>")

    assert (
        response.status_code,
        "does not look like name@example.net" in response.text,
        "keep &lt;b&gt;this&lt;/b&gt;</textarea>" in response.text,
        stored_reports(container),
    ) == (400, True, True, [])


@pytest.mark.parametrize(
    ("field", "size"),
    [("text", 1001), ("attachment", 2001), ("attachment", 100_000)],
)
def test_oversized_post_is_413(settings: Settings, field: str, size: int) -> None:
    """Text over the message limit, or a file over the attachment limit, is answered 413."""
    with form_site(settings, max_message_bytes=1000, max_attachment_bytes=2000) as (
        container,
        http,
    ):
        token = fresh_token(http)
        if field == "text":
            response = post(http, token=token, text="x" * size)
        else:
            response = post(http, token=token, attachment=("big.eml", b"x" * size, "text/plain"))

        assert (response.status_code, "too large" in response.text, stored_reports(container)) == (
            413,
            True,
            [],
        )


def test_posts_beyond_the_burst_are_429(settings: Settings) -> None:
    """One peer gets its burst of posts, then 429 with a friendly page and Retry-After."""
    with form_site(settings, burst=2, per_second=0.001) as (_, http):
        statuses = [post(http, token="").status_code for _ in range(3)]
        refused = post(http, token="")

    assert (statuses, refused.headers["Retry-After"], "Please wait" in refused.text) == (
        [400, 400, 429],
        "1000",
        True,
    )


def test_hostile_fields_are_escaped_on_the_thanks_page(
    site: tuple[Container, httpx.Client],
) -> None:
    """Markup typed into the form is shown back as text, never as markup."""
    _, http = site

    response = post(http, sender="<script>alert(1)</script>")

    assert (
        response.status_code,
        "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text,
        "<script" in response.text,
    ) == (200, True, False)


def test_switched_off_form_is_404(settings: Settings) -> None:
    """With the form disabled, /report does not exist."""
    with form_site(settings, enabled=False) as (_, http):
        assert http.get("/report").status_code == 404
