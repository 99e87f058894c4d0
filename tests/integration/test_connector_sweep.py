"""The periodic enforcement sweep: due retries, refusals dead-lettered, suppressions pushed.

`run_action` and `tend_enforcement` run against a real webhook receiver on 127.0.0.1 and
each database; the embedded engine's sweep runs the step it is given.
"""

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.bootstrap import Container
from abusedesk.config import Settings
from abusedesk.connectors import (
    ActionCall,
    Connector,
    LocalConnector,
    SuppressionEntry,
    retry_policy,
)
from abusedesk.core.clock import utcnow
from abusedesk.messaging.keys import notice_context
from abusedesk.pipeline.enforcement import (
    PUSH_LEASE,
    enforcement_tender,
    notify_customer,
    run_action,
    tend_enforcement,
)
from abusedesk.storage import enforcement, notices
from abusedesk.storage.db import make_engine, read_only, unit_of_work
from abusedesk.storage.dialect import lock_account
from abusedesk.storage.enforcement import ActionRecord
from abusedesk.storage.tables import Account, AuditEntry, Suppression
from tests.factories.arf import arf_naming
from tests.factories.inventory import make_account, make_sent_mail
from tests.support.casework import MONDAY, make_case, new_account
from tests.support.enforcement import executed, pending_suppression, propose, tags_of_action
from tests.support.jobs import worker_sweep
from tests.support.notices import CONTACT, set_contact
from tests.support.unattributed import ingest
from tests.support.webhook import provider_down, running_receiver, webhook_to

DOMAIN = "customer1.example.com"


def _settings(container: Container) -> Settings:
    connector = container.settings.connector.model_copy(
        update={
            "max_attempts": 3,
            "backoff_base_seconds": 30.0,
            "backoff_cap_seconds": 600.0,
            "suppression_batch_size": 50,
        }
    )
    return container.settings.model_copy(update={"connector": connector})


def _fail(container: Container, action_id: int, at: datetime) -> ActionRecord:
    """Run the action against a provider that is down; return it failed."""
    with unit_of_work(container.sessions) as session:
        record = run_action(
            session,
            action_id,
            provider_down(),
            actor="ana",
            now=at,
            retry=retry_policy(_settings(container).connector),
            rng=random.Random(1),
        )
    assert record.state == "failed"
    return record


class Told:
    """A notify callable that keeps the actions it was told about."""

    def __init__(self) -> None:
        self.actions: list[tuple[int, str]] = []

    def __call__(self, session: Session, record: ActionRecord) -> None:
        self.actions.append((record.id, record.state))


def test_the_sweep_retries_due_actions_and_tells_the_customer(container: Container) -> None:
    """A due retry executes and is notified once; a retry not yet due is left alone."""
    with unit_of_work(container.sessions) as session:
        first = new_account(session, 1)
        second = new_account(session, 2)
        due = propose(session, first, "throttle")
        later = propose(session, second, "throttle")
    failed_due = _fail(container, due.id, MONDAY)
    failed_later = _fail(container, later.id, MONDAY + timedelta(minutes=5))
    told = Told()
    sweep_at = MONDAY + timedelta(minutes=1)
    assert failed_due.next_attempt_at is not None
    assert failed_due.next_attempt_at <= sweep_at
    with running_receiver() as receiver:
        sweep = tend_enforcement(
            container.sessions,
            webhook_to(receiver.url),
            _settings(container),
            sweep_at,
            notify=told,
        )
    assert (sweep.executed, sweep.failed, sweep.dead, sweep.errors) == ([due.id], [], [], [])
    assert told.actions == [(due.id, "executed")]
    assert [a["action_id"] for a in receiver.applied] == [due.id]
    with unit_of_work(container.sessions) as session:
        assert enforcement.action_record(session, due.id).executed_by == "system:connector"
        waiting = enforcement.action_record(session, later.id)
    assert (waiting.state, waiting.attempts) == ("failed", 1)
    assert waiting.next_attempt_at == failed_later.next_attempt_at


