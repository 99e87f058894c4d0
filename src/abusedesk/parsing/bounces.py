"""Bounces without a delivery-status part: qmail, Exim, Postfix, Sendmail, Exchange, Gmail ...

Many mail systems return undeliverable mail as plain text (or HTML) written for people:
qmail's "Hi. This is the qmail-send program", Exim's "The following address(es)
failed", Sendmail's "Transcript of session follows", Exchange's "did not reach the
following recipient(s)", Gmail's and Yahoo's own notices, Domino, GroupWise, IMail and
the like. They carry no machine-readable fields, so this reader works from their common
shape rather than from each product's wording:

1. *Recognise* a bounce conservatively, so that a person's complaint is never taken for
   one: an ``X-Failed-Recipients`` header; or a message from a mail system's own sender
   (MAILER-DAEMON, "Mail Delivery System", postmaster) with a bounce subject, bounce
   wording, an SMTP transcript or an enhanced status code; or a bounce subject and bounce
   wording with a sign of automation (null return path, ``Auto-Submitted:
   auto-generated``, a program's mailbox such as ``no-reply@``, an attached returned
   message) and no ``Fwd:``; or a program's mailbox returning an attached message with
   bounce wording. A message with a readable delivery-status part is the DSN reader's.
2. *Cut* the notice from the returned message (the attached ``message/rfc822`` part, or
   the text after a "copy of the message follows" line).
3. *Find the failed recipients*: the addresses the notice names, less the bounce's own
   sender and addressee (the addressee is whoever sent the original message), mail
   system mailboxes and quoted header lines. The lines after each address, up to the
   next one, are its diagnostic.
4. *Classify* each recipient with ``bounce_reasons.classify`` (the same taxonomy as
   DSNs), falling back on the whole notice and the subject when the lines after the
   address name no reason.

Each failed recipient becomes one ``bounce`` event with the same details as a DSN event
(``action``, ``status``, ``bounce_class``, ``reason``, ``diagnostic_code``,
``remote_mta``, ``reporting_mta``); the address is kept only as its hash and domain.
A recognised bounce whose recipient cannot be found still gives one event, without
recipient indicators, and a warning saying so.
"""

import email
import re
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from email.policy import compat32

from abusedesk.parsing import bounce_reasons, dsn, mail
from abusedesk.parsing.document import RawDocument, require_message
from abusedesk.parsing.dsn import bounce_event, redact_recipient
from abusedesk.parsing.model import EventDraft, ParsedReport

# The notice a person reads is short; past this the text is not scanned.
_NOTICE_LIMIT = 64 * 1024
_MAX_PARTS = 50
_MAX_RECIPIENTS = 100
_DIAGNOSTIC_LINES = 12
_DIAGNOSTIC_LIMIT = 1000

