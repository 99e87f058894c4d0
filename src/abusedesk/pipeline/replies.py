"""Customer replies arriving at the SMTP intake: recognised before parsing, put on their case.

A reply address is ``<mailbox>+<case id>.<key id>.<mac>@<reply domain>``: our mailbox at
our reply domain (``notices.reply_mailbox``, ``notices.reply_domain``); the same shape at
any other domain is no reply address of ours. A report is a customer's reply when:

- one of its envelope recipients is a reply address: the first with a valid signature
  names the case. When none is valid (a forged or mangled signature, or a case we do
  not have) the report goes to quarantine with the reason ``reply_address_refused``;
  nothing is lost, the raw message stays with the report;
- or else (it came to abuse@, or from a mailbox with no envelope) its To or Cc holds a
  reply address with a valid signature naming a case we have. One there that fails its
  check is ignored: a complaint that merely copies a reply address is still a complaint.

A reply becomes an inbound message on its case (its text, subject, sender and
Message-ID, and the In-Reply-To naming the notice it answers) and the report is marked
done with the format ``customer_reply``: never parsed as a complaint. Every other report
goes on to be parsed.
"""

import email
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Final

from sqlalchemy.orm import Session, sessionmaker

from abusedesk.core.clock import utcnow
from abusedesk.core.errors import NotFound
from abusedesk.messaging.keys import NoticeContext
from abusedesk.notices.links import LinkRefused, read_reply_address
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.mail import (
    bare_message_id,
    decode_text,
    header,
    html_text,
    parse_address,
    parse_addresses,
    without_surrogates,
)
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.notices import MAX_REPLY, Channel, MessageRecord, record_reply
from abusedesk.storage.reports import ReportSummary, SqlReportRepository

REPLY_FORMAT: Final = "customer_reply"
REPLY_KIND: Final = "reply"
MAX_HEADER: Final = 2000


class ReplyAddressRefused(ParseError):
    """Raise when a report is addressed to a reply address we cannot accept."""

    reason = "reply_address_refused"


@dataclass(frozen=True)
class Addressed:
    """The case a report replies to, and whether its envelope (or only To/Cc) named it."""

    case_id: int
    on_envelope: bool


class CustomerReplies:
    """Recognise customers' replies among incoming reports and store them on their cases."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        reports: SqlReportRepository,
        notices: NoticeContext,
    ) -> None:
        """Keep the database, the reports and the keys that sign reply addresses."""
        self.sessions = sessions
        self.reports = reports
        self.notices = notices
        self.mailbox = notices.settings.reply_mailbox.lower()
        self.domain = notices.settings.reply_domain.lower()

    def is_reply_address(self, address: str) -> bool:
        """Tell whether *address* has the shape of our reply addresses (signature unchecked).

        Our mailbox with a ``+`` tag, at our reply domain; letter case does not matter.
        """
        local, at, domain = address.strip().strip("<>").lower().rpartition("@")
        return bool(at) and domain == self.domain and local.startswith(f"{self.mailbox}+")

    def case_of(self, envelope: dict[str, object], message: Message) -> Addressed | None:
        """Return the case a report replies to and where the address was, None for no reply.

        Envelope recipients decide when any of them is a reply address: raises
        `ReplyAddressRefused` when none of those passes its check. Otherwise the first
        reply address in To or Cc that passes names the case; those that fail are ignored.
        """
        recipients = [str(a) for a in _list(envelope.get("rcpt_tos"))]
        on_envelope = [a for a in recipients if self.is_reply_address(a)]
        if on_envelope:
            case_id, refusals = self._first_valid(on_envelope)
            if case_id is None:
                raise ReplyAddressRefused("; ".join(refusals))
            return Addressed(case_id, on_envelope=True)
        fields = [value for name in ("To", "Cc") for value in message.get_all(name) or []]
        in_headers = [
            address
            for _, address in parse_addresses([str(f) for f in fields])
            if self.is_reply_address(address)
        ]
        case_id, _ = self._first_valid(in_headers)
        return None if case_id is None else Addressed(case_id, on_envelope=False)

    def _first_valid(self, addresses: list[str]) -> tuple[int | None, list[str]]:
        """Return the case the first correctly signed address names, and why others failed."""
        refusals = []
        for address in addresses:
            try:
                case_id = read_reply_address(self.notices.keyring, address, self.mailbox)
            except LinkRefused as error:
                refusals.append(f"{address[:120]}: {error}")
                continue
            if case_id.isdigit():
                return int(case_id), refusals
            refusals.append(f"{address[:120]}: names no case")
        return None, refusals

    def take(self, summary: ReportSummary, raw: bytes) -> MessageRecord | None:
        """Store report *summary* as a customer reply if it is one; return the reply.

        Returns None for a report that is not a reply (it goes on to be parsed).
        Raises `ReplyAddressRefused` when its envelope recipient is a reply address that
        fails its check or names an unknown case; the caller quarantines the report.
        """
        if summary.channel not in ("smtp", "imap"):
            return None
        # Every mailed report passes here: read only its headers until it proves a reply.
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        addressed = self.case_of(summary.envelope or {}, headers)
        if addressed is None:
            return None
        message = email.message_from_bytes(raw, policy=compat32)
        now = utcnow()
        with unit_of_work(self.sessions) as session:
            try:
                record = record_reply(
                    session,
                    case_id=addressed.case_id,
                    body=reply_text(message),
                    channel=Channel.EMAIL,
                    now=now,
                    subject=_decoded(header(message, "Subject")),
                    from_address=parse_address(header(message, "From"))[1],
                    report_id=summary.report_id,
                    message_id=_message_id(header(message, "Message-ID")),
                    in_reply_to=_message_id(header(message, "In-Reply-To")),
                )
            except NotFound as error:
                if not addressed.on_envelope:
                    # Only copied in To or Cc: the report is parsed like any other.
                    return None
                raise ReplyAddressRefused(f"the reply address names {error}") from None
            self.reports.mark_done(
                session,
                summary.report_id,
                report_format=REPLY_FORMAT,
                report_kind=REPLY_KIND,
                now=now,
            )
        return record


def reply_text(message: Message) -> str:
    """Return the reply's text: its first plain-text part, else its first HTML part as text.

    The text is cut at the longest reply kept; the whole message stays with the report.
    """
    plain = html = None
    for part in message.walk():
        if part.get_content_maintype() != "text" or part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = decode_text(payload[: MAX_REPLY * 4], part.get_content_charset())
        if part.get_content_subtype() == "plain" and plain is None:
            plain = text
        elif part.get_content_subtype() == "html" and html is None:
            html = html_text(text)
    body = plain if plain is not None else (html or "")
    return body.replace("\x00", "")[:MAX_REPLY]


def _decoded(value: str | None) -> str:
    if not value:
        return ""
    try:
        return without_surrogates(str(make_header(decode_header(value[:MAX_HEADER]))))
    except (LookupError, ValueError, UnicodeError):
        return value[:MAX_HEADER]


def _message_id(value: str | None) -> str | None:
    bare = bare_message_id(value[:MAX_HEADER] if value else None)
    return f"<{bare}>" if bare else None


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []
