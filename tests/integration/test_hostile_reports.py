"""Hostile reports through the whole pipeline: each is settled with its reason, and the
good report in the same batch is processed all the same."""

import base64
import gzip
import io
import zipfile

from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.intake.service import Incoming
from abusedesk.storage.db import read_only
from abusedesk.storage.tables import Event, Report
from tests.factories.arf import arf_report
from tests.unit.test_parsing_hostile import nested_multipart

MB = 1024 * 1024


def gzip_bomb() -> bytes:
    """Return a DMARC-looking gzip that inflates to a gigabyte of zeros."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as archive:
        archive.write(b"<feedback>")
        chunk = b"\0" * MB
        for _ in range(1024):
            archive.write(chunk)
    return buffer.getvalue()


def zip_bomb_mail() -> bytes:
    """Return a complaint with a zipped CSV feed that inflates far past any real feed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("feed.csv", b"timestamp,ip,type\n" + b"0" * (300 * MB))
    attachment = buffer.getvalue()
    return (
        b'From: feeds@example.net\nSubject: scan report\nContent-Type: multipart/mixed; boundary="o"\n'
        b"\n--o\nContent-Type: text/plain\n\nSee the attached feed.\n--o\n"
        b'Content-Type: application/zip; name="feed.csv.zip"\nContent-Transfer-Encoding: base64\n\n'
        + base64.encodebytes(attachment)
        + b"--o--\n"
    )


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">'.encode()
        for n in range(1, 10)
    )
    + b"]>\n<feedback><report_metadata>&lol9;</report_metadata></feedback>\n"
)

HOSTILE = {
    "header_block": b"From: a@example.net\nX-Filler: " + b"a, " * (10 * MB // 3) + b"\n\nbody\n",
    "stuffed_parameters": b'From: a@example.net\nSubject: s\nContent-Type: text/plain; a="'
    + b";" * 200_000
    + b"\n\nhi\n",
    "gzip_bomb": gzip_bomb(),
    "zip_bomb": zip_bomb_mail(),
    "entity_bomb": BILLION_LAUGHS,
    "nested_100": nested_multipart(100),
    "nul_bytes": b"From: a\x00@example.net\nSubject: \x00spam\x00\n\n\x00http://spam.example.com/\x00\n",
}
SETTLED = ("done", "quarantined", "unknown_format")


def test_a_batch_of_hostile_reports_is_settled_and_the_good_one_processed(
    container: Container,
) -> None:
    """Every hostile report ends settled with its reason; the batch's good report is done."""
    good = arf_report(message_id="good@example.com", from_domain="example.com")
    raws = [*HOSTILE.values(), good]
    stored = container.intake.accept_many([Incoming(raw, "test", {}) for raw in raws])
    while container.embedded.run_once():
        pass

    ids = [s.report_id for s in stored]
    with read_only(container.sessions) as session:
        rows = {
            row.id: (row.status, (row.last_error or "").split(":", 1)[0])
            for row in session.execute(
                select(Report.id, Report.status, Report.last_error).where(Report.id.in_(ids))
            )
        }
        good_events = session.scalar(select(Event.category).where(Event.report_id == ids[-1]))
    outcomes = dict(zip([*HOSTILE, "good"], (rows[i] for i in ids), strict=True))
    assert {name: status for name, (status, _) in outcomes.items() if status not in SETTLED} == {}
    assert (outcomes["good"][0], good_events) == ("done", "spam")
    assert {
        name: outcomes[name]
        for name in ("header_block", "stuffed_parameters", "gzip_bomb", "entity_bomb")
    } == {
        "header_block": ("quarantined", "too_complex"),
        "stuffed_parameters": ("quarantined", "too_complex"),
        "gzip_bomb": ("quarantined", "decompression_limit"),
        "entity_bomb": ("quarantined", "xml_forbidden"),
    }
    # The bomb is the feed's only file: refused at its limit, it leaves no row to read.
    assert outcomes["zip_bomb"][0] == "quarantined"
    assert outcomes["zip_bomb"][1] in ("decompression_limit", "no_feed_rows")
