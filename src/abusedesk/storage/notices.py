"""Customer messages as stored: notices we send, replies we receive, threaded per case.

A notice is written when an action executes (`queue_action_notice`) or when an appeal
moves (`queue_message`): rendered from the template in force for its kind and the
case's category, quoting the account's figures and the case's evidence as the customer
may see it (recipients' addresses replaced by keyed tags, reporters as the policy
says). It carries a portal link (a signed token over the message's id, expiring after
``notices.portal_link_days``) and comes from the case's reply address, so that an
answer by mail finds its case. Every message of a case is threaded: ``In-Reply-To`` is
the case's previous message, ``References`` all of them.

Outbound messages wait ``pending`` for the delivery sweep, which sends them (``sent``)
or records the failure and retries with backoff (``failed``), giving up after
``notices.max_attempts`` (``dead``). Replies, from the portal or by mail, are stored
``received`` (`record_reply`). Each step writes an audit row tagged
``notices:message:<verb>`` and a step in the case's history.
"""

import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr
from typing import Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from abusedesk.cases.states import CaseState
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.enforcement.signing import RetryPolicy
from abusedesk.messaging.defaults import ACTION_WORDS, default_template
from abusedesk.messaging.keys import NoticeContext
from abusedesk.messaging.templates import (
    CUSTOMER_REPLY,
    MESSAGE_KINDS,
    REPORTER_ACK,
    InvalidTemplate,
    RenderedNotice,
    render,
)
from abusedesk.notices.links import LinkRefused, portal_token, read_portal_token, reply_address
from abusedesk.notices.redaction import Redactor, ReporterPolicy
from abusedesk.privacy.classes import detail_class
from abusedesk.privacy.model import EvidenceClass
from abusedesk.storage import audit, case_history, casework
from abusedesk.storage.attempts import failed_attempt
from abusedesk.storage.enforcement import ActionRecord, action_record
from abusedesk.storage.reputation import account_figures
from abusedesk.storage.tables import (
    Account,
    Case,
    CustomerMessage,
    Event,
    NoticeTemplate,
    Report,
    Resource,
    table_of,
)

NOTICE_STEP: Final = "notice"
REPLY_STEP: Final = "customer_reply"
EVIDENCE_IN_NOTICE: Final = 10
EVIDENCE_ON_PORTAL: Final = 100
MAX_REFERENCES: Final = 20
MAX_REPLY: Final = 100_000
_MAX_MERGE_HOPS: Final = 10
# Details a notice quotes to say what a report was about (each redacted first).
_SUMMARY_KEYS: Final = (
    "feedback_type",
    "subject",
    "evidence_subject",
    "title",
    "description",
    "diagnostic",
)
# Details written in a person's own words (a report's subject, title or description,
# the reported message's subject or text): they may name the reporter or the recipient
# in ways no redaction catches ("Hi Jane", "reported by J. Doe of ..."), so a customer
# sees them only when the reporter policy shows reporters in full.
FREE_TEXT_KEYS: Final = frozenset(
    {"subject", "evidence_subject", "title", "description", "message_text"}
)


