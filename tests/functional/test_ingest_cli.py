"""``abusedesk ingest`` over files, folders, mbox and Maildir, including hostile input."""

import mailbox
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.storage.db import make_engine, unit_of_work
from abusedesk.storage.tables import Report
from tests.factories.arf import arf_report
from tests.functional.cli import run_cli


def _report_count(database_url: str) -> int:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count(Report.id))) or 0
    engine.dispose()
    return count


@pytest.mark.slow
def test_bad_input_is_reported_and_the_rest_processed(database_url: str, tmp_path: Path) -> None:
    """Unreadable, empty, oversized and garbage files are each named; good ones land; exit 1."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "broken-link.eml").symlink_to(inbox / "missing.eml")
    (inbox / "empty.eml").write_bytes(b"")
    with (inbox / "huge.eml").open("wb") as handle:
        handle.truncate(60 * 1024 * 1024)
    (inbox / "garbage.bin").write_bytes(bytes(range(256)) * 10)
    for n in range(3):
        (inbox / f"good-{n}.eml").write_bytes(
            arf_report(message_id=f"m{n}@example.com", from_domain="example.com", serial=n)
        )

    result = run_cli("ingest", str(inbox), database_url=database_url, workdir=tmp_path)

    out = result.stdout
    problems = {
        "broken-link.eml": "unreadable: a broken link",
        "empty.eml": "empty",
        "huge.eml": "too large: 62,914,560 bytes",
        "garbage.bin": "no parser recognises it",
    }
    assert result.returncode == 1, result.stderr
    for name, problem in problems.items():
        line = next((line for line in out.splitlines() if name in line), "")
        assert problem in line, f"{name}: {line!r}\n{out}"
    assert "processed: 3, quarantined: 0, rejected: 2, unreadable: 1, unknown format: 1" in out
    assert _report_count(database_url) == 4


def test_mbox_and_maildir_are_split_into_reports(database_url: str, tmp_path: Path) -> None:
    """Every message of an mbox file and of a Maildir becomes its own report."""
    box = mailbox.mbox(tmp_path / "reports.mbox")
    for n in range(3):
        box.add(arf_report(message_id=f"mbox{n}@example.com", from_domain="example.com", serial=n))
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    for n in range(2):
        maildir.add(
            arf_report(message_id=f"md{n}@example.com", from_domain="example.com", serial=10 + n)
        )

    first = run_cli(
        "ingest", str(tmp_path / "reports.mbox"), database_url=database_url, workdir=tmp_path
    )
    second = run_cli(
        "ingest", str(tmp_path / "Maildir"), database_url=database_url, workdir=tmp_path
    )

    assert (first.returncode, second.returncode) == (0, 0), first.stdout + second.stdout
    assert "stored: 3" in first.stdout
    assert "stored: 2" in second.stdout
    assert _report_count(database_url) == 5


def test_ingesting_the_same_files_again_stores_nothing_new(
    database_url: str, tmp_path: Path
) -> None:
    """A second ingest of the same folder counts duplicates and keeps one report each."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(2):
        (inbox / f"r{n}.eml").write_bytes(
            arf_report(message_id=f"d{n}@example.com", from_domain="example.com", serial=n)
        )
    run_cli("ingest", str(inbox), database_url=database_url, workdir=tmp_path)
    again = run_cli("ingest", str(inbox), database_url=database_url, workdir=tmp_path)
    assert (again.returncode, "stored: 0, duplicate: 2" in again.stdout) == (0, True), again.stdout
    assert _report_count(database_url) == 2


def test_quarantine_lists_shows_and_requeues(database_url: str, tmp_path: Path) -> None:
    """A quarantined report can be listed, inspected and sent back through the pipeline."""
    # An SES notification whose mail is no object: recognised, then unreadable.
    (tmp_path / "broken.json").write_bytes(b'{"notificationType": "Complaint", "mail": "noise"}')
    run_cli("ingest", str(tmp_path / "broken.json"), database_url=database_url, workdir=tmp_path)

    listed = run_cli("quarantine", "list", database_url=database_url, workdir=tmp_path)
    shown = run_cli("quarantine", "show", "1", database_url=database_url, workdir=tmp_path)
    requeued = run_cli("quarantine", "requeue", "1", database_url=database_url, workdir=tmp_path)

    assert "ses" in listed.stdout
    assert '"mail": "noise"' in shown.stdout
    assert "format: ses; stage: parse" in shown.stdout
    assert "requeued 1 report(s)" in requeued.stdout


# A file name with markup and a colour escape, and an X-ARF-ish report whose version the
# parser quotes in its error; its subject sets the terminal title and colour.
HOSTILE_NAME = "report[bold]\x1b[31m.eml"
HOSTILE_REPORT = (
    b"From: reporter@example.net\r\n"
    b"Subject: \x1b]0;owned\x07 \x1b[31mred [bold]text[/x]\r\n"
    b"Content-Type: application/json\r\n"
    b"\r\n"
    b'{"xarf_version": "[/x]\\u001b[31m", "category": "abuse"}\r\n'
)
ESCAPED_REASON = "X-ARF version '[/x]\\x1b[31m' is not supported"


