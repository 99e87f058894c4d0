"""Enforcement at work: running an action now, and the periodic sweep that retries and pushes.

`run_action` is what the pages (and an appeal's overturn) call: execute the action
through the connector and, once it executed, tell the customer (the *notify* callable,
e.g. queueing the notice). `tend_enforcement` is the sweep's part: failed actions whose
next attempt is due are tried again, new complainants and hard bounces are collected
into the suppression lists, and pending suppressions are pushed (`push_suppressions`).
Each action and each suppression batch is handled in transactions of its own, and a
failure in one is logged, never raised: the sweep carries on.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import Settings
from abusedesk.connectors import Connector, retry_policy
from abusedesk.core.clock import utcnow
from abusedesk.enforcement.signing import RetryPolicy
from abusedesk.messaging.keys import NoticeContext
from abusedesk.storage import enforcement, notices, suppressions
from abusedesk.storage.attempts import failure_text
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.enforcement import ActionRecord, ActionState

log = structlog.get_logger(__name__)

# How long a batch being pushed is left alone by other sweepers. A push whose outcome
# was never recorded (the process stopped during the call) is tried again after it,
# under the same key.
PUSH_LEASE: Final = timedelta(minutes=10)

# Called with the session and the executed action (e.g. to queue the customer's notice).
Notify = Callable[[Session, ActionRecord], object]


def notify_customer(context: NoticeContext) -> Notify:
    """Return the *notify* that queues the customer's notice of an executed action."""

    def queue_notice(session: Session, record: ActionRecord) -> None:
        notices.queue_action_notice(
            session, record, notices=context, now=record.executed_at or utcnow()
        )

    return queue_notice


def run_action(
    session: Session,
    action_id: int,
    connector: Connector,
    *,
    actor: str,
    now: datetime,
    notify: Notify | None = None,
    retry: RetryPolicy | None = None,
    rng: random.Random | None = None,
) -> ActionRecord:
    """Execute action *action_id* through *connector*; when it executed, call *notify*.

    Returns the action as it ended: executed, or failed with its next attempt (or
    dead-lettered). Refusals (approval missing, a move the ladder forbids) raise, as
    `storage.enforcement.execute` does; a connector error never raises.
    """
    record = enforcement.execute(
        session, action_id, connector, actor=actor, now=now, retry=retry, rng=rng
    )
    if record.state == ActionState.EXECUTED and notify is not None:
        tell(session, record, notify, actor=actor, now=now)
    return record


def tell(
    session: Session, record: ActionRecord, notify: Notify, *, actor: str, now: datetime
) -> None:
    """Call *notify* for an executed action; if it fails, record that and keep the action.

    The provider has carried the action out, so its record must stay executed: a notice
    that could not be queued is logged and audited on the action (and its case) instead.
    """
    try:
        with session.begin_nested():
            notify(session, record)
    except Exception as error:
        log.exception("action_notice_failed", action_id=record.id)
        enforcement.record_notice_failure(
            session, record.id, f"{type(error).__name__}: {error}", actor=actor, now=now
        )


@dataclass
class EnforcementSweep:
    """What one sweep did, for the log and for tests."""

    executed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    # Actions proposed because a review period ended (pause or end_review).
    review_endings: list[int] = field(default_factory=list)
    collected: int = 0
    pushed: list[str] = field(default_factory=list)
    push_failed: list[str] = field(default_factory=list)
    push_dead: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        """Tell whether the sweep did or tried anything worth logging."""
        return bool(
            self.executed
            or self.failed
            or self.dead
            or self.review_endings
            or self.collected
            or self.pushed
            or self.push_failed
            or self.push_dead
            or self.errors
        )


