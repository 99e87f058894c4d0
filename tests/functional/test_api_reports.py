"""The report API over real HTTP: submit raw and X-ARF reports, then read their state."""

import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from abusedesk.bootstrap import Container, build
from abusedesk.config import Settings
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Case, Report
from abusedesk.storage.tokens import SqlTokenRepository
from abusedesk.web.app import create_app
from tests.factories.arf import arf_report
from tests.factories.inventory import make_account, make_sent_mail
from tests.support.web import bearer, issue, serving

DOMAIN = "news.example.com"
REPORTS = "/api/v1/reports"
RFC822 = {"Content-Type": "message/rfc822"}
JSON = {"Content-Type": "application/json"}
SMALL_LIMIT = 1000
NOT_A_REPORT = "a JSON report is an object or a list of objects"
SMS_RECORD = {
    "abusedesk_report": "sms",
    "origination_number": "+15550100123",
    "message_text": "Your parcel is held: https://parcel.example/x",
    "received_at": "2025-03-01T12:00:00Z",
}
XARF = {
    "Version": "4",
    "ReporterInfo": {"ReporterOrg": "Example CERT", "ReporterOrgEmail": "cert@example.net"},
    "Report": {"ReportClass": "Content", "ReportType": "Spam", "Date": "2025-03-01T08:00:00Z"},
}


@pytest.fixture
def client(container: Container) -> Iterator[httpx.Client]:
    """Return an HTTP client talking to the app served on 127.0.0.1."""
    with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
        yield http


@pytest.fixture
def writer(container: Container) -> dict[str, str]:
    """Return headers presenting a token that may submit reports."""
    return bearer(issue(container, "reports:write").token)


@pytest.fixture
def reader(container: Container) -> dict[str, str]:
    """Return headers presenting a token that may read reports."""
    return bearer(issue(container, "reports:read").token)


@pytest.fixture
def small_container(settings: Settings) -> Iterator[Container]:
    """Return the wired application with a report size limit of SMALL_LIMIT bytes."""
    storage = settings.storage.model_copy(update={"max_report_bytes": SMALL_LIMIT})
    built = build(settings.model_copy(update={"storage": storage}))
    yield built
    built.close()


@pytest.fixture
def small_client(small_container: Container) -> Iterator[httpx.Client]:
    """Return a client of the app with the small size limit, with a write token."""
    token = issue(small_container, "reports:write").token
    with (
        serving(create_app(small_container)) as base_url,
        httpx.Client(base_url=base_url, headers=bearer(token)) as http,
    ):
        yield http


def _report_count(container: Container) -> int:
    with read_only(container.sessions) as session:
        return session.scalar(select(func.count(Report.id))) or 0


def _only_token_prefix(container: Container) -> str:
    with read_only(container.sessions) as session:
        (token,) = SqlTokenRepository().list_tokens(session)
    return token.display_prefix


def _attributable_report(container: Container) -> tuple[bytes, int, int]:
    """Return an ARF report quoting mail the provider sent, with its account and resource."""
    with unit_of_work(container.sessions) as session:
        account_id, resource_id = make_account(session, domain=DOMAIN)
        mail = make_sent_mail(session, account_id, resource_id, 1, domain=DOMAIN)
    return arf_report(message_id=mail.message_id, from_domain=DOMAIN), account_id, resource_id


def test_submit_without_a_token_is_401(client: httpx.Client) -> None:
    """Submitting without a token is refused with 401 and stores nothing."""
    response = client.post(REPORTS, content=arf_report(message_id="a@x", from_domain=DOMAIN))

    assert (response.status_code, response.json()["error"]) == (401, "unauthorized")


def test_submit_with_a_read_only_token_is_403(
    container: Container, client: httpx.Client, reader: dict[str, str]
) -> None:
    """A token without reports:write may not submit, and nothing is stored."""
    response = client.post(
        REPORTS,
        content=arf_report(message_id="a@x", from_domain=DOMAIN),
        headers={**reader, **RFC822},
    )

    assert (response.status_code, response.json()["error"], _report_count(container)) == (
        403,
        "insufficient_scope",
        0,
    )


