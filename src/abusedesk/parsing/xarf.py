"""X-ARF reports: v4 JSON checked against the official schemas, v3 JSON, and the older
mail-wrapped versions (0.1, 0.2, read in ``xarf_mail``): one event per report.

Validation follows the version a report declares:

* X-ARF 4.2 and later are validated against the official JSON schemas that the ``xarf``
  package bundles (core, master and the schema of each category and type). A report that
  fails them is refused with ``xarf_invalid`` and the schema's own words.
* Earlier 4.x drafts (4.0, 4.1) predate ``sender``, the reporter's ``domain``, UUID report
  ids and today's type names; holding them to 4.2 would refuse every report written to
  their own spec. They are held to what every 4.x version requires (``DRAFT_RULES``).
* X-ARF v3 JSON (``Version`` 3) is converted to v4 by the ``xarf`` package; a report it
  cannot convert is refused with the converter's reason, and the converted report is held
  to the same rules as a draft (v3 could not carry the fields 4.2 added to its types).
* Older JSON lineages (schema versions 1, 2, alpha, development) are refused with
  ``xarf_unsupported_version``.

``messaging``/``spam`` (and ``bulk_messaging``) read by protocol: ``sms`` gives an
``sms_spam`` event about the sending number (``origination_number``) or alphanumeric
``sender_id``, read as the SMS format reads them, ``smtp`` a ``spam`` email
event with the source IP, message id and sender domain, ``push_notification`` a push
event; other channels (WhatsApp, chat ...) keep their own service name. Every other
category and type maps to the nearest event category (``event_category``) with the source
identifier as an indicator; the X-ARF category and type stay in the details.

``ParsedReport.kind`` says which reading applied: ``v4``, ``v4-draft``, ``v3`` or (for the
mail-wrapped versions) ``plain-mail``.
"""

import base64
import binascii
import email
import ipaddress
import json
import re
import uuid
import warnings
from collections.abc import Mapping
from datetime import datetime
from email.message import Message
from email.policy import compat32
from functools import cache
from importlib import resources
from typing import Any

from abusedesk.parsing import mail, sms, xarf_mail
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.dsn import recipient_indicators
from abusedesk.parsing.errors import MalformedReport, ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

_SERVICE_BY_PROTOCOL = {
    "smtp": Service.EMAIL,
    "sms": Service.SMS,
    "push_notification": Service.PUSH,
}
# The other channels X-ARF names for spam are not the provider's services; they keep their
# own name so that nobody mistakes them for email, and anything unknown is "other".
_OTHER_CHANNELS = frozenset({"whatsapp", "telegram", "signal", "chat", "social_media", "other"})
# The nearest event category of each X-ARF type, 4.2 names first, then the 4.0 drafts'.
_CATEGORY_BY_TYPE = {
    ("content", "phishing"): Category.PHISHING,
    ("content", "phishing_site"): Category.PHISHING,
    ("content", "malware"): Category.MALWARE,
    ("content", "malware_distribution"): Category.MALWARE,
    ("content", "spamvertised"): Category.SPAM,
    ("content", "fraud"): Category.FRAUD,
    ("content", "scam"): Category.FRAUD,
    ("content", "suspicious_registration"): Category.FRAUD,
    # Brand and trademark complaints are intellectual-property notices, like copyright.
    ("content", "brand_infringement"): Category.COPYRIGHT,
    ("content", "remote_compromise"): Category.COMPROMISED,
    ("content", "web_hack"): Category.COMPROMISED,
    ("content", "defacement"): Category.COMPROMISED,
    ("content", "exposed_data"): Category.VULNERABLE,
    ("connection", "infected_host"): Category.COMPROMISED,
    ("infrastructure", "open_resolver"): Category.VULNERABLE,
    ("infrastructure", "open_relay"): Category.VULNERABLE,
    ("infrastructure", "vulnerable_service"): Category.VULNERABLE,
    ("reputation", "trap"): Category.SPAM,
    ("reputation", "spamtrap"): Category.SPAM,
    ("reputation", "spam_source"): Category.SPAM,
    ("reputation", "malware_source"): Category.MALWARE,
    ("reputation", "attack_source"): Category.ATTACK,
}
# A type that has no entry above takes its category's: every connection type is traffic
# aimed at others, every infrastructure type a host under someone else's control.
_CATEGORY_BY_XARF_CATEGORY = {
    "messaging": Category.SPAM,
    "copyright": Category.COPYRIGHT,
    "connection": Category.ATTACK,
    "vulnerability": Category.VULNERABLE,
    "infrastructure": Category.COMPROMISED,
}
_HOSTNAME = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_VERSION = re.compile(r"4\.(\d{1,4})\.\d{1,4}")
_JSON_PART_TYPES = ("application/json", "application/xarf+json", "text/json")
_V3_VERSIONS = ("3", "3.0", "3.0.0")
_V3_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://xarf.org/schemas/v3")
# Fields only X-ARF v4 has together: a report with them and no version is a broken v4 one.
_V4_KEYS = frozenset({"reporter", "source_identifier", "category", "type"})
# X-ARF limits one evidence item to 5 MB and recommends 15 MB in all; base64 adds a third.
_EVIDENCE_LIMIT = 7 * 1024 * 1024
_REPORT_LIMIT = 21 * 1024 * 1024
# Bounds on the JSON handed to schema validation, whose cost grows with every node (an
# evidence item costs it ~0.15 ms). Real reports have a few dozen nodes, five levels deep.
MAX_DEPTH = 20
MAX_NODES = 10_000
MAX_EVIDENCE_ITEMS = 100
_SNIFF_BYTES = 4096
_TEXT_LIMIT = 1000
# X-ARF caps an organisation name at 200 characters; a longer one is cut, not refused.
_NAME_LIMIT = 200
_ERRORS_SHOWN = 3