def test_the_sweep_dead_letters_after_the_last_attempt(container: Container) -> None:
    """Down on every sweep: after max_attempts the action is dead and no longer retried."""
    with unit_of_work(container.sessions) as session:
        action = propose(session, new_account(session), "throttle")
    record = _fail(container, action.id, MONDAY)
    outcomes = []
    for _ in range(3):
        at = record.next_attempt_at or MONDAY
        outcomes.append(
            tend_enforcement(container.sessions, provider_down(), _settings(container), at)
        )
        with unit_of_work(container.sessions) as session:
            record = enforcement.action_record(session, action.id)
    assert [(s.failed, s.dead) for s in outcomes] == [
        ([action.id], []),
        ([], [action.id]),
        ([], []),
    ]
    assert (record.state, record.attempts, record.executed_at) == ("failed", 3, None)
    assert record.dead


def test_a_retry_the_ladder_now_forbids_is_dead_lettered(container: Container) -> None:
    """The account was suspended meanwhile: the failed throttle cannot run; it says why."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        case_id = make_case(session, account_id)
        throttle = propose(session, account_id, "throttle")
    failed = _fail(container, throttle.id, MONDAY)
    with unit_of_work(container.sessions) as session:
        executed(session, account_id, "suspend", case_id=case_id)
    assert failed.next_attempt_at is not None
    sweep = tend_enforcement(
        container.sessions, LocalConnector(), _settings(container), failed.next_attempt_at
    )
    assert (sweep.executed, sweep.dead) == ([], [throttle.id])
    with unit_of_work(container.sessions) as session:
        record = enforcement.action_record(session, throttle.id)
        letters = enforcement.dead_letters(session)
        standing = session.scalar(select(Account.standing).where(Account.id == account_id))
    assert record.failure is not None
    assert record.failure.startswith("ActionNotAllowed: ")
    assert [letter.action_id for letter in letters] == [throttle.id]
    assert standing == "suspended"


def test_a_failing_notice_keeps_the_action_executed(container: Container) -> None:
    """The provider acted: a notify that raises is recorded, the action stays executed."""

    def broken(session: Session, record: ActionRecord) -> None:
        raise RuntimeError("template missing")

    told = Told()
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        warn = propose(session, account_id, "warn")
        done = run_action(
            session, warn.id, LocalConnector(), actor="ana", now=MONDAY, notify=broken
        )
        review = propose(session, account_id, "review")
    tags = tags_of_action(container, warn.id)
    with unit_of_work(container.sessions) as session:
        reasons = list(
            session.scalars(
                select(AuditEntry.reason).where(
                    AuditEntry.tag == "enforcement:action:notice_failed"
                )
            )
        )
    assert done.state == "executed"
    assert tags[-1] == "enforcement:action:notice_failed"
    assert reasons == ["the customer's notice could not be queued: RuntimeError: template missing"]
    failed = _fail(container, review.id, MONDAY)
    assert failed.state == "failed"
    with unit_of_work(container.sessions) as session:
        again = run_action(
            session, review.id, provider_down(), actor="ana", now=MONDAY, notify=told
        )
    assert (again.state, told.actions) == ("failed", [])


def test_the_sweep_collects_and_pushes_suppressions(container: Container) -> None:
    """A complaint through the pipeline ends, hashed, at the receiver in one sweep."""
    with unit_of_work(container.sessions) as session:
        account_id, resource_id = make_account(session, "acct-1", domain=DOMAIN)
        mail = make_sent_mail(
            session, account_id, resource_id, 1, domain=DOMAIN, recipient="jane@mail.example.net"
        )
    complaint = arf_naming(
        "jane@mail.example.net", message_id=mail.message_id, from_domain=DOMAIN, serial=1
    )
    ingest(container, [complaint])
    with running_receiver() as receiver:
        sweep = tend_enforcement(
            container.sessions, webhook_to(receiver.url), _settings(container), utcnow()
        )
    assert (sweep.collected, len(sweep.pushed), sweep.errors) == (1, 1, [])
    [pushed] = receiver.applied
    assert pushed["type"] == "suppression_list"
    assert pushed["account"] == "acct-1"
    assert [e["reason"] for e in pushed["entries"]] == ["complaint"]
    assert "jane" not in receiver.requests[0].body.decode()


def test_the_embedded_sweep_runs_the_enforcement_step(container: Container) -> None:
    """Given as a tender, the step runs on every sweep; a raising tender stops nothing."""
    with unit_of_work(container.sessions) as session:
        action = propose(session, new_account(session), "warn")
    _fail(container, action.id, utcnow() - timedelta(hours=1))
    told = Told()
    runs: list[datetime] = []

    def broken(now: datetime) -> None:
        runs.append(now)
        raise RuntimeError("a broken step")

    step = enforcement_tender(
        container.sessions, LocalConnector(), _settings(container), notify=told
    )
    container.embedded.tenders[:] = [broken, step]
    container.embedded.sweep()
    assert len(runs) == 1
    assert told.actions == [(action.id, "executed")]


def test_a_retried_action_queues_the_customer_notice(container: Container) -> None:
    """With notify_customer, the sweep's successful retry leaves a pending notice on the case."""
    settings = _settings(container)
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        set_contact(session, account_id)
        case_id = make_case(session, account_id)
        action = propose(session, account_id, "warn", case_id=case_id)
    failed = _fail(container, action.id, MONDAY)
    assert failed.next_attempt_at is not None
    sweep = tend_enforcement(
        container.sessions,
        LocalConnector(),
        settings,
        failed.next_attempt_at,
        notify=notify_customer(notice_context(settings)),
    )
    assert (sweep.executed, sweep.errors) == ([action.id], [])
    with unit_of_work(container.sessions) as session:
        messages = notices.case_messages(session, case_id)
    assert [(m.action_id, m.to_address, m.state) for m in messages] == [
        (action.id, CONTACT, "pending")
    ]


