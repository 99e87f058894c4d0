"""``abusedesk inventory`` as a real process: import files, report bad rows, prune, show."""

import csv
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from abusedesk.bootstrap import Container
from abusedesk.inventory.model import NumberedRecord, Table
from abusedesk.inventory.rows import parse_row
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.inventory_store import upsert_records
from abusedesk.storage.tables import Account, Event, ResourceKey, SendLogEntry
from tests.functional.cli import run_cli
from tests.support.unattributed import events_of, ingest, stranger_report

ACCOUNTS_CSV = (
    "external_id,name,created_at,country,attributes\n"
    '4411,Northwind,2025-01-01T00:00:00Z,DE,"{""plan"": ""pro""}"\n'
    "4412,Contoso,not a time,US,\n"
    "4413,Fabrikam,2025-01-01,GB,\n"
)
RESOURCES = [
    {"account": "4411", "kind": "identity_domain", "value": "news.example.com",
     "created_at": "2025-01-01T00:00:00Z", "attributes": {"dkim_selectors": ["s1"]}},
    {"account": "9999", "kind": "identity_domain", "value": "other.example.com",
     "created_at": "2025-01-01T00:00:00Z"},
]  # fmt: skip


def _count(container: Container, model: type) -> int:
    with read_only(container.sessions) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _import(
    container: Container, tmp_path: Path, path: Path, table: str, *extra: str
) -> tuple[int, str, str]:
    done = run_cli(
        "inventory", "import", str(path), "--table", table, *extra,
        database_url=container.settings.database.url, workdir=tmp_path,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def _store(container: Container, table: str, rows: list[dict[str, Any]]) -> None:
    """Put rows in the inventory directly: setup that needs no process of its own."""
    records = [NumberedRecord(n, parse_row(table, n, row)) for n, row in enumerate(rows, 1)]
    with unit_of_work(container.sessions) as session:
        upsert_records(session, table, records)


NORTHWIND = {"external_id": "4411", "name": "Northwind", "created_at": "2025-01-01T00:00:00Z"}


def _write_accounts(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS_CSV, encoding="utf-8")
    return path


def test_bad_rows_are_reported_by_line_and_good_rows_land(
    container: Container, tmp_path: Path
) -> None:
    """A bad row is named with its line and field, the others are stored, and the exit is 1."""
    code, out, err = _import(container, tmp_path, _write_accounts(tmp_path), "accounts")

    assert (code, _count(container, Account)) == (1, 2)
    assert "2 inserted, 0 updated, 0 unchanged, 1 rejected" in out
    assert "line 3: created_at:" in err
    assert "rows/s" in err


def test_importing_the_same_file_again_changes_nothing(
    container: Container, tmp_path: Path
) -> None:
    """The second import reports every good row unchanged and stores no new row."""
    path = _write_accounts(tmp_path)
    _import(container, tmp_path, path, "accounts")

    _, out, _ = _import(container, tmp_path, path, "accounts")

    assert (
        "0 inserted, 0 updated, 2 unchanged, 1 rejected" in out,
        _count(container, Account),
    ) == (
        True,
        2,
    )


def test_errors_go_to_a_csv_file_when_asked(container: Container, tmp_path: Path) -> None:
    """--errors writes every rejected row as line, field, message."""
    _store(container, Table.ACCOUNTS, [NORTHWIND])
    path = tmp_path / "resources.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in RESOURCES).encode()))
    report = tmp_path / "errors.csv"

    code, out, _ = _import(container, tmp_path, path, "resources", "--errors", str(report))

    with report.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert (code, rows) == (
        1,
        [["line", "field", "message"], ["2", "account", "no account '9999' in the inventory"]],
    )
    assert "1 inserted" in out
    assert _count(container, ResourceKey) == 2


def test_an_unreadable_file_exits_2(container: Container, tmp_path: Path) -> None:
    """A missing file, an unknown format and a broken gzip file each exit 2."""
    broken = tmp_path / "accounts.csv.gz"
    broken.write_bytes(gzip.compress(ACCOUNTS_CSV.encode() * 50)[:30])
    odd = tmp_path / "accounts.txt"
    odd.write_text(ACCOUNTS_CSV)

    codes = [
        _import(container, tmp_path, tmp_path / "missing.csv", "accounts")[0],
        _import(container, tmp_path, odd, "accounts")[0],
        _import(container, tmp_path, broken, "accounts")[0],
        _import(container, tmp_path, odd, "cases", "--format", "csv")[0],
    ]

    assert codes == [2, 2, 2, 2]


def test_the_format_option_overrides_the_file_name(container: Container, tmp_path: Path) -> None:
    """--format csv reads a file whose name says nothing."""
    odd = tmp_path / "accounts.txt"
    odd.write_text(ACCOUNTS_CSV)

    code, _, _ = _import(container, tmp_path, odd, "accounts", "--format", "csv")

    assert (code, _count(container, Account)) == (1, 2)


def test_prune_send_log_deletes_rows_past_the_given_age(
    container: Container, tmp_path: Path
) -> None:
    """prune-send-log --older-than-days N deletes older rows; 0 keeps everything."""
    _store(container, Table.ACCOUNTS, [NORTHWIND])
    now = datetime.now(UTC)
    _store(
        container,
        Table.SEND_LOG,
        [
            {"provider_message_id": f"m{d}", "account": "4411",
             "sent_at": (now - timedelta(days=d)).isoformat()}
            for d in (200, 50, 1)
        ],
    )  # fmt: skip
    url = container.settings.database.url

    kept = run_cli(
        "inventory", "prune-send-log", "--older-than-days", "0", database_url=url, workdir=tmp_path
    )
    count_after_keep = _count(container, SendLogEntry)
    pruned = run_cli(
        "inventory", "prune-send-log", "--older-than-days", "30", database_url=url, workdir=tmp_path
    )

    assert (kept.returncode, count_after_keep) == (0, 3)
    assert (pruned.returncode, "deleted 2 send-log rows" in pruned.stdout) == (0, True)
    assert _count(container, SendLogEntry) == 1


def test_show_prints_the_account_its_resources_and_ips(
    container: Container, tmp_path: Path
) -> None:
    """show lists the account, its resources with validity and its IPs; unknown exits 1."""
    _store(container, Table.ACCOUNTS, [NORTHWIND])
    _store(container, Table.RESOURCES, [RESOURCES[0]])
    _store(container, Table.IP_ALLOCATIONS, [{"ip": "192.0.2.44", "account": "4411",
                                               "valid_from": "2026-01-01T00:00:00Z"}])  # fmt: skip
    url = container.settings.database.url

    shown = run_cli("inventory", "show", "4411", database_url=url, workdir=tmp_path)
    missing = run_cli("inventory", "show", "nobody", database_url=url, workdir=tmp_path)

    assert shown.returncode == 0
    for expected in ("Northwind", "news.example.com", "2025-01-01 00:00", "192.0.2.44"):
        assert expected in shown.stdout
    assert (missing.returncode, "no account 'nobody'" in missing.stderr) == (1, True)


def test_an_import_that_changes_rows_attributes_the_waiting_events_again(
    container: Container, tmp_path: Path
) -> None:
    """A report that came before its send-log entry settles once the entry is imported."""
    _store(container, Table.ACCOUNTS, [NORTHWIND])
    (report_id,) = ingest(container, [stranger_report(1, message_id="late-1@stranger.example")])
    (event_id,) = events_of(container, report_id)
    path = tmp_path / "send-log.jsonl"
    row = {
        "provider_message_id": "0100-late-1",
        "account": "4411",
        "sent_at": (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
        "message_id_header": "<late-1@stranger.example>",
    }
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")

    code, out, _ = _import(container, tmp_path, path, "send-log")

    with read_only(container.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        settled = (event.attribution_state, event.attribution_method, event.case_id is not None)
    assert (code, settled) == (0, ("attributed", "message_id", True))
    assert "unattributed inbox: 1 of 1 waiting event(s) attributed now" in out
