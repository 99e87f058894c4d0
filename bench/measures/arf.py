"""ARF feedback-loop reports: what the parser reads from every feedback report in the corpus.

Items are mail files under the collections that hold feedback reports or could be taken
for one: ``email-arf-perl``, ``sisimai-set-of-emails`` (``maildir/*`` and ``mailbox``),
``php-bounce-handler``, ``abuseio-notifier-samples``, ``dmarc-parsedmarc-samples``,
``flufl-bounce`` and ``mail-deliverystatus-bounceparser``. A file whose first line is
an mbox ``From `` line and which holds further ``From `` lines after a blank line is an
mbox: each message in it is one item. The CRLF (``maildir/dos``) and CR (``maildir/mac``)
copies of sisimai's mail are items of their own: line endings are part of what is read.

What the reports carry is found without the parser: line endings are made ``\\n``, a
*feedback part* is a line ``Content-Type: message/feedback-report``, its fields run to
the next MIME boundary line, and *part 3* is the first ``message/rfc822`` or
``text/rfc822-headers`` part after it (not counted when base64 or quoted-printable).
A feedback part that comes after a delivery-status part (or in a mail whose type is a
delivery-status report) is inside the message a bounce returns: such an item is no
feedback report.

Denominators:

- ``arf: feedback type read`` — items with a feedback part holding a ``Feedback-Type``
  field; right when the parser gives an ``arf`` event whose ``feedback_type`` is that
  value (sisimai's label instead, where it has one; the two agree on every item here).
- ``arf: Source-IP read where carried`` — items whose feedback part holds at least one
  ``Source-IP`` field starting with an IP address (in brackets or not, whatever follows);
  right when every such address is among the event's ``source_ip`` indicators.
- ``arf: reported Message-ID read where part 3 carries one`` — items whose part 3 has a
  ``Message-ID`` header; right when the event's first ``message_id`` is the last
  ``Message-ID`` of part 3 (the reported message's own, not the report's).
- ``arf: non-standard loops read as complaints`` — items without a feedback part that
  carry Microsoft JMRP's ``X-HmXmrOriginalRecipient`` header or AOL's ``X-Loop: scomp``
  (and no delivery-status part); right when the parser gives an ``arf`` report whose
  event is a ``spam`` complaint.
- ``arf: other mail taken for a feedback report`` — every other item (bounces,
  auto-replies, free-form and other reports); the share the parser reads as ``arf``,
  which must be none.

Every figure must be 100% (0% for the last): the issue asks for *every* feedback report.
On the half of the corpus at hand the five denominators are 35, 31, 32, 4 and 649 items.
"""

import csv
import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TypeGuard

from abusedesk.parsing.model import ParsedReport
from bench.measures import Measure, parse_bytes, ratio

COLLECTIONS = (
    "email-arf-perl",
    "sisimai-set-of-emails/maildir",
    "sisimai-set-of-emails/mailbox",
    "php-bounce-handler",
    "abuseio-notifier-samples",
    "dmarc-parsedmarc-samples",
    "flufl-bounce",
    "mail-deliverystatus-bounceparser",
)
SISIMAI_LABELS = "sisimai-set-of-emails/labels/sisimai-expected.tsv"
_SKIPPED_SUFFIXES = (".gz", ".zip", ".xml", ".json", ".tsv", ".csv", ".md", ".txt.gz")
_SKIPPED_NAMES = ("README", "README.md", "README.txt", "LICENSE", "expected.tsv")
_FEEDBACK_PART = re.compile(r"^content-type:[ \t]*message/feedback-report\b", re.I | re.M)
_PART3 = re.compile(
    r"^content-type:[ \t]*(?:message/rfc822|text/rfc822-headers)\b[^\n]*(?:\n[ \t][^\n]*)*",
    re.I | re.M,
)
_DELIVERY_STATUS = re.compile(
    r"^content-type:[ \t]*(?:message/(?:global-)?delivery-status|multipart/report;"
    r"[^\n]*report-type=\"?(?:global-)?delivery-status)",
    re.I | re.M,
)
_BOUNDARY_LINE = re.compile(r"^--", re.M)
_FEEDBACK_TYPE = re.compile(r"^feedback-type:[ \t]*([^\s;]+)", re.I | re.M)
_SOURCE_IP = re.compile(
    r"^source-ip:[ \t]*\[?([0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-f]*:[0-9a-f:.]+)", re.I | re.M
)
_ENCODED = re.compile(r"^content-transfer-encoding:[ \t]*(?:base64|quoted-printable)", re.I | re.M)
_LEGACY_MARKER = re.compile(r"^(?:x-hmxmroriginalrecipient:|x-loop:[ \t]*scomp)", re.I | re.M)
_MBOX_SEPARATOR = re.compile(rb"\n\n(?=From \S)")