def test_a_provider_that_is_down_stops_the_sweep_after_three_failures(
    container: Container,
) -> None:
    """Four due actions and four accounts' suppressions: three calls each, the rest wait."""
    with unit_of_work(container.sessions) as session:
        accounts = [new_account(session, n) for n in range(1, 5)]
        actions = [propose(session, a, "warn") for a in accounts]
        for account_id in accounts:
            pending_suppression(session, account_id, f"user{account_id}@mail.example.net")
    failed = [_fail(container, a.id, MONDAY) for a in actions]
    at = max(f.next_attempt_at or MONDAY for f in failed)
    sweep = tend_enforcement(container.sessions, provider_down(), _settings(container), at)
    assert (len(sweep.failed), len(sweep.push_failed), sweep.executed) == (3, 3, [])
    with unit_of_work(container.sessions) as session:
        attempts = sorted(enforcement.action_record(session, a.id).attempts for a in actions)
        unbatched = session.scalar(
            select(func.count(Suppression.id)).where(Suppression.push_key.is_(None))
        )
    assert attempts == [1, 2, 2, 2]
    assert unbatched == 1


class Watching:
    """The webhook connector, looking at the database from outside while each push is out.

    Before passing a push on, it reads (on connections of its own) whether the batch's
    key is committed, and tries a write under the account's lock with a short wait, as
    the intake folding a new report into the account's case would.
    """

    def __init__(self, inner: Connector, database_url: str) -> None:
        self.inner = inner
        self.engine = make_engine(database_url, busy_timeout_ms=300)
        self.seen: list[tuple[int, str]] = []

    def apply(self, call: ActionCall) -> None:
        self.inner.apply(call)

    def push_suppressions(
        self, account_external_id: str, entries: Sequence[SuppressionEntry], idempotency_key: str
    ) -> None:
        self.seen.append(self._look(account_external_id, idempotency_key))
        self.inner.push_suppressions(account_external_id, entries, idempotency_key)

    def _look(self, external_id: str, key: str) -> tuple[int, str]:
        sessions = sessionmaker(self.engine)
        with read_only(sessions) as session:
            committed = session.scalar(
                select(func.count(Suppression.id)).where(Suppression.push_key == key)
            )
            account_id = session.scalar(
                select(Account.id).where(Account.external_id == external_id)
            )
        assert account_id is not None
        try:
            with unit_of_work(sessions) as session:
                if self.engine.dialect.name == "postgresql":
                    session.execute(text("SET LOCAL lock_timeout = '1s'"))
                lock_account(session, account_id)
                session.execute(
                    update(Account).where(Account.id == account_id).values(name=Account.name)
                )
        except OperationalError as error:
            return int(committed or 0), f"blocked: {type(error.orig).__name__}"
        return int(committed or 0), "written"


