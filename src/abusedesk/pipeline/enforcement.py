"""Enforcement at work: running an action now, and the periodic sweep that retries and pushes.

`run_action` is what the pages (and an appeal's overturn) call: execute the action
through the connector and, once it executed, tell the customer (the *notify* callable,
e.g. queueing the notice). `tend_enforcement` is the sweep's part: failed actions whose
next attempt is due are tried again, new complainants and hard bounces are collected
into the suppression lists, and pending suppressions are pushed. Each part runs in its
own transaction and a failure in one is logged, never raised: the sweep carries on.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import Settings
from abusedesk.connectors import Connector, retry_policy
from abusedesk.core.clock import utcnow
from abusedesk.enforcement.signing import RetryPolicy
from abusedesk.messaging.keys import NoticeContext
from abusedesk.storage import enforcement, notices, suppressions
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.enforcement import ActionRecord, ActionState

log = structlog.get_logger(__name__)

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
    try:
        with unit_of_work(sessions) as session:
            outcomes = suppressions.push_due_suppressions(
                session,
                connector,
                now=now,
                retry=retry,
                batch_size=settings.connector.suppression_batch_size,
                max_batches=limit,
                give_up_after=give_up_after,
                rng=rng,
            )
        for outcome in outcomes:
            if outcome.state == suppressions.SuppressionState.PUSHED:
                sweep.pushed.append(outcome.push_key)
            elif outcome.state == suppressions.SuppressionState.DEAD:
                sweep.push_dead.append(outcome.push_key)
            else:
                sweep.push_failed.append(outcome.push_key)
    except Exception as error:
        log.exception("suppression_push_failed")
        sweep.errors.append(f"pushing suppressions: {type(error).__name__}: {error}")
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
