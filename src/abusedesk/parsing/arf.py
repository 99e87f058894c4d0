"""ARF feedback-loop reports (RFC 5965): parts found by media type, not position."""

from email.message import Message

from abusedesk.parsing import mail
from abusedesk.parsing.document import RawDocument, require_message
from abusedesk.parsing.errors import MalformedReport
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

_CATEGORY_BY_FEEDBACK_TYPE = {
    "abuse": Category.SPAM,
    "fraud": Category.FRAUD,
    "virus": Category.MALWARE,
    "auth-failure": Category.AUTH_FAILURE,
    "not-spam": Category.NOT_SPAM,
    "other": Category.OTHER,
}


class ArfParser:
    """Read ``multipart/report; report-type=feedback-report`` messages."""

    name = "arf"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise a multipart/report whose report-type is feedback-report."""
        message = document.message
        return (
            message is not None
            and message.get_content_type() == "multipart/report"
            and str(message.get_param("report-type") or "").lower() == "feedback-report"
        )

    def parse(self, document: RawDocument) -> ParsedReport:
        """Read the feedback fields and the reported message into one event."""
        message = require_message(document)
        fields = _feedback_fields(message)
        if fields is None:
            raise MalformedReport("no message/feedback-report part", reason="arf_no_feedback_part")
        reported = _reported_message(message)
        feedback_type = fields.get("feedback-type", "abuse").lower()
        indicators = mail.message_indicators(reported) if reported is not None else {}
        if source_ip := fields.get("source-ip"):
            indicators["source_ip"] = (source_ip,)
        arrival = fields.get("arrival-date") or fields.get("received-date")
        occurred_at = mail.parse_date(arrival) or (
            mail.date(reported) if reported is not None else None
        )
        event = EventDraft(
            category=feedback_category(feedback_type),
            service=Service.EMAIL,
            occurred_at=occurred_at or mail.date(message),
            reporter=mail.mta_name(fields.get("reporting-mta"))
            or mail.address_domain(mail.header(message, "From")),
            indicators=indicators,
            details={"feedback_type": feedback_type, "user_agent": fields.get("user-agent")},
        )
        return ParsedReport(report_format=self.name, events=(event,))


def feedback_category(feedback_type: str) -> str:
    """Return the category of an ARF ``Feedback-Type`` (lowercased); ``other`` when unknown."""
    return _CATEGORY_BY_FEEDBACK_TYPE.get(feedback_type, Category.OTHER)


def _feedback_fields(message: Message) -> dict[str, str] | None:
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        payload = part.get_payload()
        # The email package parses message/* parts into a list of sub-messages.
        if isinstance(payload, list):
            block = "\n".join(str(item) for item in payload)
        else:
            raw = part.get_payload(decode=True)
            block = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, colon, value = line.partition(":")
            if colon and name.strip():
                fields.setdefault(name.strip().lower(), value.strip())
        return fields
    return None


def _reported_message(message: Message) -> Message | None:
    for part in message.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            return mail.embedded_message(part)
    return None