def test_read_with_a_write_only_token_is_403(
    container: Container, client: httpx.Client, writer: dict[str, str]
) -> None:
    """A token without reports:read may not read a report."""
    posted = client.post(
        REPORTS,
        content=arf_report(message_id="a@x", from_domain=DOMAIN),
        headers={**writer, **RFC822},
    )

    response = client.get(posted.headers["Location"], headers=writer)

    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")


def test_new_report_is_accepted_with_202_its_id_and_location(
    client: httpx.Client, writer: dict[str, str]
) -> None:
    """A new raw ARF message is answered 202 with its id, status, links and Location."""
    response = client.post(
        REPORTS,
        content=arf_report(message_id="a@x", from_domain=DOMAIN),
        headers={**writer, **RFC822},
    )

    assert (response.status_code, response.headers["Location"], response.json()) == (
        202,
        f"{REPORTS}/1",
        {
            "report_id": 1,
            "status": "pending",
            "duplicate": False,
            "links": {"self": f"{REPORTS}/1"},
        },
    )


def test_accepted_report_is_committed_before_the_answer(
    container: Container, client: httpx.Client, writer: dict[str, str]
) -> None:
    """Once the 202 arrives, another connection reads the exact bytes and the envelope."""
    raw = arf_report(message_id="a@x", from_domain=DOMAIN)

    response = client.post(REPORTS, content=raw, headers={**writer, **RFC822})

    report_id = response.json()["report_id"]
    with read_only(container.sessions) as session:
        stored = container.reports.raw(session, report_id)
        summary = container.reports.get(session, report_id)
    assert (stored, summary.channel, summary.envelope) == (
        raw,
        "api",
        {
            "token": _only_token_prefix(container),
            "content_type": "message/rfc822",
            "peer": "127.0.0.1",
        },
    )


def test_same_bytes_twice_answer_200_with_the_same_id(
    container: Container, client: httpx.Client, writer: dict[str, str]
) -> None:
    """Submitting the same bytes again is answered 200 with the first id, marked duplicate."""
    raw = arf_report(message_id="a@x", from_domain=DOMAIN)
    first = client.post(REPORTS, content=raw, headers={**writer, **RFC822})

    again = client.post(REPORTS, content=raw, headers={**writer, "Content-Type": "text/plain"})

    assert (
        again.status_code,
        again.headers["Location"],
        again.json(),
        _report_count(container),
    ) == (
        200,
        first.headers["Location"],
        {
            "report_id": first.json()["report_id"],
            "status": "pending",
            "duplicate": True,
            "links": {"self": first.headers["Location"]},
        },
        1,
    )


def test_duplicate_answer_carries_the_current_status(
    container: Container, client: httpx.Client, writer: dict[str, str]
) -> None:
    """A duplicate is answered with the stored report's status, not a fresh 'pending'."""
    raw, _, _ = _attributable_report(container)
    client.post(REPORTS, content=raw, headers={**writer, **RFC822})
    container.embedded.run_once()

    again = client.post(REPORTS, content=raw, headers={**writer, **RFC822})

    assert (again.status_code, again.json()["status"]) == (200, "done")


def test_report_over_the_limit_is_413(
    small_container: Container, small_client: httpx.Client
) -> None:
    """A body longer than max_report_bytes is refused with 413 and nothing is stored."""
    response = small_client.post(REPORTS, content=b"x" * (SMALL_LIMIT + 1), headers=RFC822)

    assert (response.status_code, response.json(), _report_count(small_container)) == (
        413,
        {"error": "too_large", "detail": f"report exceeds the limit of {SMALL_LIMIT:,} bytes"},
        0,
    )