def measures(corpus: Path) -> list[Measure]:
    """Return the ARF measures over *corpus*."""
    labels = _sisimai_labels(corpus)
    type_n = type_good = ip_n = ip_good = mid_n = mid_good = 0
    legacy_n = legacy_good = other_n = other_arf = 0
    type_fail: list[str] = []
    ip_fail: list[str] = []
    mid_fail: list[str] = []
    legacy_fail: list[str] = []
    other_fail: list[str] = []
    for name, raw in _items(corpus):
        text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").decode("latin-1")
        carried = _carried(text)
        if carried is None:
            if _LEGACY_MARKER.search(text) and not _DELIVERY_STATUS.search(text):
                legacy_n += 1
                report = parse_bytes(raw)
                if _is_arf(report) and report.events[0].category == "spam":
                    legacy_good += 1
                else:
                    legacy_fail.append(f"{name}: {_describe(report)}")
            else:
                other_n += 1
                report = parse_bytes(raw)
                if _is_arf(report):
                    other_arf += 1
                    other_fail.append(name)
            continue
        feedback_type, source_ips, message_id = carried
        expected_type = labels.get(_label_key(name), feedback_type)
        report = parse_bytes(raw)
        event = report.events[0] if _is_arf(report) else None
        if expected_type is not None:
            type_n += 1
            got = event.details.get("feedback_type") if event else None
            if got == expected_type:
                type_good += 1
            else:
                type_fail.append(f"{name}: expected {expected_type}, got {_describe(report)}")
        if source_ips:
            ip_n += 1
            got_ips = set(event.indicators.get("source_ip", ())) if event else set()
            if set(source_ips) <= got_ips:
                ip_good += 1
            else:
                ip_fail.append(f"{name}: expected {source_ips}, got {sorted(got_ips)}")
        if message_id is not None:
            mid_n += 1
            got_ids = event.indicators.get("message_id", ())[:1] if event else ()
            if got_ids == (message_id,):
                mid_good += 1
            else:
                mid_fail.append(f"{name}: expected {message_id}, got {got_ids}")
    return [
        ratio("arf: feedback type read", type_good, type_n, 1.0, type_fail),
        ratio("arf: Source-IP read where carried", ip_good, ip_n, 1.0, ip_fail),
        ratio(
            "arf: reported Message-ID read where part 3 carries one",
            mid_good,
            mid_n,
            1.0,
            mid_fail,
        ),
        ratio(
            "arf: non-standard loops read as complaints", legacy_good, legacy_n, 1.0, legacy_fail
        ),
        Measure(
            name="arf: other mail taken for a feedback report",
            value=other_arf / other_n if other_n else 0.0,
            threshold=0.0,
            n=other_n,
            at_least=False,
            failures=tuple(other_fail[:20]),
        ),
    ]


def _items(corpus: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(name, bytes)`` of every mail item, splitting mbox files into messages."""
    for folder in COLLECTIONS:
        root = corpus / folder
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if path.name in _SKIPPED_NAMES or path.name.lower().endswith(_SKIPPED_SUFFIXES):
                continue
            raw = path.read_bytes()
            name = str(path.relative_to(corpus))
            messages = _mbox_messages(raw)
            if len(messages) == 1:
                yield name, raw
            else:
                for number, message in enumerate(messages, 1):
                    yield f"{name}#{number}", message


def _mbox_messages(raw: bytes) -> list[bytes]:
    """Return the messages of an mbox file, or the file itself when it is one message."""
    normalised = raw.replace(b"\r\n", b"\n")
    if not normalised.startswith(b"From "):
        return [raw]
    return [chunk for chunk in _MBOX_SEPARATOR.split(normalised) if chunk.strip()]


def _carried(text: str) -> tuple[str | None, list[str], str | None] | None:
    """Return what the first feedback part and part 3 carry, or None without a feedback part.

    That is the Feedback-Type, the Source-IP addresses, and part 3's last Message-ID.
    """
    found = _FEEDBACK_PART.search(text)
    if found is None or _DELIVERY_STATUS.search(text, 0, found.start()):
        # A feedback part after a delivery-status part is in the message a bounce returns.
        return None
    start = text.find("\n\n", found.end())
    start = found.end() if start == -1 else start
    boundary = _BOUNDARY_LINE.search(text, start)
    end = boundary.start() if boundary else len(text)
    fields = text[start:end]
    type_match = _FEEDBACK_TYPE.search(fields)
    feedback_type = type_match.group(1).lower() if type_match else None
    source_ips = [str(ip) for ip in map(_ip, _SOURCE_IP.findall(fields)) if ip is not None]
    return feedback_type, source_ips, _part3_message_id(text, end)


def _part3_message_id(text: str, start: int) -> str | None:
    """Return the last Message-ID of part 3's own header, found after offset *start*."""
    part = _PART3.search(text, start)
    if part is None:
        return None
    header_end = text.find("\n\n", part.start())
    if header_end == -1 or _ENCODED.search(text, part.start(), header_end):
        return None
    lines = text[header_end:].lstrip("\n").split("\n")
    while lines and lines[0].startswith(("From ", ">From ")):
        lines.pop(0)
    headers: list[str] = []
    for line in lines:
        if not line.strip():
            break
        if line[:1] in (" ", "\t") and headers:
            headers[-1] += " " + line.strip()
        else:
            headers.append(line)
    values = [h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("message-id:")]
    if not values:
        return None
    ids = re.findall(r"<([^<>\s]+)>", values[-1])
    return ids[-1] if ids else values[-1].strip("<> ") or None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return *text* as an IP address, or None when it is not one."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _sisimai_labels(corpus: Path) -> dict[str, str]:
    """Return sisimai's feedback type by mail file name (``arf-01.eml``)."""
    path = corpus / SISIMAI_LABELS
    if not path.is_file():
        return {}
    labels: dict[str, str] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row.get("feedbacktype"):
                labels[Path(row["file"]).name] = row["feedbacktype"].lower()
    return labels


def _label_key(name: str) -> str:
    """Return the key of an item in sisimai's labels: its file name, maildir copies alike."""
    return Path(name).name if name.startswith("sisimai-set-of-emails/maildir/") else ""


def _is_arf(report: object) -> TypeGuard[ParsedReport]:
    """Tell whether *report* is an ``arf`` report with at least one event."""
    return (
        isinstance(report, ParsedReport) and report.report_format == "arf" and bool(report.events)
    )


def _describe(report: object) -> str:
    """Say in a few words what the parser made of an item, for the failure list."""
    if isinstance(report, ParsedReport):
        types = [e.details.get("feedback_type") for e in report.events]
        return f"{report.report_format} {types}"
    return f"error {getattr(report, 'reason', report)}"
