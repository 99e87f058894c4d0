"""Inventory rows into typed records: every table, the errors, and reading files."""

import gzip
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from abusedesk.inventory.errors import InventoryFileUnreadable, RowRejected, UnknownTable
from abusedesk.inventory.files import format_of, read_rows
from abusedesk.inventory.model import (
    AccountRecord,
    AllocationRecord,
    PoolRecord,
    ResourceRecord,
    ResourceRef,
    RowError,
    SendingStatRecord,
    SendLogRecord,
    Table,
    table_named,
)
from abusedesk.inventory.rows import parse_row

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
ACCOUNT = {"external_id": "4411", "name": "Northwind", "created_at": "2026-03-01T12:00:00Z"}


def _errors(table: str, row: dict[str, Any], line: int = 7) -> list[tuple[int, str]]:
    with pytest.raises(RowRejected) as caught:
        parse_row(table, line, row)
    return [(e.line, e.field) for e in caught.value.errors]


def test_an_account_row_of_strings_becomes_a_record() -> None:
    """A CSV-style account row gives a typed record with defaults and parsed attributes."""
    row = {**ACCOUNT, "country": "de", "contact_email": "", "attributes": '{"plan": "pro"}'}

    record = parse_row(Table.ACCOUNTS, 2, row)

    assert record == AccountRecord(
        external_id="4411",
        name="Northwind",
        created_at=T0,
        country="DE",
        attributes={"plan": "pro"},
    )


def test_a_time_without_offset_is_utc() -> None:
    """An ISO 8601 time without an offset is read as UTC; one with an offset is converted."""
    naive = parse_row(Table.ACCOUNTS, 2, {**ACCOUNT, "created_at": "2026-03-01T12:00:00"})
    offset = parse_row(Table.ACCOUNTS, 2, {**ACCOUNT, "created_at": "2026-03-01T14:00:00+02:00"})

    assert (naive.created_at, offset.created_at) == (T0, T0)  # type: ignore[union-attr]  # accounts


def test_every_bad_field_of_a_row_is_reported_with_its_line() -> None:
    """Each bad field gives its own error, naming the line and the field."""
    row = {"external_id": "", "name": "x", "created_at": "yesterday", "country": "Germany"}

    assert _errors(Table.ACCOUNTS, row) == [(7, "external_id"), (7, "created_at"), (7, "country")]


def test_an_unknown_field_is_an_error_not_silently_dropped() -> None:
    """A misspelt column is reported rather than ignored."""
    assert _errors(Table.ACCOUNTS, {**ACCOUNT, "contact_emial": "a@b.example"}) == [
        (7, "contact_emial")
    ]


def test_attributes_must_be_a_json_object() -> None:
    """Attributes that are not a JSON object are refused."""
    assert _errors(Table.RESOURCES, {**_resource(), "attributes": "[1, 2]"}) == [(7, "attributes")]


def test_text_with_nul_characters_is_refused() -> None:
    """A NUL character, which a database cannot store, is a field error."""
    assert _errors(Table.ACCOUNTS, {**ACCOUNT, "name": "bad\x00name"}) == [(7, "name")]


def test_an_over_long_value_is_refused() -> None:
    """A value longer than its column is a field error, not a database failure."""
    assert _errors(Table.ACCOUNTS, {**ACCOUNT, "external_id": "x" * 65}) == [(7, "external_id")]


def test_a_dedicated_pool_needs_an_account_and_a_shared_one_has_none() -> None:
    """Pool kinds decide whether an account is named."""
    assert _errors(Table.IP_POOLS, {"name": "p", "kind": "dedicated"}) == [(7, "account")]
    assert _errors(Table.IP_POOLS, {"name": "p", "kind": "shared", "account": "1"}) == [
        (7, "account")
    ]
    assert parse_row(Table.IP_POOLS, 2, {"name": "p", "kind": "Shared"}) == PoolRecord(
        "p", "shared"
    )


def _resource(**extra: Any) -> dict[str, Any]:
    return {
        "account": "4411",
        "kind": "identity_domain",
        "value": "News.Example.COM.",
        "created_at": "2026-03-01T12:00:00Z",
        **extra,
    }