# What every 4.x version requires, and so what a draft (4.0, 4.1) or a report converted from
# v3 must carry: the core fields (without ``sender``, added later), a reporter with an
# organisation and a contact, one of the seven categories, and a protocol for messaging.
DRAFT_RULES = {
    "required": ("xarf_version", "report_id", "timestamp", "reporter", "source_identifier"),
    "reporter": ("org", "contact"),
    "categories": (
        "messaging",
        "content",
        "copyright",
        "connection",
        "vulnerability",
        "infrastructure",
        "reputation",
    ),
    "messaging": ("protocol",),
}


class XarfParser:
    """Read X-ARF reports: v4 or v3 JSON, bare or in an email, or a mail-wrapped 0.x report."""

    name = "xarf"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise X-ARF JSON (even broken), an email carrying it, or an X-ARF 0.x mail."""
        data = document.json
        if isinstance(data, dict):
            return "xarf_version" in data or _is_legacy(data) or data.keys() >= _V4_KEYS
        if data is None and _broken_xarf_json(document):
            return True
        message = document.message
        if message is None:
            return False
        return _json_part(message) is not None or xarf_mail.is_plain_xarf(message)

    def parse(self, document: RawDocument) -> ParsedReport:
        """Validate the report for its version, then read it into one event."""
        report = document.json
        if report is None:
            if _broken_xarf_json(document):
                raise MalformedReport("the X-ARF report is not valid JSON", reason="xarf_invalid")
            message = document.message
            if message is not None:
                report = _json_part(message)
                if report is None and xarf_mail.is_plain_xarf(message):
                    event = _plain_event(xarf_mail.read_report(message))
                    return ParsedReport(self.name, (event,), kind=xarf_mail.KIND)
        if not isinstance(report, dict):
            raise MalformedReport("no X-ARF JSON object", reason="xarf_invalid")
        if len(document.raw) > _REPORT_LIMIT:
            raise MalformedReport(
                f"an X-ARF report of {len(document.raw):,} bytes; the limit is {_REPORT_LIMIT:,}",
                reason="too_large",
            )
        check_shape(report)
        report, kind = validated(report)
        return ParsedReport(report_format=self.name, events=(_event(report),), kind=kind)


def validated(report: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Return *report* as a valid v4 report and the reading that applied, or raise.

    Raise MalformedReport (``xarf_invalid``) with the reason the rules of its version give,
    or ParseError (``xarf_unsupported_version``) for a version that is not read.
    """
    if "xarf_version" not in report and not _is_legacy(report):
        raise MalformedReport(
            "X-ARF report fails its schema: (report): 'xarf_version' is a required property",
            reason="xarf_invalid",
        )
    if "xarf_version" not in report:
        if _is_v3(report):
            converted = _converted_v3(report)
            _raise_on(draft_errors(converted), "X-ARF v3")
            return converted, "v3"
        version = report.get("Version")
        raise ParseError(
            f"X-ARF JSON of schema version {str(version)[:20]!r} predates v4 and is not read",
            reason="xarf_unsupported_version",
        )
    version = report["xarf_version"]
    if isinstance(version, str) and not version.startswith("4"):
        raise ParseError(
            f"X-ARF version {version[:20]!r} is not supported; only 4.x is",
            reason="xarf_unsupported_version",
        )
    match = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is not None and int(match[1]) < _bundled_minor():
        _raise_on(draft_errors(report), f"X-ARF {version}")
        return report, "v4-draft"
    errors = schema_errors(report)
    _raise_on(errors, f"X-ARF {str(version)[:20]}")
    return report, "v4"


