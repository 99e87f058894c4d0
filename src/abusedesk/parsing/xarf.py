"""X-ARF v4 reports (JSON, bare or attached to an email): one event per report.

``messaging``/``spam`` (and ``bulk_messaging``) read by protocol: ``sms`` gives an
``sms_spam`` event about the sending number or sender id, ``smtp`` a ``spam`` email
event with the source IP, message id and sender domain, ``push_notification`` a push
event; other channels (WhatsApp, chat ...) keep their own service name. Every other
category and type maps to the nearest event category (``other`` when none fits) with
the source identifier as an indicator; the X-ARF category and type stay in the details.
Only the fields read here are checked; validation against the full schema is a
separate step.
"""

import base64
import binascii
import email
import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import datetime
from email.message import Message
from email.policy import compat32
from typing import Any

from abusedesk.core.clock import as_utc
from abusedesk.parsing import mail
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import MalformedReport, ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

_REQUIRED = ("report_id", "timestamp", "reporter", "source_identifier", "category", "type")
_SERVICE_BY_PROTOCOL = {
    "smtp": Service.EMAIL,
    "sms": Service.SMS,
    "push_notification": Service.PUSH,
}
# The other channels X-ARF names for spam are not the provider's services; they keep their
# own name so that nobody mistakes them for email, and anything unknown is "other".
_OTHER_CHANNELS = frozenset({"whatsapp", "telegram", "signal", "chat", "social_media", "other"})
_CATEGORY_BY_TYPE = {
    ("content", "phishing"): Category.PHISHING,
    ("content", "phishing_site"): Category.PHISHING,
    ("content", "malware"): Category.MALWARE,
    ("content", "malware_distribution"): Category.MALWARE,
    ("content", "spamvertised"): Category.SPAM,
    ("content", "fraud"): Category.FRAUD,
    ("content", "scam"): Category.FRAUD,
    ("infrastructure", "botnet"): Category.MALWARE,
    ("reputation", "trap"): Category.SPAM,
    ("reputation", "spamtrap"): Category.SPAM,
}
_PHONE = re.compile(r"\+?\d{3,15}")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
_HOSTNAME = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_JSON_PART_TYPES = ("application/json", "application/xarf+json", "text/json")
# X-ARF limits one evidence item to 5 MB; base64 makes that a third longer.
_EVIDENCE_LIMIT = 7 * 1024 * 1024
_SNIFF_BYTES = 4096
_TEXT_LIMIT = 1000
# X-ARF caps an organisation name at 200 characters; a longer one is cut, not refused.
_NAME_LIMIT = 200


class XarfParser:
    """Read X-ARF v4 JSON reports, bare or as a JSON part of an email."""

    name = "xarf"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise a JSON object with ``xarf_version``, or an email carrying one."""
        if isinstance(document.json, dict):
            return "xarf_version" in document.json or _is_legacy(document.json)
        message = document.message
        return message is not None and _json_part(message) is not None

    def parse(self, document: RawDocument) -> ParsedReport:
        """Check the core fields, then read the category-specific ones into one event."""
        report = document.json
        if report is None and (message := document.message) is not None:
            report = _json_part(message)
        if not isinstance(report, dict):
            raise MalformedReport("no X-ARF JSON object", reason="xarf_invalid")
        version = report.get("Version") if _is_legacy(report) else report.get("xarf_version")
        if not isinstance(version, str) or not version.startswith("4"):
            raise ParseError(
                f"X-ARF version {str(version)[:20]!r} is not supported; only 4.x is",
                reason="xarf_unsupported_version",
            )
        for name in _REQUIRED:
            if report.get(name) in (None, "", {}, []):
                raise MalformedReport(f"the X-ARF report has no {name!r}", reason="xarf_invalid")
        return ParsedReport(report_format=self.name, events=(_event(report),))


def _is_legacy(report: Mapping[str, Any]) -> bool:
    """Tell whether *report* has the shape of X-ARF before version 4 (``Version``, ``Report``)."""
    return "xarf_version" not in report and {"Version", "Report", "ReporterInfo"} <= report.keys()


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
        event_category = Category.SMS_SPAM if protocol == "sms" else Category.SPAM
        indicators = (
            _sender_indicators(source) if protocol == "sms" else _messaging_indicators(report)
        )
    else:
        # The provider's addresses and domains serve email first; other services say so.
        service = Service.EMAIL
        event_category = _CATEGORY_BY_TYPE.get((category, kind), Category.OTHER)
        indicators = _source_indicators(source)
        if url := _text(report.get("url")):
            indicators.setdefault("url", (url,))
    return EventDraft(
        category=event_category,
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


def _messaging_indicators(report: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Return the indicators of an email spam report: its fields, then its evidence.

    ``smtp_from`` is the envelope sender: it gives ``envelope_domain``, and also
    ``from_domain`` when no evidence message shows the From header.
    """
    found = _source_indicators(_required_text(report, "source_identifier"))
    if message_id := _text(report.get("message_id")):
        found["message_id"] = (message_id.strip("<> ") or message_id,)
    evidence = _evidence_message(report.get("evidence"))
    if evidence is not None:
        for kind, values in mail.message_indicators(evidence).items():
            found.setdefault(kind, values)
    if envelope_domain := mail.address_domain(_text(report.get("smtp_from"))):
        found.setdefault("envelope_domain", (envelope_domain,))
        found.setdefault("from_domain", (envelope_domain,))
    return found


def _sender_indicators(source: str) -> dict[str, tuple[str, ...]]:
    compact = _PHONE_PUNCTUATION.sub("", source)
    if _PHONE.fullmatch(compact):
        return {"phone_number": (compact,)}
    return {"sender_id": (source,)}


def _source_indicators(source: str) -> dict[str, tuple[str, ...]]:
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
    domain = (_text(reporter.get("domain")) or "").lower().rstrip(".")
    if domain and len(domain) <= mail.MAX_DOMAIN_LENGTH:
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
    if not isinstance(value, str):
        return None
    cleaned = value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    return " ".join(cleaned.split())[:_TEXT_LIMIT] or None


def _port(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535:
        return value
    return None


def _timestamp(value: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(value))
    except (ValueError, OverflowError) as error:
        raise MalformedReport(
            f"the X-ARF 'timestamp' is not ISO 8601: {value[:40]!r}", reason="xarf_invalid"
        ) from error