def test_a_resource_row_from_json_keeps_its_attributes_and_normalises_the_domain() -> None:
    """JSON Lines give attributes as an object; a domain value is lowercased without its dot."""
    record = parse_row(Table.RESOURCES, 1, _resource(attributes={"dkim_selectors": ["s1"]}))

    assert record == ResourceRecord(
        account="4411",
        kind="identity_domain",
        value="news.example.com",
        created_at=T0,
        attributes={"dkim_selectors": ["s1"]},
    )


def test_resource_kinds_come_from_the_attribution_vocabulary() -> None:
    """A kind outside ResourceKind is refused."""
    assert _errors(Table.RESOURCES, _resource(kind="website")) == [(7, "kind")]


def test_a_resource_cannot_end_before_it_starts() -> None:
    """deleted_at before created_at is refused."""
    assert _errors(Table.RESOURCES, _resource(deleted_at="2026-02-01T00:00:00Z")) == [
        (7, "deleted_at")
    ]


def test_ips_are_validated_and_stored_in_canonical_form() -> None:
    """IPv6 addresses are compressed and lowercased; nonsense is refused."""
    row = {"ip": "2001:DB8:0:0::1", "valid_from": "2026-03-01T12:00:00Z", "pool": "shared-a"}

    assert parse_row(Table.IP_ALLOCATIONS, 1, row) == AllocationRecord(
        ip="2001:db8::1", valid_from=T0, pool="shared-a"
    )
    assert _errors(Table.IP_ALLOCATIONS, {**row, "ip": "198.51.100.300"}) == [(7, "ip")]


def test_an_allocation_names_a_pool_or_an_account() -> None:
    """An allocation held by nobody is refused."""
    assert _errors(Table.IP_ALLOCATIONS, {"ip": "192.0.2.1", "valid_from": "2026-03-01"}) == [
        (7, "pool")
    ]


def test_a_send_log_recipient_is_hashed_and_not_kept() -> None:
    """The recipient becomes the SHA-256 of its lowercased address, and gives the domain."""
    row = {
        "provider_message_id": "0100-1",
        "account": "4411",
        "sent_at": "2026-03-01T12:00:00Z",
        "resource_kind": "identity_domain",
        "resource_value": "news.example.com",
        "recipient": "<Jane.Doe@Mail.Example.NET>",
        "source_ip": "198.51.100.7",
    }

    record = parse_row(Table.SEND_LOG, 1, row)

    assert record == SendLogRecord(
        provider_message_id="0100-1",
        account="4411",
        sent_at=T0,
        resource=ResourceRef("identity_domain", "news.example.com"),
        source_ip="198.51.100.7",
        recipient_domain="mail.example.net",
        recipient_hash=hashlib.sha256(b"jane.doe@mail.example.net").hexdigest(),
    )
    assert "jane" not in repr(record).lower()


def test_a_send_log_message_id_is_kept_without_angle_brackets() -> None:
    """Events carry Message-IDs bare, so the send log stores them bare too."""
    row = {
        "provider_message_id": "0100-1",
        "account": "4411",
        "sent_at": "2026-03-01T12:00:00Z",
        "message_id_header": " <0100-1@email.cloudmail.example> ",
    }

    record = parse_row(Table.SEND_LOG, 1, row)

    assert isinstance(record, SendLogRecord)
    assert record.message_id_header == "0100-1@email.cloudmail.example"


def test_a_send_log_row_may_carry_the_hash_itself() -> None:
    """A recipient_hash is taken as it is (lowercased); a malformed one is refused."""
    digest = "AB" * 32
    base = {"provider_message_id": "m", "account": "1", "sent_at": "2026-03-01T12:00:00Z"}

    record = parse_row(Table.SEND_LOG, 1, {**base, "recipient_hash": digest})

    assert record.recipient_hash == digest.lower()  # type: ignore[union-attr]  # send log
    assert _errors(Table.SEND_LOG, {**base, "recipient_hash": "abc"}) == [(7, "recipient_hash")]


def test_a_resource_reference_needs_both_kind_and_value() -> None:
    """resource_kind without resource_value is refused."""
    base = {"provider_message_id": "m", "account": "1", "sent_at": "2026-03-01T12:00:00Z"}

    assert _errors(Table.SEND_LOG, {**base, "resource_kind": "identity_domain"}) == [
        (7, "resource_value")
    ]