def draft_errors(report: Mapping[str, Any]) -> list[str]:
    """Return what *report* lacks of the fields every 4.x version requires (DRAFT_RULES)."""
    errors = [
        f"(report): {name!r} is a required property"
        for name in (*DRAFT_RULES["required"], "category", "type")
        if report.get(name) in (None, "", {}, [])
    ]
    errors.extend(
        f"{name}: {str(report[name])[:40]!r} is not of type 'string'"
        for name in ("xarf_version", "report_id", "timestamp", "source_identifier", "type")
        if name in report and not isinstance(report[name], str)
    )
    reporter = report.get("reporter")
    if isinstance(reporter, dict):
        errors += [
            f"reporter: {name!r} is a required property"
            for name in DRAFT_RULES["reporter"]
            if not isinstance(reporter.get(name), str) or not reporter[name]
        ]
    elif reporter is not None:
        errors.append("reporter: not of type 'object'")
    category = report.get("category")
    if category is not None and category not in DRAFT_RULES["categories"]:
        errors.append(f"category: {str(category)[:40]!r} is not one of the seven categories")
    if category == "messaging":
        errors += [
            f"(report): {name!r} is a required property for messaging"
            for name in DRAFT_RULES["messaging"]
            if not isinstance(report.get(name), str) or not report[name]
        ]
    return errors


def check_shape(report: Any) -> None:
    """Raise MalformedReport when *report* nests deeper or holds more than any real report.

    Schema validation walks every node, and slowly; this walk is cheap and bounded.
    """
    evidence = report.get("evidence") if isinstance(report, dict) else None
    if isinstance(evidence, list) and len(evidence) > MAX_EVIDENCE_ITEMS:
        raise MalformedReport(
            f"{len(evidence):,} evidence items; the limit is {MAX_EVIDENCE_ITEMS}",
            reason="too_complex",
        )
    nodes = 0
    stack: list[tuple[Any, int]] = [(report, 1)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            raise MalformedReport(
                f"the X-ARF JSON nests deeper than {MAX_DEPTH} levels or holds more than "
                f"{MAX_NODES:,} values",
                reason="too_complex",
            )
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)


def event_category(category: str, kind: str) -> str:
    """Return the event category of an X-ARF category and type (``other`` when none fits)."""
    return _CATEGORY_BY_TYPE.get(
        (category, kind), _CATEGORY_BY_XARF_CATEGORY.get(category, Category.OTHER)
    )


def schema_errors(report: dict[str, Any]) -> list[str]:
    """Return what the official X-ARF v4 schemas find wrong with *report* (none: valid).

    The master schema checks every category's type schema in turn (``if`` category and
    type, ``then`` its schema); only the branch a report's category and type select can
    apply, so the report is checked against the master with just that branch. The result
    is the same and several times faster. Each error reads ``field: message``.
    """
    pair = (report.get("category"), report.get("type"))
    known = all(isinstance(value, str) for value in pair) and pair in _schema_branches()
    branch = (str(pair[0]), str(pair[1])) if known else None
    seen: dict[str, None] = {}
    for error in _validator(branch).iter_errors(report):
        field = ".".join(str(part) for part in error.absolute_path) or "(report)"
        seen.setdefault(f"{field}: {error.message}", None)
    return list(seen)


