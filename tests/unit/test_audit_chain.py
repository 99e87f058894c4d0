"""The audit chain's encoding, partitions and verification rules, without a database."""

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from abusedesk.core.audit_chain import (
    ANCHOR_EDITED,
    ANCHOR_OUT_OF_CHAIN,
    ANCHOR_REMOVED,
    ANCHOR_UNKNOWN,
    EDITED,
    GENESIS,
    OUT_OF_CHAIN,
    REMOVED,
    REWRITTEN,
    TRUNCATED,
    Anchor,
    AnchorHead,
    AuditRow,
    AuditValueInvalid,
    ChainVerifier,
    anchor_hash,
    chain_link,
    format_time,
    normalise_json,
    partition_of,
    row_hash,
)

START = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)


def _chain(partition: int, count: int, *, first_id: int = 1) -> list[AuditRow]:
    """Build a valid chain of *count* rows in *partition*."""
    rows: list[AuditRow] = []
    head: tuple[int, str] | None = None
    for n in range(count):
        seq, prev = chain_link(head)
        row = AuditRow(
            id=first_id + n,
            partition=partition,
            seq=seq,
            occurred_at=START + timedelta(seconds=n),
            actor="analyst:7",
            tag="case:state:change",
            subject_type="case",
            subject_id=str(n % 3),
            before={"state": "new"},
            after={"state": "triaged", "n": n},
            reason="looked at it",
            prev_hash=prev,
            hash="",
        )
        row = dataclasses.replace(row, hash=row_hash(row))
        head = (seq, row.hash)
        rows.append(row)
    return rows


def _anchor(seq: int, heads: list[AnchorHead], prev: Anchor | None) -> Anchor:
    prev_hash = prev.hash if prev else GENESIS
    digest = anchor_hash(seq=seq, created_at=START, heads=heads, prev_hash=prev_hash)
    return Anchor(seq, START, tuple(heads), prev_hash, digest)


def _kinds(verifier: ChainVerifier) -> list[tuple[str, int | None]]:
    return [
        (p.kind, p.row_id if p.row_id is not None else p.anchor) for p in verifier.report.problems
    ]


