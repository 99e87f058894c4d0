"""Delivering customer messages: by SMTP to a relay, or as files in an outbox folder.

`OutgoingMail` is one message with its threading headers; `compose` turns it into
RFC 5322 bytes. A `Mailer` hands it over and raises on failure (the delivery sweep
records the failure and retries). ``SmtpMailer`` talks to the relay in settings
(STARTTLS and login when set); ``OutboxMailer`` writes ``<time>-<id>.eml`` files,
atomically, for the embedded mode where no relay exists.

The envelope sender is the desk's own address (``notices.from_address``), never the
case's reply address, so that bounces of our notices do not come back as customer
replies.
"""

import os
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol

from abusedesk.config import NoticeSettings
from abusedesk.core.errors import AbuseDeskError


class DeliveryFailed(AbuseDeskError):
    """Raise when a message could not be handed over; the text says what the relay said."""


@dataclass(frozen=True)
class OutgoingMail:
    """One message to send, as stored: addresses, words and threading headers."""

    id: int
    from_address: str
    to_address: str
    subject: str
    body: str
    message_id: str
    in_reply_to: str | None
    references: str | None
    created_at: datetime


class Mailer(Protocol):
    """What hands a message over for delivery: raises on failure, returns None on success."""

    def send(self, mail: OutgoingMail) -> None:
        """Deliver *mail*, or raise."""


def compose(mail: OutgoingMail, *, envelope_from: str) -> EmailMessage:
    """Return *mail* as an email message with From, To, Reply-To and threading headers."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = mail.from_address
    message["To"] = mail.to_address
    message["Reply-To"] = mail.from_address
    message["Subject"] = " ".join(mail.subject.split())
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = mail.message_id
    if mail.in_reply_to:
        message["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        message["References"] = mail.references
    message["Auto-Submitted"] = "auto-generated"
    message["Return-Path"] = f"<{envelope_from}>"
    message.set_content(mail.body, charset="utf-8")
    return message


class SmtpMailer:
    """Send through an SMTP relay (``notices.smtp_*``)."""

    def __init__(self, settings: NoticeSettings) -> None:
        """Keep the relay's settings; connections are opened per message."""
        self.settings = settings
        self.envelope_from = parseaddr(settings.from_address)[1]

    def send(self, mail: OutgoingMail) -> None:
        """Hand *mail* to the relay; raise `DeliveryFailed` with the relay's answer."""
        settings = self.settings
        message = compose(mail, envelope_from=self.envelope_from)
        del message["Return-Path"]
        recipient = parseaddr(mail.to_address)[1]
        try:
            with smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
            ) as relay:
                if settings.smtp_starttls:
                    relay.starttls(context=ssl.create_default_context())
                if settings.smtp_username:
                    relay.login(settings.smtp_username, settings.smtp_password.get_secret_value())
                refused = relay.send_message(
                    message, from_addr=self.envelope_from, to_addrs=[recipient]
                )
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryFailed(f"the relay refused {recipient}: {_answers(error)}") from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryFailed(
                f"the relay answered {error.smtp_code} {_text(error.smtp_error)}"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(
                f"could not reach the relay at {settings.smtp_host}:{settings.smtp_port}:"
                f" {type(error).__name__}: {error}"
            ) from None
        if refused:
            raise DeliveryFailed(f"the relay refused {recipient}: {refused}")


class OutboxMailer:
    """Write each message as an ``.eml`` file in a folder (embedded mode)."""

    def __init__(self, directory: Path, *, from_address: str) -> None:
        """Keep the folder (created on first use) and the desk's envelope sender."""
        self.directory = directory
        self.envelope_from = parseaddr(from_address)[1]

    def send(self, mail: OutgoingMail) -> None:
        """Write *mail* to ``<folder>/<yyyymmddThhmmss>-<id>.eml``; raise `DeliveryFailed`."""
        data = compose(mail, envelope_from=self.envelope_from).as_bytes()
        name = f"{mail.created_at:%Y%m%dT%H%M%S}-{mail.id}.eml"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = self.directory / f".{name}.part"
            partial.write_bytes(data)
            os.replace(partial, self.directory / name)
        except OSError as error:
            raise DeliveryFailed(
                f"could not write to the outbox {self.directory}: {error}"
            ) from None


def build_mailer(settings: NoticeSettings) -> Mailer:
    """Return the mailer *settings* ask for (``delivery``: outbox or smtp)."""
    if settings.delivery == "smtp":
        return SmtpMailer(settings)
    return OutboxMailer(settings.outbox_dir, from_address=settings.from_address)


def _answers(error: smtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{code} {_text(text)}" for code, text in error.recipients.values())


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
