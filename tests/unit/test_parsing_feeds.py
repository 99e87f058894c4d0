"""The feed parser: CSV rows attached plain or zipped, within limits, one event a row."""

import base64
import gzip
import io
import zipfile
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abusedesk.parsing import feeds
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError, UnknownReportFormat
from abusedesk.parsing.feeds import FeedParser, feed_category
from abusedesk.parsing.model import ParsedReport
from abusedesk.parsing.registry import default_registry

HEADER = '"timestamp","ip","port","tag","hostname"\n'
ROW = '"2025-03-01 04:10:00","192.0.2.{n}",6379,"redis","host{n}.example.net"\n'


def rows(count: int) -> str:
    """Return a Shadowserver-style CSV text with *count* rows."""
    return HEADER + "".join(ROW.format(n=n % 250 + 1) for n in range(count))


def zipped(members: dict[str, bytes], *, encrypt_flag: bool = False) -> bytes:
    """Return a zip file holding *members*; *encrypt_flag* marks them encrypted."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2025, 3, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    packed = bytearray(buffer.getvalue())
    if encrypt_flag:
        # The zipfile module cannot write encrypted members; set the flag bit in the
        # local and central headers (general purpose flags at offsets 6 and 8).
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            packed[packed.find(signature) + offset] |= 0x1
    return bytes(packed)


def feed_mail(
    attachment: bytes,
    *,
    filename: str = "2025-03-01-scan_redis-asn.csv.zip",
    content_type: str = "application/octet-stream",
    subject: str = "Daily report",
) -> bytes:
    """Return a feed notification mail with *attachment* base64-encoded."""
    encoded = base64.encodebytes(attachment).decode()
    return (
        "From: Feed <reports@feeds.example>\nTo: abuse@example.org\n"
        f"Subject: {subject}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nReport attached.\n\n"
        f'--b\nContent-Type: {content_type}; name="{filename}"\n'
        "Content-Transfer-Encoding: base64\n"
        f'Content-Disposition: attachment; filename="{filename}"\n\n{encoded}\n--b--\n'
    ).encode()


def parse(raw: bytes) -> ParsedReport:
    """Return what the feed parser reads from *raw*."""
    return FeedParser().parse(RawDocument(raw))


def test_each_zipped_row_becomes_one_event() -> None:
    """A zipped CSV of three rows gives three events with their source IPs."""
    report = parse(feed_mail(zipped({"scan_redis.csv": rows(3).encode()})))
    assert [e.indicators["source_ip"] for e in report.events] == [
        ("192.0.2.1",),
        ("192.0.2.2",),
        ("192.0.2.3",),
    ]


def test_plain_csv_attachment_is_read_by_its_type() -> None:
    """A text/csv attachment is read without a .csv name."""
    raw = feed_mail(rows(2).encode(), filename="report", content_type="text/csv")
    assert len(parse(raw).events) == 2


def test_unreadable_rows_become_warnings_beside_the_events() -> None:
    """A row without an IP address is a warning; the other rows are still events."""
    text = rows(1) + '"2025-03-01 04:11:00","n/a",6379,"redis",""\n'
    report = parse(feed_mail(text.encode(), filename="scan.csv", content_type="text/csv"))
    assert (len(report.events), report.warnings) == (1, ("scan.csv row 3: no IP address",))


def test_zip_bomb_member_is_not_unpacked() -> None:
    """A member compressed far past any CSV's ratio gives a warning and no rows."""
    bomb = zipped({"bomb.csv": HEADER.encode() + b"0" * 5_000_000})
    with pytest.raises(ParseError) as caught:
        parse(feed_mail(bomb))
    assert (caught.value.reason, "inflates to more than 1,048,576 bytes" in str(caught.value)) == (
        "no_feed_rows",
        True,
    )


def test_gzip_bomb_attachment_is_not_unpacked() -> None:
    """A gzipped CSV compressed far past any CSV's ratio gives a warning and no rows."""
    bomb = gzip.compress(HEADER.encode() + b"0" * 5_000_000)
    with pytest.raises(ParseError) as caught:
        parse(feed_mail(bomb, filename="scan.csv.gz"))
    assert (caught.value.reason, "inflates to more than" in str(caught.value)) == (
        "no_feed_rows",
        True,
    )


def test_gzipped_csv_attachment_is_read() -> None:
    """A ``.csv.gz`` attachment is unpacked and its rows become events, named without .gz."""
    report = parse(feed_mail(gzip.compress(rows(2).encode()), filename="scan_redis.csv.gz"))
    assert [(e.details["feed_file"], e.indicators["source_ip"]) for e in report.events] == [
        ("scan_redis.csv", ("192.0.2.1",)),
        ("scan_redis.csv", ("192.0.2.2",)),
    ]


def test_oversize_csv_member_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A member larger than the limits' max_output unpacked is refused with a warning."""
    monkeypatch.setattr(feeds, "LIMITS", replace(feeds.LIMITS, max_output=1000, ratio_floor=1000))
    with pytest.raises(ParseError) as caught:
        parse(feed_mail(zipped({"big.csv": rows(100).encode()})))
    assert "inflates to more than 1,000 bytes" in str(caught.value)