class MessageState:
    """The states of a stored message."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    RECEIVED = "received"

    ALL = (PENDING, SENT, FAILED, DEAD, RECEIVED)


class Direction:
    """Which way a message went."""

    OUT = "out"
    IN = "in"


class Channel:
    """How a message travelled."""

    EMAIL = "email"
    PORTAL = "portal"


class NoticeRefused(AbuseDeskError):
    """Raise when a message cannot be written as asked (unknown kind, empty reply, no case)."""


@dataclass(frozen=True)
class MessageRecord:
    """A stored message as the case page, the portal and delivery see it."""

    id: int
    case_id: int
    account_id: int
    action_id: int | None
    appeal_id: int | None
    direction: str
    kind: str
    channel: str
    from_address: str
    to_address: str
    subject: str
    body: str
    message_id: str
    in_reply_to: str | None
    references: str | None
    report_id: int | None
    state: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    failure: str | None
    portal_expires_at: datetime | None
    template_version: int | None
    created_by: str
    created_at: datetime

    @property
    def inbound(self) -> bool:
        """Tell whether the message came from the customer."""
        return self.direction == Direction.IN

    @property
    def to_customer(self) -> bool:
        """Tell whether the customer may see the message (all but reporters' acknowledgements)."""
        return self.kind != REPORTER_ACK


@dataclass(frozen=True)
class PortalView:
    """What a portal link opens: its notice, the case's thread and the evidence, redacted."""

    token: str
    message: MessageRecord
    expires_at: datetime
    case_id: int
    case_reference: str
    category: str
    case_status: str
    account_id: int
    account_name: str
    account_standing: str
    action: ActionRecord | None
    evidence: list[dict[str, Any]]
    thread: list[MessageRecord]


# --- writing notices ----------------------------------------------------------------


def queue_action_notice(
    session: Session, action: ActionRecord, *, notices: NoticeContext, now: datetime
) -> MessageRecord | None:
    """Write the notice telling the customer about executed *action*; return it pending.

    Returns None, with a step in the case's history saying why, when the account has no
    contact address; an action on no case gets no notice (messages belong to cases).
    """
    if action.state != "executed":
        raise NoticeRefused(f"action {action.id} is {action.state}; only executed actions notify")
    if action.case_id is None:
        audit.record(
            session,
            actor="system:notices",
            tag="notices:message:skip",
            subject_type="enforcement_action",
            subject_id=action.id,
            at=now,
            reason="no notice: the action belongs to no case",
        )
        return None
    account = _account(session, action.account_id)
    if not account.contact_email:
        _skip(session, action.case_id, action.action, now, "the account has no contact address")
        return None
    context = action_notice_context(session, action, action.case_id, notices, now)
    return _queue(
        session,
        kind=action.action,
        case_id=action.case_id,
        account=account,
        to_address=account.contact_email,
        context=context,
        notices=notices,
        now=now,
        actor=action.executed_by or "system:notices",
        action_id=action.id,
        appeal_id=None,
        portal=True,
    )


def queue_message(
    session: Session,
    *,
    kind: str,
    case_id: int,
    account_id: int,
    context: Mapping[str, Any],
    notices: NoticeContext,
    now: datetime,
    action_id: int | None = None,
    appeal_id: int | None = None,
) -> MessageRecord | None:
    """Write a message of *kind* (``appeal_received``, ``appeal_decision``, ``reporter_ack``).

    *context* gives the kind's own variables (``appeal`` for the appeal messages: id,
    submitted_on, due_on, decision, decision_words, reason, lifted; ``report`` and
    ``to_address`` for a reporter's acknowledgement); the account, case, action, portal
    link and reply address are filled in here. Returns None when there is nobody to
    write to (the account has no contact address), saying so in the case's history.
    """
    if kind not in MESSAGE_KINDS:
        raise NoticeRefused(f"kind {kind!r}: give one of {', '.join(sorted(MESSAGE_KINDS))}")
    account = _account(session, account_id)
    case = _case(session, case_id)
    if case.account_id != account_id:
        raise NoticeRefused(f"case {case_id} is about another account, not {account_id}")
    values = dict(context)
    if kind == REPORTER_ACK:
        to_address = str(values.pop("to_address", "") or "")
        if not to_address:
            raise NoticeRefused("a reporter's acknowledgement needs context['to_address']")
    else:
        to_address = account.contact_email or ""
        if not to_address:
            _skip(session, case_id, kind, now, "the account has no contact address")
            return None
    if action_id is not None and "action" not in values:
        values["action"] = action_context(session, action_record(session, action_id), notices)
    return _queue(
        session,
        kind=kind,
        case_id=case_id,
        account=account,
        to_address=to_address,
        context=values,
        notices=notices,
        now=now,
        actor="system:notices",
        action_id=action_id,
        appeal_id=appeal_id,
        portal=kind != REPORTER_ACK,
    )


def _queue(
    session: Session,
    *,
    kind: str,
    case_id: int,
    account: Account,
    to_address: str,
    context: Mapping[str, Any],
    notices: NoticeContext,
    now: datetime,
    actor: str,
    action_id: int | None,
    appeal_id: int | None,
    portal: bool,
) -> MessageRecord:
    settings = notices.settings
    case = _case(session, case_id)
    thread = [m for m in case_messages(session, case_id) if m.to_customer] if portal else []
    desk_name, desk_address = parseaddr(settings.from_address)
    reply = reply_address(
        notices.keyring, str(case_id), settings.reply_domain, settings.reply_mailbox
    )
    # A customer answers the case's reply address; a reporter's acknowledgement comes
    # from the desk's own address.
    sender = formataddr((desk_name, reply if portal else desk_address))
    expires = now + timedelta(days=settings.portal_link_days) if portal else None
    message_id_header = _new_message_id(settings.reply_domain)
    references = [m.message_id for m in thread][-MAX_REFERENCES:]
    row_id = session.execute(
        insert(table_of(CustomerMessage))
        .values(
            case_id=case_id,
            account_id=account.id,
            action_id=action_id,
            appeal_id=appeal_id,
            direction=Direction.OUT,
            kind=kind,
            channel=Channel.EMAIL,
            from_address=sender,
            to_address=to_address,
            subject="",
            body="",
            message_id=message_id_header,
            in_reply_to=references[-1] if references else None,
            references=" ".join(references) or None,
            state=MessageState.PENDING,
            attempts=0,
            next_attempt_at=now,
            portal_expires_at=expires,
            created_by=actor,
            created_at=now,
        )
        .returning(CustomerMessage.id)
    ).scalar_one()
    portal_url = ""
    if expires is not None:
        token = portal_token(notices.keyring, str(row_id), str(account.id), expires)
        portal_url = f"{settings.portal_base_url.rstrip('/')}/portal/{token}"
    base = base_context(account, case, notices, portal_url=portal_url, expires=expires)
    rendered, version, fallback = _render_for(
        session, kind, case.category_group, {**base, **context}
    )
    session.execute(
        update(table_of(CustomerMessage))
        .where(CustomerMessage.id == row_id)
        .values(subject=rendered.subject, body=rendered.body, template_version=version)
    )
    record = message(session, int(row_id))
    why = f"{kind} to {to_address}: {rendered.subject}"
    if fallback:
        why += f" (the saved template failed, the built-in one was used: {fallback})"
    audit.record(
        session,
        actor=actor,
        tag="notices:message:queue",
        subject_type="customer_message",
        subject_id=record.id,
        at=now,
        after={
            "case_id": case_id,
            "kind": kind,
            "to": to_address,
            "template_version": version,
            "action_id": action_id,
            "appeal_id": appeal_id,
        },
        reason=why,
    )
    case_history.record(
        session,
        case_id,
        NOTICE_STEP,
        actor=actor,
        at=now,
        to_value=kind,
        reason=why,
        tag="notices:case:notice",
    )
    return record


def base_context(
    account: Account,
    case: Case,
    notices: NoticeContext,
    *,
    portal_url: str,
    expires: datetime | None,
) -> dict[str, Any]:
    """Return the variables every message of a case has: account, case, links, desk."""
    settings = notices.settings
    desk_name, desk_address = parseaddr(settings.from_address)
    return {
        "account": {"name": account.name, "external_id": account.external_id},
        "case": {"id": case.id, "reference": f"case {case.id}", "category": case.category_group},
        "portal_url": portal_url,
        "portal_expires_on": "" if expires is None else _day(expires),
        "reply_address": reply_address(
            notices.keyring, str(case.id), settings.reply_domain, settings.reply_mailbox
        ),
        "desk": desk_name or desk_address,
        "case_reference": f"case {case.id}",
    }


def action_notice_context(
    session: Session, action: ActionRecord, case_id: int, notices: NoticeContext, now: datetime
) -> dict[str, Any]:
    """Return an action notice's own variables: the action, figures and redacted evidence."""
    event_ids = action.evidence.get("event_ids") or None
    evidence = redacted_evidence(session, case_id, notices, event_ids=event_ids)
    return {
        "action": action_context(session, action, notices),
        "figures": account_figures(session, action.account_id, now).to_dict(),
        "evidence": evidence[:EVIDENCE_IN_NOTICE],
        "evidence_count": len(evidence),
    }


def _render_for(
    session: Session, kind: str, category: str, context: Mapping[str, Any]
) -> tuple[RenderedNotice, int | None, str | None]:
    """Render with the saved template in force, falling back to the built-in one.

    A saved template was checked when saved, but the data of a real case may still
    trip it (a value missing for this case); the notice then goes out with the
    built-in words rather than not at all, and the failure is said in the history.
    """
    saved = template_in_force(session, kind, category)
    if saved is not None:
        try:
            return render(saved.subject, saved.body, context), saved.version, None
        except InvalidTemplate as error:
            fallback = str(error)
        subject, body = default_template(kind)
        return render(subject, body, context), None, fallback
    subject, body = default_template(kind)
    return render(subject, body, context), None, None


def template_in_force(session: Session, kind: str, category: str) -> NoticeTemplate | None:
    """Return the newest saved template for (*kind*, *category*), else for (*kind*, any)."""
    for wanted in dict.fromkeys((category, "")):
        row = session.scalars(
            select(NoticeTemplate)
            .where(NoticeTemplate.kind == kind, NoticeTemplate.category == wanted)
            .order_by(NoticeTemplate.version.desc())
            .limit(1)
        ).first()
        if row is not None:
            return row
    return None


def action_context(
    session: Session, action: ActionRecord, notices: NoticeContext
) -> dict[str, Any]:
    """Return the ``action`` variable of a template: what was done, why, under which policy.

    The analyst's reason is redacted like the evidence: it may quote a complainant.
    """
    resource = ""
    if action.resource_id is not None:
        found = session.execute(
            select(Resource.kind, Resource.value).where(Resource.id == action.resource_id)
        ).first()
        if found is not None:
            resource = f"{found.kind} {found.value}"
    lifting = action.reverses_action_id is not None or action.action in _LIFTING
    return {
        "id": action.id,
        "action": action.action,
        "words": ACTION_WORDS.get(action.action, action.action.replace("_", " ")),
        "lifting": lifting,
        "cause": action.cause,
        "reason": notices.redactor.text(action.reason),
        "policy_version": action.policy_version,
        "policy_reason": action.policy_reason,
        "resource": resource,
        "executed_on": _day(action.executed_at or action.proposed_at),
        "reverses_action_id": action.reverses_action_id,
    }


_LIFTING: Final = frozenset(
    {
        "clear_warning",
        "end_review",
        "lift_throttle",
        "resume",
        "unsuspend",
        "reinstate",
        "unblock_identity",
        "unblock_domain",
        "unblock_number",
        "unblock_sender_id",
        "unblock_mailbox",
        "unsuppress_address",
    }
)


def _skip(session: Session, case_id: int, kind: str, now: datetime, why: str) -> None:
    case_history.record(
        session,
        case_id,
        NOTICE_STEP,
        actor="system:notices",
        at=now,
        to_value=f"{kind}: not sent",
        reason=f"no {kind} notice: {why}",
        tag="notices:case:skip",
    )


# --- replies ------------------------------------------------------------------------


def record_reply(
    session: Session,
    *,
    case_id: int,
    body: str,
    channel: str,
    now: datetime,
    subject: str = "",
    from_address: str = "",
    report_id: int | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
) -> MessageRecord:
    """Store the customer's reply on case *case_id* (from the portal or by mail); return it.

    A mail stored twice (same Message-ID on the same case) is stored once: the second
    call returns the first record. A reply to a case merged into another lands on the
    surviving case. A snoozed case waiting for the reply wakes up, and a case waiting on
    the customer moves back to investigating.
    """
    if channel not in (Channel.EMAIL, Channel.PORTAL):
        raise NoticeRefused(f"channel {channel!r}: give email or portal")
    if channel == Channel.PORTAL and not body.strip():
        raise NoticeRefused("write a reply")
    if len(body) > MAX_REPLY:
        raise NoticeRefused(f"a reply holds at most {MAX_REPLY:,} characters")
    case = _surviving_case(session, case_id)
    case_id = case.id
    if message_id:
        existing = session.execute(
            select(table_of(CustomerMessage)).where(CustomerMessage.message_id == message_id[:250])
        ).first()
        if existing is not None:
            record = MessageRecord(**existing._asdict())
            if record.case_id == case_id and record.inbound:
                return record
            message_id = None  # someone else's id: keep the reply under one of ours
    references = _thread_ids(session, case_id, in_reply_to)
    actor = f"customer:{from_address}" if from_address else "customer"
    row_id = session.execute(
        insert(table_of(CustomerMessage))
        .values(
            case_id=case_id,
            account_id=case.account_id,
            action_id=None,
            appeal_id=None,
            direction=Direction.IN,
            kind=CUSTOMER_REPLY,
            channel=channel,
            from_address=from_address[:320],
            to_address="",
            subject=" ".join(subject.split())[:998],
            body=body,
            message_id=(message_id or _new_message_id("portal.abusedesk.invalid"))[:250],
            in_reply_to=(in_reply_to or None) and in_reply_to[:998],
            references=references,
            report_id=report_id,
            state=MessageState.RECEIVED,
            attempts=0,
            created_by=actor[:200],
            created_at=now,
        )
        .returning(CustomerMessage.id)
    ).scalar_one()
    record = message(session, int(row_id))
    audit.record(
        session,
        actor=actor[:200],
        tag="notices:message:receive",
        subject_type="customer_message",
        subject_id=record.id,
        at=now,
        after={"case_id": case_id, "channel": channel, "report_id": report_id},
        reason=f"reply by {channel}",
    )
    case_history.record(
        session,
        case_id,
        REPLY_STEP,
        actor=actor[:200],
        at=now,
        to_value=channel,
        reason=record.subject or f"reply by {channel}",
        tag="notices:case:reply",
    )
    casework.customer_replied(session, case_id, now=now)
    if case.status == CaseState.WAITING_ON_CUSTOMER:
        casework.move(
            session,
            case_id,
            CaseState.INVESTIGATING,
            actor="system:notices",
            now=now,
            reason="the customer replied",
        )
    return message(session, record.id)


def _surviving_case(session: Session, case_id: int) -> Case:
    """Return case *case_id*, or the case it was merged into (a reply follows the merge)."""
    case = _case(session, case_id)
    for _ in range(_MAX_MERGE_HOPS):
        if case.merged_into_id is None:
            return case
        case = _case(session, case.merged_into_id)
    return case


def _thread_ids(session: Session, case_id: int, in_reply_to: str | None) -> str | None:
    """Return the References of a reply: the case's messages up to the one it answers."""
    ids = [m.message_id for m in case_messages(session, case_id) if m.to_customer]
    if in_reply_to and in_reply_to in ids:
        ids = ids[: ids.index(in_reply_to) + 1]
    return " ".join(ids[-MAX_REFERENCES:]) or None


# --- reading ------------------------------------------------------------------------


def case_messages(session: Session, case_id: int) -> list[MessageRecord]:
    """Return every message of case *case_id*, oldest first."""
    rows = session.execute(
        select(table_of(CustomerMessage))
        .where(CustomerMessage.case_id == case_id)
        .order_by(CustomerMessage.created_at, CustomerMessage.id)
    ).all()
    return [MessageRecord(**row._asdict()) for row in rows]


def message(session: Session, message_id: int) -> MessageRecord:
    """Return message *message_id* (our row id), or raise NotFound."""
    row = session.execute(
        select(table_of(CustomerMessage)).where(CustomerMessage.id == message_id)
    ).first()
    if row is None:
        raise NotFound(f"no customer message {message_id}")
    return MessageRecord(**row._asdict())


def redacted_evidence(
    session: Session,
    case_id: int,
    notices: NoticeContext,
    *,
    event_ids: Sequence[int] | None = None,
    limit: int = EVIDENCE_ON_PORTAL,
) -> list[dict[str, Any]]:
    """Return the case's events as a customer may see them, newest first.

    Recipients' addresses and hashes become keyed tags, phone numbers are masked,
    reporters appear as the reporter policy says; the account's own sending addresses
    stay. Free text (`FREE_TEXT_KEYS` and any detail the privacy tables class as a
    message body) is left out unless the policy shows reporters in full. *event_ids*
    narrows to the events an action cites.
    """
    query = select(
        Event.id,
        Event.occurred_at,
        Event.category,
        Event.service,
        Event.reporter,
        Event.indicators,
        Event.details,
    ).where(Event.case_id == case_id)
    if event_ids:
        query = query.where(Event.id.in_(list(event_ids)))
    rows = session.execute(query.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit))
    redactor = notices.redactor
    shown = []
    for row in rows:
        indicators = {
            str(kind): [values] if isinstance(values, str) else [str(v) for v in values]
            for kind, values in (row.indicators or {}).items()
            if isinstance(values, str | list | tuple)
        }
        kept, details = redactor.event(indicators, _customer_details(row.details, redactor))
        summary = "; ".join(
            str(details[key]) for key in _SUMMARY_KEYS if isinstance(details.get(key), str | int)
        )
        shown.append(
            {
                "id": row.id,
                "occurred_at": f"{row.occurred_at:%Y-%m-%d %H:%M} UTC",
                "category": row.category,
                "service": row.service,
                "reporter": redactor.reporter(row.reporter) if row.reporter else "unknown",
                "summary": summary[:500],
                "indicators": {k: list(v) for k, v in kept.items()},
                "details": details,
            }
        )
    return shown


