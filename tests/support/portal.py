"""A case with an executed pause whose customer notice carries a portal link.

The complaint goes through the real pipeline (an ARF report naming the complainant), the
pause is proposed by one analyst and approved by another, runs through the app's
connector, and the notice is queued as the workbench queues it.
"""

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container
from abusedesk.connectors import build_connector
from abusedesk.core.clock import utcnow
from abusedesk.messaging.keys import NoticeContext, notice_context
from abusedesk.pipeline.enforcement import run_action
from abusedesk.storage import enforcement, notices
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.enforcement import ActionRecord
from abusedesk.storage.tables import Account, CustomerMessage, table_of
from tests.factories.arf import arf_naming
from tests.support.notices import link_token
from tests.support.workbench import DOMAIN, analyst_in, complaint_case

COMPLAINANT = "jane.doe@mail.example.net"
CONTACT = "postmaster@news.example.com"


@dataclass(frozen=True)
class Noticed:
    """The case, account and executed pause behind one notice, and the notice's link token."""

    case_id: int
    account_id: int
    action_id: int
    message_id: int
    token: str

    @property
    def path(self) -> str:
        """Return the portal page's path."""
        return f"/portal/{self.token}"


def complaint_naming(complainant: str, serial: int = 1) -> bytes:
    """Return an ARF report whose complainant is *complainant* (in the report and the copy)."""
    return arf_naming(
        complainant, message_id=f"m{serial}@{DOMAIN}", from_domain=DOMAIN, serial=serial
    )


def team(container: Container) -> None:
    """Create ana (proposes), lee (lead: approves), cleo (reviews appeals), bob (basic)."""
    analyst_in(container, "ana", "analyst_basic", "triage")
    analyst_in(container, "lee", "lead", "triage")
    analyst_in(container, "cleo", "analyst_advanced", "triage")
    analyst_in(container, "bob", "analyst_basic", "triage")


def context_of(container: Container) -> NoticeContext:
    """Return the notice context the app builds from the same settings."""
    return notice_context(container.settings)


def paused_with_notice(container: Container, *, serial: int = 1) -> Noticed:
    """Store a complaint, pause its account (ana proposes, lee approves), queue the notice."""
    case_id = complaint_case(container, serial=serial, raw=complaint_naming(COMPLAINANT, serial))
    context = context_of(container)
    connector = build_connector(container.settings.connector)
    now = utcnow()
    with unit_of_work(container.sessions) as session:
        account_id = session.scalar(select(Account.id).where(Account.external_id == "4411"))
        assert account_id is not None
        session.execute(
            update(table_of(Account)).where(Account.id == account_id).values(contact_email=CONTACT)
        )
        proposed = enforcement.propose(
            session,
            account_id,
            "pause",
            cause="complaint_rate",
            reason="complaint rate 0.62% over the last 12,400 messages",
            evidence={"case_ids": [case_id], "figures": {"complaint_rate": 0.0062}},
            actor="ana",
            now=now,
            case_id=case_id,
        )
        enforcement.approve(session, proposed.id, approver="lee", now=now)

        def notify(inner: Session, record: ActionRecord) -> None:
            notices.queue_action_notice(inner, record, notices=context, now=now)

        done = run_action(session, proposed.id, connector, actor="lee", now=now, notify=notify)
        assert done.state == "executed", done.failure
    with read_only(container.sessions) as session:
        message_id, body = session.execute(
            select(CustomerMessage.id, CustomerMessage.body)
            .where(CustomerMessage.action_id == proposed.id)
            .order_by(CustomerMessage.id)
        ).one()
    return Noticed(case_id, account_id, proposed.id, message_id, link_token(body))


def appeal_outcome(container: Container, noticed: Noticed, appeal_id: int) -> tuple[str, list[str]]:
    """Return the paused account's standing now and the kinds of messages about the appeal."""
    with read_only(container.sessions) as session:
        standing = session.scalar(select(Account.standing).where(Account.id == noticed.account_id))
        told = [
            m.kind
            for m in notices.case_messages(session, noticed.case_id)
            if m.appeal_id == appeal_id
        ]
    return str(standing), told
