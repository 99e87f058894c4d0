"""Free-form complaints: a person's email, perhaps with the offending message attached."""

from email.message import Message

from abusedesk.parsing import mail
from abusedesk.parsing.document import RawDocument, require_message
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

_PHISHING_WORDS = ("phish", "credential", "password", "fake login", "impersonat")


class FreeformParser:
    """Read any other email as one complaint; the last resort after the structured formats."""

    name = "freeform"

    def sniff(self, document: RawDocument) -> bool:
        """Accept anything that parses as an email message with a From or Subject."""
        message = document.message
        return message is not None and (
            message.get("From") is not None or message.get("Subject") is not None
        )

    def parse(self, document: RawDocument) -> ParsedReport:
        """Take indicators from the attached message when there is one, else the body."""
        message = require_message(document)
        attached = _attached_message(message)
        evidence = attached if attached is not None else message
        indicators = mail.message_indicators(evidence)
        if attached is None:
            # The complainant's own message: its ids and sender identify the reporter, not
            # the abuser; only the URLs they quote are evidence.
            indicators = {k: v for k, v in indicators.items() if k == "url"}
        subject = (mail.header(message, "Subject") or "").lower()
        category = (
            Category.PHISHING if any(w in subject for w in _PHISHING_WORDS) else Category.SPAM
        )
        event = EventDraft(
            category=category,
            service=Service.EMAIL,
            occurred_at=(mail.date(attached) if attached is not None else None)
            or mail.date(message),
            reporter=mail.address_domain(mail.header(message, "From")),
            indicators=indicators,
            details={"has_attached_message": attached is not None},
        )
        return ParsedReport(report_format=self.name, events=(event,))


def _attached_message(message: Message) -> Message | None:
    for part in message.walk():
        if part is not message and part.get_content_type() == "message/rfc822":
            return mail.embedded_message(part)
    return None
