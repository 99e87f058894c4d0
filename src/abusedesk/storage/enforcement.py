"""Enforcement as stored: the versioned policy and every action from proposal to execution.

The rules (the ladder, the policy, who may approve) live in ``abusedesk.enforcement``;
this module keeps the policy versions and the actions, runs approved actions through a
connector and audits every step. An action moves through these states::

    proposed -> approved -> executed            (reversed, once its opposite executed)
    proposed -> executed                        (when the policy needs no second approver)
    proposed | approved -> failed -> executed   (the connector raised; a retry succeeded)
    proposed | approved | failed -> rejected

Every step writes an audit row tagged ``enforcement:action:<verb>`` about the action
and, when the action belongs to a case, a step of kind ``action`` in the case's history.
A connector failure is recorded, never raised: the caller's transaction commits the
failed state, the attempt count and the next attempt's time (`due_actions`,
`retry_action`), or, once the attempts are used up, the dead-letter time
(`dead_letters`, `retry_dead`); nothing is marked executed that was not. An executed
action also leaves its mark where it acts: the account's standing (and, for a
reinstatement, ``accounts.metrics_since``), the resource's ``blocked_at``, or the
account's suppression list (`storage.suppressions`).
"""

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from secrets import token_urlsafe
from typing import Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

# ActionCall, Connector and LocalConnector are named here too, where actions are run.
from abusedesk.connectors.calls import ActionCall as ActionCall  # noqa: PLC0414
from abusedesk.connectors.calls import Connector as Connector  # noqa: PLC0414
from abusedesk.connectors.calls import ResourceRef
from abusedesk.connectors.local import LocalConnector as LocalConnector  # noqa: PLC0414
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.enforcement.approvals import check_approver, check_executable
from abusedesk.enforcement.errors import InvalidPolicy, ReasonRequired
from abusedesk.enforcement.ladder import (
    ACCOUNT_ACTIONS,
    AccountAction,
    ResourceAction,
    Standing,
    check_action,
    is_account_action,
    opposite,
    plan_account_action,
)
from abusedesk.enforcement.policy import PastAction, Policy, after_review, required_action
from abusedesk.enforcement.signing import RetryPolicy
from abusedesk.reputation.rates import BOUNCE_RATE, COMPLAINT_RATE
from abusedesk.storage import audit, case_history, suppressions
from abusedesk.storage.attempts import (
    MAX_FAILURE,
    FailedAttempt,
    failed_attempt,
    failure_text,
)
from abusedesk.storage.dialect import insert_for, lock_account
from abusedesk.storage.reputation import account_figures
from abusedesk.storage.tables import (
    Account,
    Case,
    EnforcementAction,
    EnforcementPolicyRow,
    Resource,
    table_of,
)

ACTION_STEP: Final = "action"
RETRY_ACTOR: Final = "system:connector"
REVIEW_ACTOR: Final = "system:review-period"
EVIDENCE_KEYS: Final = ("case_ids", "event_ids", "figures")


class ActionState:
    """The states of a stored action."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    EXECUTED = "executed"
    FAILED = "failed"
    REJECTED = "rejected"
    REVERSED = "reversed"

    ALL = (PROPOSED, APPROVED, EXECUTED, FAILED, REJECTED, REVERSED)
    # States from which an action may still be executed or rejected.
    PENDING = frozenset({PROPOSED, APPROVED, FAILED})


class ActionStateConflict(AbuseDeskError):
    """Raise when a step does not fit the action's state (e.g. approving an executed action)."""


class InvalidEvidence(AbuseDeskError):
    """Raise when an action's evidence is not {case_ids, event_ids, figures} of the right kinds."""


@dataclass(frozen=True)
class ActionRecord:
    """A stored action as the case page and the API show it."""

    id: int
    account_id: int
    resource_id: int | None
    action: str
    proposed_action: str
    cause: str
    state: str
    policy_version: int
    policy_reason: str
    needs_approval: bool
    evidence: dict[str, Any]
    reason: str
    proposed_by: str
    proposed_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    rejected_by: str | None
    rejected_at: datetime | None
    executed_by: str | None
    executed_at: datetime | None
    failure: str | None
    attempts: int
    reverses_action_id: int | None
    case_id: int | None
    next_attempt_at: datetime | None = None
    dead_at: datetime | None = None
    call_key: str | None = None

    @property
    def dead(self) -> bool:
        """Tell whether the connector's retries are used up (a dead letter)."""
        return self.dead_at is not None

    @property
    def escalated(self) -> bool:
        """Tell whether the policy turned the proposed action into a stronger one."""
        return self.action != self.proposed_action

    @property
    def idempotency_key(self) -> str:
        """Return the key every attempt of this action sends to the connector.

        Random per action (kept in ``call_key``), so that two databases, or one rebuilt,
        never send a receiver the same key for different actions.
        """
        return self.call_key or f"enforcement-action-{self.id}"