def test_row_hash_follows_the_documented_encoding() -> None:
    """An outside verifier's SHA-256 of sorted-key compact JSON gives the same row hash."""
    row = _chain(3, 1)[0]
    document = {
        "v": 1,
        "id": 1,
        "partition": 3,
        "seq": 1,
        "occurred_at": "2026-11-29T04:00:00.000000Z",
        "actor": "analyst:7",
        "tag": "case:state:change",
        "subject_type": "case",
        "subject_id": "0",
        "before": {"state": "new"},
        "after": {"n": 0, "state": "triaged"},
        "reason": "looked at it",
        "prev_hash": "0" * 64,
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert row.hash == hashlib.sha256(encoded.encode()).hexdigest()


def test_anchor_hash_follows_the_documented_encoding() -> None:
    """An anchor hashes its number, time, heads sorted by partition and previous hash."""
    heads = [AnchorHead(5, 2, "b" * 64), AnchorHead(1, 9, "a" * 64)]
    document = {
        "v": 1,
        "seq": 4,
        "created_at": "2026-11-29T04:00:00.000000Z",
        "heads": [[1, 9, "a" * 64], [5, 2, "b" * 64]],
        "prev_hash": "c" * 64,
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"))
    expected = hashlib.sha256(encoded.encode()).hexdigest()
    actual = anchor_hash(seq=4, created_at=START, heads=heads, prev_hash="c" * 64)
    assert actual == expected


def test_times_are_encoded_in_utc_with_microseconds() -> None:
    """Any offset becomes UTC with six fraction digits and a Z; naive times count as UTC."""
    east = datetime(2026, 11, 29, 6, 30, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 1, 2, 3, 4, 5)  # noqa: DTZ001  # naive on purpose
    assert (format_time(east), format_time(naive)) == (
        "2026-11-29T04:30:00.000005Z",
        "2026-01-02T03:04:05.000000Z",
    )


def test_partition_is_sha256_of_type_and_id_modulo_the_count() -> None:
    """The partition is the first 8 bytes of SHA-256('type:id'), big-endian, modulo the count."""
    digest = hashlib.sha256(b"case:12").digest()
    assert partition_of("case", "12", 16) == int.from_bytes(digest[:8], "big") % 16


def test_partition_count_out_of_range_is_refused() -> None:
    """A partition count of 0 is a named error, not a division by zero."""
    with pytest.raises(AuditValueInvalid, match="partition count"):
        partition_of("case", "1", 0)


def test_values_are_hashed_as_they_read_back_from_json() -> None:
    """Tuples become lists and integer keys become text, as a JSON column returns them."""
    assert normalise_json({1: ("a", 2)}) == {"1": ["a", 2]}


@pytest.mark.parametrize("value", [{"x": float("nan")}, {"x": float("inf")}, {"x": object()}])
def test_values_that_are_not_json_are_refused(value: object) -> None:
    """NaN, infinity and objects JSON cannot hold raise a named error."""
    with pytest.raises(AuditValueInvalid):
        normalise_json(value)


def test_intact_chains_verify() -> None:
    """Valid chains in several partitions give no problem and are counted."""
    verifier = ChainVerifier()
    verifier.rows([*_chain(0, 5), *_chain(4, 3, first_id=10)])
    assert (verifier.report.intact, verifier.report.rows, verifier.report.partitions) == (
        True,
        8,
        2,
    )


def test_an_edited_row_is_named() -> None:
    """A row whose columns changed after hashing is reported as edited."""
    rows = _chain(0, 4)
    rows[1] = dataclasses.replace(rows[1], actor="someone else")
    verifier = ChainVerifier()
    verifier.rows(rows)
    assert _kinds(verifier) == [(EDITED, 2)]


def test_a_removed_row_is_named_at_the_row_after_the_gap() -> None:
    """A missing seq is reported as removed, at the row that follows the gap."""
    rows = _chain(0, 5)
    del rows[2]
    verifier = ChainVerifier()
    verifier.rows(rows)
    assert [(p.kind, p.row_id, p.detail) for p in verifier.report.problems] == [
        (REMOVED, 4, "seq 3 missing before this row")
    ]


def test_a_replaced_row_with_its_own_valid_hash_breaks_the_next_link() -> None:
    """Rehashing an edited row moves the problem to the link from the next row."""
    rows = _chain(0, 4)
    forged = dataclasses.replace(rows[1], reason="nothing happened")
    rows[1] = dataclasses.replace(forged, hash=row_hash(forged))
    verifier = ChainVerifier()
    verifier.rows(rows)
    assert _kinds(verifier) == [(OUT_OF_CHAIN, 3)]


def test_a_repeated_seq_is_out_of_chain() -> None:
    """Two rows with one seq (the unique index dropped) are reported."""
    rows = _chain(0, 3)
    rows.insert(2, dataclasses.replace(rows[1], id=99))
    verifier = ChainVerifier()
    verifier.rows(rows)
    assert _kinds(verifier) == [(EDITED, 99), (OUT_OF_CHAIN, 99)]


def test_truncation_after_an_anchor_is_named() -> None:
    """An anchored head beyond the chain's end is a truncation after that anchor."""
    rows = _chain(2, 5)
    verifier = ChainVerifier()
    verifier.rows(rows[:3])
    claim = AnchorHead(2, 5, rows[4].hash)
    verifier.claims([(7, claim, None, None)])
    problem = verifier.report.problems[0]
    assert (problem.kind, problem.anchor, problem.partition, problem.seq) == (TRUNCATED, 7, 2, 5)


def test_a_missing_anchored_row_inside_the_chain_is_left_to_the_gap() -> None:
    """A claim on a row removed mid-chain adds nothing to the gap the row pass named."""
    rows = _chain(2, 5)
    verifier = ChainVerifier()
    verifier.rows([r for r in rows if r.seq != 3])
    verifier.claims([(1, AnchorHead(2, 3, rows[2].hash), None, None)])
    assert [p.kind for p in verifier.report.problems] == [REMOVED]


def test_a_rebuilt_chain_contradicts_its_anchor() -> None:
    """A row at an anchored place carrying another hash is reported as rewritten."""
    verifier = ChainVerifier()
    verifier.claims([(3, AnchorHead(1, 4, "a" * 64), 40, "b" * 64)])
    problem = verifier.report.problems[0]
    assert (problem.kind, problem.anchor, problem.row_id) == (REWRITTEN, 3, 40)


def test_the_anchor_chain_verifies_and_names_edits_gaps_and_breaks() -> None:
    """Anchors are checked like rows: their hash, their numbering and their links."""
    first = _anchor(1, [AnchorHead(0, 1, "a" * 64)], None)
    second = _anchor(2, [AnchorHead(0, 2, "b" * 64)], first)
    third = _anchor(3, [AnchorHead(0, 3, "c" * 64)], second)
    fifth = _anchor(5, [], third)
    edited = dataclasses.replace(second, created_at=START + timedelta(seconds=1))
    unlinked = _anchor(6, [], None)
    verifier = ChainVerifier()
    verifier.anchors([first, edited, third, fifth, unlinked])
    assert _kinds(verifier) == [
        (ANCHOR_EDITED, 2),
        (ANCHOR_REMOVED, 5),
        (ANCHOR_OUT_OF_CHAIN, 6),
    ]


def test_exported_anchors_must_still_be_there_with_their_hash() -> None:
    """An exported anchor that differs, or is gone, is reported; a matching one is not."""
    first = _anchor(1, [], None)
    second = _anchor(2, [], first)
    verifier = ChainVerifier()
    verifier.anchors([first, second], {1: first.hash, 2: "f" * 64, 9: "e" * 64})
    assert _kinds(verifier) == [(ANCHOR_UNKNOWN, 2), (ANCHOR_REMOVED, 9)]


def test_problems_beyond_the_limit_are_counted_not_kept() -> None:
    """Memory stays bounded: past max_problems, problems are only counted."""
    rows = [dataclasses.replace(r, actor="x") for r in _chain(0, 5)]
    verifier = ChainVerifier()
    verifier.report.max_problems = 2
    verifier.rows(rows)
    assert (len(verifier.report.problems), verifier.report.problem_count) == (2, 5)


def test_a_row_holding_values_json_cannot_encode_counts_as_edited() -> None:
    """NaN smuggled into a JSON column is an edit, not a crash of the verifier."""
    rows = _chain(0, 3)
    rows[1] = dataclasses.replace(rows[1], before={"x": float("nan")})
    verifier = ChainVerifier()
    verifier.rows(rows)
    assert _kinds(verifier) == [(EDITED, 2)]


def test_a_row_with_text_for_its_seq_counts_as_edited() -> None:
    """Text stored where the chain needs a number is reported, and the walk goes on."""
    rows: list[AuditRow] = _chain(0, 3)
    rows[2] = dataclasses.replace(rows[2], seq="three")  # type: ignore[arg-type]
    verifier = ChainVerifier()
    verifier.rows(rows)
    assert ([p.kind for p in verifier.report.problems], verifier.report.rows) == ([EDITED], 3)
