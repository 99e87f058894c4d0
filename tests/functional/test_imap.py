"""The IMAP poller against a real Dovecot on 127.0.0.1: stored once, then marked or moved."""

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.config import Settings
from abusedesk.intake.imap import ImapAccount, ImapError, ImapPoller, PollResult
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.reports import ReportStatus
from abusedesk.storage.tables import Report
from tests.functional.cli import run_cli
from tests.functional.test_serve import (
    START_SECONDS,
    STOP_SECONDS,
    Served,
    abusedesk_command,
    environment,
    report_statuses,
    wait_for_health,
    wait_for_statuses,
)
from tests.support.databases import backends, fresh_database
from tests.support.imap import (
    PASSWORD,
    DovecotServer,
    Mailbox,
    dovecot_binary,
    free_port,
    running_dovecot,
)
from tests.support.settings import private_settings

MAX_BYTES = 20_000
STORED_FLAGS = (b"$AbusedeskStored", b"\\Seen")
REJECTED_FLAGS = (b"$AbusedeskRejected",)


def complaint(n: int) -> bytes:
    """Return a small, distinct complaint message numbered *n*."""
    return (
        b"From: Subscriber <someone@isp.example>\r\n"
        b"To: abuse@provider.example\r\n"
        b"Subject: Spam from your network, number %d\r\n"
        b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
        b"\r\n"
        b"I never signed up for this: hxxp://offers.example/win/%d\r\n" % (n, n)
    )


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    """Run one Dovecot for the module; each test takes a fresh mailbox on it."""
    with running_dovecot(tls=True) as server:
        yield server


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> Mailbox:
    """Return an empty mailbox of its own for the test."""
    return dovecot.mailbox()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Return test settings with a report size limit small enough to exceed cheaply."""
    return private_settings(database_url, tmp_path, storage={"max_report_bytes": MAX_BYTES})


def poller_for(container: Container, mailbox: Mailbox, **account: Any) -> ImapPoller:
    """Return a poller of *mailbox* over plain IMAP, storing through the container's intake."""
    options: dict[str, Any] = {
        "host": mailbox.host,
        "port": mailbox.port,
        "username": mailbox.username,
        "password": mailbox.password,
        "security": "none",
        "timeout_seconds": 30,
        **account,
    }
    return ImapPoller(
        container.intake,
        ImapAccount(**options),
        backoff_initial_seconds=0.05,
        backoff_max_seconds=0.2,
    )


def stored_reports(container: Container) -> list[Report]:
    """Return every stored report, oldest first."""
    with unit_of_work(container.sessions) as session:
        return list(session.scalars(select(Report).order_by(Report.id)))


def outcomes(result: PollResult) -> list[tuple[str, int | None]]:
    """Return each polled message's outcome and report id, in UID order."""
    return [(m.outcome, m.report_id) for m in sorted(result.messages, key=lambda m: m.uid)]


def test_new_messages_are_stored_with_their_exact_bytes(
    container: Container, mailbox: Mailbox
) -> None:
    """Each message of the folder becomes one report on the imap channel, byte for byte."""
    mailbox.append(complaint(1))
    mailbox.append(complaint(2))

    poller_for(container, mailbox).poll_once()

    assert [(r.channel, r.raw) for r in stored_reports(container)] == [
        ("imap", complaint(1)),
        ("imap", complaint(2)),
    ]


def test_report_envelope_names_server_folder_and_uid(
    container: Container, mailbox: Mailbox
) -> None:
    """The stored envelope says which server, user, folder, UIDVALIDITY and UID it came from."""
    mailbox.append(complaint(1))

    result = poller_for(container, mailbox).poll_once()

    [report] = stored_reports(container)
    assert report.envelope == {
        "server": f"127.0.0.1:{mailbox.port}",
        "username": mailbox.username,
        "folder": "INBOX",
        "uidvalidity": result.uidvalidity,
        "uid": 1,
    }