@cache
def _schemas() -> tuple[dict[str, Any], Any]:
    """Return the master schema and a registry of every schema the ``xarf`` package bundles."""
    import referencing  # noqa: PLC0415  # imported on first use, like the schemas
    import referencing.jsonschema  # noqa: PLC0415

    folder = resources.files("xarf") / "schemas"
    documents = [
        json.loads(entry.read_text(encoding="utf-8"))
        for directory in (folder, folder / "types")
        for entry in directory.iterdir()
        if entry.name.endswith(".json")
    ]
    registry: Any = referencing.Registry().with_resources(
        (document["$id"], referencing.jsonschema.DRAFT202012.create_resource(document))
        for document in documents
        if isinstance(document, dict) and "$id" in document
    )
    master = next(d for d in documents if str(d.get("$id", "")).endswith("xarf-v4-master.json"))
    return master, registry


@cache
def _schema_branches() -> frozenset[tuple[str, str]]:
    """Return the (category, type) pairs the master schema has a type schema for."""
    master, _ = _schemas()
    return frozenset(
        pair for branch in master["allOf"] if (pair := _branch_pair(branch)) is not None
    )


def _branch_pair(branch: Mapping[str, Any]) -> tuple[str, str] | None:
    """Return the (category, type) an ``if``/``then`` branch of the master selects."""
    properties = branch.get("if", {}).get("properties", {})
    category, kind = properties.get("category", {}), properties.get("type", {})
    if "const" in category and "const" in kind:
        return str(category["const"]), str(kind["const"])
    return None


@cache
def _validator(branch: tuple[str, str] | None) -> Any:
    """Return a validator of the master schema keeping only *branch* of its type branches.

    *branch* None keeps none: a report of no known category and type fails the master's
    list of valid pairs all the same. The cache holds one validator per known pair.
    """
    from jsonschema import Draft202012Validator, FormatChecker  # noqa: PLC0415

    master, registry = _schemas()
    kept = [b for b in master["allOf"] if (pair := _branch_pair(b)) is None or pair == branch]
    return Draft202012Validator(
        {**master, "allOf": kept}, registry=registry, format_checker=FormatChecker()
    )


@cache
def _bundled_minor() -> int:
    """Return the minor version of the X-ARF schemas the ``xarf`` package bundles (2 for 4.2)."""
    from xarf import SPEC_VERSION  # noqa: PLC0415  # slow import, on use

    match = _VERSION.fullmatch(SPEC_VERSION)
    return int(match[1]) if match else 0


def _raise_on(errors: list[str], what: str) -> None:
    """Raise MalformedReport (``xarf_invalid``) naming the first *errors*, if there are any."""
    if not errors:
        return
    shown = "; ".join(error[:300] for error in errors[:_ERRORS_SHOWN])
    more = f" (and {len(errors) - _ERRORS_SHOWN} more)" if len(errors) > _ERRORS_SHOWN else ""
    raise MalformedReport(f"{what} report fails its schema: {shown}{more}", reason="xarf_invalid")


def _is_v3(report: Mapping[str, Any]) -> bool:
    """Tell whether *report* is X-ARF v3 JSON, which the ``xarf`` package converts."""
    return _is_legacy(report) and report.get("Version") in _V3_VERSIONS


def _converted_v3(report: Mapping[str, Any]) -> dict[str, Any]:
    """Return the v4 form of a v3 report, converted by the ``xarf`` package, or raise."""
    from xarf import XARFParseError, XARFv3DeprecationWarning, convert_v3_to_v4  # noqa: PLC0415

    inner, reporter = report.get("Report"), report.get("ReporterInfo")
    if not isinstance(inner, dict) or not isinstance(reporter, dict):
        raise MalformedReport(
            "the X-ARF v3 'Report' and 'ReporterInfo' must be objects", reason="xarf_invalid"
        )
    source = inner.get("Source")
    if source is not None and not isinstance(source, dict):
        raise MalformedReport("the X-ARF v3 'Source' is not an object", reason="xarf_invalid")
    try:
        # The converter warns that v3 is deprecated; the report's kind records it instead.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", XARFv3DeprecationWarning)
            converted = convert_v3_to_v4(dict(report))
    except XARFParseError as error:
        raise MalformedReport(str(error)[:500], reason="xarf_invalid") from error
    except (AttributeError, TypeError, ValueError) as error:
        # The converter expects well-formed v3; any other shape is a broken report.
        raise MalformedReport(
            f"the X-ARF v3 report cannot be converted: {type(error).__name__}",
            reason="xarf_invalid",
        ) from error
    # The converter invents a random report id; the same report read twice must give the
    # same event, so the id is derived from the report's content instead.
    canonical = json.dumps(report, sort_keys=True, ensure_ascii=True, default=str)
    converted["report_id"] = str(uuid.uuid5(_V3_ID_NAMESPACE, canonical))
    # The event records the version the reporter wrote, not the one it was converted to.
    converted["xarf_version"] = report["Version"]
    return converted


