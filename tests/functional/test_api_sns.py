"""The SNS endpoint over real HTTP: only signed messages from trusted places are stored."""

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container, build
from abusedesk.config import Settings, SnsSettings
from abusedesk.intake.sns import UntrustedCertificate
from abusedesk.storage.db import read_only
from abusedesk.storage.reports import ReportStatus, ReportSummary
from abusedesk.storage.tables import Event
from abusedesk.web.app import create_app
from tests.support.sns import (
    CERT_NAME,
    TOPIC,
    confirmation,
    notification,
    pki,
    sign,
)
from tests.support.web import serving

PATH = "/api/v1/sns"
# SNS posts its JSON as text/plain; the endpoint must not depend on the content type.
SNS_HEADERS = {"Content-Type": "text/plain; charset=UTF-8"}

COMPLAINT = {
    "notificationType": "Complaint",
    "complaint": {
        "complainedRecipients": [
            {"emailAddress": "r1@example.net"},
            {"emailAddress": "r2@example.net"},
        ],
        "timestamp": "2025-03-01T13:00:00.000Z",
        "feedbackId": "feedback-2",
        "complaintFeedbackType": "abuse",
    },
    "mail": {
        "timestamp": "2025-03-01T12:00:00.000Z",
        "source": "news@shop.example.com",
        "sourceIp": "203.0.113.5",
        "sendingAccountId": "111122223333",
        "messageId": "0100019a-provider-id-000000",
        "destination": ["r1@example.net", "r2@example.net"],
    },
}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """Return the test settings with the SNS endpoint trusting the test CA and certificate."""
    certificates = tmp_path / "sns-certificates"
    certificates.mkdir()
    (certificates / CERT_NAME).write_bytes(pki().certificate_pem())
    ca_file = tmp_path / "sns-ca.pem"
    ca_file.write_bytes(pki().ca_pem())
    sns = SnsSettings(certificate_dir=certificates, ca_file=ca_file, topic_arns=[TOPIC])
    return settings.model_copy(update={"sns": sns})


@pytest.fixture
def client(container: Container) -> Iterator[httpx.Client]:
    """Return an HTTP client talking to the app served on 127.0.0.1."""
    with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
        yield http


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """Return a listening socket on 127.0.0.1 that nothing should ever connect to."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def was_contacted(sock: socket.socket) -> bool:
    """Tell whether anyone connected to *sock*."""
    try:
        connection, _ = sock.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


def signed_complaint() -> dict[str, Any]:
    """Return a signed SNS Notification wrapping an SES complaint about two recipients."""
    return sign(notification(json.dumps(COMPLAINT)), pki().key)


def post(client: httpx.Client, message: dict[str, Any]) -> httpx.Response:
    """POST *message* to the SNS endpoint the way SNS does."""
    return client.post(PATH, content=json.dumps(message).encode(), headers=SNS_HEADERS)


def reports(container: Container) -> list[ReportSummary]:
    """Return every stored report's summary."""
    with read_only(container.sessions) as session:
        counts = container.reports.count_by_status(session)
        return [container.reports.get(session, n) for n in range(1, sum(counts.values()) + 1)]


def event_categories(container: Container) -> list[str]:
    """Return the category of every stored event."""
    with read_only(container.sessions) as session:
        return list(session.scalars(select(Event.category).order_by(Event.id)))


def test_signed_complaint_is_stored_with_its_envelope(
    container: Container, client: httpx.Client
) -> None:
    """A verified Notification is stored on the sns channel with its topic, id and type."""
    response = post(client, signed_complaint())

    (report,) = reports(container)
    assert (response.status_code, response.json(), report.channel, report.envelope) == (
        200,
        {
            "status": "stored",
            "report_id": report.report_id,
            "duplicate": False,
            "type": "Notification",
        },
        "sns",
        {
            "sns_type": "Notification",
            "topic_arn": TOPIC,
            "message_id": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        },
    )


def test_signed_complaint_is_parsed_into_one_event_per_recipient(
    container: Container, client: httpx.Client
) -> None:
    """The stored SNS notification goes through the pipeline into complaint events."""
    post(client, signed_complaint())

    container.embedded.run_once()

    (report,) = reports(container)
    assert ((report.status, report.report_format), event_categories(container)) == (
        (ReportStatus.DONE, "ses"),
        ["spam", "spam"],
    )


def test_tampered_notification_is_refused_and_not_stored(
    container: Container, client: httpx.Client
) -> None:
    """A Notification changed after signing gets 403 with the reason, and nothing is stored."""
    message = signed_complaint()
    message["Message"] = message["Message"].replace("r1@example.net", "r9@example.net")

    response = post(client, message)

    assert (response.status_code, response.json(), reports(container)) == (
        403,
        {"error": "sns_invalid_signature", "detail": "the signature does not match the message"},
        [],
    )


def test_disallowed_certificate_host_is_refused_without_fetching(
    container: Container, client: httpx.Client, listener: socket.socket
) -> None:
    """A SigningCertURL off the allowed hosts gets 403 and no connection is made to it."""
    port = listener.getsockname()[1]
    message = signed_complaint()
    message["SigningCertURL"] = f"https://127.0.0.1:{port}/{CERT_NAME}"

    response = post(client, message)

    assert (response.status_code, response.json()["error"], was_contacted(listener)) == (
        403,
        "sns_untrusted_certificate_url",
        False,
    )
    assert reports(container) == []