def test_stored_messages_are_marked_seen_and_stored(container: Container, mailbox: Mailbox) -> None:
    """In mark mode, every stored message stays in the folder flagged \\Seen and stored."""
    mailbox.append(complaint(1))
    mailbox.append(complaint(2))

    poller_for(container, mailbox).poll_once()

    assert mailbox.messages() == {complaint(1): STORED_FLAGS, complaint(2): STORED_FLAGS}


def test_second_poll_stores_nothing_new(container: Container, mailbox: Mailbox) -> None:
    """A poll after everything is marked reads no message and stores no report."""
    mailbox.append(complaint(1))
    poller = poller_for(container, mailbox)
    poller.poll_once()

    second = poller.poll_once()

    assert (second.messages, len(stored_reports(container))) == ([], 1)


def test_message_arriving_later_is_stored_by_the_next_poll(
    container: Container, mailbox: Mailbox
) -> None:
    """A message that arrives between two polls is the only one the second poll stores."""
    mailbox.append(complaint(1))
    poller = poller_for(container, mailbox)
    poller.poll_once()
    mailbox.append(complaint(2))

    second = poller.poll_once()

    assert outcomes(second) == [("stored", 2)]


def test_move_mode_moves_stored_messages_to_the_processed_folder(
    container: Container, mailbox: Mailbox
) -> None:
    """In move mode the folder is emptied and the processed folder holds the stored messages."""
    mailbox.append(complaint(1))
    mailbox.append(complaint(2))

    poller_for(container, mailbox, after_store="move", processed_folder="Done").poll_once()

    assert (mailbox.messages("INBOX"), mailbox.messages("Done")) == (
        {},
        {complaint(1): STORED_FLAGS, complaint(2): STORED_FLAGS},
    )


def test_move_without_the_move_extension_copies_then_expunges(container: Container) -> None:
    """A server without MOVE gets COPY, \\Deleted and UID EXPUNGE: the same end result."""
    # Dovecot's capabilities after login, less MOVE.
    capabilities = (
        "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT UNSELECT CHILDREN NAMESPACE "
        "UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH LITERAL+"
    )
    with running_dovecot(extra=f"imap_capability = {capabilities}") as server:
        mailbox = server.mailbox()
        with mailbox.client() as client:
            assert not client.has_capability("MOVE")
        mailbox.append(complaint(1))

        poller_for(container, mailbox, after_store="move").poll_once()

        assert (mailbox.messages("INBOX"), mailbox.messages("Processed")) == (
            {},
            {complaint(1): STORED_FLAGS},
        )


def test_batches_smaller_than_the_folder_store_every_message(
    container: Container, mailbox: Mailbox
) -> None:
    """With a batch size of 2, a folder of 5 messages is stored whole in one poll."""
    for n in range(5):
        mailbox.append(complaint(n))

    result = poller_for(container, mailbox, batch_size=2).poll_once()

    assert (result.count("stored"), len(stored_reports(container))) == (5, 5)


def test_crash_after_commit_before_mark_stores_no_duplicate(
    container: Container, mailbox: Mailbox
) -> None:
    """A poll cut off between the commit and the mark leaves the message; the next one marks it.

    The first poll runs its steps up to the commit and drops the connection, as a killed
    process would: the report is stored but the message is not marked.
    """
    mailbox.append(complaint(1))
    poller = poller_for(container, mailbox)
    with poller.connect() as folder:
        folder.store(folder.fetch(folder.pending()))
    [report] = stored_reports(container)
    assert mailbox.messages() == {complaint(1): ()}

    second = poller.poll_once()

    assert (outcomes(second), len(stored_reports(container)), mailbox.messages()) == (
        [("duplicate", report.id)],
        1,
        {complaint(1): STORED_FLAGS},
    )