def _customer_details(details: Mapping[str, Any] | None, redactor: Redactor) -> dict[str, Any]:
    """Return an event's *details* without free text, unless reporters are shown in full."""
    if redactor.reporter_policy is ReporterPolicy.SHOW:
        return dict(details or {})
    return {
        key: value
        for key, value in (details or {}).items()
        if key not in FREE_TEXT_KEYS and detail_class(key) != EvidenceClass.MESSAGE_BODY
    }


def open_portal(session: Session, token: str, notices: NoticeContext, now: datetime) -> PortalView:
    """Return what portal *token* opens, or raise `LinkRefused` (malformed, tampered, expired).

    The token names one outbound message of one account; a token naming a message that
    is not there, or is another account's, is refused like a tampered one.
    """
    link = read_portal_token(notices.keyring, token, now)
    if not link.notice_id.isdigit():
        raise LinkRefused("this link names no notice")
    row = session.execute(
        select(table_of(CustomerMessage)).where(CustomerMessage.id == int(link.notice_id))
    ).first()
    if row is None:
        raise LinkRefused("this link names no notice")
    record = MessageRecord(**row._asdict())
    if (
        str(record.account_id) != link.account_id
        or record.direction != Direction.OUT
        or not record.to_customer
    ):
        raise LinkRefused("this link names no notice")
    case = _case(session, record.case_id)
    account = _account(session, record.account_id)
    action = None if record.action_id is None else action_record(session, record.action_id)
    return PortalView(
        token=token,
        message=record,
        expires_at=link.expires_at,
        case_id=case.id,
        case_reference=f"case {case.id}",
        category=case.category_group,
        case_status=case.status,
        account_id=account.id,
        account_name=account.name,
        account_standing=account.standing,
        action=action,
        evidence=redacted_evidence(session, case.id, notices),
        thread=[m for m in case_messages(session, case.id) if m.to_customer],
    )


