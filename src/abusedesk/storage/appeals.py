"""Appeals as stored: a customer appeals an executed action, a reviewer decides.

A customer appeals from the portal link of a notice: what caused the problem, what was
fixed, how it is kept from happening again, and a few attachments (their count, size and
type limited; the type is read from the bytes, not taken from the browser). One appeal per
action. The appeal lands in the ``appeals`` queue with that queue's own SLA: its due time
is the queue's resolution target from submission, on the queue's calendar, and the case
moves to that queue. The customer gets an ``appeal_received`` message.

A reviewer decides: ``uphold`` (nothing changes), ``overturn`` (every appealed action is
undone; account actions by one ``reinstate``, so the account returns to healthy with a
fresh metrics window) or ``partial`` (the named actions are lifted, the others kept, e.g.
lift the pause, keep the throttle). The reviewer must be neither the proposer nor the
approver of any appealed action, nor its executor when it had no approver
(ConflictedReviewer). The actions appealed are the appealed action and the other punitive
actions of the same case still in force, executed before it. A reinstatement lifts every
punitive action on the account, so an overturn that reinstates is refused while a punitive
account action outside the appeal (a later suspension, one on another case) is in force
(`actions_outside_appeal`): the reviewer decides partial, or deals with that action first.

The reversals an overturn or partial decision needs are proposed in the appeal's name
(``appeal:<id>``) and, where the policy asks a second approver, approved by the reviewer:
the reviewer's decision is that approval. They then run through the connector at once; a
connector failure leaves a reversal failed and retried like any action, never marked
executed. The customer gets an ``appeal_decision`` message, which says which actions are
lifted and which are still being lifted (their reversal waits for the connector), and, for
each reversal as it executes (now or on a later retry), the action's own notice. The
provider may already have acted when the customer is written to, so a message that cannot
be queued never undoes the decision: it is logged and recorded (``notice_failed``). Every
step writes an audit row (``appeal:appeal:<verb>``) and a case history step of kind
``appeal``.
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from abusedesk.cases.routing import Department, Tier
from abusedesk.cases.states import CaseState
from abusedesk.core.clock import as_utc, utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.enforcement.approvals import (
    AppealDecision,
    check_appeal_reviewer,
    plan_appeal_decision,
)
from abusedesk.enforcement.errors import (
    ConflictedReviewer,
    InvalidAppealDecision,
    ReasonRequired,
)
from abusedesk.enforcement.ladder import (
    AccountAction,
    ResourceAction,
    is_account_action,
)
from abusedesk.enforcement.signing import RetryPolicy
from abusedesk.messaging.keys import NoticeContext
from abusedesk.storage import audit, case_history, casework, enforcement
from abusedesk.storage import notices as customer_notices
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.enforcement import ActionRecord, ActionState, Connector
from abusedesk.storage.queues import queue_by_name, sla_policy
from abusedesk.storage.tables import (
    Account,
    AppealAttachment,
    AppealRow,
    Case,
    CustomerMessage,
    EnforcementAction,
    QueueRow,
    table_of,
)

APPEAL_STEP: Final = "appeal"
APPEALS_QUEUE: Final = "appeals"
# The appeals queue as first installed; an admin may change its targets like any queue's.
APPEALS_RESPONSE: Final = timedelta(hours=8)
APPEALS_RESOLUTION: Final = timedelta(days=2)
APPEALABLE: Final = AccountAction.PUNITIVE | ResourceAction.PUNITIVE
MAX_TEXT: Final = 10_000
MAX_REASON: Final = 4_000
MAX_FILENAME: Final = 100
MAX_CONTENT_TYPE: Final = 100
_PNG: Final = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES: Final = ("text/plain", "text/csv")
_MARKUP: Final = re.compile(rb"<\s*(!doctype\s+html|html|script|svg|iframe|body|head)\b", re.I)
_CONTROL: Final = frozenset(range(32)) - {9, 10, 12, 13}

log = structlog.get_logger(__name__)


class AppealState:
    """The states of an appeal: open until decided, then as decided."""

    OPEN = "open"
    UPHELD = "upheld"
    OVERTURNED = "overturned"
    PARTIAL = "partial"

    ALL = (OPEN, UPHELD, OVERTURNED, PARTIAL)


# How a decision reads to the customer.
DECISION_WORDS: Final = MappingProxyType(
    {
        AppealDecision.UPHOLD: "we keep the action in place",
        AppealDecision.OVERTURN: "we overturn the action and lift it",
        AppealDecision.PARTIAL: "we lift part of the action and keep the rest",
    }
)
# How a decision reads while some reversal still waits for the connector.
DECISION_WORDS_PENDING: Final = MappingProxyType(
    {
        AppealDecision.OVERTURN: "we overturn the action; it is being lifted, and we will"
        " write again once that is done",
        AppealDecision.PARTIAL: "we lift part of the action and keep the rest; the lifting is"
        " under way, and we will write again once it is done",
    }
)
# The state each decision leaves an appeal in.
STATE_OF_DECISION: Final = MappingProxyType(
    {
        AppealDecision.UPHOLD: AppealState.UPHELD,
        AppealDecision.OVERTURN: AppealState.OVERTURNED,
        AppealDecision.PARTIAL: AppealState.PARTIAL,
    }
)


class AppealRefused(AbuseDeskError):
    """Raise when an appeal cannot be made: the action is not appealable or already appealed."""


class InvalidAppeal(AbuseDeskError):
    """Raise when an appeal's words or attachments do not fit; lists each problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("the appeal cannot be sent: " + "; ".join(self.problems))