def test_streamed_report_over_the_limit_is_413(
    small_container: Container, small_client: httpx.Client
) -> None:
    """A chunked body without a length is cut off at the limit and refused with 413."""

    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b"x" * (SMALL_LIMIT // 2)

    response = small_client.post(REPORTS, content=chunks(), headers=RFC822)

    assert (response.status_code, response.json()["error"], _report_count(small_container)) == (
        413,
        "too_large",
        0,
    )


def test_report_of_exactly_the_limit_is_accepted(small_client: httpx.Client) -> None:
    """A body of exactly max_report_bytes is accepted."""
    response = small_client.post(REPORTS, content=b"x" * SMALL_LIMIT, headers=RFC822)

    assert response.status_code == 202


@pytest.mark.parametrize("body", [b"", b" \r\n\t\r\n"], ids=["nothing", "whitespace"])
def test_empty_report_is_400(
    container: Container, client: httpx.Client, writer: dict[str, str], body: bytes
) -> None:
    """An empty or blank body is refused with 400 and nothing is stored."""
    response = client.post(REPORTS, content=body, headers={**writer, **RFC822})

    assert (response.status_code, response.json(), _report_count(container)) == (
        400,
        {"error": "empty", "detail": "report is empty"},
        0,
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[1, 2]", f"{NOT_A_REPORT}, not an array of other values"),
        (b"[]", f"{NOT_A_REPORT}, not an empty array"),
        (b'[{"a": 1}, 2]', f"{NOT_A_REPORT}, not an array of other values"),
        (b'"report"', f"{NOT_A_REPORT}, not a string"),
        (b"42", f"{NOT_A_REPORT}, not a number"),
        (b"null", f"{NOT_A_REPORT}, not null"),
        (b'{"Version": ', "the body is not valid JSON at character 12"),
        (b"\xff\xfe{", "the body is not valid JSON"),
        (b"[" * 100_000, "the JSON body is nested too deeply"),
    ],
    ids=[
        "array",
        "empty-array",
        "mixed-array",
        "string",
        "number",
        "null",
        "truncated",
        "bad-encoding",
        "deep",
    ],
)
def test_json_that_is_not_an_object_is_400(
    container: Container, client: httpx.Client, writer: dict[str, str], body: bytes, detail: str
) -> None:
    """A JSON body that is neither an object nor a list of objects is refused with 400."""
    response = client.post(REPORTS, content=body, headers={**writer, **JSON})

    assert (response.status_code, response.json(), _report_count(container)) == (
        400,
        {"error": "invalid_json", "detail": detail},
        0,
    )


def test_xarf_json_object_is_stored_as_sent(
    container: Container, client: httpx.Client, writer: dict[str, str]
) -> None:
    """A JSON object is accepted and stored byte for byte, its content type in the envelope."""
    raw = json.dumps(XARF).encode()

    response = client.post(
        REPORTS, content=raw, headers={**writer, "Content-Type": "application/json; charset=utf-8"}
    )

    with read_only(container.sessions) as session:
        report_id = response.json()["report_id"]
        stored = container.reports.raw(session, report_id)
        envelope = container.reports.get(session, report_id).envelope
    assert (response.status_code, stored, envelope["content_type"]) == (
        202,
        raw,
        "application/json",
    )


def test_sms_records_as_a_json_list_are_accepted_and_parsed(
    container: Container, client: httpx.Client, writer: dict[str, str], reader: dict[str, str]
) -> None:
    """A JSON list of SMS records is accepted as sent and parses to one sms event each."""
    raw = json.dumps([SMS_RECORD, {**SMS_RECORD, "origination_number": "+15550100124"}]).encode()
    location = client.post(REPORTS, content=raw, headers={**writer, **JSON}).headers["Location"]
    container.embedded.run_once()

    body = client.get(location, headers=reader).json()

    assert (body["format"], [(e["category"], e["service"]) for e in body["events"]]) == (
        "sms",
        [("sms_spam", "sms"), ("sms_spam", "sms")],
    )


def test_csv_report_is_accepted_as_text_csv_and_parsed(
    container: Container, client: httpx.Client, writer: dict[str, str], reader: dict[str, str]
) -> None:
    """A CSV import report sent as text/csv is stored as sent and parses by its header."""
    raw = b"sender_id,message_text,received_at\nACMEBANK,Verify your card,2025-03-01T12:00:00Z\n"
    response = client.post(REPORTS, content=raw, headers={**writer, "Content-Type": "text/csv"})
    container.embedded.run_once()

    body = client.get(response.headers["Location"], headers=reader).json()

    assert (response.status_code, body["format"], body["events"][0]["indicators"]) == (
        202,
        "sms",
        {"sender_id": ["ACMEBANK"]},
    )


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/html"])
def test_unsupported_content_type_is_415(
    container: Container, client: httpx.Client, writer: dict[str, str], content_type: str | None
) -> None:
    """A body of another media type, or of none, is refused with 415 and the accepted types."""
    headers = dict(writer)
    if content_type is not None:
        headers["Content-Type"] = content_type

    response = client.post(REPORTS, content=b"From: a@b\r\n\r\nhi\r\n", headers=headers)

    assert (response.status_code, response.json(), _report_count(container)) == (
        415,
        {
            "error": "unsupported_media_type",
            "detail": "send the report as one of message/rfc822, application/octet-stream, "
            "text/plain, text/csv, application/json",
        },
        0,
    )


