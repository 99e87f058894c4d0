"""Notices in tests: explicit keys, an SMTP sink on 127.0.0.1, complaints and figures."""

import asyncio
import email
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr
from sqlalchemy import insert, update
from sqlalchemy.orm import Session as DbSession

from abusedesk.config import Settings
from abusedesk.messaging.keys import NoticeContext, notice_context
from abusedesk.storage import notices
from abusedesk.storage.notices import MessageRecord
from abusedesk.storage.tables import Account, Event, Report, SendingStat, table_of
from tests.support.casework import MONDAY, make_case, new_account
from tests.support.enforcement import executed

LINK_KEY = "link-key-link-key-link-key-link-key-01"
REDACTION_KEY = "redaction-key-redaction-key-redaction-01"
CONTACT = "ops@customer1.example.com"
_LINK = re.compile(r"/portal/([A-Za-z0-9_.\-]+)")


def notice_settings(base: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    """Return *base* with explicit notice keys, an outbox in *tmp_path* and *overrides*."""
    notices = base.notices.model_copy(
        update={
            "link_keys": {"k1": SecretStr(LINK_KEY)},
            "link_key_id": "k1",
            "redaction_key": SecretStr(REDACTION_KEY),
            "reply_domain": "desk.example",
            "from_address": "Abuse Desk <abuse-desk@desk.example>",
            "portal_base_url": "https://desk.example",
            "outbox_dir": tmp_path / "outbox",
            "keys_file": tmp_path / "keys" / "notices.json",
            **overrides,
        }
    )
    return base.model_copy(update={"notices": notices})


def context_for(base: Settings, tmp_path: Path, **overrides: Any) -> NoticeContext:
    """Return the notice context of `notice_settings`."""
    return notice_context(notice_settings(base, tmp_path, **overrides))


def set_contact(session: DbSession, account_id: int, address: str | None = CONTACT) -> None:
    """Give the account a contact address (or take it away)."""
    session.execute(
        update(table_of(Account)).where(Account.id == account_id).values(contact_email=address)
    )


def complaint_on_case(
    session: DbSession,
    *,
    contact: str | None = CONTACT,
    reporter: str = "abuse@isp.example",
    indicators: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> tuple[int, int, int]:
    """Insert an account reached at *contact*, a spam case, and one complaint on the case.

    Return (account id, case id, event id).
    """
    account_id = new_account(session)
    set_contact(session, account_id, contact)
    case_id = make_case(session, account_id)
    _, event_id = add_event(
        session,
        account_id,
        case_id,
        serial=1,
        reporter=reporter,
        indicators=indicators,
        details=details,
    )
    return account_id, case_id, event_id


def queue_notice(
    session: DbSession,
    ctx: NoticeContext,
    account_id: int,
    case_id: int,
    action: str = "pause",
    *,
    now: datetime = MONDAY,
    event_ids: Sequence[int] = (),
) -> MessageRecord | None:
    """Execute *action* on the case (ana proposes, ben approves) and queue its notice."""
    done = executed(session, account_id, action, case_id=case_id, now=now, event_ids=event_ids)
    return notices.queue_action_notice(session, done, notices=ctx, now=now)


def link_token(body: str) -> str:
    """Return the token of the portal link in a notice's *body*."""
    found = _LINK.search(body)
    assert found is not None, "the notice carries no portal link"
    return found.group(1)


def add_event(
    session: DbSession,
    account_id: int,
    case_id: int,
    *,
    serial: int,
    reporter: str = "abuse@isp.example",
    indicators: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    report_format: str = "arf",
    envelope: dict[str, Any] | None = None,
    at: datetime = MONDAY,
) -> tuple[int, int]:
    """Insert a report and one event of it on the case; return (report id, event id)."""
    report_id = session.execute(
        insert(table_of(Report))
        .values(
            sha256=f"{serial:064x}",
            channel="smtp",
            size=1,
            raw=b"x",
            envelope=envelope or {},
            received_at=at,
            status="done",
            stage="done",
            report_format=report_format,
            attempts=1,
            next_attempt_at=at,
            processed_at=at,
        )
        .returning(Report.id)
    ).scalar_one()
    event_id = session.execute(
        insert(table_of(Event))
        .values(
            report_id=report_id,
            seq=0,
            category="spam",
            service="email",
            report_format=report_format,
            occurred_at=at,
            reporter=reporter,
            indicators=indicators or {},
            details=details or {},
            account_id=account_id,
            attribution_state="attributed",
            attribution_details={},
            case_id=case_id,
            created_at=at,
        )
        .returning(Event.id)
    ).scalar_one()
    return int(report_id), int(event_id)


def add_sending(
    session: DbSession, account_id: int, hour: datetime, group: str = "gmail", **figures: int
) -> None:
    """Insert one hour of account-wide sending figures."""
    session.execute(
        insert(table_of(SendingStat)).values(
            account_id=account_id,
            resource_key="",
            hour=hour,
            destination_group=group,
            **{
                "sent": 0,
                "delivered": 0,
                "hard_bounces": 0,
                "hard_bounces_non_verified": 0,
                "fbl_sent": 0,
                "complaints": 0,
                **figures,
            },
        )
    )


@dataclass
class SinkMessage:
    """One message the sink received: envelope and parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        """Return the message parsed with the modern policy."""
        parsed = email.message_from_bytes(self.raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)  # the default policy makes one
        return parsed


@dataclass
class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps what it receives (or refuses it)."""

    port: int = 0
    received: list[SinkMessage] = field(default_factory=list)
    refuse_with: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(  # noqa: N802  # aiosmtpd finds hooks by this name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Keep the message, or answer with `refuse_with`."""
        if self.refuse_with is not None:
            return self.refuse_with
        with self.lock:
            self.received.append(
                SinkMessage(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    bytes(envelope.original_content or b""),
                )
            )
        return "250 OK"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        if isinstance(self.server, asyncio.Server) and self.server.sockets:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    """Run an SMTP sink on an ephemeral port of 127.0.0.1 while the block runs."""
    sink = SmtpSink()
    controller = _Controller(sink, hostname="127.0.0.1", port=0, server_hostname="sink.test")
    controller.start()
    sink.port = int(controller.port)
    try:
        yield sink
    finally:
        controller.stop()


def hours_ago(now: datetime, hours: int) -> datetime:
    """Return the start of the hour *hours* before *now*."""
    return (now - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
