"""DMARC and TLS reports: do the parsers read what the files hold, and refuse the broken?

Collections: ``dmarc-parsedmarc-samples``, ``dmarc-report-viewer-testdata`` and
``dmarc-report-converter-testdata``, every file in them but licences and read-mes.

What a file holds is worked out here, independently of the parsers, with the standard
library on trusted input: the file (or, for a mail, each ``application/*`` or ``text/xml``
part) is base64-decoded when it is base64 text, then gunzipped or unzipped (the first
``.xml`` member, else the first) up to five layers deep; ``defusedxml`` then reads the XML
into a tree, whose ``<record>`` children are counted and whose ``<row><count>`` values are
summed; JSON is read with ``json``.

* **Negatives** (labels by name, as the corpus documents them): files named
  ``invalid_*``, files under a folder named ``aggregate_invalid``, files named
  ``empty.xml``.
* **Aggregate reports**: every other file whose content holds a ``<feedback`` element.
* **TLS reports**: every other file whose content is a JSON object with ``policies``.
* Not counted: everything else (DMARC failure reports are ARF, measured with ARF), and
  files whose archive the standard library cannot open.

Figures and their denominators:

* ``dmarc aggregate records and totals``: aggregate reports parsed as ``dmarc`` with as
  many events as the XML has records, and event counts summing to the XML's message
  total. A report the independent reading cannot read counts as a miss.
* ``dmarc invalid refused with a reason``: negatives that raise a ParseError whose reason
  is more specific than the generic ``parse_error``.
* ``tlsrpt policies read``: TLS reports parsed as ``tlsrpt`` with one event per entry of
  ``policies``.
"""

import base64
import binascii
import email
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from email.policy import compat32
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XmlSyntaxError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import ParsedReport
from bench.measures import Measure, parse_file, ratio

COLLECTIONS = (
    "dmarc-parsedmarc-samples",
    "dmarc-report-viewer-testdata",
    "dmarc-report-converter-testdata",
)
_NOT_SAMPLES = {"license", "license.txt", "readme", "readme.md", "copying"}
_LAYERS = 5
_BASE64 = re.compile(rb"[A-Za-z0-9+/=\s]+")
_HEADER = re.compile(rb"^[!-9;-~]+:", re.MULTILINE)


@dataclass(frozen=True)
class Content:
    """What a file holds, read independently: an aggregate report, a TLS report, or neither.

    ``records`` and ``messages`` are None when the aggregate XML could not be read.
    """

    kind: str | None
    records: int | None = None
    messages: int | None = None
    policies: int | None = None


def measures(corpus: Path) -> list[Measure]:
    """Return the DMARC aggregate and TLS report figures over *corpus*."""
    aggregate_ok, aggregate_n, aggregate_failures = 0, 0, []
    refused, negative_n, negative_failures = 0, 0, []
    tls_ok, tls_n, tls_failures = 0, 0, []
    for path in _samples(corpus):
        name = str(path.relative_to(corpus))
        if _is_negative(path):
            negative_n += 1
            result = parse_file(path)
            if isinstance(result, ParseError) and result.reason not in ("", "parse_error"):
                refused += 1
            else:
                negative_failures.append(f"{name}: {_verdict(result)}")
            continue
        content = read_content(path.read_bytes())
        if content.kind == "aggregate":
            aggregate_n += 1
            result = parse_file(path)
            expected = (content.records, content.messages)
            actual = _aggregate_figures(result)
            if content.records is not None and actual == expected:
                aggregate_ok += 1
            else:
                aggregate_failures.append(
                    f"{name}: XML has {expected} (records, messages); {_verdict(result)} {actual}"
                )
        elif content.kind == "tls":
            tls_n += 1
            result = parse_file(path)
            if (
                isinstance(result, ParsedReport)
                and result.report_format == "tlsrpt"
                and len(result.events) == content.policies
            ):
                tls_ok += 1
            else:
                tls_failures.append(f"{name}: {content.policies} policies; {_verdict(result)}")
    return [
        ratio(
            "dmarc aggregate records and totals", aggregate_ok, aggregate_n, 1.0, aggregate_failures
        ),
        ratio("dmarc invalid refused with a reason", refused, negative_n, 1.0, negative_failures),
        ratio("tlsrpt policies read", tls_ok, tls_n, 1.0, tls_failures),
    ]


