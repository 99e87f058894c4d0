"""``abusedesk privacy`` as a real command, and the commands that show raw evidence."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tables import AuditEntry, ErasureRequest, Event, Report
from tests.functional.cli import cli_env, run_cli

ADDRESS = "Pat.Person@Home.Example.NET"
KEY = {"ABUSEDESK_RETENTION__ERASURE_KEY": "a long random test secret"}
# No parser reads this: it waits in the unknown-format inbox with its bytes.
UNKNOWN = f"Subject: a format nobody knows\r\nX-Contact: {ADDRESS}\r\n\r\nbody\r\n".encode()


def _stdin_cli(
    container: Container, tmp_path: Path, stdin: str, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "abusedesk", *args],
        cwd=tmp_path,
        env=cli_env(container.settings.database.url, tmp_path, **extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _unknown_report(container: Container, days_old: int) -> int:
    (stored,) = container.intake.accept_many([Incoming(UNKNOWN, "smtp", {})])
    while container.embedded.run_once():
        pass
    with unit_of_work(container.sessions) as session:
        session.execute(update(Report).values(received_at=utcnow() - timedelta(days=days_old)))
        session.execute(update(Event).values(created_at=utcnow() - timedelta(days=days_old)))
    return stored.report_id


def test_dry_run_counts_what_is_due_and_purge_removes_it(
    container: Container, tmp_path: Path
) -> None:
    """``purge --dry-run`` counts a 200-day-old raw report as due and changes nothing;
    ``purge`` then removes it."""
    report_id = _unknown_report(container, 200)
    url = container.settings.database.url
    dry = run_cli("privacy", "purge", "--dry-run", database_url=url, workdir=tmp_path)
    with unit_of_work(container.sessions) as session:
        kept = session.scalar(select(Report.raw).where(Report.id == report_id))
    done = run_cli("privacy", "purge", database_url=url, workdir=tmp_path)
    with unit_of_work(container.sessions) as session:
        gone = session.scalar(select(Report.raw_purge_reason).where(Report.id == report_id))
    assert dry.returncode == 0, dry.stderr
    (row,) = [line for line in dry.stdout.splitlines() if "raw_report" in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == ["raw_report", "180 days", "1"]
    assert kept == UNKNOWN
    assert (done.returncode, "raw_report: 1 purged" in done.stdout) == (0, True), done.stderr
    assert gone == "retention"


def test_show_commands_refuse_purged_evidence_and_audit_views(
    container: Container, tmp_path: Path
) -> None:
    """``unknown show`` prints the bytes of a kept report (and audits the view), and for a
    purged one says the evidence was removed, with exit 1; reprocess refuses it."""
    report_id = _unknown_report(container, 200)
    url = container.settings.database.url
    shown = run_cli("unknown", "show", str(report_id), database_url=url, workdir=tmp_path)
    run_cli("privacy", "purge", database_url=url, workdir=tmp_path)
    refused = run_cli("unknown", "show", str(report_id), database_url=url, workdir=tmp_path)
    quarantine = run_cli("quarantine", "show", str(report_id), database_url=url, workdir=tmp_path)
    again = run_cli("unknown", "reprocess", str(report_id), database_url=url, workdir=tmp_path)
    with unit_of_work(container.sessions) as session:
        views = session.scalars(
            select(AuditEntry.subject_id).where(AuditEntry.tag == "privacy:evidence:view")
        ).all()
    assert (shown.returncode, "a format nobody knows" in shown.stdout) == (0, True), shown.stderr
    assert views == [str(report_id)]
    assert refused.returncode == 1
    assert "raw evidence" in refused.stderr
    assert "retention period" in refused.stderr
    assert "Traceback" not in refused.stderr + quarantine.stderr
    assert (quarantine.returncode, "retention period" in quarantine.stderr) == (1, True)
    assert "cannot be processed again" in again.stderr
    assert "sent 0 report(s) through again" in again.stdout


def test_erase_reads_the_address_from_stdin_and_never_prints_it(
    container: Container, tmp_path: Path
) -> None:
    """``erase --address-stdin`` removes the raw report holding the address, records the
    request, and neither its output nor the request holds the address."""
    report_id = _unknown_report(container, 1)
    erased = _stdin_cli(
        container,
        tmp_path,
        ADDRESS.lower() + "\n",
        "privacy",
        "erase",
        "--address-stdin",
        "--reason",
        "ticket 99",
        **KEY,
    )
    listed = run_cli(
        "privacy", "erasures", database_url=container.settings.database.url, workdir=tmp_path
    )
    with unit_of_work(container.sessions) as session:
        reason = session.scalar(select(Report.raw_purge_reason).where(Report.id == report_id))
        requests = session.execute(select(ErasureRequest.reason, ErasureRequest.counts)).all()
    assert erased.returncode == 0, erased.stderr
    assert "reports: 1 changed" in erased.stdout
    assert ADDRESS.lower() not in (erased.stdout + erased.stderr + listed.stdout).lower()
    assert reason == "erasure"
    assert [tuple(r) for r in requests] == [("ticket 99", {"events": 0, "reports": 1})]
    assert "ticket 99" in listed.stdout


def test_erase_without_a_key_or_with_a_bad_address_exits_2(
    container: Container, tmp_path: Path
) -> None:
    """No erasure key, or something that is no address, is exit 2 with the fix."""
    no_key = _stdin_cli(
        container, tmp_path, ADDRESS, "privacy", "erase", "--address-stdin", "--reason", "x"
    )
    bad = _stdin_cli(
        container,
        tmp_path,
        "nobody\n",
        "privacy",
        "erase",
        "--address-stdin",
        "--reason",
        "x",
        **KEY,
    )
    assert (no_key.returncode, "ABUSEDESK_RETENTION__ERASURE_KEY" in no_key.stderr) == (2, True)
    assert (bad.returncode, "not an email address" in bad.stderr) == (2, True)
    assert "Traceback" not in no_key.stderr + bad.stderr