def test_pending_report_shows_its_status_and_no_events(
    container: Container, client: httpx.Client, writer: dict[str, str], reader: dict[str, str]
) -> None:
    """A report not yet processed shows its identity, 'pending', and no events; never its bytes."""
    raw = arf_report(message_id="a@x", from_domain=DOMAIN)
    location = client.post(REPORTS, content=raw, headers={**writer, **RFC822}).headers["Location"]

    response = client.get(location, headers=reader)

    body = response.json()
    assert (response.status_code, body) == (
        200,
        {
            "report_id": 1,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "channel": "api",
            "size": len(raw),
            "received_at": body["received_at"],
            "status": "pending",
            "stage": None,
            "format": None,
            "kind": None,
            "parse_warnings": [],
            "attempts": 0,
            "error_class": None,
            "last_error": None,
            "event_count": 0,
            "events": [],
            "links": {"self": location},
        },
    )


def test_processed_report_shows_its_attributed_event(
    container: Container, client: httpx.Client, writer: dict[str, str], reader: dict[str, str]
) -> None:
    """After processing, a report shows 'done', its format, and its event with attribution."""
    raw, account_id, resource_id = _attributable_report(container)
    location = client.post(REPORTS, content=raw, headers={**writer, **RFC822}).headers["Location"]
    container.embedded.run_once()

    body = client.get(location, headers=reader).json()

    with read_only(container.sessions) as session:
        case_id = session.scalar(select(Case.id).where(Case.account_id == account_id))
    (event,) = body["events"]
    assert (
        body["status"],
        body["format"],
        body["event_count"],
        event["seq"],
        event["category"],
        event["account_id"],
        event["resource_id"],
        event["attribution"]["state"],
        event["attribution"]["method"],
        event["attribution"]["confidence"],
        event["case_id"],
    ) == (
        "done",
        "arf",
        1,
        0,
        "spam",
        account_id,
        resource_id,
        "attributed",
        "message_id",
        "high",
        case_id,
    )
    assert event["attribution"]["reason"].startswith("Message-ID <")
    # The factory dates the report and the arrival the same second: when it was reported.
    assert event["reported_at"] == event["occurred_at"]


def test_unrecognised_report_shows_the_error(
    container: Container, client: httpx.Client, writer: dict[str, str], reader: dict[str, str]
) -> None:
    """A report no parser recognises shows 'unknown_format' with the stage and the error."""
    location = client.post(
        REPORTS, content=b"\x00\x01 not a message \xff", headers={**writer, **RFC822}
    ).headers["Location"]
    container.embedded.run_once()

    body = client.get(location, headers=reader).json()

    assert (body["status"], body["stage"], body["error_class"], body["last_error"]) == (
        "unknown_format",
        "parse",
        "abusedesk.parsing.errors.UnknownReportFormat",
        "unknown_format: no parser recognises this report",
    )


@pytest.mark.parametrize("report_id", ["999", str(2**63 - 1)])
def test_unknown_report_is_404(
    client: httpx.Client, reader: dict[str, str], report_id: str
) -> None:
    """An id no report has is answered 404 in the JSON error shape."""
    response = client.get(f"{REPORTS}/{report_id}", headers=reader)

    assert (response.status_code, response.json()) == (
        404,
        {"error": "not_found", "detail": f"no report {report_id}"},
    )


@pytest.mark.parametrize("report_id", ["0", "-1", "abc", str(2**63)])
def test_impossible_report_id_is_422(
    client: httpx.Client, reader: dict[str, str], report_id: str
) -> None:
    """An id that cannot be a report's is refused before the database sees it."""
    response = client.get(f"{REPORTS}/{report_id}", headers=reader)

    assert (response.status_code, response.json()["error"]) == (422, "invalid_request")
