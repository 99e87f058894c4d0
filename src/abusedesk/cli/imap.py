"""``abusedesk imap poll``: pull reports from the configured IMAP mailbox and store them."""

import signal
import threading
from types import FrameType

import typer

from abusedesk.bootstrap import Container
from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.config import ImapSettings
from abusedesk.intake.imap import (
    ImapAccount,
    ImapError,
    ImapPoller,
    ImapPollerThread,
    MessageResult,
    PollResult,
)

app = typer.Typer(help="Pull reports from an IMAP mailbox.", no_args_is_help=True)


def account_from(settings: ImapSettings) -> ImapAccount:
    """Return the mailbox the settings describe; raise ValueError when they cannot work."""
    return ImapAccount(
        host=settings.host,
        port=settings.port,
        username=settings.username,
        password=settings.password.get_secret_value(),
        security=settings.security,
        ca_file=settings.ca_file,
        folder=settings.folder,
        after_store=settings.after_store,
        processed_folder=settings.processed_folder,
        batch_size=settings.batch_size,
        timeout_seconds=settings.timeout_seconds,
    )


def build_poller(container: Container) -> ImapPoller:
    """Return the poller for the container's settings, or exit 2 saying what is missing."""
    try:
        account = account_from(container.settings.imap)
    except ValueError as exc:
        errors.print(
            plain(
                f"IMAP settings: {exc} (ABUSEDESK_IMAP__HOST, __USERNAME, __PASSWORD, "
                "__SECURITY, ...)"
            )
        )
        raise typer.Exit(2) from exc
    return ImapPoller(container.intake, account)


def start_background(container: Container) -> ImapPollerThread:
    """Start polling on a thread for ``abusedesk serve``; exit 1 when the settings cannot work."""
    try:
        account = account_from(container.settings.imap)
    except ValueError as exc:
        errors.print(plain(f"IMAP poller: {exc}"))
        raise typer.Exit(1) from exc
    thread = ImapPollerThread(
        ImapPoller(container.intake, account),
        interval_seconds=container.settings.imap.poll_interval_seconds,
    )
    thread.start()
    return thread


@app.command("poll")
def poll(
    once: bool = typer.Option(
        False, "--once", help="Poll once and exit, instead of every poll_interval_seconds."
    ),
    process: bool = typer.Option(
        True, help="Process the stored reports now instead of leaving them to the workers."
    ),
) -> None:
    """Store every new message of the IMAP folder as a report, then mark or move it.

    With --once, exit 1 when the server cannot be reached or a message was not stored.
    """
    with open_container() as container:
        poller = build_poller(container)
        # With procrastinate, intake has already handed the reports to the worker processes.
        process = process and container.settings.jobs.backend == "embedded"

        def report(result: PollResult, *, quiet: bool) -> None:
            if process:
                while container.embedded.run_once():
                    pass
            if result.messages or result.uidvalidity_changed or not quiet:
                print_result(result)

        if once:
            try:
                result = poller.poll_once()
            except ImapError as exc:
                errors.print(plain(str(exc)))
                raise typer.Exit(1) from exc
            report(result, quiet=False)
            if result.count("rejected") or result.count("failed"):
                raise typer.Exit(1)
            return

        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            del frame
            console.print(plain(f"{signal.Signals(signum).name} received: stopping"))
            stop.set()

        def on_error(exc: Exception, delay: float) -> None:
            errors.print(plain(f"{exc}; trying again in {delay:g} s"))

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        interval = container.settings.imap.poll_interval_seconds
        account = poller.account
        console.print(
            plain(
                f"polling {account.folder} at {account.server} every {interval:g} s; "
                "press Ctrl+C to stop"
            )
        )
        try:
            poller.run(
                stop,
                interval,
                on_result=lambda result: report(result, quiet=True),
                on_error=on_error,
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def print_result(result: PollResult) -> None:
    """Print one line per message the poll handled, then the counts."""
    if result.uidvalidity_changed:
        console.print(
            plain(
                f"the UIDVALIDITY of {result.folder} changed (now {result.uidvalidity}): "
                "every message there was checked again; none is stored twice"
            )
        )
    for message in result.messages:
        console.print(plain(describe(result.folder, message)))
    console.print(
        plain(
            f"{result.server} {result.folder}: "
            f"stored: {result.count('stored')}, "
            f"duplicate: {result.count('duplicate') + result.count('already_stored')}, "
            f"rejected: {result.count('rejected')}, "
            f"failed: {result.count('failed')}"
        )
    )


def describe(folder: str, message: MessageResult) -> str:
    """Return one line saying what became of *message*."""
    where = f"{folder} UID {message.uid}"
    if message.outcome == "stored":
        return f"stored report {message.report_id}: {where} ({message.size:,} bytes)"
    if message.outcome == "duplicate":
        return f"already stored as report {message.report_id}: {where}"
    if message.outcome == "already_stored":
        return f"stored before, moved now: {where}"
    if message.outcome == "rejected":
        return f"rejected {where}: {message.detail}; left in the mailbox, flagged as rejected"
    return f"not stored {where}: {message.detail}; it is tried again next poll"
