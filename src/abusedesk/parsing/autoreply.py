"""Automatic answers: vacation notices and challenge-response requests, neither bounce nor complaint.

An auto-reply tells that a message reached a mailbox whose owner is away; a
challenge-response system (TMDA, Boxbe, Bluebottle, SpamArrest and the like) holds the
message until the sender proves to be a person. Neither says anything against the
sender, and neither is a failed delivery: each gives one ``auto_reply`` event, so that
it is counted as what it is instead of falling through to the free-form reader and
becoming a spam complaint.

Recognised, in order:

* *challenge-response*: a challenge system's own header (``X-Boxbe-*``, ``X-TMDA-*``,
  ``X-Challenge``), or wording that asks the sender to prove to be human or to get on
  the recipient's allowed list, in a message marked as a reply (``Auto-Submitted:
  auto-replied`` and the like) or sent with a null return path;
* *auto-reply*: ``Auto-Submitted: auto-replied`` (RFC 3834), an ``X-Autoreply`` /
  ``X-Autorespond`` header, ``Precedence: auto_reply``, or a subject such as "Out of
  office", "Automatic reply", "Autoresponse", "(Automatic Response)" or a vacation
  notice; a softer subject ("Thank you for your e-mail"), or any subject starting with
  "Re:", counts only when the message is automatic (null return path,
  ``Precedence: bulk|junk``, ``Auto-Submitted``).

Mailing-list traffic (``List-Id`` and the like) without an auto-reply header is never an
auto-reply: lists discuss and quote them.

A delivery status notification that carries ``Auto-Submitted: auto-replied`` is read by
the DSN and bounce readers, which come first. The event keeps the answering address
only as a hash and domain (like a bounce's recipient) and the id of the message answered
(``In-Reply-To``), which is the best link back to the sender.
"""

import re
from email.message import Message

from abusedesk.parsing import bounce_reasons, bounces, dsn, mail
from abusedesk.parsing.document import RawDocument, require_message
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

AUTO_REPLY = "auto-reply"
CHALLENGE_RESPONSE = "challenge-response"
_TEXT_LIMIT = 16 * 1024
_MAX_PARTS = 20