def test_crash_before_commit_leaves_the_message_unread_for_the_next_poll(
    container: Container, mailbox: Mailbox
) -> None:
    """A poll cut off after downloading leaves no report and no flag; the next one stores it."""
    mailbox.append(complaint(1))
    poller = poller_for(container, mailbox)
    with poller.connect() as folder:
        folder.fetch(folder.pending())
    assert (stored_reports(container), mailbox.messages()) == ([], {complaint(1): ()})

    second = poller.poll_once()

    assert (outcomes(second), mailbox.messages()) == (
        [("stored", 1)],
        {complaint(1): STORED_FLAGS},
    )


def test_message_flagged_stored_but_not_moved_is_moved_without_reading(
    container: Container, mailbox: Mailbox
) -> None:
    """In move mode, a message flagged stored by a cut-off poll is moved, not stored again."""
    mailbox.append(complaint(1), flags=(b"$AbusedeskStored",))

    result = poller_for(container, mailbox, after_store="move").poll_once()

    assert (outcomes(result), stored_reports(container), mailbox.messages("INBOX")) == (
        [("already_stored", None)],
        [],
        {},
    )


def test_uidvalidity_change_stores_new_mail_and_no_duplicates(
    container: Container, mailbox: Mailbox
) -> None:
    """After a folder is recreated (new UIDVALIDITY, UIDs from 1 again), nothing is missed.

    A restored copy of a stored message is recognised by its bytes; a new message that
    takes a UID already seen before the change is stored.
    """
    mailbox.append(complaint(1), folder="Reports")
    mailbox.append(complaint(2), folder="Reports")
    poller = poller_for(container, mailbox, folder="Reports")
    first = poller.poll_once()
    with mailbox.client() as client:
        client.delete_folder("Reports")
    mailbox.append(complaint(1), folder="Reports")
    mailbox.append(complaint(3), folder="Reports")

    second = poller.poll_once()

    assert (second.uidvalidity_changed, second.uidvalidity != first.uidvalidity) == (True, True)
    assert outcomes(second) == [("duplicate", 1), ("stored", 3)]
    assert mailbox.messages("Reports") == {complaint(1): STORED_FLAGS, complaint(3): STORED_FLAGS}


def test_oversized_message_is_flagged_rejected_and_kept(
    container: Container, mailbox: Mailbox
) -> None:
    """A message over the size limit stays in the mailbox, unseen, flagged rejected with why."""
    huge = complaint(1) + b"x" * MAX_BYTES
    mailbox.append(huge)
    mailbox.append(complaint(2))

    result = poller_for(container, mailbox).poll_once()

    [rejected] = [m for m in result.messages if m.outcome == "rejected"]
    assert rejected.detail == f"too_large: report is {len(huge):,} bytes; the limit is 20,000 bytes"
    assert mailbox.messages() == {huge: REJECTED_FLAGS, complaint(2): STORED_FLAGS}
    assert [r.raw for r in stored_reports(container)] == [complaint(2)]


def test_rejected_message_is_not_reported_again(container: Container, mailbox: Mailbox) -> None:
    """A message flagged rejected is left alone by later polls."""
    mailbox.append(complaint(1) + b"x" * MAX_BYTES)
    poller = poller_for(container, mailbox)
    poller.poll_once()

    assert poller.poll_once().messages == []


def test_blank_message_is_rejected_and_the_batch_goes_on(
    container: Container, mailbox: Mailbox
) -> None:
    """A message with no content is refused as empty; the other messages are stored."""
    mailbox.append(b"\r\n\r\n")
    mailbox.append(complaint(2))

    result = poller_for(container, mailbox).poll_once()

    assert ([(m.outcome, m.detail) for m in result.messages], len(stored_reports(container))) == (
        [("rejected", "empty: report is empty"), ("stored", "")],
        1,
    )