def _is_legacy(report: Mapping[str, Any]) -> bool:
    """Tell whether *report* has the shape of X-ARF before version 4 (``Version``, ``Report``)."""
    return "xarf_version" not in report and {"Version", "Report", "ReporterInfo"} <= report.keys()


def _broken_xarf_json(document: RawDocument) -> bool:
    """Tell whether *document* looks like an X-ARF JSON object that does not parse."""
    return document.head.startswith(b"{") and b'"xarf_version"' in document.head


def _event(report: Mapping[str, Any]) -> EventDraft:
    category = _required_text(report, "category").lower()
    kind = _required_text(report, "type").lower()
    source = _required_text(report, "source_identifier")
    reporter = report.get("reporter")
    if not isinstance(reporter, dict):
        raise MalformedReport("the X-ARF 'reporter' is not an object", reason="xarf_invalid")
    occurred_at = _timestamp(_required_text(report, "timestamp"))
    protocol = (_text(report.get("protocol")) or "").lower() or None
    indicators: dict[str, tuple[str, ...]]
    if category == "messaging":
        if protocol is None:
            raise MalformedReport(
                "the X-ARF messaging report has no 'protocol'", reason="xarf_invalid"
            )
        service = _SERVICE_BY_PROTOCOL.get(
            protocol, protocol if protocol in _OTHER_CHANNELS else "other"
        )
        event_kind = Category.SMS_SPAM if protocol == "sms" else Category.SPAM
        indicators = (
            _sender_indicators(source) if protocol == "sms" else _messaging_indicators(report)
        )
    else:
        # The provider's addresses and domains serve email first; other services say so.
        service = Service.EMAIL
        event_kind = event_category(category, kind)
        indicators = source_indicators(source)
        if url := _text(report.get("url")):
            indicators.setdefault("url", (url,))
    return EventDraft(
        category=event_kind,
        service=service,
        occurred_at=occurred_at,
        reporter=_reporter(reporter),
        indicators=indicators,
        details={
            "report_id": _text(report.get("report_id")),
            "xarf_version": _text(report.get("xarf_version")),
            "xarf_category": category,
            "xarf_type": kind,
            "protocol": protocol,
            "evidence_source": _text(report.get("evidence_source")),
            "source_identifier": source,
            "source_port": _port(report.get("source_port")),
            "subject": _text(report.get("subject")),
        },
    )


def _plain_event(report: xarf_mail.PlainReport) -> EventDraft:
    """Return the event of a mail-wrapped X-ARF 0.x report."""
    indicators = source_indicators(report.source)
    # A declared URI that is no IP, domain or http(s) URL (``hxxp``, ``ftp``) stays a URL.
    if report.source_type in xarf_mail.URL_SOURCE_TYPES and "source_identifier" in indicators:
        indicators = {"url": (report.source,)}
    for link in report.links:
        if link not in indicators.get("url", ()):
            indicators["url"] = (*indicators.get("url", ()), link)
    return EventDraft(
        category=xarf_mail.event_category(report.category, report.report_type),
        service=Service.EMAIL,
        occurred_at=report.occurred_at,
        reporter=report.reporter,
        indicators=indicators,
        details={
            "report_id": report.report_id,
            "xarf_version": report.version,
            "xarf_category": report.category,
            "xarf_type": report.report_type,
            "source_identifier": report.source,
            "source_type": report.source_type,
            "source_port": report.port,
            "service": report.service,
            "user_agent": report.user_agent,
        },
    )