# --- policy -------------------------------------------------------------------------


DEFAULT_POLICY: Final = Policy(version=1, author="abusedesk", note="the default policy")


def current_policy(session: Session) -> Policy:
    """Return the policy in force: the newest version (installing the default if none)."""
    definition = session.scalar(
        select(EnforcementPolicyRow.definition)
        .order_by(EnforcementPolicyRow.version.desc())
        .limit(1)
    )
    if definition is None:
        definition = install_default_policy(session)
    return Policy.from_dict(definition)


def install_default_policy(session: Session) -> dict[str, Any]:
    """Write policy version 1 (the documented defaults) unless it exists; return it."""
    definition = DEFAULT_POLICY.to_dict()
    session.execute(
        insert_for(session, EnforcementPolicyRow)
        .values(
            version=1,
            definition=definition,
            author=DEFAULT_POLICY.author,
            note=DEFAULT_POLICY.note,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    return definition


def save_policy(session: Session, data: Mapping[str, Any], *, actor: str, now: datetime) -> Policy:
    """Validate *data* as the next policy version and store it; return the new policy.

    The version is always the next one: an edit made from an older version is refused
    rather than silently overwriting a newer one. The note must say what changed.
    """
    current = current_policy(session)
    given = data.get("version")
    if given is not None and given != current.version + 1:
        raise InvalidPolicy(
            [f"version: the policy changed meanwhile (now version {current.version}); reload it"]
        )
    policy = Policy.from_dict({**data, "author": actor, "version": current.version + 1})
    if not policy.note.strip():
        raise InvalidPolicy(["note: say what this version changes"])
    session.execute(
        insert(table_of(EnforcementPolicyRow)).values(
            version=policy.version,
            definition=policy.to_dict(),
            author=policy.author,
            note=policy.note,
            created_at=now,
        )
    )
    audit.record(
        session,
        actor=actor,
        tag="enforcement:policy:save",
        subject_type="enforcement_policy",
        subject_id=policy.version,
        at=now,
        before=current.to_dict(),
        after=policy.to_dict(),
        reason=policy.note,
    )
    return policy


def policy_versions(session: Session, *, limit: int = 50) -> list[Policy]:
    """Return the newest policy versions, newest first."""
    current_policy(session)
    rows = session.scalars(
        select(EnforcementPolicyRow.definition)
        .order_by(EnforcementPolicyRow.version.desc())
        .limit(limit)
    )
    return [Policy.from_dict(definition) for definition in rows]


# --- actions ------------------------------------------------------------------------


def propose(
    session: Session,
    account_id: int,
    action: str,
    *,
    cause: str,
    reason: str,
    evidence: Mapping[str, Any],
    actor: str,
    now: datetime,
    case_id: int | None = None,
    resource_id: int | None = None,
    reverses: int | None = None,
) -> ActionRecord:
    """Propose *action* on the account (or one of its resources) for *cause*; return it.

    The policy in force decides the action actually proposed: a repeat offence escalates
    it (e.g. a second review for the same cause within 90 days becomes a pause), and the
    sentence saying so is kept on the action. The ladder checks the result against the
    account's standing now; `execute` checks again when it runs. *reverses* names the
    executed action this one undoes (a reinstatement that overturns an appealed pause).
    """
    policy = current_policy(session)
    account = _account(session, account_id)
    if reverses is not None:
        undone = _lock(session, reverses)
        _require_state(undone, {ActionState.EXECUTED}, "reverse")
        if undone.account_id != account_id:
            raise InvalidEvidence(f"action {reverses} is about another account")
    history = _past_actions(session, account_id)
    requirement = required_action(
        policy, account.standing, history, check_action(action), cause=cause, at=now
    )
    return _insert(
        session,
        account,
        requirement.action,
        proposed_action=action,
        cause=cause.strip(),
        reason=reason,
        evidence=evidence,
        policy=policy,
        policy_reason=requirement.why,
        actor=actor,
        now=now,
        case_id=case_id,
        resource_id=resource_id,
        reverses=reverses,
    )


def approve(session: Session, action_id: int, *, approver: str, now: datetime) -> ActionRecord:
    """Approve a proposed action; the approver must not be its proposer (SelfApproval)."""
    row = _lock(session, action_id)
    _require_state(row, {ActionState.PROPOSED}, "approve")
    name = check_approver(proposed_by=row.proposed_by, approver=approver)
    _set(session, row.id, state=ActionState.APPROVED, approved_by=name, approved_at=now)
    _step(session, row, "approve", actor=name, now=now, before=row.state, after="approved")
    return action_record(session, row.id)


def reject(
    session: Session, action_id: int, *, reason: str, actor: str, now: datetime
) -> ActionRecord:
    """Reject an action that has not run (proposed, approved or failed), saying why."""
    row = _lock(session, action_id)
    _require_state(row, ActionState.PENDING, "reject")
    why = _words(reason, "rejecting an action")
    _set(
        session,
        row.id,
        state=ActionState.REJECTED,
        rejected_by=actor,
        rejected_at=now,
        next_attempt_at=None,
    )
    _step(session, row, "reject", actor=actor, now=now, before=row.state, after="rejected", why=why)
    return action_record(session, row.id)


def execute(
    session: Session,
    action_id: int,
    connector: Connector,
    *,
    actor: str,
    now: datetime,
    retry: RetryPolicy | None = None,
    rng: random.Random | None = None,
) -> ActionRecord:
    """Run an action through *connector*; return it executed, or failed when the connector raised.

    Only an approved action runs, or a proposed one the policy lets run without a second
    approver (ApprovalRequired otherwise); a failed one may be retried, a dead-lettered
    one too (by hand). The ladder is checked against the account's standing at this
    moment. On success an account action moves the account's standing (a reinstatement
    also restarts its metrics window), a resource action is recorded on the resource,
    and a reversal marks the action it undoes reversed. A connector error is recorded
    (state failed, the attempt counted, the error's text, and either the next attempt's
    time from *retry* or, when the attempts are used up, the dead-letter time) and not
    raised, so that the caller's transaction keeps the record.
    """
    row = _lock(session, action_id)
    _require_state(row, ActionState.PENDING, "execute")
    check_executable(row.action, needs_approval=row.needs_approval, approved_by=row.approved_by)
    lock_account(session, row.account_id)
    account = _account(session, row.account_id)
    move = None
    if is_account_action(row.action):
        move = plan_account_action(account.standing, row.action, reason=row.reason)
    attempts = row.attempts + 1
    try:
        connector.apply(_call(session, row, account))
    except Exception as error:  # any connector error is recorded, not raised
        failed = failed_attempt(
            failure_text(error), attempts=attempts, retry=retry or RetryPolicy(), now=now, rng=rng
        )
        return _fail(session, row, failed, actor=actor)
    if move is not None:
        values: dict[str, Any] = {"standing": move.target}
        if move.restarts_metrics_window:
            values["metrics_since"] = now
        session.execute(
            update(table_of(Account)).where(Account.id == row.account_id).values(**values)
        )
    else:
        _record_on_resource(session, row, now)
    _set(
        session,
        row.id,
        state=ActionState.EXECUTED,
        executed_by=actor,
        executed_at=now,
        failure=None,
        attempts=attempts,
        next_attempt_at=None,
        dead_at=None,
    )
    words = move.describe() if move is not None else f"{row.action} on resource {row.resource_id}"
    _step(
        session,
        row,
        "execute",
        actor=actor,
        now=now,
        before=row.state,
        after="executed",
        why=words,
        extra={
            "standing_before": account.standing,
            "standing_after": None if move is None else move.target,
            "attempts": attempts,
            **({"metrics_since": now.isoformat()} if move and move.restarts_metrics_window else {}),
        },
    )
    for original in _undone_by(session, row):
        _set(session, original.id, state=ActionState.REVERSED)
        _step(
            session,
            original,
            "reversed",
            actor=actor,
            now=now,
            before=original.state,
            after="reversed",
            why=f"undone by action {row.id} ({row.action})",
        )
    return action_record(session, row.id)


def _undone_by(session: Session, row: ActionRecord) -> list[ActionRecord]:
    """Return the executed actions that *row*, now executed, undoes.

    That is the action it reverses, and for a reinstatement every punitive account
    action still in force on the account: back at healthy, none of them holds any more.
    """
    ids = set() if row.reverses_action_id is None else {row.reverses_action_id}
    if row.action == AccountAction.REINSTATE:
        ids.update(
            session.scalars(
                select(EnforcementAction.id).where(
                    EnforcementAction.account_id == row.account_id,
                    EnforcementAction.resource_id.is_(None),
                    EnforcementAction.state == ActionState.EXECUTED,
                    EnforcementAction.action.in_(sorted(AccountAction.PUNITIVE)),
                )
            )
        )
    return [_lock(session, action_id) for action_id in sorted(ids)]


def reverse(
    session: Session, action_id: int, *, reason: str, actor: str, now: datetime
) -> ActionRecord:
    """Propose the opposite of an executed action, linked to it, with its own reason.

    The reversal is an action like any other: it needs approval when the policy says
    so, and the original is marked reversed only once the reversal has executed.
    ``reinstate`` has no single opposite (NoOpposite).
    """
    original = _lock(session, action_id)
    _require_state(original, {ActionState.EXECUTED}, "reverse")
    undo = opposite(original.action)
    pending = session.scalar(
        select(EnforcementAction.id).where(
            EnforcementAction.reverses_action_id == original.id,
            EnforcementAction.state.in_(sorted(ActionState.PENDING)),
        )
    )
    if pending is not None:
        raise ActionStateConflict(
            f"action {original.id} already has a pending reversal, action {pending};"
            " approve, execute or reject that one"
        )
    policy = current_policy(session)
    account = _account(session, original.account_id)
    why = f"policy v{policy.version}: reversal of action {original.id} ({original.action})"
    if undo in ACCOUNT_ACTIONS:
        plan_account_action(account.standing, undo, reason=why)
    return _insert(
        session,
        account,
        undo,
        proposed_action=undo,
        cause=original.cause,
        reason=reason,
        evidence=original.evidence,
        policy=policy,
        policy_reason=why,
        actor=actor,
        now=now,
        case_id=original.case_id,
        resource_id=original.resource_id,
        reverses=original.id,
    )


def action_record(session: Session, action_id: int) -> ActionRecord:
    """Return action *action_id*, or raise NotFound."""
    row = session.execute(
        select(table_of(EnforcementAction)).where(EnforcementAction.id == action_id)
    ).first()
    if row is None:
        raise NotFound(f"no enforcement action {action_id}")
    return ActionRecord(**row._asdict())


def account_actions(session: Session, account_id: int) -> list[ActionRecord]:
    """Return the actions on account *account_id*, oldest first."""
    rows = session.execute(
        select(table_of(EnforcementAction))
        .where(EnforcementAction.account_id == account_id)
        .order_by(EnforcementAction.id)
    ).all()
    return [ActionRecord(**row._asdict()) for row in rows]


def propose_review_endings(session: Session, *, now: datetime, limit: int = 100) -> list[int]:
    """Propose what ends each review whose period is over; return the new actions' ids.

    An account under review whose ``review`` executed at least the policy's review period
    ago, with no account action pending or taken since, gets a proposal: ``pause`` when a rate is still at or
    above its review threshold, else ``end_review`` (`policy.after_review`), citing the
    review's case and the figures now. It is only proposed: an analyst executes it, or
    approves it when the policy wants a second analyst.
    """
    policy = current_policy(session)
    reviews = session.execute(
        select(EnforcementAction.id, EnforcementAction.account_id)
        .join(Account, Account.id == EnforcementAction.account_id)
        .where(
            Account.standing == Standing.UNDER_REVIEW,
            EnforcementAction.action == AccountAction.REVIEW,
            EnforcementAction.state == ActionState.EXECUTED,
            EnforcementAction.executed_at <= now - policy.review_period,
        )
        .order_by(EnforcementAction.executed_at.desc())
    ).all()
    pending = set(
        session.scalars(
            select(EnforcementAction.account_id).where(
                EnforcementAction.state.in_(sorted(ActionState.PENDING)),
                # A pending block or suppression is about a resource, not the review.
                EnforcementAction.resource_id.is_(None),
            )
        )
    )
    proposed: list[int] = []
    seen: set[int] = set()
    for review_id, account_id in reviews:
        if account_id in seen or account_id in pending or len(proposed) >= limit:
            continue
        seen.add(account_id)
        review = action_record(session, review_id)
        if _reviewed_again(session, review):
            continue
        figures = account_figures(session, account_id, now)
        rates = {
            metric: rate.value if rate.representative else None
            for metric, rate in ((m, figures.rate(m)) for m in (COMPLAINT_RATE, BOUNCE_RATE))
        }
        requirement = after_review(policy, rates)
        record = _insert(
            session,
            _account(session, account_id),
            requirement.action,
            proposed_action=requirement.action,
            cause=review.cause,
            reason=f"the review begun on {review.executed_at:%Y-%m-%d} (action {review.id}) is over",
            evidence={
                "case_ids": [review.case_id] if review.case_id is not None else [],
                "event_ids": [],
                "figures": figures.evidence(),
            },
            policy=policy,
            policy_reason=requirement.why,
            actor=REVIEW_ACTOR,
            now=now,
            case_id=review.case_id,
            resource_id=None,
            reverses=None,
        )
        proposed.append(record.id)
    return proposed


def _reviewed_again(session: Session, review: ActionRecord) -> bool:
    """Tell whether an action after *review* already decided how it ends (e.g. rejected)."""
    return (
        session.scalar(
            select(EnforcementAction.id)
            .where(
                EnforcementAction.account_id == review.account_id,
                EnforcementAction.id > review.id,
                EnforcementAction.resource_id.is_(None),
            )
            .limit(1)
        )
        is not None
    )


def due_actions(session: Session, *, now: datetime, limit: int = 100) -> list[int]:
    """Return the ids of failed actions whose next attempt is due, the longest-waiting first."""
    statement = (
        select(EnforcementAction.id)
        .where(
            EnforcementAction.state == ActionState.FAILED,
            EnforcementAction.dead_at.is_(None),
            EnforcementAction.next_attempt_at <= now,
        )
        .order_by(EnforcementAction.next_attempt_at, EnforcementAction.id)
        .limit(limit)
    )
    return [int(i) for i in session.scalars(statement)]


def retry_action(
    session: Session,
    action_id: int,
    connector: Connector,
    *,
    now: datetime,
    retry: RetryPolicy | None = None,
    rng: random.Random | None = None,
    actor: str = RETRY_ACTOR,
) -> ActionRecord | None:
    """Make the scheduled next attempt of a failed action; None when it is not due (any more).

    An action the ladder no longer allows (the account moved meanwhile) or that lost its
    approval cannot succeed by waiting: it is dead-lettered with the reason, audited.
    """
    row = _lock(session, action_id)
    due = row.next_attempt_at is not None and row.next_attempt_at <= now
    if row.state != ActionState.FAILED or row.dead_at is not None or not due:
        return None
    try:
        with session.begin_nested():
            return execute(
                session, action_id, connector, actor=actor, now=now, retry=retry, rng=rng
            )
    except AbuseDeskError as refused:
        return _dead(session, row, f"{type(refused).__name__}: {refused}", actor=actor, now=now)


def retry_due_actions(
    session: Session,
    connector: Connector,
    *,
    now: datetime,
    retry: RetryPolicy | None = None,
    notify: Callable[[Session, "ActionRecord"], object] | None = None,
    limit: int = 100,
    rng: random.Random | None = None,
) -> list[ActionRecord]:
    """Retry every failed action that is due; return them as they ended (executed or failed).

    *notify* is called for each action that executed (e.g. to queue the customer's notice).
    """
    done: list[ActionRecord] = []
    for action_id in due_actions(session, now=now, limit=limit):
        record = retry_action(session, action_id, connector, now=now, retry=retry, rng=rng)
        if record is None:
            continue
        if notify is not None and record.state == ActionState.EXECUTED:
            notify(session, record)
        done.append(record)
    return done


@dataclass(frozen=True)
class DeadLetter:
    """A call the connector gave up on: an action, or a batch of suppressions.

    ``kind`` is ``action`` (``action_id`` set) or ``suppressions`` (``push_key`` set).
    """

    kind: str
    action_id: int | None
    push_key: str | None
    account_id: int
    account_external_id: str
    account_name: str
    case_id: int | None
    what: str
    failure: str | None
    attempts: int
    dead_at: datetime


def dead_letters(session: Session, *, limit: int = 200) -> list[DeadLetter]:
    """Return dead actions and dead suppression pushes, the most recent first."""
    rows = session.execute(
        select(
            EnforcementAction.id,
            EnforcementAction.account_id,
            Account.external_id,
            Account.name,
            EnforcementAction.case_id,
            EnforcementAction.action,
            EnforcementAction.resource_id,
            EnforcementAction.failure,
            EnforcementAction.attempts,
            EnforcementAction.dead_at,
        )
        .join(Account, Account.id == EnforcementAction.account_id)
        .where(
            EnforcementAction.state == ActionState.FAILED,
            EnforcementAction.dead_at.is_not(None),
        )
        .order_by(EnforcementAction.dead_at.desc(), EnforcementAction.id.desc())
        .limit(limit)
    ).all()
    letters = [
        DeadLetter(
            kind="action",
            action_id=r.id,
            push_key=None,
            account_id=r.account_id,
            account_external_id=r.external_id,
            account_name=r.name,
            case_id=r.case_id,
            what=r.action if r.resource_id is None else f"{r.action} (resource {r.resource_id})",
            failure=r.failure,
            attempts=r.attempts,
            dead_at=r.dead_at,
        )
        for r in rows
    ]
    letters += [
        DeadLetter(
            kind="suppressions",
            action_id=None,
            push_key=push.push_key,
            account_id=push.account_id,
            account_external_id=push.account_external_id,
            account_name=push.account_name,
            case_id=None,
            what=f"suppression list: {push.addresses} address(es)",
            failure=push.failure,
            attempts=push.attempts,
            dead_at=push.dead_at,
        )
        for push in suppressions.dead_pushes(session, limit=limit)
    ]
    letters.sort(key=lambda letter: letter.dead_at, reverse=True)
    return letters[:limit]


def retry_dead(session: Session, action_id: int, *, actor: str, now: datetime) -> ActionRecord:
    """Take a dead-lettered action off the list, due now; return it (still failed).

    The action keeps its attempt count and idempotency key: run it at once (`execute`)
    or leave it to the sweep, which makes one more attempt; a failure then dead-letters
    it again.
    """
    row = _lock(session, action_id)
    if row.state != ActionState.FAILED or row.dead_at is None:
        raise ActionStateConflict(f"action {row.id} is {row.state}, not a dead letter")
    _set(session, row.id, dead_at=None, next_attempt_at=now)
    _step(
        session,
        row,
        "retry_dead",
        actor=_words(actor, "retrying a dead letter"),
        now=now,
        before=row.state,
        after=ActionState.FAILED,
        why=f"dead letter put back in line after {row.attempts} attempt(s)",
    )
    return action_record(session, row.id)


def record_notice_failure(
    session: Session, action_id: int, failure: str, *, actor: str, now: datetime
) -> None:
    """Record that the customer's notice of an executed action could not be queued."""
    row = action_record(session, action_id)
    _step(
        session,
        row,
        "notice_failed",
        actor=actor,
        now=now,
        before=row.state,
        after=row.state,
        why=f"the customer's notice could not be queued: {failure[:MAX_FAILURE]}",
    )


def metrics_since(session: Session, account_id: int) -> datetime | None:
    """Return when the account's metrics window restarted (its last reinstatement), or None."""
    if session.scalar(select(Account.id).where(Account.id == account_id)) is None:
        raise NotFound(f"no account {account_id}")
    return session.scalar(select(Account.metrics_since).where(Account.id == account_id))


def action_call(session: Session, action_id: int) -> ActionCall:
    """Return what the connector is asked for action *action_id* (the same on every attempt)."""
    row = action_record(session, action_id)
    return _call(session, row, _account(session, row.account_id))


# --- helpers ------------------------------------------------------------------------


def _fail(
    session: Session, row: ActionRecord, failed: FailedAttempt, *, actor: str
) -> ActionRecord:
    _set(session, row.id, state=ActionState.FAILED, **failed.columns())
    later = failed.next_attempt_at
    if later is not None:
        when = f"next attempt {later:%Y-%m-%d %H:%M:%S} UTC"
    else:
        when = "no attempt left: dead-lettered"
    _step(
        session,
        row,
        failed.verb,
        actor=actor,
        now=failed.failed_at,
        before=row.state,
        after=ActionState.FAILED,
        why=f"attempt {failed.attempts} failed: {failed.failure}; {when}",
        extra={
            "attempts": failed.attempts,
            "next_attempt_at": None if later is None else later.isoformat(),
            "dead": failed.dead,
        },
    )
    return action_record(session, row.id)


def _dead(
    session: Session, row: ActionRecord, failure: str, *, actor: str, now: datetime
) -> ActionRecord:
    """Dead-letter a failed action that no retry can carry out, saying why."""
    text = failure[:MAX_FAILURE]
    _set(session, row.id, failure=text, next_attempt_at=None, dead_at=now)
    _step(
        session,
        row,
        "dead_letter",
        actor=actor,
        now=now,
        before=row.state,
        after=ActionState.FAILED,
        why=f"cannot be retried: {text}",
        extra={"attempts": row.attempts, "next_attempt_at": None, "dead": True},
    )
    return action_record(session, row.id)


_BLOCKING: Final = frozenset(ResourceAction.PUNITIVE)


def _record_on_resource(session: Session, row: ActionRecord, now: datetime) -> None:
    """Mark the resource blocked (or unblocked) and keep suppress_address on the list."""
    if row.resource_id is None:
        return
    blocking = row.action in _BLOCKING
    session.execute(
        update(table_of(Resource))
        .where(Resource.id == row.resource_id)
        .values(
            blocked_at=now if blocking else None,
            block_action_id=row.id if blocking else None,
        )
    )
    if row.action not in (ResourceAction.SUPPRESS_ADDRESS, ResourceAction.UNSUPPRESS_ADDRESS):
        return
    value = session.scalar(select(Resource.value).where(Resource.id == row.resource_id))
    hashed = suppressions.address_hash(str(value))
    if row.action == ResourceAction.SUPPRESS_ADDRESS:
        suppressions.suppress_by_action(session, row.account_id, hashed, action_id=row.id, now=now)
    else:
        suppressions.lift_by_action(session, row.account_id, hashed, action_id=row.id, now=now)


def _call(session: Session, row: ActionRecord, account: Account) -> ActionCall:
    resource = None
    if row.resource_id is not None:
        found = session.execute(
            select(Resource.kind, Resource.value).where(Resource.id == row.resource_id)
        ).one()
        resource = ResourceRef(kind=found.kind, value=found.value)
    return ActionCall(
        action_id=row.id,
        idempotency_key=row.idempotency_key,
        action=row.action,
        account_external_id=account.external_id,
        resource=resource,
        cause=row.cause,
        reason=row.reason,
        policy_version=row.policy_version,
        case_id=row.case_id,
        reverses_action_id=row.reverses_action_id,
    )


def _insert(
    session: Session,
    account: Account,
    action: str,
    *,
    proposed_action: str,
    cause: str,
    reason: str,
    evidence: Mapping[str, Any],
    policy: Policy,
    policy_reason: str,
    actor: str,
    now: datetime,
    case_id: int | None,
    resource_id: int | None,
    reverses: int | None,
) -> ActionRecord:
    why = _words(reason, f"proposing {action}")
    proposer = _words(actor, "an action's proposer")
    kept = _evidence(evidence)
    _check_target(session, account.id, action, resource_id)
    if case_id is not None:
        owner = session.scalar(select(Case.account_id).where(Case.id == case_id))
        if owner is None:
            raise NotFound(f"no case {case_id}")
        if owner != account.id:
            raise InvalidEvidence(f"case {case_id} is about another account, not {account.id}")
    action_id = session.execute(
        insert(table_of(EnforcementAction))
        .values(
            account_id=account.id,
            resource_id=resource_id,
            action=action,
            proposed_action=proposed_action,
            cause=cause,
            state=ActionState.PROPOSED,
            policy_version=policy.version,
            policy_reason=policy_reason,
            needs_approval=policy.needs_approval(action, account.standing),
            evidence=kept,
            reason=why,
            proposed_by=proposer,
            proposed_at=now,
            attempts=0,
            reverses_action_id=reverses,
            case_id=case_id,
            call_key=f"action-{token_urlsafe(24)}",
        )
        .returning(EnforcementAction.id)
    ).scalar_one()
    record = action_record(session, int(action_id))
    verb = "propose" if reverses is None else "reverse"
    _step(
        session,
        record,
        verb,
        actor=proposer,
        now=now,
        before=None,
        after=ActionState.PROPOSED,
        why=f"{why} ({policy_reason})",
        extra={
            "action": action,
            "proposed_action": proposed_action,
            "cause": cause,
            "policy_version": policy.version,
            "evidence": kept,
            "reverses_action_id": reverses,
        },
    )
    return record


def _check_target(session: Session, account_id: int, action: str, resource_id: int | None) -> None:
    if is_account_action(action):
        if resource_id is not None:
            raise InvalidEvidence(f"{action} acts on the account; name no resource")
        return
    if resource_id is None:
        raise InvalidEvidence(f"{action} acts on one resource; name it")
    owner = session.scalar(select(Resource.account_id).where(Resource.id == resource_id))
    if owner is None:
        raise NotFound(f"no resource {resource_id}")
    if owner != account_id:
        raise InvalidEvidence(f"resource {resource_id} belongs to another account")


def _evidence(evidence: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(evidence, Mapping):
        raise InvalidEvidence("give evidence as {case_ids, event_ids, figures}")
    unknown = sorted(set(evidence) - set(EVIDENCE_KEYS))
    if unknown:
        raise InvalidEvidence(
            f"unknown evidence {', '.join(map(str, unknown))}; give {', '.join(EVIDENCE_KEYS)}"
        )
    kept: dict[str, Any] = {}
    for key in ("case_ids", "event_ids"):
        ids = evidence.get(key, [])
        if not isinstance(ids, Sequence) or isinstance(ids, str | bytes):
            raise InvalidEvidence(f"evidence {key}: give a list of ids")
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 1 for i in ids):
            raise InvalidEvidence(f"evidence {key}: ids are whole numbers from 1 up")
        kept[key] = sorted(set(ids))
    figures = evidence.get("figures", {})
    if not isinstance(figures, Mapping) or not all(isinstance(k, str) for k in figures):
        raise InvalidEvidence("evidence figures: give {name: number or text}")
    bad = [
        k for k, v in figures.items() if isinstance(v, bool) or not isinstance(v, int | float | str)
    ]
    if bad:
        raise InvalidEvidence(f"evidence figures {', '.join(sorted(bad))}: give a number or text")
    kept["figures"] = dict(figures)
    if not kept["case_ids"] and not kept["event_ids"] and not kept["figures"]:
        raise InvalidEvidence("an action rests on evidence: give cases, events or figures")
    return kept


def _past_actions(session: Session, account_id: int) -> list[PastAction]:
    rows = session.execute(
        select(EnforcementAction.action, EnforcementAction.cause, EnforcementAction.executed_at)
        .where(
            EnforcementAction.account_id == account_id,
            EnforcementAction.state.in_([ActionState.EXECUTED, ActionState.REVERSED]),
            EnforcementAction.executed_at.is_not(None),
        )
        .order_by(EnforcementAction.executed_at)
    ).all()
    return [PastAction(action, cause, at) for action, cause, at in rows if at is not None]


def _account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account {account_id}")
    session.refresh(account)
    return account


def _lock(session: Session, action_id: int) -> ActionRecord:
    statement = select(EnforcementAction.id).where(EnforcementAction.id == action_id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    if session.scalar(statement) is None:
        raise NotFound(f"no enforcement action {action_id}")
    return action_record(session, action_id)


def _require_state(row: ActionRecord, allowed: set[str] | frozenset[str], verb: str) -> None:
    if row.state not in allowed:
        raise ActionStateConflict(
            f"cannot {verb} action {row.id}: it is {row.state};"
            f" {verb} needs it {' or '.join(sorted(allowed))}"
        )


def _set(session: Session, action_id: int, **values: Any) -> None:
    session.execute(
        update(table_of(EnforcementAction))
        .where(EnforcementAction.id == action_id)
        .values(**values)
    )


def _words(text: str, what: str) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise ReasonRequired(f"{what} needs words")
    return cleaned


def _step(
    session: Session,
    row: ActionRecord,
    verb: str,
    *,
    actor: str,
    now: datetime,
    before: str | None,
    after: str,
    why: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    tag = f"enforcement:action:{verb}"
    audit.record(
        session,
        actor=actor,
        tag=tag,
        subject_type="enforcement_action",
        subject_id=row.id,
        at=now,
        before=None if before is None else {"state": before},
        after={"state": after, "action": row.action, "account_id": row.account_id, **(extra or {})},
        reason=why,
    )
    if row.case_id is not None:
        case_history.record(
            session,
            row.case_id,
            ACTION_STEP,
            actor=actor,
            at=now,
            from_value=before,
            to_value=f"{row.action} {after}",
            reason=why,
            tag=tag,
            before=None if before is None else {"action_id": row.id, "state": before},
            after={"action_id": row.id, "action": row.action, "state": after},
        )
