"""Reading reports from files: size limits before reading, and mbox and Maildir splitting."""

import mailbox
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from abusedesk.intake.files import FileItem, iter_reports

LIMIT = 1000
SMALL = b"From: a@example.net\nSubject: small\n\nbody\n"
LARGE = b"From: a@example.net\nSubject: large\n\n" + b"x" * 2000 + b"\n"


def write_mbox(path: Path, messages: list[bytes]) -> None:
    """Write *messages* as an mbox file, the way Python's mailbox module does."""
    box = mailbox.mbox(path)
    for message in messages:
        box.add(message)
    box.close()


def write_maildir(path: Path, messages: list[bytes]) -> list[str]:
    """Write *messages* into a new Maildir; return their keys in the order given."""
    box = mailbox.Maildir(path)
    keys = [box.add(message) for message in messages]
    box.close()
    return keys


def stdlib_split(path: Path) -> list[bytes]:
    """Return the messages of an mbox file as Python's mailbox module reads them."""
    box = mailbox.mbox(path, create=False)
    try:
        return [box.get_bytes(key, from_=False) for key in box.iterkeys()]
    finally:
        box.close()


def too_large(size: int) -> str:
    """Return the error for a report of *size* bytes under LIMIT."""
    return f"too large: {size:,} bytes; the limit is {LIMIT:,} bytes"


def test_oversized_mbox_message_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    """A message of an mbox file beyond the limit is named by its number; the others are read."""
    path = tmp_path / "reports.mbox"
    write_mbox(path, [SMALL, LARGE, SMALL + b"again\n"])
    size = len(stdlib_split(path)[1])

    items = list(iter_reports(path, max_bytes=LIMIT))

    assert items == [
        FileItem(f"{path}#1", SMALL),
        FileItem(f"{path}#2", None, too_large(size)),
        FileItem(f"{path}#3", SMALL + b"again\n"),
    ]


def test_single_message_mbox_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    """A file starting with 'From ' gets no pass on the limit: its one message is refused."""
    path = tmp_path / "one.mbox"
    write_mbox(path, [LARGE])
    size = len(stdlib_split(path)[0])

    assert list(iter_reports(path, max_bytes=LIMIT)) == [
        FileItem(f"{path}#1", None, too_large(size))
    ]


def test_oversized_maildir_message_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    """A Maildir message file beyond the limit is named by its key; the others are read."""
    path = tmp_path / "Maildir"
    small, large = write_maildir(path, [SMALL, LARGE])

    items = sorted(iter_reports(path, max_bytes=LIMIT), key=lambda item: item.source)

    assert items == sorted(
        [
            FileItem(f"{path}/{small}", SMALL),
            FileItem(f"{path}/{large}", None, too_large(len(LARGE))),
        ],
        key=lambda item: item.source,
    )


def test_maildir_entry_that_is_not_a_file_is_unreadable(tmp_path: Path) -> None:
    """A broken link among Maildir messages is reported as unreadable, not opened."""
    path = tmp_path / "Maildir"
    write_maildir(path, [])
    (path / "new" / "1700000000.M1P1.host").symlink_to(path / "missing")

    assert list(iter_reports(path, max_bytes=LIMIT)) == [
        FileItem(f"{path}/1700000000.M1P1.host", None, "unreadable: a broken link")
    ]


def test_loose_file_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    """A single message file beyond the limit comes back as an error, not its bytes."""
    path = tmp_path / "big.eml"
    path.write_bytes(LARGE)

    assert list(iter_reports(path, max_bytes=LIMIT)) == [
        FileItem(str(path), None, too_large(len(LARGE)))
    ]


def test_mbox_lines_longer_than_a_read_are_kept_whole(tmp_path: Path) -> None:
    """Lines far longer than one read, in a 'From ' line or a body, split as mailbox does."""
    path = tmp_path / "long.mbox"
    path.write_bytes(
        b"From " + b"f" * 200_000 + b"\n"
        b"Subject: one\n\n" + b"y" * 300_000 + b"\n\n"
        b"From b@example.net Mon Jan  1 00:00:00 2024\n"
        b"Subject: two\n\n" + b"From z" * 50_000 + b"\n"
    )

    items = list(iter_reports(path, max_bytes=1_000_000))

    assert [item.raw for item in items] == stdlib_split(path)


LINES = st.lists(
    st.sampled_from(
        [
            b"From a@example.net Mon Jan  1 00:00:00 2024\n",
            b"From \n",
            b"\n",
            b"\r\n",
            b">From quoted\n",
            b"Subject: x\n",
            b"body text\n",
            b" From indented\n",
            b"no newline at the end",
        ]
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None, database=None)
@given(lines=LINES)
def test_mbox_split_matches_the_mailbox_module(lines: list[bytes]) -> None:
    """Any mbox file splits into the same messages, byte for byte, as mailbox.mbox makes."""
    content = b"From first@example.net Mon Jan  1 00:00:00 2024\n" + b"".join(lines)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "box.mbox"
        path.write_bytes(content)

        items = list(iter_reports(path, max_bytes=LIMIT * 1000))

        assert [item.raw for item in items] == stdlib_split(path)


def test_a_csv_whose_first_column_starts_with_from_is_one_report(tmp_path: Path) -> None:
    """A CSV headed ``From Number,...`` is a single report, not an mbox missing a line."""
    path = tmp_path / "texts.csv"
    raw = b"From Number,To Number,Message\n+15550100,+15550199,WIN a prize 2024\n"
    path.write_bytes(raw)
    assert [item.raw for item in iter_reports(path, max_bytes=1024)] == [raw]