def test_malformed_message_is_stored_and_quarantined_by_the_pipeline(
    container: Container, mailbox: Mailbox
) -> None:
    """A message no parser understands is stored and marked; processing sets it aside.

    The pipeline keeps it at the parse stage for a person (quarantine, or the inbox of
    unknown formats), never done and never lost.
    """
    mailbox.append(b"no headers here, only noise\r\n")
    poller_for(container, mailbox).poll_once()

    while container.embedded.run_once():
        pass

    [report] = stored_reports(container)
    settled = report.status not in (
        ReportStatus.PENDING,
        ReportStatus.PROCESSING,
        ReportStatus.DONE,
    )
    assert (settled, report.stage, mailbox.messages()) == (
        True,
        "parse",
        {b"no headers here, only noise\r\n": STORED_FLAGS},
    )


def test_connection_refused_is_a_clear_error(container: Container, mailbox: Mailbox) -> None:
    """A server that is not listening gives an ImapError naming the server and the cause."""
    port = free_port()
    poller = poller_for(container, mailbox, port=port)

    with pytest.raises(ImapError) as caught:
        poller.poll_once()

    assert str(caught.value) == (
        f"could not connect on IMAP server 127.0.0.1:{port}: Connection refused"
    )


def test_wrong_password_is_a_clear_error(container: Container, mailbox: Mailbox) -> None:
    """A refused login gives an ImapError that says the login failed."""
    poller = poller_for(container, mailbox, password="wrong")

    with pytest.raises(ImapError) as caught:
        poller.poll_once()

    assert str(caught.value).startswith(f"could not log in on IMAP server 127.0.0.1:{mailbox.port}")


def test_poller_retries_until_the_server_is_back(container: Container) -> None:
    """The polling loop survives a refused connection and stores the mail once the server is up."""
    dovecot_binary()
    port = free_port()
    errors: list[str] = []
    stop = threading.Event()
    poller = poller_for(container, Mailbox("127.0.0.1", port, "late", PASSWORD))
    thread = threading.Thread(
        target=poller.run,
        args=(stop, 0.05),
        kwargs={"on_error": lambda exc, delay: errors.append(str(exc))},
    )
    thread.start()
    try:
        deadline = time.monotonic() + START_SECONDS
        while not errors and time.monotonic() < deadline:
            time.sleep(0.02)
        with running_dovecot(port=port) as server:
            mailbox = server.mailbox("late")
            mailbox.append(complaint(1))
            while not stored_reports(container) and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            thread.join(STOP_SECONDS)
    finally:
        stop.set()
        thread.join(STOP_SECONDS)

    assert errors[0] == f"could not connect on IMAP server 127.0.0.1:{port}: Connection refused"
    assert [r.raw for r in stored_reports(container)] == [complaint(1)]


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_connections_verify_the_server_and_store(
    container: Container, dovecot: DovecotServer, mailbox: Mailbox, security: str
) -> None:
    """Over implicit TLS and over STARTTLS, with the server's CA configured, mail is stored."""
    port = dovecot.tls_port if security == "tls" else dovecot.port
    mailbox.append(complaint(1))

    poller_for(
        container, mailbox, security=security, port=port, ca_file=dovecot.certificate
    ).poll_once()

    assert [r.raw for r in stored_reports(container)] == [complaint(1)]


def test_tls_refuses_a_certificate_it_cannot_verify(
    container: Container, dovecot: DovecotServer, mailbox: Mailbox
) -> None:
    """Without the CA of the self-signed certificate, the connection fails and says why."""
    poller = poller_for(container, mailbox, security="tls", port=dovecot.tls_port)

    with pytest.raises(ImapError) as caught:
        poller.poll_once()

    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_plain_imap_to_another_machine_is_refused() -> None:
    """security 'none' is allowed only on this machine: the password would travel in clear."""
    with pytest.raises(ValueError, match="in the clear"):
        ImapAccount(host="imap.example.net", port=143, username="u", password="p", security="none")