# --- reporters' acknowledgements ---------------------------------------------------

# Formats people write (a free-form complaint, an X-ARF or ACNS notice sent by a person
# or an agent who wants to know it arrived). Feedback loops, bounces, DMARC and TLS
# reports and provider feeds are machines: thanking them only adds mail.
ACK_FORMATS: Final = frozenset({"freeform", "xarf", "acns"})
# Mailboxes nobody reads, or that would answer an acknowledgement with another one.
_NO_ACK_LOCALS: Final = frozenset(
    {
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
        "mailer-daemon",
        "postmaster",
        "bounce",
        "bounces",
        "fbl",
        "arf",
        "feedback",
        "feedbackloop",
        "dmarc",
        "reports",
        "notifications",
    }
)
ACK_LOOKBACK: Final = timedelta(hours=1)


def acknowledgement_address(address: str, notices: NoticeContext) -> str | None:
    """Return the address to acknowledge a report to, or None when it is not one to write to.

    Refuses empty senders (bounces), no-reply and machine mailboxes, and our own
    addresses (an acknowledgement must never start a loop).
    """
    _, found = parseaddr(address or "")
    found = found.strip().lower()
    local, at, domain = found.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in found):
        return None
    if local in _NO_ACK_LOCALS or "noreply" in local or local.startswith("bounce"):
        return None
    settings = notices.settings
    own = parseaddr(settings.from_address)[1].lower()
    if found == own or local.startswith(f"{settings.reply_mailbox}+"):
        return None
    return found