def test_too_many_zip_members_are_refused() -> None:
    """A zip with more members than MAX_ZIP_MEMBERS is not opened further."""
    members = {f"part{n}.csv": rows(1).encode() for n in range(feeds.MAX_ZIP_MEMBERS + 1)}
    with pytest.raises(ParseError) as caught:
        parse(feed_mail(zipped(members)))
    assert f"entries; the limit is {feeds.MAX_ZIP_MEMBERS}" in str(caught.value)


def test_encrypted_member_is_a_warning() -> None:
    """An encrypted member cannot be read and says so."""
    with pytest.raises(ParseError) as caught:
        parse(feed_mail(zipped({"locked.csv": rows(1).encode()}, encrypt_flag=True)))
    assert "encrypted" in str(caught.value)


def test_rows_past_the_limit_are_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows past MAX_ROWS are not read; the report says so."""
    monkeypatch.setattr(feeds, "MAX_ROWS", 5)
    report = parse(feed_mail(rows(8).encode(), filename="many.csv", content_type="text/csv"))
    assert (len(report.events), report.warnings) == (5, ("many.csv: rows past 5 not read",))


def test_unreadable_rows_count_towards_the_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows without an IP address count against MAX_ROWS too: reading stops after it."""
    monkeypatch.setattr(feeds, "MAX_ROWS", 5)
    text = HEADER + '"2025-03-01 04:11:00","n/a",6379,"redis",""\n' * 4 + ROW.format(n=1) * 4
    report = parse(feed_mail(text.encode(), filename="bad.csv", content_type="text/csv"))
    assert (len(report.events), report.warnings[-1]) == (1, "bad.csv: rows past 5 not read")


def test_broken_zip_named_as_feed_is_a_parse_error() -> None:
    """Bytes that are not a zip under a .zip name end in a ParseError with a reason."""
    with pytest.raises(ParseError) as caught:
        parse(feed_mail(b"PK\x03\x04 not really a zip"))
    assert caught.value.reason == "no_feed_rows"


def test_csv_without_an_ip_column_is_left_to_other_parsers() -> None:
    """A CSV attachment with no IP column is not claimed as a feed; here nothing reads it."""
    raw = feed_mail(b"name,amount\nwidget,3\n", filename="invoice.csv", content_type="text/csv")
    with pytest.raises(UnknownReportFormat):
        default_registry().parse(raw)
    assert FeedParser().sniff(RawDocument(raw)) is False


@pytest.mark.parametrize(
    ("record", "file_name", "subject", "expected"),
    [
        ({"type": "Botnet Drone"}, "", "", "compromised"),
        ({"infection": "sinkhole-http"}, "", "", "compromised"),
        ({"tag": "redis"}, "2025-01-01-scan_redis-asn.csv", "", "vulnerable"),
        ({}, "dns_openresolver.csv", "", "vulnerable"),
        ({}, "honeypot_brute_force.csv", "", "attack"),
        ({}, "phish_url.csv", "", "phishing"),
        ({"type": "spam"}, "scan_smtp.csv", "", "spam"),
        ({}, "report.csv", "Malware URL report", "malware"),
        ({}, "report.csv", "Daily report", "other"),
    ],
)
def test_row_category_comes_from_type_then_file_then_subject(
    record: dict[str, str], file_name: str, subject: str, expected: str
) -> None:
    """The row's own type wins over the file name, which wins over the subject."""
    assert feed_category(record, file_name, subject) == expected


def test_event_date_and_time_columns_give_the_time() -> None:
    """Separate event_date and event_time columns make the event's time (UTC when naive)."""
    text = "event_date,event_time,src_ip\n2025-03-02,08:45:59,198.51.100.20\n"
    report = parse(feed_mail(text.encode(), filename="hub.csv", content_type="text/csv"))
    (event,) = report.events
    assert event.occurred_at is not None
    assert event.occurred_at.isoformat() == "2025-03-02T08:45:59+00:00"


@given(st.binary(max_size=2000), st.booleans())
@settings(max_examples=150, deadline=None, database=None)
def test_any_feed_bytes_give_a_report_or_a_parse_error(data: bytes, zip_it: bool) -> None:
    """Whatever the attached CSV holds, plain or zipped, reading ends in a report or a ParseError."""
    attachment = zipped({"feed.csv": b'"ip","type"\n' + data}) if zip_it else b"ip,type\n" + data
    try:
        report = parse(feed_mail(attachment, filename="feed.csv.zip" if zip_it else "feed.csv"))
    except ParseError as error:
        assert error.reason == "no_feed_rows"  # noqa: PT017  # the one refusal a feed gives
    else:
        assert all(e.indicators["source_ip"] for e in report.events)


def test_timestamp_past_the_calendar_in_utc_is_no_time() -> None:
    """A row time that cannot be moved to UTC leaves the event's time empty; the row is read."""
    text = HEADER + '"0001-01-01T00:00:00+01:00","192.0.2.7",6379,"redis",""\n'
    (event,) = parse(feed_mail(text.encode(), filename="scan.csv", content_type="text/csv")).events
    assert (event.occurred_at, event.indicators["source_ip"]) == (None, ("192.0.2.7",))


def test_registry_routes_a_gzipped_feed_to_the_feed_parser() -> None:
    """Sniffing unpacks only the start of a gzipped CSV and finds its IP column."""
    raw = feed_mail(gzip.compress(rows(1).encode()), filename="scan_redis.csv.gz")
    assert default_registry().parse(raw).report_format == "feeds"