class Stopped(BaseException):
    """The process stopping in the middle of a call (as a signal would stop it)."""


class StopsDuring:
    """The webhook connector, with the process stopping after the provider took push *n*."""

    def __init__(self, inner: Connector, n: int) -> None:
        self.inner = inner
        self.n = n
        self.pushes = 0

    def apply(self, call: ActionCall) -> None:
        self.inner.apply(call)

    def push_suppressions(
        self, account_external_id: str, entries: Sequence[SuppressionEntry], idempotency_key: str
    ) -> None:
        self.inner.push_suppressions(account_external_id, entries, idempotency_key)
        self.pushes += 1
        if self.pushes == self.n:
            raise Stopped


def _states(container: Container) -> list[tuple[str, bool]]:
    """Return each suppression's state and whether it has a batch key, by account."""
    with read_only(container.sessions) as session:
        rows = session.execute(
            select(Suppression.state, Suppression.push_key).order_by(Suppression.account_id)
        ).all()
    return [(state, key is not None) for state, key in rows]


def test_a_push_is_out_with_its_key_committed_and_no_lock_held(
    container: Container, database_url: str
) -> None:
    """While the provider has a batch, its key is already stored and the account is free."""
    with unit_of_work(container.sessions) as session:
        accounts = [new_account(session, n) for n in (1, 2)]
        for account_id in accounts:
            pending_suppression(session, account_id, f"user{account_id}@mail.example.net")
    with running_receiver() as receiver:
        watching = Watching(webhook_to(receiver.url), database_url)
        try:
            sweep = tend_enforcement(container.sessions, watching, _settings(container), MONDAY)
        finally:
            watching.engine.dispose()
    assert (len(sweep.pushed), sweep.errors) == (2, [])
    assert watching.seen == [(1, "written"), (1, "written")]
    assert receiver.outcomes() == ["applied", "applied"]
    assert _states(container) == [("pushed", True), ("pushed", True)]


def test_a_stop_during_one_push_keeps_the_others_and_the_retry_reuses_its_key(
    container: Container,
) -> None:
    """Pushes already taken stay recorded; the stopped one goes again, same key, after the lease."""
    with unit_of_work(container.sessions) as session:
        accounts = [new_account(session, n) for n in (1, 2, 3)]
        for account_id in accounts:
            pending_suppression(session, account_id, f"user{account_id}@mail.example.net")
    settings = _settings(container)
    with running_receiver() as receiver:
        with pytest.raises(Stopped):
            tend_enforcement(
                container.sessions, StopsDuring(webhook_to(receiver.url), 3), settings, MONDAY
            )
        stopped = _states(container)
        early = tend_enforcement(
            container.sessions, webhook_to(receiver.url), settings, MONDAY + timedelta(minutes=1)
        )
        later = tend_enforcement(
            container.sessions, webhook_to(receiver.url), settings, MONDAY + PUSH_LEASE
        )
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert stopped == [("pushed", True), ("pushed", True), ("pending", True)]
    assert (early.pushed, early.errors) == ([], [])
    assert (later.pushed, later.errors) == ([keys[2]], [])
    assert receiver.outcomes() == ["applied", "applied", "applied", "replayed"]
    assert keys[3] == keys[2]
    assert _states(container) == [("pushed", True)] * 3


@pytest.mark.postgres
def test_the_worker_sweep_runs_the_enforcement_step(engine_container: Container) -> None:
    """The procrastinate worker's periodic sweep runs the same step as the embedded one."""
    with unit_of_work(engine_container.sessions) as session:
        action = propose(session, new_account(session), "warn")
    _fail(engine_container, action.id, utcnow() - timedelta(hours=1))
    told = Told()
    engine_container.embedded.tenders[:] = [
        enforcement_tender(
            engine_container.sessions, LocalConnector(), _settings(engine_container), notify=told
        )
    ]
    worker_sweep(engine_container)
    assert told.actions == [(action.id, "executed")]
