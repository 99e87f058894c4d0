"""``abusedesk ingest`` over files, folders, mbox and Maildir, including hostile input."""

import mailbox
from pathlib import Path

import pytest
from sqlalchemy import func, select

from abusedesk.storage.db import make_engine
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
        "garbage.bin": "quarantined at parse",
    }
    assert result.returncode == 1, result.stderr
    for name, problem in problems.items():
        line = next((line for line in out.splitlines() if name in line), "")
        assert problem in line, f"{name}: {line!r}\n{out}"
    assert "processed: 3, quarantined: 1, rejected: 2, unreadable: 1" in out
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
    (tmp_path / "garbage.txt").write_bytes(b"no headers here, only noise\n")
    run_cli("ingest", str(tmp_path / "garbage.txt"), database_url=database_url, workdir=tmp_path)

    listed = run_cli("quarantine", "list", database_url=database_url, workdir=tmp_path)
    shown = run_cli("quarantine", "show", "1", database_url=database_url, workdir=tmp_path)
    requeued = run_cli("quarantine", "requeue", "1", database_url=database_url, workdir=tmp_path)

    assert "unknown_format" in listed.stdout
    assert "no headers here, only noise" in shown.stdout
    assert "stage: parse" in shown.stdout
    assert "requeued 1 report(s)" in requeued.stdout