_DAEMON_SENDER = re.compile(
    r"mailer[-_ ]?daemon|\bmdaemon\b|mail delivery (?:sub)?system|mail deliver(?:y)? system"
    r"|ndr administrator",
    re.IGNORECASE,
)
# Postmasters also write complaints by hand: their mail needs bounce wording to count.
_POSTMASTER_SENDER = re.compile(r"postmaster|post_master", re.IGNORECASE)
# Mailboxes that only programs send from; with bounce wording and a returned message (or
# a bounce subject), enough to tell.
_SYSTEM_MAILBOX = re.compile(
    r"^(?:m?daemon|mailer|postoffice|mta|smtp|delivery|bounces?|no-?reply|mailerdaemon)\b",
    re.IGNORECASE,
)
_FORWARDED = re.compile(r"^\s*(?:fwd?|tr|wg)\s*:", re.IGNORECASE)
_DAEMON_MAILBOX = re.compile(r"^(?:mailer-daemon|postmaster|post_master)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|non[- ]?deliver|delivery (?:status notification|failure|failed|"
    r"problem|notification|report|error)|mail delivery failed|failure notice|failure delivery"
    r"|failed delivery|returned mail|returning message|could not (?:be )?deliver|delivery has"
    r" failed|mail system error|message (?:not delivered|delayed)|delayed mail|warning: message"
    r"|delivery delayed|not delivered|error sending|delivery failure|mail failure"
    r"|permanent (?:delivery )?(?:failure|error)|mail error|returned to sender",
    re.IGNORECASE,
)
_BOUNCE_TEXT = re.compile(
    r"could(?: not|n't) be delivered|(?:was|wasn't|were) not delivered|unable to deliver"
    r"|undeliverable|delivery (?:to the following|has failed|failed|of your message)"
    r"|failed permanently|permanent (?:error|failure|fatal)|following (?:address|recipient)"
    r"|not (?:yet )?been delivered|did not reach|could not (?:be )?reach|qmail-send program"
    r"|mail delivery software|transcript of session|delivery status notification"
    r"|returned to (?:the )?sender|not deliver(?:ed|able)|delivery (?:problem|error|failure)"
    r"|has been delayed|delayed \d+ hours|returned (?:mail|message)|has been returned",
    re.IGNORECASE,
)
# From a mail system's own sender, an SMTP transcript or enhanced status code is enough
# (a bare number is not: complaints quote counts and ports).
_DAEMON_TEXT = re.compile(
    r"rcpt to|\b[45]\.\d{1,3}\.\d{1,3}\b|user unknown|no such user"
    r"|invalid (?:user|recipient|address)|mailbox (?:is )?(?:full|unavailable)"
    r"|^<[^\s<>@]{1,64}@[^\s<>]{1,253}>:\s*$",
    re.IGNORECASE | re.MULTILINE,
)
# The line that starts the returned copy of the original message.
_RETURNED_MARKER = re.compile(
    r"^\s*[-=*_]{2,}.{0,40}(?:original|returned|unsent|copy of|message header|message text"
    r"|forwarded|undelivered message|headers? follow|message follows|mail follows)"
    r"|^\s*original message\b.{0,40}(?:follows|below)"
    r"|^\s*(?:below this line is a copy|this is a copy of|original message follows"
    r"|unsent message follows|returned (?:mail|message) follows|(?:a )?copy of (?:the|your)"
    r" (?:original )?message (?:follows|is below|below)|the original message (?:follows|is"
    r" (?:attached|included|below))|original message:?\s*$|your message reads|included is a copy)",
    re.IGNORECASE,
)
_HEADER_START = re.compile(r"^(?:Return-Path|Received|Delivered-To|X-[\w-]+|DKIM-Signature):\s")
_ADDRESS = re.compile(
    r"(?<![\w.+=/%-])([A-Za-z0-9][A-Za-z0-9._%+'=!#$&*/?^`{|}~-]{0,63}"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}"
    r"[A-Za-z0-9])?){1,10})"
)
_LIST_INTRO = re.compile(
    r"following (?:recipients?|address(?:es|\(es\))?|users?|destinations?)(?:\(s\))?"
    r"|(?:not|n't) (?:be )?deliver(?:ed)? to|did not reach|could not reach|undeliverable to"
    r"|unable to deliver (?:your )?(?:message |mail )?to|failed permanently|"
    r"delivery to the following|(?:could|was) not (?:be )?delivered to",
    re.IGNORECASE,
)
_EXPANDED_FROM = re.compile(
    r"(?:expanded|ultimately generated) from:?\s*<?([^\s<>()]+@[^\s<>()]+?)>?\s*\)", re.IGNORECASE
)
# Quoted header lines name the original sender or ids, never the failed recipient.
_QUOTED_SENDER_LINE = re.compile(
    r"^\s*(?:from|sender|reply-to|return-path|errors-to|message-id|in-reply-to|references"
    r"|envelope-from|mail from|originator)\s*:",
    re.IGNORECASE,
)
_DELAY = re.compile(
    r"delayed|not yet been delivered|will (?:continue|keep) (?:trying|to try|retrying)"
    r"|still (?:being )?(?:trying|retried)|\(delay\)|delivery delayed|will retry",
    re.IGNORECASE,
)
_PERMANENT = re.compile(
    r"permanent(?:ly)?|given up|gave up|giving up|fatal|could not be delivered", re.IGNORECASE
)
_REMOTE_HOST = re.compile(
    r"(?:remote host|host|server|mail server)\s+\[?([A-Za-z0-9](?:[A-Za-z0-9-]*\.)+[A-Za-z]{2,})\]?",
    re.IGNORECASE,
)
_REFUSED_TYPES = (
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/xml",
    "text/xml",
    "application/json",
)