def _messaging_indicators(report: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Return the indicators of an email spam report: its fields, then its evidence.

    ``smtp_from`` is the envelope sender: it gives ``envelope_sender`` and
    ``envelope_domain``, and also ``from_domain`` when no evidence message shows the From
    header. ``smtp_to`` gives the recipient's hash and domain.
    """
    found = source_indicators(_required_text(report, "source_identifier"))
    if message_id := _text(report.get("message_id")):
        found["message_id"] = (message_id.strip("<> ") or message_id,)
    evidence = _evidence_message(report.get("evidence"))
    if evidence is not None:
        for kind, values in mail.message_indicators(evidence).items():
            found.setdefault(kind, values)
    smtp_from = _text(report.get("smtp_from"))
    if "envelope_sender" not in found:
        mail.add_envelope_sender(found, smtp_from)
    if envelope_domain := mail.address_domain(smtp_from):
        found.setdefault("envelope_domain", (envelope_domain,))
        found.setdefault("from_domain", (envelope_domain,))
    # The address the spam was sent to (a trap, most often): kept only as a hash.
    for kind, values in recipient_indicators(_text(report.get("smtp_to"))).items():
        found.setdefault(kind, values)
    return found


def _sender_indicators(source: str) -> dict[str, tuple[str, ...]]:
    """Return the SMS sender a source identifier names, read as the SMS format reads one:
    ``origination_number`` for a number or short code, ``sender_id`` for an alphanumeric id."""
    if (number := sms.normalise_number(source)) is not None:
        return {"origination_number": (number,)}
    if (found := sms.sender_id(source)) is not None:
        return {"sender_id": (found,)}
    return {"source_identifier": (source,)}


def source_indicators(source: str) -> dict[str, tuple[str, ...]]:
    """Return the indicator a source identifier is: an IP, a URL, a domain, or kept as is."""
    try:
        return {"source_ip": (ipaddress.ip_address(source).compressed,)}
    except ValueError:
        pass
    lowered = source.lower().rstrip(".")
    if lowered.startswith(("http://", "https://")):
        return {"url": (source,)}
    if _HOSTNAME.fullmatch(lowered):
        return {"domain": (lowered,)}
    return {"source_identifier": (source,)}


def _evidence_message(evidence: Any) -> Message | None:
    """Return the first ``message/rfc822`` evidence item as a message, if it decodes."""
    if not isinstance(evidence, list):
        return None
    for item in evidence:
        if not isinstance(item, dict):
            continue
        content_type = (_text(item.get("content_type")) or "").lower()
        payload = item.get("payload")
        if content_type not in ("message/rfc822", "text/rfc822-headers"):
            continue
        if not isinstance(payload, str) or len(payload) > _EVIDENCE_LIMIT:
            return None
        try:
            raw = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            return None
        try:
            return email.message_from_bytes(raw, policy=compat32)
        except RecursionError:
            return None
    return None


def _json_part(message: Message) -> dict[str, Any] | None:
    """Return the first JSON part of *message* that holds an X-ARF object."""
    for part in message.walk():
        if part.get_content_type() not in _JSON_PART_TYPES:
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or b"xarf_version" not in data[:_SNIFF_BYTES]:
            continue
        try:
            report = json.loads(data)
        except (ValueError, RecursionError):
            continue
        if isinstance(report, dict) and "xarf_version" in report:
            return report
    return None


def _reporter(reporter: Mapping[str, Any]) -> str | None:
    if domain := mail.domain_name(_text(reporter.get("domain"))):
        return domain
    org = _text(reporter.get("org"))
    return mail.address_domain(_text(reporter.get("contact"))) or (
        org[:_NAME_LIMIT] if org else None
    )


def _required_text(report: Mapping[str, Any], name: str) -> str:
    value = _text(report.get(name))
    if value is None:
        raise MalformedReport(f"the X-ARF {name!r} is not a text value", reason="xarf_invalid")
    return value


def _text(value: Any) -> str | None:
    """Return a JSON string as clean text (no lone surrogates, no NULs), else None."""
    return mail.clean_text(value, _TEXT_LIMIT) if isinstance(value, str) else None


def _port(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535:
        return value
    return None


def _timestamp(value: str) -> datetime:
    found = mail.parse_iso_time(value)
    if found is None:
        raise MalformedReport(
            f"the X-ARF 'timestamp' is not ISO 8601: {value[:40]!r}", reason="xarf_invalid"
        )
    return found
