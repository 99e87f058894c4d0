"""SMTP TLS reports (RFC 8460): one ``tls_report`` event per policy.

A sending MTA reports how its TLS sessions to a domain's mail servers went: per policy
(MTA-STS, DANE/TLSA, or none found) the sessions that succeeded and failed, and why the
failures failed. The report is JSON, bare or gzipped, or attached to an email
(``multipart/report; report-type=tlsrpt`` with an ``application/tlsrpt+gzip`` or
``application/tlsrpt+json`` part). Unpacking is bounded by ``archives`` (reason
``decompression_limit``) and the JSON by ``MAX_DOCUMENT`` bytes.

Each policy becomes one event: indicator ``recipient_domain`` (the policy domain, whose
mail servers took the sessions); details with the policy, the session counts, and the
failure details (result type, sending MTA IP, receiving MX host and IP, failed session
count, reason code), the first ``MAX_FAILURE_DETAILS`` of them. A report without
policies is read with no events. What a report must hold, or be refused with reason
``tlsrpt_invalid`` naming it: an ``organization-name``, a ``report-id``, a
``date-range`` of two RFC 3339 times, and ``policies``, each with a ``policy`` that names
its ``policy-type`` and ``policy-domain`` and a ``summary`` of two whole session counts.
Optional fields that are empty or of the wrong type are left out, not refused.
"""

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from email.message import Message
from typing import Any

from abusedesk.parsing import archives, mail
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import MalformedReport, ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

# TLS reports are a few kilobytes; even a large sender's stays far below this.
MAX_DOCUMENT = 5 * 1024 * 1024
MAX_POLICIES = 1_000
MAX_FAILURE_DETAILS = 100
LIMITS = archives.Limits(max_output=MAX_DOCUMENT)
# The top-level names of an RFC 8460 report.
_REPORT_KEYS = ("organization-name", "date-range", "contact-info", "report-id", "policies")
_PART_TYPES = ("application/tlsrpt+json", "application/tlsrpt+gzip")
_ATTACHMENT_SUFFIXES = (".json", ".json.gz", ".gz")
_MAX_POLICY_STRINGS = 50
_PEEK = 16 * 1024
_NAME_LIMIT = 200
_TEXT_LIMIT = 500
_KEY_IN_HEAD = re.compile(rb'"(organization-name|date-range|contact-info|report-id|policies)"')


class TlsReportParser:
    """Read SMTP TLS reports (TLS-RPT), bare, gzipped or attached to an email."""

    name = "tlsrpt"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise a JSON object with RFC 8460 keys, bare, gzipped or in an email."""
        if isinstance(document.json, dict):
            return _is_report(document.json)
        if archives.is_compressed(document.raw):
            return _looks_like_report(archives.peek(document.raw, _PEEK, LIMITS))
        message = document.message
        if message is None:
            return False
        if (
            message.get_content_type() == "multipart/report"
            and str(message.get_param("report-type") or "").lower() == "tlsrpt"
        ):
            return True
        return any(
            content_type in _PART_TYPES or _looks_like_report(archives.peek(data, _PEEK, LIMITS))
            for content_type, data in _attachments(message)
        )

    def parse(self, document: RawDocument) -> ParsedReport:
        """Read the report and make one event per policy."""
        report = self._report(document)
        org_name = _required_text(report, "organization-name")[:_NAME_LIMIT]
        report_id = _required_text(report, "report-id")
        begin_at, end_at = _date_range(report.get("date-range"))
        policies = report.get("policies")
        if not isinstance(policies, list):
            raise _invalid("'policies' is not a list")
        if len(policies) > MAX_POLICIES:
            raise ParseError(
                f"the report has {len(policies):,} policies; the limit is {MAX_POLICIES:,}",
                reason="tlsrpt_too_many_policies",
            )
        shared = {
            "org_name": org_name,
            "report_id": report_id,
            "contact_info": _text(report.get("contact-info")),
            "begin_at": begin_at.isoformat(),
            "end_at": end_at.isoformat(),
        }
        events = tuple(
            _event(number, policy, shared, org_name, begin_at)
            for number, policy in enumerate(policies, start=1)
        )
        return ParsedReport(report_format=self.name, events=events, kind="tls")

    def _report(self, document: RawDocument) -> dict[str, Any]:
        """Return the report object: the document itself, unpacked, or an attachment."""
        if isinstance(document.json, dict):
            return document.json
        if archives.is_compressed(document.raw):
            return _load(document.raw)
        message = document.message
        if message is not None:
            for content_type, data in _attachments(message):
                head = archives.peek(data, _PEEK, LIMITS)
                if content_type in _PART_TYPES or _looks_like_report(head):
                    return _load(data)
        raise MalformedReport("no SMTP TLS report found", reason="tlsrpt_no_report")


def _event(
    number: int,
    policy: Any,
    shared: Mapping[str, Any],
    reporter: str,
    begin_at: datetime,
) -> EventDraft:
    """Return the event of one entry of ``policies``, or raise tlsrpt_invalid."""
    where = f"policy {number}:"
    if not isinstance(policy, dict):
        raise _invalid(f"{where} not an object")
    described = policy.get("policy")
    if not isinstance(described, dict):
        raise _invalid(f"{where} no 'policy' object")
    policy_type = _text(described.get("policy-type"))
    if policy_type is None:
        raise _invalid(f"{where} no 'policy-type'")
    domain = mail.domain_name(_text(described.get("policy-domain")))
    if domain is None:
        raise _invalid(f"{where} no 'policy-domain'")
    summary = policy.get("summary")
    if not isinstance(summary, dict):
        raise _invalid(f"{where} no 'summary' object")
    successful = _count(summary.get("total-successful-session-count"))
    failed = _count(summary.get("total-failure-session-count"))
    if successful is None or failed is None:
        raise _invalid(f"{where} the summary session counts are not whole numbers")
    details_list = policy.get("failure-details")
    failures = details_list if isinstance(details_list, list) else []
    details = {
        "policy": number,
        "policy_type": policy_type.lower(),
        "policy_domain": domain,
        "policy_strings": _texts(described.get("policy-string"))[:_MAX_POLICY_STRINGS],
        "mx_hosts": _texts(described.get("mx-host"))[:_MAX_POLICY_STRINGS],
        "successful_sessions": successful,
        "failed_sessions": failed,
        "failure_details": [
            _failure(detail)
            for detail in failures[:MAX_FAILURE_DETAILS]
            if isinstance(detail, dict)
        ],
        "failure_details_total": len(failures),
        **shared,
    }
    return EventDraft(
        category=Category.TLS_REPORT,
        service=Service.EMAIL,
        occurred_at=begin_at,
        reporter=reporter,
        indicators={"recipient_domain": (domain,)},
        details=details,
    )


def _failure(detail: Mapping[str, Any]) -> dict[str, Any]:
    """Return one failure detail with RFC 8460's fields, empty ones as None."""
    result_type = _text(detail.get("result-type"))
    return {
        "result_type": result_type.lower() if result_type else None,
        "sending_mta_ip": mail.ip_text(_text(detail.get("sending-mta-ip"))),
        "receiving_mx_hostname": mail.domain_name(_text(detail.get("receiving-mx-hostname"))),
        "receiving_mx_helo": mail.domain_name(_text(detail.get("receiving-mx-helo"))),
        "receiving_ip": mail.ip_text(_text(detail.get("receiving-ip"))),
        "failed_session_count": _count(detail.get("failed-session-count")),
        "failure_reason_code": _text(detail.get("failure-reason-code")),
        "additional_information": _text(detail.get("additional-information")),
    }