def _ingest_hostile(database_url: str, tmp_path: Path) -> str:
    """Ingest the hostile report under its hostile name; return the CLI's output."""
    path = tmp_path / HOSTILE_NAME
    path.write_bytes(HOSTILE_REPORT)
    result = run_cli("ingest", str(path), database_url=database_url, workdir=tmp_path)
    return result.stdout


def test_ingest_summary_prints_hostile_text_escaped(database_url: str, tmp_path: Path) -> None:
    """Markup and escape sequences in names and errors are printed as escaped text; exit 1."""
    path = tmp_path / HOSTILE_NAME
    path.write_bytes(HOSTILE_REPORT)

    result = run_cli("ingest", str(path), database_url=database_url, workdir=tmp_path)

    out = result.stdout
    line = next((line for line in out.splitlines() if "report[bold]" in line), "")
    assert (result.returncode, "\x1b" in out) == (1, False), result.stderr
    assert "report[bold]\\x1b[31m.eml" in line, out
    assert ESCAPED_REASON in line, out
    assert "processed: 0, quarantined: 1, rejected: 0, unreadable: 0" in out


def test_quarantine_list_prints_hostile_text_escaped(database_url: str, tmp_path: Path) -> None:
    """The quarantine list shows a reason quoting markup and escapes as plain, escaped text."""
    _ingest_hostile(database_url, tmp_path)

    listed = run_cli("quarantine", "list", database_url=database_url, workdir=tmp_path)

    assert (listed.returncode, "\x1b" in listed.stdout) == (0, False), listed.stderr
    assert ESCAPED_REASON in listed.stdout, listed.stdout


def test_quarantine_show_prints_hostile_text_escaped(database_url: str, tmp_path: Path) -> None:
    """Showing a hostile report escapes its control characters instead of sending them out."""
    _ingest_hostile(database_url, tmp_path)

    shown = run_cli("quarantine", "show", "1", database_url=database_url, workdir=tmp_path)

    out = shown.stdout
    assert (shown.returncode, "\x1b" in out, "\x07" in out) == (0, False, False), shown.stderr
    assert "Subject: \\x1b]0;owned\\x07 \\x1b[31mred [bold]text[/x]" in out, out
    assert ESCAPED_REASON in out, out
    assert "report[bold]\\x1b[31m.eml" in out, out


def test_oversized_mbox_message_is_refused_and_the_rest_ingested(
    database_url: str, tmp_path: Path
) -> None:
    """One mbox message beyond the size limit is named and refused; the others are stored."""
    path = tmp_path / "reports.mbox"
    box = mailbox.mbox(path)
    box.add(arf_report(message_id="s1@example.com", from_domain="example.com", serial=1))
    box.add(b"Subject: huge\n\n" + b"h" * 60_000 + b"\n")
    box.add(arf_report(message_id="s2@example.com", from_domain="example.com", serial=2))
    huge_size = len(box.get_bytes(sorted(box.keys())[1], from_=False))
    box.close()

    result = run_cli(
        "ingest",
        str(path),
        database_url=database_url,
        workdir=tmp_path,
        ABUSEDESK_STORAGE__MAX_REPORT_BYTES="50000",
    )

    line = next((line for line in result.stdout.splitlines() if "reports.mbox#2" in line), "")
    assert result.returncode == 1, result.stderr
    assert f"too large: {huge_size:,} bytes; the limit is 50,000 bytes" in line, result.stdout
    assert "stored: 2, duplicate: 0, processed: 2, quarantined: 0, rejected: 1" in result.stdout


def test_report_claimed_elsewhere_is_pending_and_fails_the_command(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """A stored report another process holds unfinished is counted pending, and exit is 1."""
    raw = arf_report(message_id="p1@example.com", from_domain="example.com", serial=1)
    (tmp_path / "claimed.eml").write_bytes(raw)
    [stored] = container.intake.accept_many([Incoming(raw, "file", {"source": "earlier"})])
    # A running worker has claimed it: its lease keeps this command's processing off it.
    with unit_of_work(container.sessions) as session:
        claimed = container.reports.claim(session, now=utcnow(), lease=timedelta(hours=1), limit=10)

    result = run_cli(
        "ingest", str(tmp_path / "claimed.eml"), database_url=database_url, workdir=tmp_path
    )

    line = next((line for line in result.stdout.splitlines() if "claimed.eml" in line), "")
    assert (claimed, result.returncode) == ([stored.report_id], 1), result.stderr
    assert "not processed yet: processing" in line, result.stdout
    assert (
        "stored: 0, duplicate: 1, processed: 0, quarantined: 0, rejected: 0, unreadable: 0, "
        "pending: 1"
    ) in result.stdout