def _samples(corpus: Path) -> list[Path]:
    """Return every sample file of the DMARC collections, sorted."""
    found: list[Path] = []
    for collection in COLLECTIONS:
        folder = corpus / collection
        if folder.is_dir():
            found += [
                p for p in folder.rglob("*") if p.is_file() and p.name.lower() not in _NOT_SAMPLES
            ]
    return sorted(found)


def _is_negative(path: Path) -> bool:
    """Tell whether the corpus labels *path* as a broken report, by its name or folder."""
    return (
        path.name.startswith("invalid_")
        or path.name == "empty.xml"
        or "aggregate_invalid" in path.parts
    )


def _aggregate_figures(result: ParsedReport | ParseError) -> tuple[int, int] | None:
    if not isinstance(result, ParsedReport) or result.report_format != "dmarc":
        return None
    return len(result.events), sum(int(e.details.get("count") or 0) for e in result.events)


def _verdict(result: ParsedReport | ParseError) -> str:
    if isinstance(result, ParseError):
        return f"refused ({result.reason}: {str(result)[:80]})"
    return f"read as {result.report_format}/{result.kind} with {len(result.events)} events"


def read_content(raw: bytes) -> Content:
    """Return what *raw* holds, read with the standard library and defusedxml alone."""
    for document in _documents(raw):
        content = _content(document)
        if content.kind is not None:
            return content
    return Content(kind=None)


def _documents(raw: bytes) -> list[bytes]:
    """Return the candidate documents of a file: itself, or the parts of a mail."""
    if _HEADER.match(raw.lstrip()[:200]) and not raw.lstrip().startswith((b"<", b"{")):
        message = email.message_from_bytes(raw, policy=compat32)
        parts = []
        for part in message.walk():
            if part.is_multipart():
                continue
            if (
                part.get_content_maintype() == "application"
                or part.get_content_type() == "text/xml"
            ):
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    parts.append(payload)
        return parts
    return [raw]


def _content(data: bytes) -> Content:
    try:
        data = _unwrap(data)
    except (OSError, EOFError, ValueError, zlib.error, zipfile.BadZipFile, IndexError):
        return Content(kind=None)
    if b"<feedback" in data or b":feedback" in data:
        return _aggregate(data)
    stripped = data.strip()
    if stripped.startswith(b"{"):
        try:
            report = json.loads(stripped)
        except ValueError:
            return Content(kind=None)
        if isinstance(report, dict) and isinstance(report.get("policies"), list):
            return Content(kind="tls", policies=len(report["policies"]))
    return Content(kind=None)


def _unwrap(data: bytes) -> bytes:
    """Decode base64 text and strip gzip and zip layers (trusted input: no limits)."""
    for _ in range(_LAYERS):
        if data.startswith(b"\x1f\x8b"):
            data = _gunzip(data)
        elif data.startswith(b"PK"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                xml = [n for n in names if n.lower().endswith(".xml")]
                data = archive.read((xml or names)[0])
        elif data.strip() and _BASE64.fullmatch(data.strip()):
            try:
                data = base64.b64decode(b"".join(data.split()), validate=True)
            except (binascii.Error, ValueError):
                return data
        else:
            return data
    return data


def _gunzip(data: bytes) -> bytes:
    """Inflate every gzip member; bytes after the last member (a mailer's CRLF) are left."""
    output = b""
    while data.startswith(b"\x1f\x8b"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        output += inflater.decompress(data)
        data = inflater.unused_data
    return output


def _aggregate(xml: bytes) -> Content:
    """Count the records and sum the message counts of an aggregate report's XML."""
    xml = xml.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
    try:
        root = fromstring(xml)
    except (XmlSyntaxError, DefusedXmlException, ValueError, LookupError):
        return Content(kind="aggregate")
    records = [child for child in root if _local(child) == "record"]
    messages = 0
    for record in records:
        row = _find(record, "row")
        count = _find(row, "count") if row is not None else None
        text = (count.text or "").strip() if count is not None else ""
        messages += int(text) if text.isdigit() else 0
    return Content(kind="aggregate", records=len(records), messages=messages)


def _find(element: Element, name: str) -> Element | None:
    return next((child for child in element if _local(child) == name), None)


def _local(element: Element) -> str:
    tag: Any = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""