class BounceParser:
    """Read bounces written as plain text or HTML, with no message/delivery-status part."""

    name = "bounces"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise a bounce by its X-Failed-Recipients, its mail-system sender or its wording."""
        message = document.message
        return message is not None and is_bounce(message)

    def parse(self, document: RawDocument) -> ParsedReport:
        """Return one bounce event per failed recipient the notice names."""
        message = require_message(document)
        notice, returned = notice_and_returned(message)
        subject = decoded_header(message, "Subject")
        original = mail.message_indicators(returned) if returned is not None else {}
        mail.add_envelope_sender(original, dsn.bounce_addressee(message))
        sender = mail.header(message, "From")
        reporting_mta = mail.address_domain(sender)
        context = f"{subject}\n{notice}"
        action = "delayed" if _is_delay(context) else "failed"
        found = failed_recipients(message, notice)
        warnings: tuple[str, ...] = ()
        if not found and returned is not None and dsn.is_delivery_status(returned):
            # A gateway that wraps the DSN it received, whole, as the "returned message".
            return ParsedReport(report_format=self.name, events=dsn.bounce_events(returned))
        if not found:
            found = [(None, "")]
            warnings = ("no failed recipient address found in the bounce",)
        events = tuple(
            _event(
                address,
                lines,
                context=context,
                action=action,
                original=original,
                reporting_mta=reporting_mta,
                occurred_at=mail.date(message),
            )
            for address, lines in found
        )
        return ParsedReport(report_format=self.name, events=events, warnings=warnings)


def is_bounce(message: Message) -> bool:
    """Tell whether *message* is a bounce notice (see the module docstring for the rule)."""
    # A readable delivery-status part is the DSN reader's; other reports are not bounces.
    if _is_other_report(message) or dsn.is_delivery_status(message):
        return False
    if message.get("X-Failed-Recipients") is not None:
        return True
    sender = decoded_header(message, "From")
    subject = decoded_header(message, "Subject")
    daemon = bool(_DAEMON_SENDER.search(sender))
    postmaster = bool(_POSTMASTER_SENDER.search(sender))
    bounce_subject = bool(_BOUNCE_SUBJECT.search(subject)) and not _FORWARDED.match(subject)
    if (daemon or postmaster) and bounce_subject:
        return True
    system = bool(_SYSTEM_MAILBOX.match(_local_part(sender)))
    if not (daemon or postmaster or bounce_subject or system):
        return False
    notice, returned = notice_and_returned(message)
    bounce_text = bool(_BOUNCE_TEXT.search(notice[:8192]))
    if system and not (daemon or bounce_subject):
        # A program's mailbox (no-reply@...) returning a message it could not deliver.
        return bounce_text and returned is not None and not _FORWARDED.match(subject)
    if daemon or postmaster:
        return bounce_text or bool(_DAEMON_TEXT.search(notice[:8192]))
    return_path = mail.header(message, "Return-Path")
    automatic = (
        (return_path is not None and return_path.strip() in ("<>", ""))
        or (mail.header(message, "Auto-Submitted") or "").lower().startswith("auto-generated")
        or system
        or (returned is not None and not _FORWARDED.match(subject))
    )
    return bounce_text and automatic


def decoded_header(message: Message, name: str) -> str:
    """Return header *name* with RFC 2047 encoded words decoded, or an empty string."""
    value = mail.header(message, name)
    if not value:
        return ""
    try:
        chunks = decode_header(value)
    except (ValueError, LookupError, HeaderParseError):
        return value
    words = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            words.append(mail.decode_text(chunk, charset or "ascii"))
        else:
            words.append(chunk)
    return "".join(words)


def notice_and_returned(message: Message) -> tuple[str, Message | None]:
    """Return the notice's text and the returned original message (or None)."""
    texts: list[str] = []
    returned: Message | None = None
    for part in _leaf_parts(message):
        kind = part.get_content_type()
        if kind in ("message/rfc822", "text/rfc822-headers", "message/global"):
            if returned is None:
                returned = mail.embedded_message(part)
            continue
        # A multipart whose boundary the email package could not find is left as text.
        unsplit = part.get_content_maintype() == "multipart"
        if (part.get_content_maintype() != "text" and not unsplit) or _is_attachment(part):
            continue
        text = _part_text(part)
        if kind == "text/html":
            if texts:
                # The HTML alternative of a text already read says the same again.
                continue
            text = mail.html_text(text)
        texts.append(text)
    full = "\n".join(texts)[:_NOTICE_LIMIT]
    notice, after = _split_returned(full)
    if returned is None and after:
        returned = _message_from_text(after)
    return notice, returned