def _load(data: bytes) -> dict[str, Any]:
    """Unpack *data* and return the JSON object in it, or raise why not."""
    content = archives.unpack(data, LIMITS)
    if len(content) > MAX_DOCUMENT:
        raise ParseError(
            f"the report is {len(content):,} bytes of JSON; the limit is {MAX_DOCUMENT:,}",
            reason="tlsrpt_too_large",
        )
    try:
        report = json.loads(content)
    except (ValueError, RecursionError) as error:
        raise MalformedReport(
            f"the report is not JSON: {str(error)[:100]}", reason="tlsrpt_invalid"
        ) from error
    if not isinstance(report, dict):
        raise _invalid("the report is not a JSON object")
    return report


def _attachments(message: Message) -> Iterator[tuple[str, bytes]]:
    """Yield the content type and decoded payload of parts that may hold a report."""
    for content_type, _, data in mail.attachments(message, _may_hold_report):
        yield content_type, data


def _may_hold_report(content_type: str, name: str) -> bool:
    """Tell whether a part of this type and file name may hold a report."""
    return (
        content_type in _PART_TYPES
        or content_type in ("application/json", "application/gzip", "application/x-gzip")
        or name.lower().endswith(_ATTACHMENT_SUFFIXES)
    )


def _is_report(data: Mapping[str, Any]) -> bool:
    """Tell whether a JSON object has ``policies`` and another RFC 8460 top-level key."""
    return "policies" in data and sum(key in data for key in _REPORT_KEYS) >= 2


def _looks_like_report(head: bytes) -> bool:
    """Tell whether the start of a document is a JSON object naming two RFC 8460 keys."""
    if not head.lstrip().startswith(b"{"):
        return False
    return len(set(_KEY_IN_HEAD.findall(head))) >= 2


def _date_range(value: Any) -> tuple[datetime, datetime]:
    if not isinstance(value, dict):
        raise _invalid("no 'date-range' object")
    start = _datetime(value.get("start-datetime"))
    end = _datetime(value.get("end-datetime"))
    if start is None or end is None:
        raise _invalid("the 'date-range' times are not RFC 3339 date-times")
    return start, end


def _datetime(value: Any) -> datetime | None:
    return mail.parse_iso_time(_text(value))


def _required_text(report: Mapping[str, Any], name: str) -> str:
    value = _text(report.get(name))
    if value is None:
        raise _invalid(f"no {name!r}")
    return value


def _invalid(message: str) -> MalformedReport:
    return MalformedReport(f"the TLS report is invalid: {message}", reason="tlsrpt_invalid")


def _text(value: Any) -> str | None:
    """Return a JSON string as clean text (no lone surrogates, no NULs), else None."""
    return mail.clean_text(value, _TEXT_LIMIT) if isinstance(value, str) else None


def _texts(value: Any) -> list[str]:
    """Return a JSON string or list of strings as clean texts."""
    values = value if isinstance(value, list) else [value]
    return [text for item in values[:_MAX_POLICY_STRINGS] if (text := _text(item))]


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53:
        return value
    return None