def tend_enforcement(
    sessions: sessionmaker[Session],
    connector: Connector,
    settings: Settings,
    now: datetime,
    *,
    notify: Notify | None = None,
    limit: int = 100,
    give_up_after: int = 3,
    rng: random.Random | None = None,
) -> EnforcementSweep:
    """Retry due actions, collect new suppressions and push the pending ones.

    Each action is retried in its own transaction, so that one provider error or one
    refusal cannot undo another action's record; *notify* is called for each action
    that executed. After *give_up_after* failed calls in a row the provider is taken to
    be down: the remaining due calls wait for the next sweep (no attempt is counted for
    them), so that a provider that hangs cannot hold the sweep for long. Never raises:
    errors are logged and listed in the result.
    """
    sweep = EnforcementSweep()
    retry = retry_policy(settings.connector)
    try:
        with unit_of_work(sessions) as session:
            due = enforcement.due_actions(session, now=now, limit=limit)
    except Exception as error:
        log.exception("enforcement_retry_listing_failed")
        sweep.errors.append(f"listing due actions: {type(error).__name__}: {error}")
        due = []
    failures_in_a_row = 0
    for action_id in due:
        if failures_in_a_row >= give_up_after:
            break
        try:
            with unit_of_work(sessions) as session:
                attempts_before = enforcement.action_record(session, action_id).attempts
                record = enforcement.retry_action(
                    session, action_id, connector, now=now, retry=retry, rng=rng
                )
                if record is not None and record.state == ActionState.EXECUTED and notify:
                    tell(session, record, notify, actor=enforcement.RETRY_ACTOR, now=now)
        except Exception as error:
            log.exception("enforcement_retry_failed", action_id=action_id)
            sweep.errors.append(f"action {action_id}: {type(error).__name__}: {error}")
            continue
        if record is None:
            continue
        # A refusal (the ladder, the approval) dead-letters without a call: not the provider.
        connector_failed = record.state == ActionState.FAILED and record.attempts > attempts_before
        failures_in_a_row = failures_in_a_row + 1 if connector_failed else 0
        if record.state == ActionState.EXECUTED:
            sweep.executed.append(record.id)
        elif record.dead:
            sweep.dead.append(record.id)
        else:
            sweep.failed.append(record.id)
    try:
        with unit_of_work(sessions) as session:
            sweep.review_endings = enforcement.propose_review_endings(session, now=now)
    except Exception as error:
        log.exception("review_endings_failed")
        sweep.errors.append(f"review endings: {type(error).__name__}: {error}")
    try:
        with unit_of_work(sessions) as session:
            sweep.collected = suppressions.collect_suppressions(session, now=now)
    except Exception as error:
        log.exception("suppression_collect_failed")
        sweep.errors.append(f"collecting suppressions: {type(error).__name__}: {error}")
    pushes = push_suppressions(
        sessions,
        connector,
        now=now,
        retry=retry,
        batch_size=settings.connector.suppression_batch_size,
        max_batches=limit,
        give_up_after=give_up_after,
        rng=rng,
    )
    for outcome in pushes.outcomes:
        if outcome.state == suppressions.SuppressionState.PUSHED:
            sweep.pushed.append(outcome.push_key)
        elif outcome.state == suppressions.SuppressionState.DEAD:
            sweep.push_dead.append(outcome.push_key)
        else:
            sweep.push_failed.append(outcome.push_key)
    sweep.errors.extend(pushes.errors)
    if sweep.busy:
        log.info(
            "enforcement_tended",
            executed=len(sweep.executed),
            failed=len(sweep.failed),
            dead=len(sweep.dead),
            review_endings=len(sweep.review_endings),
            collected=sweep.collected,
            pushed=len(sweep.pushed),
            push_failed=len(sweep.push_failed),
            push_dead=len(sweep.push_dead),
            errors=len(sweep.errors),
        )
    return sweep


@dataclass
class PushRound:
    """What one round of suppression pushes did: each batch's outcome, and what raised."""

    outcomes: list[suppressions.PushOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def push_suppressions(
    sessions: sessionmaker[Session],
    connector: Connector,
    *,
    now: datetime,
    retry: RetryPolicy,
    batch_size: int,
    max_batches: int = 100,
    give_up_after: int = 3,
    rng: random.Random | None = None,
) -> PushRound:
    """Push pending suppressions: failed batches due again first, then new batches.

    Each batch is one connector call for at most *batch_size* addresses of one account,
    and is handled on its own: it is formed (or claimed, for a retry) and committed with
    its key, the connector is called outside any transaction and with no lock held, and
    the outcome is recorded in a transaction of its own. So a retry always sends the same
    key, and an error in one batch leaves every other batch's record as it is (the batch
    itself is tried again after `PUSH_LEASE`). At most *max_batches* batches are tried,
    and none after *give_up_after* failed calls in a row (the provider is down: the rest
    wait for the next sweep). Never raises: errors are logged and listed in the result.
    """
    pushes = PushRound()
    lease_until = now + PUSH_LEASE
    try:
        with unit_of_work(sessions) as session:
            due = suppressions.due_pushes(session, now=now, limit=max_batches)
    except Exception as error:
        log.exception("suppression_push_listing_failed")
        pushes.errors.append(f"listing due pushes: {type(error).__name__}: {error}")
        due = []
    failures_in_a_row = 0
    for turn in range(max_batches):
        if failures_in_a_row >= give_up_after:
            break
        retrying = turn < len(due)
        try:
            with unit_of_work(sessions) as session:
                if retrying:
                    call = suppressions.claim_push(
                        session, due[turn], now=now, lease_until=lease_until
                    )
                else:
                    call = suppressions.form_batch(
                        session, batch_size=batch_size, lease_until=lease_until
                    )
            if call is None:
                if retrying:
                    continue  # pushed or claimed by another sweeper meanwhile
                break  # nothing left to batch
            outcome = _push(sessions, connector, call, now=now, retry=retry, rng=rng)
        except Exception as error:
            log.exception("suppression_push_failed", turn=turn)
            pushes.errors.append(f"suppression push: {type(error).__name__}: {error}")
            continue
        pushes.outcomes.append(outcome)
        failures_in_a_row = failures_in_a_row + 1 if outcome.failure else 0
    return pushes


def _push(
    sessions: sessionmaker[Session],
    connector: Connector,
    call: suppressions.PushCall,
    *,
    now: datetime,
    retry: RetryPolicy,
    rng: random.Random | None,
) -> suppressions.PushOutcome:
    """Call the provider with batch *call* (no transaction open), then record the outcome."""
    try:
        connector.push_suppressions(call.account_external_id, call.entries, call.push_key)
    except Exception as error:  # any connector error is recorded and retried, not raised
        failure = failure_text(error)
        with unit_of_work(sessions) as session:
            return suppressions.push_failed(session, call, failure, now=now, retry=retry, rng=rng)
    with unit_of_work(sessions) as session:
        return suppressions.push_done(session, call, now=now)


def enforcement_tender(
    sessions: sessionmaker[Session],
    connector: Connector,
    settings: Settings,
    *,
    notify: Notify | None = None,
) -> Callable[[datetime], EnforcementSweep]:
    """Return the sweep step for `EmbeddedEngine(tenders=...)`: `tend_enforcement` at a time."""

    def tend_enforcement_now(now: datetime) -> EnforcementSweep:
        return tend_enforcement(sessions, connector, settings, now, notify=notify)

    return tend_enforcement_now
