"""``abusedesk audit`` as a real command: verify, anchor, show."""

from pathlib import Path

from sqlalchemy import select, update

from abusedesk.bootstrap import Container
from abusedesk.storage.tables import AuditEntry, table_of
from tests.functional.cli import run_cli
from tests.support.audit import seed, tampering

LOG = table_of(AuditEntry)


def test_verify_passes_an_intact_log(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """An untouched log verifies with exit 0 and a summary of what was checked."""
    seed(container.sessions, subjects=3, rows_each=2)

    result = run_cli("audit", "verify", database_url=database_url, workdir=tmp_path)

    assert (result.returncode, result.stderr) == (0, "")
    assert "checked 6 row(s)" in result.stdout
    assert "the audit log is intact" in result.stdout


def test_verify_lists_an_edited_row_and_exits_1(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """A row edited behind the triggers' back is named with its partition, seq and id."""
    seed(container.sessions, subjects=2, rows_each=3)
    with container.engine.connect() as connection:
        target = connection.execute(select(LOG).order_by(LOG.c.id).limit(1)).one()
    with tampering(container.engine) as connection:
        connection.execute(update(LOG).where(LOG.c.id == target.id).values(reason="changed"))

    result = run_cli("audit", "verify", database_url=database_url, workdir=tmp_path)

    assert result.returncode == 1
    assert "audit log damaged: 1 problem(s)" in result.stdout
    assert (
        f"edited: partition {target.partition_no}, seq {target.seq}, row {target.id}:"
        in result.stdout
    )


def test_anchor_prints_the_line_to_export_and_verify_checks_it(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """The anchor's N:HASH line passes --expect; another hash for it fails."""
    seed(container.sessions, subjects=1, rows_each=1)

    anchored = run_cli("audit", "anchor", database_url=database_url, workdir=tmp_path)
    exported = anchored.stdout.strip().splitlines()[-1]
    number, digest = exported.split(":")
    kept = run_cli(
        "audit", "verify", "--expect", exported, database_url=database_url, workdir=tmp_path
    )
    forged = run_cli(
        "audit",
        "verify",
        "--expect",
        f"{number}:{'0' * 64}",
        database_url=database_url,
        workdir=tmp_path,
    )

    assert (anchored.returncode, number, len(digest)) == (0, "1", 64)
    assert "wrote anchor 1 at" in anchored.stdout
    assert (kept.returncode, forged.returncode) == (0, 1)
    assert "anchor differs from export: anchor 1:" in forged.stdout


def test_anchor_on_an_empty_log_writes_nothing(database_url: str, tmp_path: Path) -> None:
    """With no rows and no anchor, anchoring says there is nothing to anchor."""
    result = run_cli("audit", "anchor", database_url=database_url, workdir=tmp_path)

    assert (result.returncode, "nothing to anchor" in result.stdout) == (0, True)


def test_verify_refuses_a_malformed_expectation(database_url: str, tmp_path: Path) -> None:
    """--expect that is not N:HASH exits 2 and shows the form it takes."""
    result = run_cli(
        "audit", "verify", "--expect", "12-abc", database_url=database_url, workdir=tmp_path
    )

    assert (result.returncode, "write it as N:HASH" in result.stderr) == (2, True)


def test_show_lists_a_subjects_history(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """Show lists every row of one subject with its place in the chain, and no other subject's."""
    seed(container.sessions, subjects=2, rows_each=2)

    result = run_cli("audit", "show", "case:2", database_url=database_url, workdir=tmp_path)

    assert result.returncode == 0
    assert result.stdout.count("case:state:change") == 2
    assert result.stdout.count(" ok ") == 2
    assert '{"n": 1, "state": "new"}' in result.stdout


def test_show_refuses_a_subject_without_its_type(database_url: str, tmp_path: Path) -> None:
    """A subject not written TYPE:ID exits 2 with an example."""
    result = run_cli("audit", "show", "12", database_url=database_url, workdir=tmp_path)

    assert (result.returncode, "TYPE:ID, e.g. case:12" in result.stderr) == (2, True)
