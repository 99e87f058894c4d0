"""DMARC aggregate reports (RFC 7489 appendix C, RFC 9990): one event per ``<record>``.

A report arrives as bare XML, gzip or zip (sometimes gzipped twice, or a gzip inside a
zip), as base64 text, or attached to an email in any of these forms. Every layer is
hostile: unpacking goes through ``archives`` (bounded output, ratio, members and depth:
reason ``decompression_limit``), the XML must fit in ``MAX_DOCUMENT`` bytes
(``dmarc_too_large``) and is read as a stream by ``defusedxml`` with DTDs and entities
forbidden (``xml_forbidden``), so that memory follows the records kept, not the tree.

Element names are matched without their namespace, so the RFC 7489 (none, or
``http://dmarc.org/dmarc-xml/0.1``) and RFC 9990 (``urn:ietf:params:xml:ns:dmarc-2.0``)
schemas and the older drafts (``<identities>``) read alike. RFC 9990 drops ``pct`` and
adds ``np``, ``testing``, ``discovery_method`` and ``generator``; all are kept in the
details when present, and ``schema`` says which of the two the report follows.

What a report must hold, or be refused with reason ``dmarc_invalid`` naming what is
missing: ``report_metadata`` with a ``report_id`` and an integer ``date_range``;
``policy_published`` with a ``domain`` and a ``p``; in each record a ``source_ip`` that
is an IP address, an integer ``count``, a ``header_from``, and a ``policy_evaluated``
whose ``disposition``, ``dkim`` and ``spf`` are words of the schema, spelled as the
schema spells them (``Pass`` is not ``pass``: the DMARC verdicts are enumerations). The
``auth_results`` copy other systems' results, which RFC 8601 makes case-insensitive:
they are lowercased, never refused.

Each record becomes one ``dmarc_aggregate`` event: indicators ``source_ip``,
``from_domain`` (the ``header_from``) and ``dkim_domain`` (signatures that passed);
details with the message count, the disposition, the DMARC-aligned DKIM and SPF
verdicts, the raw DKIM and SPF results, the identifiers, the published policy and the
report metadata. Alignment is the reporter's verdict: telling relaxed alignment
ourselves would need the public suffix list.

A report with metadata but no record (the schema wants one; some reporters send them
for a quiet day) is read as an aggregate report with no events: nothing is wrong with
it, and nothing in it needs an analyst.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from io import BytesIO
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XmlSyntaxError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from abusedesk.parsing import archives, mail
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import MalformedReport, ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

# The largest XML read. Real reports stay in the low megabytes (a few thousand records);
# a DOM of this size would cost ten times as much memory, hence the streaming read.
MAX_DOCUMENT = 25 * 1024 * 1024
MAX_RECORDS = 50_000
LIMITS = archives.Limits(max_output=MAX_DOCUMENT)
RFC9990_NAMESPACE = "urn:ietf:params:xml:ns:dmarc-2.0"
# Elements only the RFC 9990 schema has.
_RFC9990_ONLY = frozenset({"np", "testing", "discovery_method", "generator"})
# The schema's enumerations (RFC 9990 adds the "pass" disposition).
_DISPOSITIONS = frozenset({"none", "pass", "quarantine", "reject"})
_POLICIES = frozenset({"none", "quarantine", "reject"})
_VERDICTS = frozenset({"pass", "fail"})
_BOM = b"\xef\xbb\xbf"
_PEEK = 16 * 1024
_MAX_AUTH_RESULTS = 20
# Elements held at once while a top-level element is read; a record has about thirty.
_MAX_HELD_ELEMENTS = 10_000
_MAX_DEPTH = 32
_NAME_LIMIT = 200
_VALUE_LIMIT = 255
_COMMENT_LIMIT = 500
_FEEDBACK_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?feedback[\s/>]")
_ATTACHMENT_SUFFIXES = (".xml", ".gz", ".gzip", ".zip")
_REPORT_NAME = re.compile(r"[^!]+![^!]+!\d{6,}!\d{6,}(?:![^!.]*)?\.(?:xml|zip)(?:\.gz|\.gzip)?$")


class DmarcAggregateParser:
    """Read DMARC aggregate (``rua``) reports in every packaging seen in practice.

    ``limits`` bound the unpacking (its ``max_output`` is also the largest XML read);
    ``max_records`` the records one report may hold.
    """

    name = "dmarc"

    def __init__(self, *, limits: archives.Limits = LIMITS, max_records: int = MAX_RECORDS):
        self.limits = limits
        self.max_records = max_records

    def sniff(self, document: RawDocument) -> bool:
        """Recognise a ``<feedback>`` root, bare, compressed or in an email attachment.

        Compressed input that trips a bomb guard while sniffing is claimed too, so that
        it is refused as ``decompression_limit`` and not as an unknown format; attached to
        an email, only under a report's file name: a complaint may attach any archive.
        """
        if self._holds_report(document.raw):
            return True
        message = document.message
        return message is not None and any(
            _is_report_name(name) or self._holds_report(data, bomb_is_report=False)
            for name, data in _attachments(message)
        )

    def parse(self, document: RawDocument) -> ParsedReport:
        """Unpack the report, read its XML as a stream and make one event per record."""
        payload = self._payload(document)
        xml = archives.unpack(payload, self.limits, accept=_is_xml_name)
        if len(xml) > self.limits.max_output:
            raise ParseError(
                f"the report is {len(xml):,} bytes of XML; the limit is {self.limits.max_output:,}",
                reason="dmarc_too_large",
            )
        feedback = _read_feedback(xml, self.max_records)
        report = _report_details(feedback)
        reporter = _reporter(feedback.metadata)
        begin_at = _epoch(_text(feedback.metadata, "date_range", "begin"))
        events = tuple(
            EventDraft(
                category=Category.DMARC_AGGREGATE,
                service=Service.EMAIL,
                occurred_at=begin_at,
                reporter=reporter,
                indicators=record.indicators,
                # The record's own dict takes the shared fields: no copy per event.
                details=_merged(record.details, report),
            )
            for record in feedback.records
        )
        return ParsedReport(report_format=self.name, events=events, kind="aggregate")

    def _holds_report(self, data: bytes, *, bomb_is_report: bool = True) -> bool:
        """Tell whether *data* holds a ``<feedback>`` document, or is a compression bomb
        (when *bomb_is_report*)."""
        try:
            head = archives.peek(data, _PEEK, self.limits, accept=_is_xml_name).lstrip()
        except archives.DecompressionLimit:
            return bomb_is_report
        head = head[len(_BOM) :].lstrip() if head.startswith(_BOM) else head
        return head.startswith(b"<") and _FEEDBACK_ROOT.search(head) is not None

    def _payload(self, document: RawDocument) -> bytes:
        """Return the bytes that hold the report: the document or one of its attachments."""
        if self._holds_report(document.raw):
            return document.raw
        message = document.message
        if message is not None:
            attachments = list(_attachments(message))
            for _, data in attachments:
                if self._holds_report(data, bomb_is_report=False):
                    return data
            # An attachment named like a report that could not be peeked into is read in
            # full, so that the reason it fails (a bad archive) is the one recorded.
            for name, data in attachments:
                if _is_report_name(name):
                    return data
        raise MalformedReport("no DMARC aggregate report found", reason="dmarc_no_report")


@dataclass(frozen=True)
class _Record:
    """What one ``<record>`` contributes to its event, read as soon as it ends."""

    indicators: dict[str, tuple[str, ...]]
    details: dict[str, Any]


@dataclass
class _Feedback:
    """The parts of a ``<feedback>`` document, read as a stream."""

    namespace: str = ""
    metadata: Element | None = None
    policy: Element | None = None
    records: list[_Record] = field(default_factory=list)
    names: set[str] = field(default_factory=set)


def _read_feedback(xml: bytes, max_records: int) -> _Feedback:
    """Read the top-level parts of the report, dropping each subtree once it is kept.

    Records are checked as they come, so that a bad record stops the read early.
    """
    # Whitespace or a UTF-8 byte-order mark before the XML declaration is harmless
    # in practice but fatal to the XML parser.
    xml = xml.lstrip()
    if xml.startswith(_BOM):
        xml = xml[len(_BOM) :].lstrip()
    feedback = _Feedback()
    root: Element | None = None
    depth = 0
    held = 0
    children = 0
    try:
        for event, element in iterparse(BytesIO(xml), events=("start", "end"), forbid_dtd=True):
            if event == "start":
                depth += 1
                held += 1
                if (name := _local(element.tag)) in _RFC9990_ONLY:
                    feedback.names.add(name)
                if depth > _MAX_DEPTH:
                    raise _invalid(f"elements are nested more than {_MAX_DEPTH} deep")
                if held > _MAX_HELD_ELEMENTS:
                    raise _invalid(
                        f"a top-level element holds over {_MAX_HELD_ELEMENTS:,} elements"
                    )
                if root is None:
                    root = element
                    if _local(root.tag) != "feedback":
                        raise MalformedReport(
                            "the XML root is not <feedback>", reason="dmarc_not_aggregate_report"
                        )
                    feedback.namespace = _namespace(root.tag)
                continue
            depth -= 1
            if depth != 1 or root is None:
                continue
            children += 1
            if children > max_records + 100:
                raise _too_many_records(max_records)
            _keep(feedback, element, max_records)
            root.remove(element)
            held = 1
    except DefusedXmlException as error:
        raise MalformedReport(
            f"the XML uses a forbidden construct: {type(error).__name__}",
            reason="xml_forbidden",
        ) from error
    except (XmlSyntaxError, ValueError, LookupError) as error:
        raise MalformedReport(
            f"the XML is not well-formed: {error}", reason="xml_invalid"
        ) from error
    _check_report(feedback)
    return feedback


def _keep(feedback: _Feedback, element: Element, max_records: int) -> None:
    """Keep a top-level element of the report that the events need."""
    name = _local(element.tag)
    if name == "record":
        if len(feedback.records) >= max_records:
            raise _too_many_records(max_records)
        number = len(feedback.records) + 1
        _check_record(number, element)
        # The record's elements are dropped once read: memory follows the events.
        feedback.records.append(_record(number, element))
    elif name == "report_metadata" and feedback.metadata is None:
        feedback.metadata = element
    elif name == "policy_published" and feedback.policy is None:
        feedback.policy = element


def _check_report(feedback: _Feedback) -> None:
    """Raise dmarc_invalid when the report metadata or published policy lacks a field."""
    metadata = feedback.metadata
    if metadata is None:
        raise _invalid("the report has no <report_metadata>")
    if not _text(metadata, "report_id"):
        raise _invalid("<report_metadata> has no <report_id>")
    for end in ("begin", "end"):
        if _integer(_text(metadata, "date_range", end)) is None:
            raise _invalid(f"<date_range> has no integer <{end}>")
    policy = feedback.policy
    if policy is None:
        raise _invalid("the report has no <policy_published>")
    if not _text(policy, "domain"):
        raise _invalid("<policy_published> has no <domain>")
    _check_word(_text(policy, "p"), _POLICIES, "<policy_published> <p>")


def _check_record(number: int, record: Element) -> None:
    """Raise dmarc_invalid naming the first field record *number* lacks or misspells."""
    where = f"record {number}:"
    row = _child(record, "row")
    if row is None:
        raise _invalid(f"{where} no <row>")
    source_ip = _text(row, "source_ip")
    if mail.ip_text(source_ip) is None:
        shown = "missing" if source_ip is None else f"{source_ip[:60]!r}, not an IP address"
        raise _invalid(f"{where} <source_ip> is {shown}")
    if _integer(_text(row, "count")) is None:
        raise _invalid(f"{where} <count> is not a whole number")
    evaluated = _child(row, "policy_evaluated")
    if evaluated is None:
        raise _invalid(f"{where} no <policy_evaluated>")
    _check_word(_text(evaluated, "disposition"), _DISPOSITIONS, f"{where} <disposition>")
    _check_word(_text(evaluated, "dkim"), _VERDICTS, f"{where} <policy_evaluated> <dkim>")
    _check_word(_text(evaluated, "spf"), _VERDICTS, f"{where} <policy_evaluated> <spf>")
    if _child(_identifiers(record), "header_from") is None:
        raise _invalid(f"{where} no <header_from>")


def _check_word(value: str | None, words: frozenset[str], what: str) -> None:
    if value is None:
        raise _invalid(f"{what} is missing")
    if value not in words:
        raise _invalid(f"{what} is {value[:40]!r}, not one of {', '.join(sorted(words))}")


def _report_details(feedback: _Feedback) -> dict[str, Any]:
    """Return the details every event of the report shares: metadata and published policy."""
    metadata = feedback.metadata
    policy = feedback.policy
    begin_at = _epoch(_text(metadata, "date_range", "begin"))
    end_at = _epoch(_text(metadata, "date_range", "end"))
    rfc9990 = feedback.namespace == RFC9990_NAMESPACE or bool(feedback.names & _RFC9990_ONLY)
    return {
        "org_name": _clean(_text(metadata, "org_name"), _NAME_LIMIT),
        "report_email": _clean(_text(metadata, "email"), _VALUE_LIMIT),
        "report_id": _clean(_text(metadata, "report_id"), _VALUE_LIMIT),
        "begin_at": begin_at.isoformat() if begin_at else None,
        "end_at": end_at.isoformat() if end_at else None,
        "generator": _clean(_text(metadata, "generator"), _VALUE_LIMIT),
        "schema": "rfc9990" if rfc9990 else "rfc7489",
        "policy_published": {
            "domain": mail.domain_name(_text(policy, "domain")),
            "adkim": _word(_text(policy, "adkim")),
            "aspf": _word(_text(policy, "aspf")),
            "p": _word(_text(policy, "p")),
            "sp": _word(_text(policy, "sp")),
            "np": _word(_text(policy, "np")),
            "pct": _integer(_text(policy, "pct")),
            "fo": _word(_text(policy, "fo")),
            "testing": _word(_text(policy, "testing")),
            "discovery_method": _word(_text(policy, "discovery_method")),
        },
    }


def _merged(details: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """Return a record's *details* with the report's *shared* fields added in place."""
    details.update(shared)
    return details


def _record(number: int, record: Element) -> _Record:
    """Return the indicators and details of one record (already checked)."""
    row = _child(record, "row")
    evaluated = _child(row, "policy_evaluated")
    identifiers = _identifiers(record)
    auth = _child(record, "auth_results")
    dkim_results = [
        {
            "domain": mail.domain_name(_text(result, "domain")),
            "selector": _clean(_text(result, "selector"), _VALUE_LIMIT),
            "result": _word(_text(result, "result")),
            "human_result": _clean(_text(result, "human_result"), _COMMENT_LIMIT),
        }
        for result in _children(auth, "dkim")[:_MAX_AUTH_RESULTS]
    ]
    spf_results = [
        {
            "domain": mail.domain_name(_text(result, "domain")),
            "scope": _word(_text(result, "scope")),
            "result": _word(_text(result, "result")),
            "human_result": _clean(_text(result, "human_result"), _COMMENT_LIMIT),
        }
        for result in _children(auth, "spf")[:_MAX_AUTH_RESULTS]
    ]
    dkim_aligned = _text(evaluated, "dkim") == "pass"
    spf_aligned = _text(evaluated, "spf") == "pass"
    header_from = mail.domain_name(_text(identifiers, "header_from"))
    indicators: dict[str, tuple[str, ...]] = {}
    if source_ip := mail.ip_text(_text(row, "source_ip")):
        indicators["source_ip"] = (source_ip,)
    if header_from:
        indicators["from_domain"] = (header_from,)
    signed = [r["domain"] for r in dkim_results if r["result"] == "pass" and r["domain"]]
    if signed:
        indicators["dkim_domain"] = tuple(dict.fromkeys(signed))
    details = {
        "record": number,
        "count": _integer(_text(row, "count")),
        "disposition": _text(evaluated, "disposition"),
        "dkim_aligned": dkim_aligned,
        "spf_aligned": spf_aligned,
        "dmarc_pass": dkim_aligned or spf_aligned,
        "reasons": [
            {
                "type": _word(_text(reason, "type")),
                "comment": _clean(_text(reason, "comment"), _COMMENT_LIMIT),
            }
            for reason in _children(evaluated, "reason")[:_MAX_AUTH_RESULTS]
        ],
        "header_from": header_from,
        "envelope_from": mail.domain_name(_text(identifiers, "envelope_from")),
        "envelope_to": mail.domain_name(_text(identifiers, "envelope_to")),
        "dkim_results": dkim_results,
        "spf_results": spf_results,
    }
    return _Record(indicators=indicators, details=details)


def _identifiers(record: Element) -> Element | None:
    # Pre-RFC drafts call the identifiers block "identities".
    found = _child(record, "identifiers")
    return found if found is not None else _child(record, "identities")


def _reporter(metadata: Element | None) -> str | None:
    """Return the organisation name (cut short), or else the domain of the contact address."""
    org_name = _text(metadata, "org_name")
    if org_name:
        return org_name[:_NAME_LIMIT]
    email = _text(metadata, "email")
    # Reports write the address bare or with angle brackets, sometimes with "mailto:".
    return mail.address_domain(email.removeprefix("mailto:")) if email else None


def _attachments(message: Message) -> Iterator[tuple[str, bytes]]:
    """Yield the lowercased file name and decoded payload of parts that may hold a report."""
    for _, name, data in mail.attachments(message, _may_hold_report):
        yield name.lower(), data


def _may_hold_report(content_type: str, name: str) -> bool:
    """Tell whether a part of this type and file name may hold a report."""
    return (
        content_type.startswith("application/")
        or content_type == "text/xml"
        or name.lower().endswith(_ATTACHMENT_SUFFIXES)
    )


def _is_report_name(name: str) -> bool:
    """Tell whether *name* follows the report file naming (``receiver!domain!begin!end``)."""
    return _REPORT_NAME.match(name) is not None


def _is_xml_name(name: str) -> bool:
    return name.lower().endswith(".xml")


def _invalid(message: str) -> MalformedReport:
    return MalformedReport(message, reason="dmarc_invalid")


def _too_many_records(limit: int) -> ParseError:
    return ParseError(
        f"the report has more than {limit:,} records", reason="dmarc_too_many_records"
    )


def _local(tag: object) -> str:
    """Return an element name without its ``{namespace}``."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _namespace(tag: object) -> str:
    """Return the ``{namespace}`` of an element name, without braces."""
    return tag[1:].partition("}")[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    return next((child for child in element if _local(child.tag) == name), None)


def _children(element: Element | None, name: str) -> list[Element]:
    if element is None:
        return []
    return [child for child in element if _local(child.tag) == name]


def _text(element: Element | None, *path: str) -> str | None:
    """Return the whitespace-collapsed text at *path* below *element*, or None when empty."""
    for name in path:
        element = _child(element, name)
    if element is None or element.text is None:
        return None
    return " ".join(element.text.split()) or None


def _clean(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else None


def _word(value: str | None) -> str | None:
    return value.lower()[:_VALUE_LIMIT] if value else None


def _integer(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _epoch(value: str | None) -> datetime | None:
    seconds = _integer(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