def acknowledge_reporter(
    session: Session, report_id: int, *, notices: NoticeContext, now: datetime
) -> MessageRecord | None:
    """Queue the acknowledgement of report *report_id* to its reporter, once per report.

    Only reports of formats people write, whose first event landed on a case, and
    whose reporter gave an address one can write to (the report's ``report_email``
    detail, else the envelope sender). Returns None when there is nothing to send.
    """
    already = session.scalar(
        select(CustomerMessage.id).where(
            CustomerMessage.report_id == report_id, CustomerMessage.kind == REPORTER_ACK
        )
    )
    if already is not None:
        return None
    report = session.execute(
        select(Report.id, Report.envelope, Report.report_format, Report.received_at).where(
            Report.id == report_id
        )
    ).first()
    if report is None or report.report_format not in ACK_FORMATS:
        return None
    event = session.execute(
        select(Event.case_id, Event.details)
        .where(Event.report_id == report_id, Event.case_id.is_not(None))
        .order_by(Event.seq)
        .limit(1)
    ).first()
    if event is None or event.case_id is None:
        return None
    given = (event.details or {}).get("report_email")
    candidates = [given if isinstance(given, str) else "", (report.envelope or {}).get("mail_from")]
    address = next(
        (a for a in (acknowledgement_address(str(c or ""), notices) for c in candidates) if a),
        None,
    )
    if address is None:
        return None
    case = _case(session, int(event.case_id))
    record = queue_message(
        session,
        kind=REPORTER_ACK,
        case_id=case.id,
        account_id=case.account_id,
        context={"to_address": address, **reporter_context(session, case.id, now, report_id)},
        notices=notices,
        now=now,
    )
    if record is not None:
        session.execute(
            update(table_of(CustomerMessage))
            .where(CustomerMessage.id == record.id)
            .values(report_id=report_id)
        )
        record = message(session, record.id)
    return record