_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponse", "X-Vacation", "X-Autoreply-From")
_CHALLENGE_HEADER = re.compile(r"^x-(?:boxbe|tmda|challenge|spamarrest|mailblocks)", re.IGNORECASE)
_LIST_HEADERS = ("List-Id", "List-Post", "Mailing-List", "List-Unsubscribe")
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw)\s*:", re.IGNORECASE)
_FORWARDED = re.compile(r"^\s*(?:fwd?|tr|wg)\s*:", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(
    r"out of (?:the )?office|\bo\.?o\.?o\b|auto(?:matic|mated)?[ -]?(?:reply|response|answer|respons)"
    r"|autorespon|autoreply|vacation (?:reply|notice|message|response)"
    r"|(?:i am|i'm|is|are) (?:currently )?(?:away|out|on (?:holiday|leave|vacation))"
    r"|away from (?:the |my )?office"
    r"|abwesenheit|automatische antwort|r[ée]ponse automatique|respuesta autom[áa]tica"
    r"|risposta automatica|resposta autom[áa]tica|afwezig|automatisch antwoord|nieobecno"
    r"|odpowied[zź] automatyczna|autosvar|poza biurem",
    re.IGNORECASE,
)
_SOFT_SUBJECT = re.compile(
    r"thank(?:s| you) for (?:your )?(?:e-?mail|message|mail|contacting|inquiry|enquiry)"
    r"|(?:we|i) (?:have )?received your|message received|ticket (?:received|created|#)",
    re.IGNORECASE,
)
_CHALLENGE_TEXT = re.compile(
    r"confirm (?:that )?you are (?:a )?(?:human|real person|person)|verify (?:that )?you are"
    r" (?:a )?(?:human|real person|person)|(?:added|add you|your address) to (?:the |my )?"
    r"(?:recipient'?s? )?(?:allowed|approved|white|safe)[ -]?(?:list|senders)"
    r"|challenge[- ]response (?:system|service|filter)|to verify (?:that )?you are"
    r"|(?:held|quarantined|pending) (?:until|pending|for) (?:you )?(?:verif|confirm)",
    re.IGNORECASE | re.DOTALL,
)


class AutoReplyParser:
    """Read vacation notices and challenge-response requests into one auto_reply event."""

    name = "autoreply"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise an automatic answer by its headers or its subject (see the module doc)."""
        message = document.message
        return message is not None and reply_kind(message) is not None

    def parse(self, document: RawDocument) -> ParsedReport:
        """Return one auto_reply event naming the answering address and the message answered."""
        message = require_message(document)
        kind = reply_kind(message) or AUTO_REPLY
        sender = mail.header(message, "From")
        indicators: dict[str, tuple[str, ...]] = {}
        answered = _answered_id(message)
        if answered:
            indicators["message_id"] = (answered,)
        if kind == AUTO_REPLY:
            _, address = _address(sender)
            indicators.update(dsn.recipient_indicators(address))
        event = EventDraft(
            category=Category.AUTO_REPLY,
            service=Service.EMAIL,
            occurred_at=mail.date(message),
            reporter=mail.address_domain(sender),
            indicators=indicators,
            details={
                "reply_kind": kind,
                "reason": bounce_reasons.AUTO_REPLY,
                "auto_submitted": mail.header(message, "Auto-Submitted"),
            },
        )
        return ParsedReport(report_format=self.name, events=(event,), kind=kind)


def reply_kind(message: Message) -> str | None:
    """Return ``auto-reply``, ``challenge-response`` or None for any other message."""
    if message.get_content_type() == "multipart/report" or message.get("X-ARF") is not None:
        return None
    # Bounces often say Auto-Submitted: auto-replied too; they are the bounce readers'.
    if dsn.is_delivery_status(message) or bounces.is_bounce(message):
        return None
    subject = mail.header(message, "Subject") or ""
    if _FORWARDED.match(subject):
        # Someone forwarding an auto-reply is writing to us, not answering automatically.
        return None
    auto_submitted = (mail.header(message, "Auto-Submitted") or "").lower()
    replied = auto_submitted.startswith("auto-replied") or any(
        message.get(name) is not None for name in _AUTO_HEADERS
    )
    if not replied and any(message.get(name) is not None for name in _LIST_HEADERS):
        # Mailing-list traffic that quotes an auto-reply or discusses one is not one.
        return None
    automatic = _is_automatic(message)
    challenge_header = any(_CHALLENGE_HEADER.match(name) for name in message)
    # A challenge answers the message it holds: it is marked as a reply or has a null
    # return path. Newsletters and phishing also ask to "verify" and must not count.
    answering = replied or _null_return_path(message)
    if challenge_header or (answering and _CHALLENGE_TEXT.search(_text(message))):
        return CHALLENGE_RESPONSE
    precedence = (mail.header(message, "Precedence") or "").lower()
    # "Re: ..." is a person answering unless something else says it is automatic.
    plain_subject = automatic or not _REPLY_PREFIX.match(subject)
    if (
        replied
        or precedence == "auto_reply"
        or (_AUTO_SUBJECT.search(subject) and plain_subject)
        or (automatic and _SOFT_SUBJECT.search(subject))
    ):
        return AUTO_REPLY
    return None


def _null_return_path(message: Message) -> bool:
    return_path = mail.header(message, "Return-Path")
    return return_path is not None and return_path.strip() in ("<>", "")


def _is_automatic(message: Message) -> bool:
    """Tell whether headers mark *message* as sent by a program rather than typed."""
    precedence = (mail.header(message, "Precedence") or "").lower()
    auto_submitted = (mail.header(message, "Auto-Submitted") or "no").lower()
    return (
        _null_return_path(message)
        or precedence in ("bulk", "junk", "auto_reply")
        or not auto_submitted.startswith("no")
    )


def _text(message: Message) -> str:
    """Return the message's text parts (subject first), bounded, for wording checks."""
    chunks = [mail.header(message, "Subject") or ""]
    size = 0
    for count, part in enumerate(message.walk()):
        if count >= _MAX_PARTS or size >= _TEXT_LIMIT:
            break
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            text = payload[:_TEXT_LIMIT].decode("utf-8", "replace")
            chunks.append(text)
            size += len(text)
    return "\n".join(chunks)[:_TEXT_LIMIT]


def _answered_id(message: Message) -> str | None:
    value = mail.header(message, "In-Reply-To")
    if not value:
        return None
    found = re.findall(r"<([^<>\s]{1,900})>", value)
    return found[-1] if found else None


def _address(value: str | None) -> tuple[str, str | None]:
    name, address = mail.parse_address(value or "")
    return name, address if "@" in address else None