def test_message_from_an_unknown_topic_is_refused(
    container: Container, client: httpx.Client
) -> None:
    """With allowed topics configured, a validly signed message from another topic gets 403."""
    unsigned = notification(json.dumps(COMPLAINT))
    unsigned["TopicArn"] = "arn:aws:sns:us-east-1:444455556666:elsewhere"

    response = post(client, sign(unsigned, pki().key))

    assert (response.status_code, response.json()["error"], reports(container)) == (
        403,
        "sns_unknown_topic",
        [],
    )


def test_unsupported_signature_version_is_refused(
    container: Container, client: httpx.Client
) -> None:
    """A SignatureVersion other than 1 or 2 gets 403."""
    message = signed_complaint()
    message["SignatureVersion"] = "3"

    response = post(client, message)

    assert (response.status_code, response.json()["error"], reports(container)) == (
        403,
        "sns_unsupported_signature_version",
        [],
    )


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"Type": "Other"}'])
def test_body_that_is_no_sns_message_is_a_bad_request(
    container: Container, client: httpx.Client, body: bytes
) -> None:
    """A body that is not an SNS message gets 400 and nothing is stored."""
    response = client.post(PATH, content=body, headers=SNS_HEADERS)

    assert (response.status_code, response.json()["error"], reports(container)) == (
        400,
        "sns_invalid_envelope",
        [],
    )


def test_oversized_body_is_refused(container: Container, client: httpx.Client) -> None:
    """A body larger than the envelope limit gets 413 and nothing is stored."""
    limit = container.settings.sns.max_envelope_bytes

    response = client.post(PATH, content=b" " * (limit + 1), headers=SNS_HEADERS)

    assert (response.status_code, response.json()["error"], reports(container)) == (
        413,
        "too_large",
        [],
    )


def test_subscription_confirmation_is_recorded_and_quarantined_for_operators(
    container: Container, client: httpx.Client
) -> None:
    """A verified SubscriptionConfirmation is stored, unconfirmed, and parsed into quarantine."""
    response = post(client, sign(confirmation(), pki().key))
    container.embedded.run_once()

    (report,) = reports(container)
    assert (
        response.status_code,
        response.json()["confirmed"],
        report.status,
        (report.last_error or "").split(":")[0],
    ) == (200, False, ReportStatus.QUARANTINED, "sns_subscription_confirmation")


def test_unsubscribe_confirmation_is_stored(container: Container, client: httpx.Client) -> None:
    """A verified UnsubscribeConfirmation is stored and answered 200."""
    response = post(client, sign(confirmation("UnsubscribeConfirmation"), pki().key))

    (report,) = reports(container)
    assert (response.status_code, report.envelope["sns_type"]) == (
        200,
        "UnsubscribeConfirmation",
    )


def test_auto_confirm_does_not_visit_a_subscribe_url_off_the_allowed_hosts(
    settings: Settings, tmp_path: Path, listener: socket.socket
) -> None:
    """With auto-confirm on, a SubscribeURL on another host is not visited (even if signed)."""
    port = listener.getsockname()[1]
    auto = settings.model_copy(
        update={"sns": settings.sns.model_copy(update={"auto_confirm": True})}
    )
    unsigned = confirmation()
    unsigned["SubscribeURL"] = f"https://127.0.0.1:{port}/?Action=ConfirmSubscription"

    container = build(auto)
    try:
        with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
            response = post(http, sign(unsigned, pki().key))
    finally:
        container.close()

    assert (response.status_code, response.json()["confirmed"], was_contacted(listener)) == (
        200,
        False,
        False,
    )


def test_a_peer_beyond_its_rate_gets_429_with_retry_after(
    settings: Settings, tmp_path: Path
) -> None:
    """Past its burst, a peer address is answered 429 with Retry-After, and nothing is stored."""
    limited = settings.model_copy(
        update={"sns": settings.sns.model_copy(update={"per_second": 0.5, "burst": 2})}
    )
    container = build(limited)
    try:
        with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
            first, second = (post(http, signed_complaint()) for _ in range(2))
            other = notification(json.dumps(COMPLAINT))
            other["MessageId"] = "another-id"
            third = post(http, sign(other, pki().key))
        stored = reports(container)
    finally:
        container.close()

    assert (
        first.status_code,
        second.json()["duplicate"],
        third.status_code,
        third.json()["error"],
        third.headers["Retry-After"],
        len(stored),
    ) == (200, True, 429, "too_many_requests", "2", 1)


def test_a_ca_file_that_is_no_certificate_stops_the_start(
    settings: Settings, tmp_path: Path
) -> None:
    """A CA file holding no PEM certificate fails when the app is built, naming the file."""
    ca_file = tmp_path / "not-a-ca.pem"
    ca_file.write_bytes(b"-----BEGIN NOTHING-----\n")
    broken = settings.model_copy(
        update={"sns": settings.sns.model_copy(update={"ca_file": ca_file})}
    )

    with pytest.raises(UntrustedCertificate, match=r"not-a-ca\.pem"):
        build(broken)


def test_a_missing_ca_file_stops_the_start(settings: Settings, tmp_path: Path) -> None:
    """A CA file that does not exist fails when the app is built, not at the first message."""
    broken = settings.model_copy(
        update={"sns": settings.sns.model_copy(update={"ca_file": tmp_path / "missing.pem"})}
    )

    with pytest.raises(FileNotFoundError, match=r"missing\.pem"):
        build(broken)