def reports_to_acknowledge(session: Session, *, now: datetime, limit: int = 200) -> list[int]:
    """Return reports processed in the last hour that may want an acknowledgement."""
    acked = select(CustomerMessage.id).where(
        CustomerMessage.report_id == Report.id, CustomerMessage.kind == REPORTER_ACK
    )
    return list(
        session.scalars(
            select(Report.id)
            .where(
                Report.processed_at >= now - ACK_LOOKBACK,
                Report.report_format.in_(sorted(ACK_FORMATS)),
                ~acked.exists(),
            )
            .order_by(Report.id)
            .limit(limit)
        )
    )


def reporter_context(
    session: Session, case_id: int, now: datetime, report_id: int | None = None
) -> dict[str, Any]:
    """Return a reporter acknowledgement's variables: the report (the case's first if none)."""
    if report_id is None:
        report_id = session.scalar(
            select(Event.report_id)
            .where(Event.case_id == case_id)
            .order_by(Event.occurred_at, Event.id)
            .limit(1)
        )
    received = None
    if report_id is not None:
        received = session.scalar(select(Report.received_at).where(Report.id == report_id))
    return {
        "report": {
            "id": report_id,
            "received_on": _day(received or now),
            "reference": f"report {report_id}" if report_id is not None else "your report",
        },
        "case_reference": f"case {case_id}",
    }