class AppealStateConflict(AbuseDeskError):
    """Raise when a step does not fit the appeal's state (e.g. deciding a decided appeal)."""


@dataclass(frozen=True)
class AttachmentLimits:
    """How many files an appeal may carry, how large each may be, and of which types."""

    max_count: int
    max_bytes: int
    types: frozenset[str]


@dataclass(frozen=True)
class Upload:
    """A file as the customer sent it: the name and type their browser gave, and the bytes."""

    filename: str
    declared_type: str
    data: bytes


@dataclass(frozen=True)
class AttachmentInfo:
    """A stored attachment without its bytes."""

    id: int
    appeal_id: int
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class AttachmentFile:
    """A stored attachment with its bytes, for download."""

    info: AttachmentInfo
    data: bytes


@dataclass(frozen=True)
class AppealRecord:
    """A stored appeal as the workbench and the portal show it."""

    id: int
    action_id: int
    case_id: int | None
    account_id: int
    message_id: int | None
    root_cause: str
    fix: str
    prevention: str
    state: str
    submitted_at: datetime
    due_at: datetime
    reviewer: str | None
    decided_at: datetime | None
    decision_reason: str | None
    lifted_action_ids: tuple[int, ...]
    reversal_action_ids: tuple[int, ...]
    attachments: tuple[AttachmentInfo, ...]

    @property
    def is_open(self) -> bool:
        """Tell whether the appeal still waits for a decision."""
        return self.state == AppealState.OPEN

    def overdue(self, now: datetime) -> bool:
        """Tell whether the appeal is open past its due time."""
        return self.is_open and as_utc(self.due_at) <= as_utc(now)


@dataclass(frozen=True)
class AppealListing:
    """One appeal in the appeals list: the appeal, its account and the action appealed."""

    appeal: AppealRecord
    account_name: str
    account_external_id: str
    action: str
    overdue: bool


# --- the appeals queue ----------------------------------------------------------------