def test_a_statistics_row_reads_its_figures_and_refuses_odd_hours() -> None:
    """Figures are whole numbers (missing ones are 0); the hour must start an hour."""
    row = {"account": "1", "hour": "2026-03-01T12:00:00Z", "sent": "10", "complaints": 1}

    assert parse_row(Table.SENDING_STATS, 1, row) == SendingStatRecord(
        account="1", hour=T0, sent=10, complaints=1
    )
    assert _errors(Table.SENDING_STATS, {**row, "hour": "2026-03-01T12:30:00Z", "sent": "-1"}) == [
        (7, "sent"),
        (7, "hour"),
    ]


def test_an_unknown_table_is_an_error() -> None:
    """Only the inventory's tables are accepted; dashed names are the same tables."""
    with pytest.raises(UnknownTable):
        parse_row("cases", 1, {})
    assert (table_named("ip-pools"), table_named("cases")) == (Table.IP_POOLS, None)


def test_records_come_back_in_the_row_shape_they_were_read_from() -> None:
    """as_row gives a row that parses back to the same record."""
    record = parse_row(Table.RESOURCES, 1, _resource(deleted_at="2026-04-01T00:00:00Z"))

    assert parse_row(Table.RESOURCES, 1, record.as_row()) == record  # type: ignore[union-attr]


# --- files ---------------------------------------------------------------------------


def test_csv_rows_carry_their_line_numbers_counting_the_header(tmp_path: Path) -> None:
    """Line 1 is the header; blank lines are skipped; quoted newlines keep later numbers true."""
    path = tmp_path / "accounts.csv"
    path.write_text('external_id,name\n1,"Two\nlines"\n\n2,Plain\n', encoding="utf-8")

    rows = list(read_rows(path, "csv"))

    assert rows == [
        (3, {"external_id": "1", "name": "Two\nlines"}),
        (5, {"external_id": "2", "name": "Plain"}),
    ]


def test_a_csv_row_longer_than_its_header_is_a_row_error(tmp_path: Path) -> None:
    """Extra values are reported for their line, and the next rows still come."""
    path = tmp_path / "accounts.csv"
    path.write_text("external_id,name\n1,a,extra\n2,b\n", encoding="utf-8")

    rows = list(read_rows(path, "csv"))

    assert [(line, isinstance(row, RowError)) for line, row in rows] == [(2, True), (3, False)]


def test_json_lines_report_bad_lines_and_go_on(tmp_path: Path) -> None:
    """A line that is not a JSON object is a row error for that line only."""
    path = tmp_path / "accounts.jsonl"
    path.write_text('{"external_id": "1"}\nnot json\n[1]\n\n{"external_id": "2"}\n')

    rows = list(read_rows(path, "jsonl"))

    assert [(line, row if isinstance(row, dict) else row.message) for line, row in rows] == [
        (1, {"external_id": "1"}),
        (2, "not valid JSON"),
        (3, "each line must be one JSON object"),
        (5, {"external_id": "2"}),
    ]


def test_gzipped_files_are_read_whatever_their_name(tmp_path: Path) -> None:
    """Gzip is recognised by its magic bytes, with or without the .gz suffix."""
    path = tmp_path / "accounts.jsonl"
    path.write_bytes(gzip.compress(json.dumps({"external_id": "1"}).encode() + b"\n"))

    assert list(read_rows(path, "jsonl")) == [(1, {"external_id": "1"})]


def test_a_truncated_gzip_file_is_unreadable(tmp_path: Path) -> None:
    """A compressed file cut short raises InventoryFileUnreadable, not a stray exception."""
    path = tmp_path / "accounts.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"external_id": "1"}\n' * 1000)[:40])

    with pytest.raises(InventoryFileUnreadable):
        list(read_rows(path, "jsonl"))


def test_the_format_comes_from_the_file_name() -> None:
    """.csv and .jsonl, gzipped or not, name their format; anything else names none."""
    names = ["a.csv", "a.CSV.gz", "a.jsonl", "a.ndjson.gz", "a.txt", "a"]

    assert [format_of(Path(n)) for n in names] == ["csv", "csv", "jsonl", "jsonl", None, None]
