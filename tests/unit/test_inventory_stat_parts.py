"""Statistics rows about part of an account's mail: an IP pool, a Feedback-ID, trap hits."""

from datetime import UTC, datetime

import pytest

from abusedesk.inventory.errors import RowRejected
from abusedesk.inventory.model import SendingStatRecord, Table
from abusedesk.inventory.rows import parse_row

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
ROW = {"account": "1", "hour": "2026-03-01T12:00:00Z", "sent": "10"}


def _fields(row: dict[str, str]) -> list[str]:
    with pytest.raises(RowRejected) as raised:
        parse_row(Table.SENDING_STATS, 3, row)
    return [error.field for error in raised.value.errors]


def test_a_row_without_the_new_fields_reads_as_before() -> None:
    """Files written before pools, Feedback-IDs and trap hits still load: no trap hits."""
    assert parse_row(Table.SENDING_STATS, 1, ROW) == SendingStatRecord(
        account="1", hour=T0, sent=10
    )


def test_a_row_names_a_pool_or_a_feedback_id_and_counts_trap_hits() -> None:
    """pool, feedback_id and trap_hits are read as given."""
    pool = parse_row(Table.SENDING_STATS, 1, {**ROW, "pool": "shared-a", "trap_hits": "2"})
    campaign = parse_row(Table.SENDING_STATS, 2, {**ROW, "feedback_id": "c1:news:1:acme"})
    assert (pool, campaign) == (
        SendingStatRecord(account="1", hour=T0, sent=10, pool="shared-a", trap_hits=2),
        SendingStatRecord(account="1", hour=T0, sent=10, feedback_id="c1:news:1:acme"),
    )


def test_a_row_is_about_one_part_of_the_mail_only() -> None:
    """A pool and a Feedback-ID (or a resource) on one row are refused."""
    row = {**ROW, "pool": "shared-a", "feedback_id": "c1:1"}
    assert _fields(row) == ["feedback_id"]


def test_a_pool_row_and_the_account_row_have_different_keys() -> None:
    """The same hour for the account and for its mail through a pool are two rows."""
    whole = parse_row(Table.SENDING_STATS, 1, ROW)
    pooled = parse_row(Table.SENDING_STATS, 2, {**ROW, "pool": "shared-a"})
    assert whole.key != pooled.key


def test_an_overlong_feedback_id_is_refused() -> None:
    """A Feedback-ID longer than 180 characters names nothing we keep."""
    assert _fields({**ROW, "feedback_id": "x" * 181}) == ["feedback_id"]


def test_trap_hits_are_whole_numbers() -> None:
    """Negative or fractional trap hits are refused like any figure."""
    assert _fields({**ROW, "trap_hits": "-1"}) == ["trap_hits"]