def cli_imap_env(mailbox: Mailbox, **extra: str) -> dict[str, str]:
    """Return the IMAP settings of *mailbox* as environment variables for the CLI."""
    return {
        "ABUSEDESK_IMAP__HOST": mailbox.host,
        "ABUSEDESK_IMAP__PORT": str(mailbox.port),
        "ABUSEDESK_IMAP__SECURITY": "none",
        "ABUSEDESK_IMAP__USERNAME": mailbox.username,
        "ABUSEDESK_IMAP__PASSWORD": mailbox.password,
        **extra,
    }


def test_cli_poll_once_prints_what_it_stored(
    database_url: str, tmp_path: Path, mailbox: Mailbox
) -> None:
    """`abusedesk imap poll --once` stores the new messages, names each report, exits 0."""
    mailbox.append(complaint(1))
    mailbox.append(complaint(2))

    first = run_cli(
        "imap",
        "poll",
        "--once",
        database_url=database_url,
        workdir=tmp_path,
        **cli_imap_env(mailbox),
    )
    second = run_cli(
        "imap",
        "poll",
        "--once",
        database_url=database_url,
        workdir=tmp_path,
        **cli_imap_env(mailbox),
    )

    assert first.returncode == 0, first.stderr
    assert "stored report 1: INBOX UID 1" in first.stdout
    assert "stored report 2: INBOX UID 2" in first.stdout
    assert "stored: 2, duplicate: 0, rejected: 0, failed: 0" in first.stdout
    assert (second.returncode, "stored: 0, duplicate: 0" in second.stdout) == (0, True)


def test_cli_poll_once_without_a_server_exits_1_saying_why(
    database_url: str, tmp_path: Path, mailbox: Mailbox
) -> None:
    """When the server refuses the connection, the command prints the cause and exits 1."""
    port = free_port()

    result = run_cli(
        "imap",
        "poll",
        "--once",
        database_url=database_url,
        workdir=tmp_path,
        **cli_imap_env(mailbox, ABUSEDESK_IMAP__PORT=str(port)),
    )

    assert (result.returncode, result.stderr.strip()) == (
        1,
        f"could not connect on IMAP server 127.0.0.1:{port}: Connection refused",
    )


def test_cli_poll_without_settings_exits_2(database_url: str, tmp_path: Path) -> None:
    """With no IMAP host configured, the command says which settings it needs."""
    result = run_cli("imap", "poll", "--once", database_url=database_url, workdir=tmp_path)

    assert result.returncode == 2
    assert "ABUSEDESK_IMAP__HOST" in result.stderr


@pytest.fixture(params=backends())
def serve_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield a fresh, migrated database of each backend for a serve process of its own."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


def test_serve_polls_imap_when_enabled(
    serve_database: str, tmp_path: Path, mailbox: Mailbox
) -> None:
    """`abusedesk serve` with IMAP enabled stores and processes mail from the mailbox."""
    mailbox.append(complaint(1))
    web_port = free_port()
    env = {
        **environment(serve_database, tmp_path, web_port, free_port()),
        **{
            name: value
            for name, value in cli_imap_env(mailbox).items()
            if name.startswith("ABUSEDESK_IMAP")
        },
        "ABUSEDESK_IMAP__ENABLED": "true",
        "ABUSEDESK_IMAP__POLL_INTERVAL_SECONDS": "0.2",
    }
    output, errors = tmp_path / "serve.out", tmp_path / "serve.err"
    with output.open("wb") as out, errors.open("wb") as err:
        process = subprocess.Popen(
            abusedesk_command("serve"), env=env, cwd=tmp_path, stdout=out, stderr=err
        )
    served = Served(process, f"http://127.0.0.1:{web_port}", 0, output, errors)
    try:
        wait_for_health(served)
        statuses = wait_for_statuses(serve_database, ["done"])
        process.send_signal(signal.SIGTERM)
        status = process.wait(STOP_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_SECONDS)

    assert (statuses, status) == (["done"], 0), errors.read_text()
    assert "IMAP poller stopped" in served.stdout()
    assert mailbox.messages() == {complaint(1): STORED_FLAGS}
    assert report_statuses(serve_database) == ["done"]