def failed_recipients(message: Message, notice: str) -> list[tuple[str | None, str]]:
    """Return ``(address, diagnostic lines)`` for each failed recipient the notice names."""
    excluded = _own_addresses(message)
    header_addresses = [
        address.lower()
        for _, address in mail.parse_addresses(
            [str(v) for v in message.get_all("X-Failed-Recipients") or ()]
        )
        if "@" in address
    ]
    lines = notice.splitlines()
    # The failed recipients are listed after the sentence that introduces them; what comes
    # before ("Your message To: list@... Subject: ...") describes the original message.
    first = next((n for n, line in enumerate(lines) if _LIST_INTRO.search(line)), 0)
    positions: dict[str, int] = {}
    expanded: dict[str, str] = {}
    for number, line in enumerate(lines):
        if number < first or _QUOTED_SENDER_LINE.match(line):
            continue
        if (alias := _EXPANDED_FROM.search(line)) and positions:
            # "(expanded from: list@x)": the address the sender wrote is the one that failed.
            last = max(positions, key=lambda a: positions[a])
            expanded[last] = alias.group(1).lower()
            continue
        for match in _ADDRESS.finditer(line):
            address = match.group(1).rstrip(".").lower()
            if address in excluded or _DAEMON_MAILBOX.match(address) or _is_id(line, match):
                continue
            positions.setdefault(address, number)
    for address in header_addresses:
        positions.setdefault(address, len(lines))
    for written in expanded.values():
        positions.pop(written, None)
    ordered = sorted(positions, key=lambda a: positions[a])[:_MAX_RECIPIENTS]
    starts = sorted({positions[a] for a in ordered})
    found: list[tuple[str | None, str]] = []
    for address in ordered:
        start = positions[address]
        later = [s for s in starts if s > start]
        end = min([*later, start + _DIAGNOSTIC_LINES, len(lines)])
        found.append((expanded.get(address, address), "\n".join(lines[start:end])))
    return found


def _event(
    address: str | None,
    lines: str,
    *,
    context: str,
    action: str,
    original: dict[str, tuple[str, ...]],
    reporting_mta: str | None,
    occurred_at: datetime | None,
) -> EventDraft:
    diagnostic = redact_recipient(" ".join(lines.split()), address) or None
    status = bounce_reasons.status_code(diagnostic)
    verdict = bounce_reasons.classify(status, diagnostic, action=action)
    if verdict.reason == bounce_reasons.UNDETERMINED:
        verdict = bounce_reasons.classify(status, context, action=action)
    remote = _REMOTE_HOST.search(diagnostic or "")
    return bounce_event(
        address,
        verdict,
        original=original,
        occurred_at=occurred_at,
        reporter=reporting_mta,
        details={
            "action": action,
            "status": status,
            "diagnostic_code": (diagnostic or "")[:_DIAGNOSTIC_LIMIT] or None,
            "remote_mta": mail.mta_name(remote.group(1)) if remote else None,
            "reporting_mta": reporting_mta,
        },
    )


