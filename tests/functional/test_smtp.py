"""The SMTP intake with a real SMTP client on 127.0.0.1: stored first, then acknowledged."""

import smtplib
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, select

from abusedesk.bootstrap import Container, build
from abusedesk.config import Settings
from abusedesk.core.ratelimit import PeerRateLimiter
from abusedesk.intake.smtp import (
    ConnectionLimiter,
    RecipientPolicy,
    SmtpIntakeServer,
)
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tables import Report
from tests.support.settings import private_settings

MAX_BYTES = 200_000
RECIPIENTS = ["abuse@", "reports@abuse.example.net"]
SENDER = "fbl@isp.example"
CLIENT_NAME = "mx.isp.example"
REPORT = (
    b"From: Feedback Loop <fbl@isp.example>\r\n"
    b"To: abuse@provider.example\r\n"
    b"Subject: Complaint about a message from your network\r\n"
    b"\r\n"
    b"A subscriber reported the message below as spam.\r\n"
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Return test settings with a report size limit small enough to exceed cheaply."""
    return private_settings(
        database_url,
        tmp_path,
        storage={"inline_max_bytes": 64 * 1024, "max_report_bytes": MAX_BYTES},
    )


def start_server(
    container: Container,
    *,
    per_second: float = 1000.0,
    burst: int = 1000,
    line_length_limit: int = 1024 * 1024,
    max_connections: int = 200,
    max_connections_per_peer: int = 20,
) -> SmtpIntakeServer:
    """Start an SMTP intake for *container* on an ephemeral port of 127.0.0.1."""
    server = SmtpIntakeServer(
        container.intake,
        host="127.0.0.1",
        port=0,
        recipients=RECIPIENTS,
        max_bytes=container.settings.storage.max_report_bytes,
        rate_per_second=per_second,
        rate_burst=burst,
        hostname="intake.test",
        line_length_limit=line_length_limit,
        max_connections=max_connections,
        max_connections_per_peer=max_connections_per_peer,
    )
    server.start()
    return server


@pytest.fixture
def smtp_server(container: Container) -> Iterator[SmtpIntakeServer]:
    """Run the SMTP intake for the test database while the test runs."""
    server = start_server(container)
    yield server
    server.stop()


@pytest.fixture
def client(smtp_server: SmtpIntakeServer) -> Iterator[smtplib.SMTP]:
    """Return a real SMTP client connected to the intake."""
    with smtplib.SMTP(
        "127.0.0.1", smtp_server.port, local_hostname=CLIENT_NAME, timeout=30
    ) as smtp:
        yield smtp


def stored_reports(container: Container) -> list[Report]:
    """Return every stored report, oldest first."""
    with unit_of_work(container.sessions) as session:
        return list(session.scalars(select(Report).order_by(Report.id)))


def report_count(container: Container) -> int:
    """Return how many reports are stored."""
    with unit_of_work(container.sessions) as session:
        return session.scalar(select(func.count()).select_from(Report)) or 0


def test_report_is_committed_before_250_is_returned(
    container: Container, client: smtplib.SMTP
) -> None:
    """When sendmail returns, the report's exact bytes are already in the database."""
    client.sendmail(SENDER, ["abuse@provider.example"], REPORT)

    assert [(r.channel, r.raw) for r in stored_reports(container)] == [("smtp", REPORT)]


def test_report_keeps_its_envelope(container: Container, client: smtplib.SMTP) -> None:
    """The stored report records MAIL FROM, the recipients, the peer and its HELO name."""
    client.sendmail(SENDER, ["abuse@provider.example", "reports@abuse.example.net"], REPORT)

    assert [r.envelope for r in stored_reports(container)] == [
        {
            "mail_from": SENDER,
            "rcpt_tos": ["abuse@provider.example", "reports@abuse.example.net"],
            "peer": "127.0.0.1",
            "helo": CLIENT_NAME,
        }
    ]


def test_250_reply_names_the_stored_report(container: Container, client: smtplib.SMTP) -> None:
    """The final reply is 250 and names the id of the report it stored."""
    client.ehlo()
    client.mail(SENDER)
    client.rcpt("abuse@provider.example")

    reply = client.data(REPORT)

    [report] = stored_reports(container)
    assert reply == (250, f"2.0.0 Queued as report {report.id}".encode())


@pytest.mark.parametrize(
    ("recipient", "code"),
    [
        ("abuse@provider.example", 250),
        ("ABUSE@Provider.Example", 250),
        ("abuse@another.example", 250),
        ("reports@abuse.example.net", 250),
        ("Reports@ABUSE.example.net", 250),
        ("reports@other.example", 550),
        ("postmaster@provider.example", 550),
        ("abuse.team@provider.example", 550),
    ],
)
def test_recipients_are_matched_as_configured(
    client: smtplib.SMTP, recipient: str, code: int
) -> None:
    """'abuse@' takes that local part at any domain; a full address only itself; any case."""
    client.ehlo()
    client.mail(SENDER)

    assert client.rcpt(recipient)[0] == code


def test_unknown_recipient_gets_550_and_nothing_is_stored(
    container: Container, client: smtplib.SMTP
) -> None:
    """Mail only for an address we do not take is refused with 550 5.1.1."""
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail(SENDER, ["sales@provider.example"], REPORT)

    code, text = refused.value.recipients["sales@provider.example"]
    assert (code, text.split()[0], report_count(container)) == (550, b"5.1.1", 0)


def test_oversized_message_declared_in_advance_is_refused_with_552(
    container: Container, client: smtplib.SMTP
) -> None:
    """A message whose declared SIZE exceeds the limit is refused with 552; nothing stored."""
    huge = REPORT + b"x" * MAX_BYTES + b"\r\n"

    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        client.sendmail(SENDER, ["abuse@provider.example"], huge)

    assert (refused.value.smtp_code, report_count(container)) == (552, 0)


def test_oversized_message_sent_without_warning_is_refused_with_552(
    container: Container, client: smtplib.SMTP
) -> None:
    """A message that turns out too large during DATA is refused with 552; nothing stored."""
    huge = REPORT + (b"y" * 900 + b"\r\n") * (MAX_BYTES // 900 + 10)
    client.ehlo()
    client.mail(SENDER)
    client.rcpt("abuse@provider.example")

    code, _text = client.data(huge)

    assert (code, report_count(container)) == (552, 0)


def test_same_bytes_twice_are_one_report(container: Container, client: smtplib.SMTP) -> None:
    """Sending the same message twice is acknowledged twice and stored once."""
    client.sendmail(SENDER, ["abuse@provider.example"], REPORT)
    client.sendmail(SENDER, ["abuse@provider.example"], REPORT)

    assert report_count(container) == 1


def test_message_with_lines_beyond_1000_octets_is_stored(
    container: Container, client: smtplib.SMTP
) -> None:
    """Quoted spam with very long lines is evidence: it is stored, not refused."""
    long_line = REPORT + b"<html>" + b"z" * 20_000 + b"</html>\r\n"

    client.sendmail(SENDER, ["abuse@provider.example"], long_line)

    assert [r.raw for r in stored_reports(container)] == [long_line]


def test_empty_message_is_refused_with_554(container: Container, client: smtplib.SMTP) -> None:
    """A message with no content is refused permanently with 554 5.6.0; nothing stored."""
    client.ehlo()
    client.mail(SENDER)
    client.rcpt("abuse@provider.example")

    code, text = client.data(b"")

    assert (code, text.split()[0], report_count(container)) == (554, b"5.6.0", 0)


def test_failure_to_store_answers_451_so_the_sender_retries(
    settings: Settings, tmp_path: Path
) -> None:
    """When storing fails, the answer is a temporary 451 4.3.0 and nothing is half-stored."""
    # Evidence beyond the inline limit goes to files; a file where the folder should be
    # makes that write fail for real.
    blocked = tmp_path / "not-a-folder"
    blocked.write_bytes(b"")
    broken = build(
        settings.model_copy(
            update={"storage": settings.storage.model_copy(update={"evidence_dir": blocked})}
        )
    )
    server = start_server(broken)
    big = REPORT + (b"w" * 900 + b"\r\n") * 100
    try:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
            smtp.ehlo()
            smtp.mail(SENDER)
            smtp.rcpt("abuse@provider.example")
            code, text = smtp.data(big)
        count = report_count(broken)
    finally:
        server.stop()
        broken.close()

    assert (code, text.split()[0], count) == (451, b"4.3.0", 0)


def test_peer_over_its_rate_gets_a_temporary_refusal(container: Container) -> None:
    """Past its burst, a peer's next message is refused with 451 4.7.1 (try later)."""
    server = start_server(container, per_second=0.001, burst=2)
    try:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
            smtp.sendmail(SENDER, ["abuse@provider.example"], REPORT)
            smtp.sendmail(SENDER, ["abuse@provider.example"], REPORT + b"second\r\n")
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                smtp.sendmail(SENDER, ["abuse@provider.example"], REPORT + b"third\r\n")
    finally:
        server.stop()

    assert (refused.value.smtp_code, refused.value.smtp_error.split()[0]) == (451, b"4.7.1")


def test_rate_limiter_refills_at_its_rate() -> None:
    """An empty bucket allows one more message per 1/rate seconds elapsed."""
    now = [0.0]
    limiter = PeerRateLimiter(per_second=2.0, burst=1, clock=lambda: now[0])
    outcomes = [limiter.allow("192.0.2.1"), limiter.allow("192.0.2.1")]
    now[0] = 0.5
    outcomes.append(limiter.allow("192.0.2.1"))

    assert outcomes == [True, False, True]


def test_rate_limiter_keeps_peers_apart() -> None:
    """One peer using up its bucket does not slow another peer down."""
    limiter = PeerRateLimiter(per_second=0.001, burst=1, clock=lambda: 0.0)
    limiter.allow("192.0.2.1")

    assert [limiter.allow("192.0.2.1"), limiter.allow("198.51.100.7")] == [False, True]


@pytest.mark.parametrize("entry", ["abuse", "@example.net", ""])
def test_recipient_entries_without_a_local_part_and_at_sign_are_refused(entry: str) -> None:
    """A recipient setting that is not 'local@' or 'local@domain' fails at start."""
    with pytest.raises(ValueError, match="should look like"):
        RecipientPolicy([entry])


def connect(server: SmtpIntakeServer, source: str = "127.0.0.1") -> smtplib.SMTP:
    """Open a real SMTP connection to *server* from the loopback address *source*."""
    return smtplib.SMTP(
        "127.0.0.1", server.port, local_hostname=CLIENT_NAME, source_address=(source, 0), timeout=30
    )


def refusal(server: SmtpIntakeServer, source: str = "127.0.0.1") -> tuple[int, bytes] | None:
    """Connect once; return the refusing greeting's code and text, or None when greeted."""
    try:
        connect(server, source).close()
    except smtplib.SMTPConnectError as exc:
        return exc.smtp_code, exc.smtp_error
    return None


def test_peer_beyond_its_connection_cap_gets_421(container: Container) -> None:
    """A peer's connection beyond the per-peer cap is answered 421 4.7.0 and closed."""
    server = start_server(container, max_connections_per_peer=2)
    try:
        with ExitStack() as stack:
            for _ in range(2):
                stack.enter_context(connect(server))
            refused = refusal(server)
    finally:
        server.stop()

    assert refused == (421, b"4.7.0 too many connections")


def test_per_peer_cap_leaves_other_peers_alone(container: Container) -> None:
    """One peer at its connection cap does not keep another address from connecting."""
    server = start_server(container, max_connections_per_peer=2)
    try:
        with ExitStack() as stack:
            for _ in range(2):
                stack.enter_context(connect(server))
            other = stack.enter_context(connect(server, "127.0.0.2"))
            other.sendmail(SENDER, ["abuse@provider.example"], REPORT)
    finally:
        server.stop()

    assert [r.raw for r in stored_reports(container)] == [REPORT]


def test_connections_beyond_the_overall_cap_get_421(container: Container) -> None:
    """Past the overall cap, a connection from any address is answered 421 4.7.0."""
    server = start_server(container, max_connections=2)
    try:
        with ExitStack() as stack:
            stack.enter_context(connect(server, "127.0.0.1"))
            stack.enter_context(connect(server, "127.0.0.2"))
            refused = refusal(server, "127.0.0.3")
    finally:
        server.stop()

    assert refused == (421, b"4.7.0 too many connections")


def test_closed_connections_make_room_again(container: Container) -> None:
    """Once a peer closes a connection at its cap, its next connection is greeted again."""
    server = start_server(container, max_connections_per_peer=1)
    try:
        connect(server).quit()
        # The server counts the close when its side of the socket has gone; wait for it.
        deadline = time.monotonic() + 10
        while (refused := refusal(server)) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()

    assert refused is None


def test_command_line_beyond_the_line_limit_is_refused(container: Container) -> None:
    """A command line longer than the line limit gets 500; the connection keeps working."""
    server = start_server(container, line_length_limit=4096)
    try:
        with connect(server) as smtp:
            smtp.ehlo()
            code, _text = smtp.docmd("NOOP", "x" * 100_000)
            smtp.sendmail(SENDER, ["abuse@provider.example"], REPORT)
    finally:
        server.stop()

    assert (code, [r.raw for r in stored_reports(container)]) == (500, [REPORT])


def test_overlong_command_line_leaves_other_connections_served(container: Container) -> None:
    """While one peer sends an overlong command, another connection stores its report."""
    server = start_server(container, line_length_limit=4096)
    try:
        with connect(server) as hostile, connect(server, "127.0.0.2") as other:
            hostile.ehlo()
            code, _text = hostile.docmd("MAIL", "FROM:<" + "a" * 100_000 + ">")
            other.sendmail(SENDER, ["abuse@provider.example"], REPORT)
    finally:
        server.stop()

    assert (code, [r.raw for r in stored_reports(container)]) == (500, [REPORT])


def test_data_line_beyond_the_line_limit_is_refused(container: Container) -> None:
    """A message line longer than the line limit gets 500 and nothing is stored."""
    server = start_server(container, line_length_limit=4096)
    try:
        with connect(server) as smtp:
            smtp.ehlo()
            smtp.mail(SENDER)
            smtp.rcpt("abuse@provider.example")
            code, _text = smtp.data(REPORT + b"z" * 10_000 + b"\r\n")
    finally:
        server.stop()

    assert (code, report_count(container)) == (500, 0)


def test_connection_limiter_frees_a_place_when_a_connection_closes() -> None:
    """A closed connection gives its place back, to its peer and to the overall count."""
    limiter = ConnectionLimiter(max_total=2, max_per_peer=1)
    outcomes = [limiter.open("192.0.2.1"), limiter.open("192.0.2.1")]
    limiter.close("192.0.2.1")
    outcomes.append(limiter.open("192.0.2.1"))

    assert outcomes == [True, False, True]