def install_appeals_queue(session: Session) -> None:
    """Write the ``appeals`` queue with its own SLA targets unless it exists."""
    session.execute(
        insert_for(session, QueueRow)
        .values(
            name=APPEALS_QUEUE,
            tier=Tier.BASIC,
            department=Department.TRUST_SAFETY,
            description="Customers' appeals of enforcement actions, decided by a reviewer"
            " who neither proposed nor approved the action.",
            response_minutes=int(APPEALS_RESPONSE.total_seconds() // 60),
            resolution_minutes=int(APPEALS_RESOLUTION.total_seconds() // 60),
            warning_percent=75,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )


def appeal_due_at(session: Session, submitted_at: datetime) -> datetime:
    """Return when an appeal submitted at *submitted_at* is due: the appeals queue's
    resolution target on its calendar."""
    install_appeals_queue(session)
    policy = sla_policy(session, queue_by_name(session, APPEALS_QUEUE))
    return policy.calendar.add(as_utc(submitted_at), policy.resolution)


# --- submitting -----------------------------------------------------------------------


def appealable(session: Session, action_id: int) -> str | None:
    """Return why action *action_id* cannot be appealed now, or None when it can."""
    action = enforcement.action_record(session, action_id)
    if action.action not in APPEALABLE:
        return f"{action.action.replace('_', ' ')} is not an action that can be appealed"
    existing = session.scalar(select(AppealRow.id).where(AppealRow.action_id == action_id))
    if existing is not None:
        return f"this action was already appealed (appeal {existing}); reply to the notice instead"
    if action.state != ActionState.EXECUTED:
        return f"this action is {action.state}, not in force, so there is nothing to appeal"
    return None


def submit_appeal(
    session: Session,
    action_id: int,
    *,
    root_cause: str,
    fix: str,
    prevention: str,
    uploads: Sequence[Upload],
    limits: AttachmentLimits,
    now: datetime,
    message_id: int | None = None,
    notices: NoticeContext | None = None,
) -> AppealRecord:
    """Store the customer's appeal of action *action_id*; return it.

    Refuses an action that is not an executed punitive action or is already appealed
    (AppealRefused), and words or files that do not fit (InvalidAppeal, listing each
    problem). The appeal is due by the appeals queue's resolution target; the case moves to
    that queue (reopened first if it was resolved or closed). With *notices*, the customer
    is sent an ``appeal_received`` message.
    """
    action = _lock_action(session, action_id)
    refusal = appealable(session, action_id)
    if refusal is not None:
        raise AppealRefused(refusal)
    texts = {"root_cause": root_cause, "fix": fix, "prevention": prevention}
    problems = _text_problems(texts)
    files = []
    try:
        files = check_uploads(uploads, limits)
    except InvalidAppeal as refused:
        problems.extend(refused.problems)
    if problems:
        raise InvalidAppeal(problems)
    case_id = action.case_id
    if case_id is None and message_id is not None:
        case_id = session.scalar(
            select(CustomerMessage.case_id).where(CustomerMessage.id == message_id)
        )
    actor = _customer(session, action.account_id)
    due_at = appeal_due_at(session, now)
    try:
        with session.begin_nested():
            appeal_id = session.execute(
                insert(table_of(AppealRow))
                .values(
                    action_id=action.id,
                    case_id=case_id,
                    account_id=action.account_id,
                    message_id=message_id,
                    root_cause=texts["root_cause"].strip(),
                    fix=texts["fix"].strip(),
                    prevention=texts["prevention"].strip(),
                    state=AppealState.OPEN,
                    submitted_at=now,
                    due_at=due_at,
                    lifted_action_ids=[],
                    reversal_action_ids=[],
                )
                .returning(AppealRow.id)
            ).scalar_one()
    except IntegrityError as clash:
        raise AppealRefused(
            "this action was already appealed; reply to the notice instead"
        ) from clash
    for info, data in files:
        session.execute(
            insert(table_of(AppealAttachment)).values(
                appeal_id=appeal_id,
                filename=info.filename,
                content_type=info.content_type,
                size=info.size,
                sha256=info.sha256,
                data=data,
            )
        )
    summary = {
        "action_id": action.id,
        "action": action.action,
        "due_at": due_at.isoformat(),
        "attachments": [
            {"filename": i.filename, "type": i.content_type, "size": i.size, "sha256": i.sha256}
            for i, _ in files
        ],
    }
    _step(
        session,
        int(appeal_id),
        case_id,
        "submit",
        actor=actor,
        now=now,
        before=None,
        after=AppealState.OPEN,
        why=f"the customer appealed action {action.id} ({action.action}); due {due_at:%Y-%m-%d %H:%M} UTC",
        extra=summary,
    )
    if case_id is not None:
        _route_to_appeals(session, case_id, int(appeal_id), action, actor=actor, now=now)
    if notices is not None and case_id is not None:
        _tell_customer(
            session,
            "appeal_received",
            case_id=case_id,
            account_id=action.account_id,
            action_id=action.id,
            appeal_id=int(appeal_id),
            context={
                "appeal": {
                    "id": int(appeal_id),
                    "submitted_on": _when(now),
                    "due_on": _when(due_at),
                }
            },
            notices=notices,
            now=now,
            actor=actor,
        )
    return appeal(session, int(appeal_id))


def check_uploads(
    uploads: Sequence[Upload], limits: AttachmentLimits
) -> list[tuple[AttachmentInfo, bytes]]:
    """Return the uploads checked against *limits*, each with its sniffed type and hash.

    Empty file parts (a form sent without a file) are skipped. Each file's type is read
    from its bytes (see `sniff_type`); a declared type the bytes do not bear out is not
    believed. Raise InvalidAppeal listing every file that does not fit.
    """
    present = [u for u in uploads if u.data]
    problems: list[str] = []
    if len(present) > limits.max_count:
        problems.append(
            f"attach at most {limits.max_count} file{'s' if limits.max_count != 1 else ''};"
            f" {len(present)} were sent"
        )
    checked: list[tuple[AttachmentInfo, bytes]] = []
    for upload in present[: limits.max_count]:
        name = safe_filename(upload.filename)
        if len(upload.data) > limits.max_bytes:
            problems.append(
                f"{name} is larger than {_size(limits.max_bytes)}, the most one file may be"
            )
            continue
        kind = sniff_type(upload.data, upload.declared_type)
        if kind is None or kind not in limits.types:
            allowed = ", ".join(sorted(limits.types)) or "none"
            seen = "an unrecognised type" if kind is None else kind
            problems.append(f"{name} is {seen}; files may be of these types: {allowed}")
            continue
        info = AttachmentInfo(
            id=0,
            appeal_id=0,
            filename=name,
            content_type=kind,
            size=len(upload.data),
            sha256=hashlib.sha256(upload.data).hexdigest(),
        )
        checked.append((info, upload.data))
    if problems:
        raise InvalidAppeal(problems)
    return checked


def sniff_type(data: bytes, declared: str = "") -> str | None:
    """Return the content type *data* really has, among those appeals know, or None.

    PDF, PNG, JPEG and GIF are known by their first bytes. Text is UTF-8 without control
    characters; it is ``text/csv`` when the browser said so, ``text/plain`` otherwise, and
    ``text/html`` (which no appeal accepts) when it holds markup a browser would run.
    """
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(_PNG):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(ch) in _CONTROL for ch in text):
        return None
    if _MARKUP.search(data[:4096]):
        return "text/html"
    base = declared.split(";", 1)[0].strip().lower()
    return base if base in _TEXT_TYPES else "text/plain"


def safe_filename(name: str | None) -> str:
    """Return a harmless file name: the last path segment, printable, without quotes or
    leading dots, at most 100 characters; ``attachment`` when nothing is left."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = "".join(
        ch for ch in base if ch.isprintable() and ch not in "\"'<>:*?|;`$" and ch != "\x7f"
    )
    cleaned = cleaned.strip().lstrip(".").strip()
    return cleaned[:MAX_FILENAME] or "attachment"


# --- deciding -------------------------------------------------------------------------


def appealed_actions(session: Session, appeal_id: int) -> list[ActionRecord]:
    """Return the actions an appeal is against, oldest first.

    The appealed action and, when it belongs to a case, the case's other punitive actions
    on the same account still in force and executed no later than it (a throttle before
    the pause appealed, say), so a partial decision can lift one and keep another.
    """
    row = _appeal_row(session, appeal_id)
    appealed = enforcement.action_record(session, row.action_id)
    if row.case_id is None or appealed.executed_at is None:
        return [appealed] if appealed.state == ActionState.EXECUTED else []
    ids = session.scalars(
        select(EnforcementAction.id)
        .where(
            EnforcementAction.case_id == row.case_id,
            EnforcementAction.account_id == row.account_id,
            EnforcementAction.state == ActionState.EXECUTED,
            EnforcementAction.action.in_(sorted(APPEALABLE)),
            EnforcementAction.executed_at <= appealed.executed_at,
        )
        .order_by(EnforcementAction.executed_at, EnforcementAction.id)
    )
    return [enforcement.action_record(session, action_id) for action_id in ids]


def actions_outside_appeal(session: Session, appeal_id: int) -> list[ActionRecord]:
    """Return the punitive account actions in force on the appeal's account that are not
    under the appeal, oldest first: a suspension executed after the appealed pause, say,
    or an action on another case.

    An overturn reinstates the account, and a reinstatement lifts every punitive account
    action in force; so while any of these is in force, an overturn is refused.
    """
    row = _appeal_row(session, appeal_id)
    under_appeal = {a.id for a in appealed_actions(session, appeal_id)}
    ids = session.scalars(
        select(EnforcementAction.id)
        .where(
            EnforcementAction.account_id == row.account_id,
            EnforcementAction.resource_id.is_(None),
            EnforcementAction.state == ActionState.EXECUTED,
            EnforcementAction.action.in_(sorted(AccountAction.PUNITIVE)),
        )
        .order_by(EnforcementAction.executed_at, EnforcementAction.id)
    )
    return [enforcement.action_record(session, i) for i in ids if i not in under_appeal]


def hands_in(action: ActionRecord) -> set[str]:
    """Return who had a hand in *action*: its proposer, its approver, and, when nobody
    approved it, whoever executed it (e.g. an analyst running a system's proposal)."""
    names = {action.proposed_by.strip()}
    if action.approved_by is not None:
        names.add(action.approved_by.strip())
    elif action.executed_by is not None:
        names.add(action.executed_by.strip())
    return names


def check_reviewer(reviewer: str, actions: Sequence[ActionRecord]) -> str:
    """Return the reviewer's name; raise ConflictedReviewer if they proposed, approved or
    (without an approver) executed any of *actions*."""
    name = reviewer.strip()
    for action in actions:
        name = check_appeal_reviewer(
            reviewer, proposed_by=action.proposed_by, approved_by=action.approved_by
        )
        if name in hands_in(action):
            raise ConflictedReviewer(
                f"{name} executed action {action.id} ({_words(action.action)}), which nobody"
                " else approved; the appeal needs a reviewer who had no hand in it"
            )
    return name


def decide_appeal(
    session: Session,
    appeal_id: int,
    *,
    decision: str,
    reason: str,
    reviewer: str,
    lift: Sequence[int] = (),
    connector: Connector,
    now: datetime,
    notices: NoticeContext | None = None,
    retry: RetryPolicy | None = None,
) -> AppealRecord:
    """Decide an open appeal as ``uphold``, ``overturn`` or ``partial``; return it.

    *lift* names, for a partial decision, the ids of the appealed actions to undo.
    The reviewer may not have proposed or approved any appealed action, nor executed one
    nobody approved (ConflictedReviewer). An overturn that reinstates the account is refused
    while a punitive account action outside the appeal is in force (InvalidAppealDecision
    naming it; see `actions_outside_appeal`). The reversals are proposed in the appeal's
    name, approved by the reviewer where the policy asks a second approver, and run through
    *connector* now; one that fails stays failed and is retried like any action (on
    *retry*'s schedule). With *notices*, the customer is sent an ``appeal_decision``
    message saying what is lifted and what is still being lifted, and each reversal that
    executed its own notice; a message that cannot be queued is recorded, never raised.
    """
    row = _lock_appeal(session, appeal_id)
    if row.state != AppealState.OPEN:
        raise AppealStateConflict(
            f"appeal {appeal_id} was already decided ({row.state} by {row.reviewer})"
        )
    why = (reason or "").strip()[:MAX_REASON]
    actions = appealed_actions(session, appeal_id)
    name = check_reviewer(reviewer, actions or [enforcement.action_record(session, row.action_id)])
    by_id = {a.id: a for a in actions}
    lifted_ids = sorted(set(lift))
    unknown = [i for i in lifted_ids if i not in by_id]
    if unknown:
        raise InvalidAppealDecision(
            f"cannot lift action {', '.join(map(str, unknown))}: not among the appealed actions"
            f" ({', '.join(str(a.id) for a in actions) or 'none in force'})"
        )
    if actions:
        plan_appeal_decision(
            decision,
            [a.action for a in actions],
            reason=why,
            lift=[by_id[i].action for i in lifted_ids],
        )
        if decision == AppealDecision.PARTIAL and len(lifted_ids) == len(actions):
            raise InvalidAppealDecision(
                "a partial decision lifts some appealed actions and keeps others;"
                " use overturn to lift all"
            )
    else:
        # The actions were reversed meanwhile: the decision is recorded, nothing runs.
        if not why:
            raise ReasonRequired(f"say why the appeal is decided {decision}")
        if decision not in (AppealDecision.UPHOLD, AppealDecision.OVERTURN):
            raise InvalidAppealDecision(
                f"no appealed action is still in force; decide {AppealDecision.UPHOLD}"
                f" or {AppealDecision.OVERTURN}, not {decision!r}"
            )
    if decision == AppealDecision.OVERTURN:
        lifted_ids = [a.id for a in actions]
        if any(is_account_action(a.action) for a in actions):
            _refuse_reinstating_over(session, appeal_id, actions)
    reversals = _reverse(
        session,
        row,
        actions,
        decision=decision,
        lifted_ids=lifted_ids,
        why=why,
        reviewer=name,
        now=now,
    )
    ran = [
        enforcement.execute(session, r.id, connector, actor=name, now=now, retry=retry)
        for r in reversals
    ]
    state = STATE_OF_DECISION[decision]
    session.execute(
        update(table_of(AppealRow))
        .where(AppealRow.id == appeal_id)
        .values(
            state=state,
            reviewer=name,
            decided_at=now,
            decision_reason=why,
            lifted_action_ids=lifted_ids,
            reversal_action_ids=[r.id for r in ran],
        )
    )
    kept = [a for a in actions if a.id not in lifted_ids]
    _step(
        session,
        appeal_id,
        row.case_id,
        "decide",
        actor=name,
        now=now,
        before=AppealState.OPEN,
        after=state,
        why=why,
        extra={
            "decision": decision,
            "lifted": [{"id": a.id, "action": a.action} for a in actions if a.id in lifted_ids],
            "kept": [{"id": a.id, "action": a.action} for a in kept],
            "reversals": [{"id": r.id, "action": r.action, "state": r.state} for r in ran],
        },
    )
    if notices is not None and row.case_id is not None:
        lifted = [a for a in actions if a.id in lifted_ids]
        done = {a.id for a in lifted if _lifted_by(a, ran) == ActionState.EXECUTED}
        pending = [_words(a.action) for a in lifted if a.id not in done]
        words = DECISION_WORDS_PENDING[decision] if pending else DECISION_WORDS[decision]
        _tell_customer(
            session,
            "appeal_decision",
            case_id=row.case_id,
            account_id=row.account_id,
            action_id=row.action_id,
            appeal_id=appeal_id,
            context={
                "appeal": {
                    "id": appeal_id,
                    "submitted_on": _when(row.submitted_at),
                    "due_on": _when(row.due_at),
                    "decision": decision,
                    "decision_words": words,
                    "reason": why,
                    "lifted": [
                        _words(a.action) if a.id in done else f"{_words(a.action)} (being lifted)"
                        for a in lifted
                    ],
                    "lifted_now": [_words(a.action) for a in lifted if a.id in done],
                    "being_lifted": pending,
                    "kept": [_words(a.action) for a in kept],
                }
            },
            notices=notices,
            now=now,
            actor=name,
        )
        # Each reversal that executed gets its own notice, as it would on a later retry.
        for reversal in ran:
            if reversal.state == ActionState.EXECUTED:
                _tell_of_action(session, reversal, notices, actor=name, now=now)
    return appeal(session, appeal_id)


def _refuse_reinstating_over(
    session: Session, appeal_id: int, actions: Sequence[ActionRecord]
) -> None:
    """Refuse an overturn whose reinstatement would lift actions the reviewer never saw."""
    outside = actions_outside_appeal(session, appeal_id)
    if not outside:
        return
    named = "; ".join(
        f"action {a.id} ({_words(a.action)}"
        + (f", case #{a.case_id}" if a.case_id is not None else ", no case")
        + (f", executed {_when(a.executed_at)}" if a.executed_at is not None else "")
        + ")"
        for a in outside
    )
    one = len(outside) == 1
    then = (
        "Decide partial to lift only some of the appealed actions, or deal with"
        if len(actions) > 1
        else "Deal with"
    )
    raise InvalidAppealDecision(
        f"cannot overturn: {named} {'is' if one else 'are'} in force on the account and not"
        " under this appeal; an overturn reinstates the account, which would lift"
        f" {'it' if one else 'them'} too. {then} {'that action' if one else 'those actions'}"
        " first (reverse it, or decide its own appeal), then overturn"
    )


def _lifted_by(action: ActionRecord, reversals: Sequence[ActionRecord]) -> str | None:
    """Return the state of the reversal that lifts *action*: its own opposite, or for an
    account action the reinstatement; None when no reversal lifts it."""
    for reversal in reversals:
        if reversal.reverses_action_id == action.id:
            return reversal.state
    if is_account_action(action.action):
        for reversal in reversals:
            if reversal.action == AccountAction.REINSTATE:
                return reversal.state
    return None


def _reverse(
    session: Session,
    row: AppealRow,
    actions: Sequence[ActionRecord],
    *,
    decision: str,
    lifted_ids: Sequence[int],
    why: str,
    reviewer: str,
    now: datetime,
) -> list[ActionRecord]:
    """Propose (and approve where needed) the reversals of the lifted actions, in order."""
    proposer = f"appeal:{row.id}"
    words = f"appeal {row.id} decided {decision} by {reviewer}: {why}"
    lifted = [a for a in reversed(actions) if a.id in lifted_ids]
    if decision == AppealDecision.OVERTURN:
        undone = [a for a in lifted if not is_account_action(a.action)]
    else:
        undone = lifted
    proposed = [
        enforcement.reverse(session, a.id, reason=words, actor=proposer, now=now) for a in undone
    ]
    on_account = [a for a in lifted if is_account_action(a.action)]
    if decision == AppealDecision.OVERTURN and on_account:
        proposed.append(_reinstate(session, on_account[0], words, proposer, now))
    return [
        enforcement.approve(session, r.id, approver=reviewer, now=now) if r.needs_approval else r
        for r in proposed
    ]


def _reinstate(
    session: Session, newest: ActionRecord, words: str, proposer: str, now: datetime
) -> ActionRecord:
    """Propose the reinstatement that overturns the account actions, undoing *newest*."""
    return enforcement.propose(
        session,
        newest.account_id,
        AccountAction.REINSTATE,
        cause=newest.cause,
        reason=words,
        evidence=newest.evidence,
        actor=proposer,
        now=now,
        case_id=newest.case_id,
        # Linked to the newest account action, so the connector's call and the action
        # pages say what it reverses; executing it marks every punitive action reversed.
        reverses=newest.id,
    )


# --- reading --------------------------------------------------------------------------


def appeal(session: Session, appeal_id: int) -> AppealRecord:
    """Return appeal *appeal_id* with its attachments (without their bytes), or NotFound."""
    return _record(session, _appeal_row(session, appeal_id))


def appeal_of_action(session: Session, action_id: int) -> AppealRecord | None:
    """Return the appeal of action *action_id*, or None when it was not appealed."""
    row = session.execute(
        select(AppealRow)
        .where(AppealRow.action_id == action_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    return None if row is None else _record(session, row)


def case_appeals(session: Session, case_id: int) -> list[AppealRecord]:
    """Return the appeals on case *case_id*, newest first."""
    rows = session.scalars(
        select(AppealRow)
        .where(AppealRow.case_id == case_id)
        .order_by(AppealRow.submitted_at.desc(), AppealRow.id.desc())
        .execution_options(populate_existing=True)
    )
    return [_record(session, row) for row in rows]


def list_appeals(
    session: Session, *, now: datetime, state: str | None = AppealState.OPEN, limit: int = 200
) -> list[AppealListing]:
    """Return appeals in *state* (None: all): open ones by due time, earliest first (so the
    overdue lead), decided ones newest decision first."""
    statement = (
        select(AppealRow, Account.name, Account.external_id, EnforcementAction.action)
        .join(Account, Account.id == AppealRow.account_id)
        .join(EnforcementAction, EnforcementAction.id == AppealRow.action_id)
        .execution_options(populate_existing=True)
        .limit(limit)
    )
    if state is not None:
        if state not in AppealState.ALL:
            raise InvalidAppealDecision(
                f"unknown appeal state {state!r}; use {', '.join(AppealState.ALL)}"
            )
        statement = statement.where(AppealRow.state == state)
    if state == AppealState.OPEN:
        statement = statement.order_by(AppealRow.due_at, AppealRow.id)
    else:
        statement = statement.order_by(
            AppealRow.decided_at.desc().nulls_first(), AppealRow.id.desc()
        )
    listed = []
    for row, name, external_id, action in session.execute(statement):
        record = _record(session, row)
        listed.append(AppealListing(record, name, external_id, action, record.overdue(now)))
    return listed


def attachment(
    session: Session, appeal_id: int, attachment_id: int, *, actor: str, now: datetime
) -> AttachmentFile:
    """Return an appeal's attachment with its bytes, auditing who read it."""
    row = session.execute(
        select(AppealAttachment).where(
            AppealAttachment.id == attachment_id, AppealAttachment.appeal_id == appeal_id
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"appeal {appeal_id} has no attachment {attachment_id}")
    info = _info(row)
    audit.record(
        session,
        actor=actor,
        tag="appeal:attachment:download",
        subject_type="appeal",
        subject_id=appeal_id,
        at=now,
        after={"attachment_id": info.id, "filename": info.filename, "sha256": info.sha256},
    )
    return AttachmentFile(info, bytes(row.data))


# --- helpers --------------------------------------------------------------------------


def _text_problems(texts: dict[str, str]) -> list[str]:
    labels = {
        "root_cause": "what caused the problem",
        "fix": "what you fixed",
        "prevention": "how you keep it from happening again",
    }
    problems = []
    for field, label in labels.items():
        value = (texts.get(field) or "").strip()
        if not value:
            problems.append(f"say {label}")
        elif len(value) > MAX_TEXT:
            problems.append(f"{label}: at most {MAX_TEXT:,} characters")
    return problems


def _when(moment: datetime) -> str:
    moment = as_utc(moment)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def _words(action: str) -> str:
    return action.replace("_", " ")


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MB"
    if count >= 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count} bytes"


def _customer(session: Session, account_id: int) -> str:
    external = session.scalar(select(Account.external_id).where(Account.id == account_id))
    return f"customer:{external}"


def _route_to_appeals(
    session: Session,
    case_id: int,
    appeal_id: int,
    action: ActionRecord,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Move the case to the appeals queue, reopening it first when it was done."""
    status = session.scalar(select(Case.status).where(Case.id == case_id))
    words = f"appeal {appeal_id} of action {action.id} ({action.action})"
    if status in (CaseState.RESOLVED, CaseState.CLOSED):
        casework.move(
            session, case_id, CaseState.TRIAGED, actor=actor, now=now, reason=f"reopened: {words}"
        )
    install_appeals_queue(session)
    casework.transfer(session, case_id, APPEALS_QUEUE, actor=actor, now=now, reason=words)


def _tell_customer(
    session: Session,
    kind: str,
    *,
    case_id: int,
    account_id: int,
    action_id: int,
    appeal_id: int,
    context: dict[str, Any],
    notices: NoticeContext,
    now: datetime,
    actor: str,
) -> None:
    """Queue a message about an appeal; if it cannot be queued, record that and go on.

    The appeal (and, for a decision, what the connector already did) must stay recorded,
    so the message is written in a savepoint and a failure is logged and recorded as the
    appeal's ``notice_failed`` step instead of raised.
    """
    try:
        with session.begin_nested():
            customer_notices.queue_message(
                session,
                kind=kind,
                case_id=case_id,
                account_id=account_id,
                context=context,
                notices=notices,
                now=now,
                action_id=action_id,
                appeal_id=appeal_id,
            )
    except Exception as error:  # the decision stands whatever the message does
        log.exception("appeal_message_failed", appeal_id=appeal_id, kind=kind)
        state = session.scalar(select(AppealRow.state).where(AppealRow.id == appeal_id))
        failure = f"{type(error).__name__}: {error}"[:MAX_REASON]
        _step(
            session,
            appeal_id,
            case_id,
            "notice_failed",
            actor=actor,
            now=now,
            before=state,
            after=str(state),
            why=f"the customer's {kind.replace('_', ' ')} message could not be queued: {failure}",
            extra={"kind": kind},
        )


def _tell_of_action(
    session: Session, action: ActionRecord, notices: NoticeContext, *, actor: str, now: datetime
) -> None:
    """Queue the notice of an executed reversal; if it fails, record that on the action."""
    try:
        with session.begin_nested():
            customer_notices.queue_action_notice(session, action, notices=notices, now=now)
    except Exception as error:  # the reversal ran; its record must stay
        log.exception("action_notice_failed", action_id=action.id)
        enforcement.record_notice_failure(
            session, action.id, f"{type(error).__name__}: {error}", actor=actor, now=now
        )


def _lock_action(session: Session, action_id: int) -> ActionRecord:
    statement = select(EnforcementAction.id).where(EnforcementAction.id == action_id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    if session.scalar(statement) is None:
        raise NotFound(f"no enforcement action {action_id}")
    return enforcement.action_record(session, action_id)


def _appeal_row(session: Session, appeal_id: int, *, for_update: bool = False) -> AppealRow:
    statement = (
        select(AppealRow).where(AppealRow.id == appeal_id).execution_options(populate_existing=True)
    )
    if for_update and session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    row = session.execute(statement).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no appeal {appeal_id}")
    return row


def _lock_appeal(session: Session, appeal_id: int) -> AppealRow:
    return _appeal_row(session, appeal_id, for_update=True)


def _info(row: AppealAttachment) -> AttachmentInfo:
    return AttachmentInfo(
        id=row.id,
        appeal_id=row.appeal_id,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
    )


def _record(session: Session, row: AppealRow) -> AppealRecord:
    files = session.scalars(
        select(AppealAttachment)
        .where(AppealAttachment.appeal_id == row.id)
        .order_by(AppealAttachment.id)
    )
    return AppealRecord(
        id=row.id,
        action_id=row.action_id,
        case_id=row.case_id,
        account_id=row.account_id,
        message_id=row.message_id,
        root_cause=row.root_cause,
        fix=row.fix,
        prevention=row.prevention,
        state=row.state,
        submitted_at=row.submitted_at,
        due_at=row.due_at,
        reviewer=row.reviewer,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
        lifted_action_ids=tuple(int(i) for i in row.lifted_action_ids or []),
        reversal_action_ids=tuple(int(i) for i in row.reversal_action_ids or []),
        attachments=tuple(_info(f) for f in files),
    )


def _step(
    session: Session,
    appeal_id: int,
    case_id: int | None,
    verb: str,
    *,
    actor: str,
    now: datetime,
    before: str | None,
    after: str,
    why: str | None,
    extra: dict[str, Any] | None = None,
) -> None:
    tag = f"appeal:appeal:{verb}"
    audit.record(
        session,
        actor=actor,
        tag=tag,
        subject_type="appeal",
        subject_id=appeal_id,
        at=now,
        before=None if before is None else {"state": before},
        after={"state": after, **(extra or {})},
        reason=why,
    )
    if case_id is not None:
        case_history.record(
            session,
            case_id,
            APPEAL_STEP,
            actor=actor,
            at=now,
            from_value=before,
            to_value=f"appeal {appeal_id} {after}",
            reason=why,
            tag=tag,
            before=None if before is None else {"appeal_id": appeal_id, "state": before},
            after={"appeal_id": appeal_id, "state": after},
        )