def _local_part(sender: str) -> str:
    parsed = mail.parse_addresses([sender]) if sender else []
    return parsed[0][1].partition("@")[0] if parsed else ""


def _is_delay(context: str) -> bool:
    text = context[:8192]
    return bool(_DELAY.search(text)) and not _PERMANENT.search(text)


def _is_other_report(message: Message) -> bool:
    """Tell whether *message* is another kind of report (ARF, X-ARF, DMARC) or attaches data."""
    if message.get("X-ARF") is not None:
        return True
    if message.get_content_type() == "multipart/report":
        # Some MTAs leave report-type out of a DSN; any other named type is not a bounce.
        kind = str(message.get_param("report-type") or "").lower()
        if kind not in ("", "delivery-status", "global-delivery-status"):
            return True
    return any(part.get_content_type() in _REFUSED_TYPES for part in _leaf_parts(message))


def _leaf_parts(message: Message) -> list[Message]:
    """Return the non-multipart parts of *message*, not descending into attached messages."""
    found: list[Message] = []
    stack = [(message, 0)]
    while stack and len(found) < _MAX_PARTS:
        part, depth = stack.pop()
        payload = mail.undecoded_payload(part)
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            if depth < 10:
                stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
            continue
        found.append(part)
    return found


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).lower()
    return disposition.startswith("attachment") and part.get_content_type() != "text/plain"


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = mail.undecoded_payload(part)
        return raw[:_NOTICE_LIMIT] if isinstance(raw, str) else ""
    return mail.decode_text(payload[:_NOTICE_LIMIT], part.get_content_charset())


def _split_returned(text: str) -> tuple[str, str]:
    """Split text at the line that starts the returned message: (notice, returned copy)."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if _RETURNED_MARKER.match(line) or (
            number > 0 and _HEADER_START.match(line) and _header_block_follows(lines, number)
        ):
            return "\n".join(lines[:number]), "\n".join(lines[number + 1 :])
    return text, ""


def _header_block_follows(lines: list[str], number: int) -> bool:
    """Tell whether three header-like lines start at *number*: a quoted message, not prose."""
    block = [line for line in lines[number : number + 6] if line.strip()]
    headers = [line for line in block if re.match(r"^[\w-]{1,40}:\s|^\s", line)]
    return len(block) >= 3 and len(headers) >= 3


def _message_from_text(text: str) -> Message | None:
    body = text.lstrip("\n")
    first = body.split("\n", 1)[0]
    if not re.match(r"^[\w-]{1,60}:", first):
        return None
    try:
        return email.message_from_string(body[:_NOTICE_LIMIT], policy=compat32)
    except RecursionError:
        return None


def _own_addresses(message: Message) -> set[str]:
    """Return the bounce's own sender and addressees: never the failed recipient."""
    values = [
        str(value)
        for name in ("From", "To", "Cc", "Reply-To", "Return-Path", "Sender", "Delivered-To")
        for value in message.get_all(name) or ()
    ]
    return {address.lower() for _, address in mail.parse_addresses(values) if "@" in address}


def _is_id(line: str, match: re.Match[str]) -> bool:
    """Tell whether the address is a message id, a URL or a forwarding address, not a mailbox."""
    before = line[max(0, match.start() - 14) : match.start()].lower()
    # "user has moved; please try <new@...>" names the new address, which did not fail.
    return "://" in before or bool(
        re.search(r"message-?id:?\s*<?$|\bid\s*<$|\btry\s*<?$|moved to\s*<?$", before)
    )