# --- delivery -----------------------------------------------------------------------


def claim_due_messages(
    session: Session, *, now: datetime, lease_until: datetime, limit: int = 100
) -> list[MessageRecord]:
    """Return the messages due at *now*, their next attempt moved to *lease_until*.

    On PostgreSQL the rows are locked and rows other sweepers hold are skipped, so that
    two sweepers never take the same message.
    """
    query = (
        select(CustomerMessage.id)
        .where(
            CustomerMessage.direction == Direction.OUT,
            CustomerMessage.state.in_([MessageState.PENDING, MessageState.FAILED]),
            CustomerMessage.next_attempt_at <= now,
        )
        .order_by(CustomerMessage.next_attempt_at, CustomerMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if not ids:
        return []
    session.execute(
        update(table_of(CustomerMessage))
        .where(CustomerMessage.id.in_(ids))
        .values(next_attempt_at=lease_until)
    )
    return [message(session, message_id) for message_id in ids]


def mark_sent(session: Session, message_id: int, *, now: datetime) -> MessageRecord:
    """Record that message *message_id* was handed over for delivery."""
    record = message(session, message_id)
    session.execute(
        update(table_of(CustomerMessage))
        .where(CustomerMessage.id == message_id)
        .values(
            state=MessageState.SENT,
            sent_at=now,
            attempts=record.attempts + 1,
            next_attempt_at=None,
            failure=None,
        )
    )
    audit.record(
        session,
        actor="system:delivery",
        tag="notices:message:send",
        subject_type="customer_message",
        subject_id=message_id,
        at=now,
        before={"state": record.state},
        after={"state": MessageState.SENT, "attempts": record.attempts + 1},
        reason=f"{record.kind} handed to the mail relay for {record.to_address}",
    )
    return message(session, message_id)


def mark_failed(
    session: Session,
    message_id: int,
    failure: str,
    *,
    retry: RetryPolicy,
    now: datetime,
    rng: random.Random | None = None,
) -> MessageRecord:
    """Record a failed delivery attempt: retry later with backoff, or give up (``dead``).

    A message given up on is said in its case's history, so that an analyst sees the
    customer was never told.
    """
    record = message(session, message_id)
    failed = failed_attempt(failure, attempts=record.attempts + 1, retry=retry, now=now, rng=rng)
    attempts, text = failed.attempts, failed.failure
    state = MessageState.DEAD if failed.dead else MessageState.FAILED
    session.execute(
        update(table_of(CustomerMessage))
        .where(CustomerMessage.id == message_id)
        .values(
            state=state, attempts=attempts, next_attempt_at=failed.next_attempt_at, failure=text
        )
    )
    audit.record(
        session,
        actor="system:delivery",
        tag="notices:message:dead" if failed.dead else "notices:message:fail",
        subject_type="customer_message",
        subject_id=message_id,
        at=now,
        before={"state": record.state},
        after={"state": state, "attempts": attempts},
        reason=f"attempt {attempts} failed: {text}",
    )
    if failed.dead:
        case_history.record(
            session,
            record.case_id,
            NOTICE_STEP,
            actor="system:delivery",
            at=now,
            to_value=f"{record.kind}: undelivered",
            reason=f"gave up after {attempts} attempts: {text}",
            tag="notices:case:dead",
        )
    return message(session, message_id)


def resend(session: Session, message_id: int, *, actor: str, now: datetime) -> MessageRecord:
    """Queue a dead or failed message for another round of attempts, audited."""
    record = message(session, message_id)
    if record.direction != Direction.OUT or record.state not in (
        MessageState.DEAD,
        MessageState.FAILED,
    ):
        raise NoticeRefused(f"message {message_id} is {record.state}; only undelivered ones resend")
    session.execute(
        update(table_of(CustomerMessage))
        .where(CustomerMessage.id == message_id)
        .values(state=MessageState.PENDING, attempts=0, next_attempt_at=now)
    )
    audit.record(
        session,
        actor=actor,
        tag="notices:message:resend",
        subject_type="customer_message",
        subject_id=message_id,
        at=now,
        before={"state": record.state, "attempts": record.attempts},
        after={"state": MessageState.PENDING},
        reason="sent again by hand",
    )
    return message(session, message_id)


# --- helpers ------------------------------------------------------------------------


def _account(session: Session, account_id: int) -> Account:
    # populate_existing: the caller may have changed the row with a plain UPDATE.
    account = session.get(Account, account_id, populate_existing=True)
    if account is None:
        raise NotFound(f"no account {account_id}")
    return account


def _case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id, populate_existing=True)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def _new_message_id(domain: str) -> str:
    return f"<{secrets.token_hex(16)}@{domain}>"


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"
