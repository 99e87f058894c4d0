"""The signed webhook connector against a real receiver on 127.0.0.1.

The receiver verifies every call with `signing.verify` and a `SeenKeys` store, as the
recipe in docs/connector.md says; the actions are stored and run through
`storage.enforcement` on each database.
"""

import random
import re
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.config import ConnectorSettings
from abusedesk.connectors import (
    Connector,
    InvalidConnectorSettings,
    LocalConnector,
    WebhookConnector,
    build_connector,
    retry_policy,
)
from abusedesk.enforcement.signing import RetryPolicy
from abusedesk.storage import case_history, enforcement, suppressions
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.enforcement import ActionRecord, ActionState
from abusedesk.storage.tables import Resource
from tests.factories.inventory import make_resource
from tests.support.casework import MONDAY, audit_tags, new_account
from tests.support.enforcement import (
    REASON,
    account_standing,
    approved_pause,
    propose,
    tags_of_action,
)
from tests.support.webhook import (
    OLD_SECRET,
    SECRET,
    Receiver,
    provider_down,
    running_receiver,
    webhook_to,
)

DAY = timedelta(days=1)
RETRY = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(hours=1), max_attempts=3)


def _execute(
    container: Container, action_id: int, connector: Connector, now: datetime = MONDAY
) -> ActionRecord:
    with unit_of_work(container.sessions) as session:
        return enforcement.execute(
            session,
            action_id,
            connector,
            actor="ben",
            now=now,
            retry=RETRY,
            rng=random.Random(7),
        )


def test_a_correctly_signed_call_executes_the_action(container: Container) -> None:
    """The receiver verifies the signature and gets every documented field; the pause runs."""
    account_id, case_id, approved = approved_pause(container)
    with running_receiver() as receiver:
        done = _execute(container, approved.id, webhook_to(receiver.url))
    assert receiver.outcomes() == ["applied"]
    body = receiver.applied[0]
    assert body == {
        "type": "enforcement_action",
        "action_id": approved.id,
        "idempotency_key": approved.idempotency_key,
        "action": "pause",
        "account": "acct-1",
        "resource": None,
        "cause": "complaint_rate",
        "reason": REASON,
        "policy_version": 1,
        "case_id": case_id,
        "reverses_action_id": None,
    }
    headers = receiver.requests[0].headers
    assert headers["Idempotency-Key"] == done.idempotency_key
    assert re.fullmatch(r"action-[A-Za-z0-9_-]{32}", done.idempotency_key)
    assert headers["Abusedesk-Signature"].startswith("t=")
    assert (done.state, done.attempts, done.next_attempt_at, done.dead_at) == (
        "executed",
        1,
        None,
        None,
    )
    assert account_standing(container, account_id) == "paused"
    with unit_of_work(container.sessions) as session:
        assert audit_tags(session, case_id)[-1] == "enforcement:action:execute"


def test_a_replayed_call_is_refused_by_the_receiver(container: Container) -> None:
    """The same signed request sent again is recognised as a replay and not applied twice."""
    _, _, approved = approved_pause(container)
    with running_receiver(Receiver(replay_status=409)) as receiver:
        _execute(container, approved.id, webhook_to(receiver.url))
        first = receiver.requests[0]
        again = httpx.post(receiver.url, content=first.body, headers=first.headers, timeout=5)
    assert again.status_code == 409
    assert receiver.outcomes() == ["applied", "replayed"]
    assert len(receiver.applied) == 1


def test_a_call_under_an_unknown_secret_is_refused_and_fails(container: Container) -> None:
    """A receiver holding another secret answers 401: the action fails and is not executed."""
    account_id, _case_id, approved = approved_pause(container)
    with running_receiver(Receiver(secrets=[OLD_SECRET])) as receiver:
        failed = _execute(container, approved.id, webhook_to(receiver.url))
    assert receiver.outcomes() == ["refused:BadSignature"]
    assert failed.state == "failed"
    assert "answered HTTP 401" in (failed.failure or "")
    assert account_standing(container, account_id) == "healthy"


def test_rotation_signs_with_both_secrets(container: Container) -> None:
    """Signed with the new and the old secret, a receiver still on the old one accepts."""
    _, _, approved = approved_pause(container)
    with running_receiver(Receiver(secrets=[OLD_SECRET])) as receiver:
        connector = WebhookConnector(receiver.url, [SECRET, OLD_SECRET], timeout_seconds=2)
        done = _execute(container, approved.id, connector)
    assert done.state == "executed"
    assert receiver.requests[0].headers["Abusedesk-Signature"].count("v1=") == 2


def test_receiver_down_fails_schedules_a_retry_and_the_retry_succeeds(
    container: Container,
) -> None:
    """Nothing listening: failed, next attempt set, standing unchanged; later it executes."""
    account_id, case_id, approved = approved_pause(container)
    failed = _execute(container, approved.id, provider_down())
    assert (failed.state, failed.attempts, failed.executed_at, failed.dead_at) == (
        "failed",
        1,
        None,
        None,
    )
    assert "could not reach" in (failed.failure or "")
    assert failed.next_attempt_at is not None
    assert MONDAY + timedelta(seconds=15) <= failed.next_attempt_at <= MONDAY + RETRY.base
    assert account_standing(container, account_id) == "healthy"
    with running_receiver() as receiver:
        with unit_of_work(container.sessions) as session:
            early = enforcement.retry_due_actions(
                session, webhook_to(receiver.url), now=MONDAY + timedelta(seconds=10), retry=RETRY
            )
        assert early == []
        with unit_of_work(container.sessions) as session:
            retried = enforcement.retry_due_actions(
                session, webhook_to(receiver.url), now=failed.next_attempt_at, retry=RETRY
            )
    assert [(r.id, r.state, r.attempts) for r in retried] == [(approved.id, "executed", 2)]
    assert receiver.requests[0].headers["Idempotency-Key"] == approved.idempotency_key
    assert account_standing(container, account_id) == "paused"
    assert tags_of_action(container, approved.id) == [
        "enforcement:action:propose",
        "enforcement:action:approve",
        "enforcement:action:fail",
        "enforcement:action:execute",
    ]
    with unit_of_work(container.sessions) as session:
        steps = [
            e.reason or "" for e in case_history.history(session, case_id) if e.kind == "action"
        ]
    assert any(
        step.startswith("attempt 1 failed: WebhookFailed: could not reach") for step in steps
    )


def test_a_lost_answer_is_retried_under_the_same_key_and_counted_delivered(
    container: Container,
) -> None:
    """The receiver acts but answers too late; the retry is a replay it answers 200 to."""
    account_id, _, approved = approved_pause(container)
    with running_receiver(Receiver(slow_seconds=1.5)) as receiver:
        failed = _execute(container, approved.id, webhook_to(receiver.url, timeout=0.5))
        assert (failed.state, account_standing(container, account_id)) == ("failed", "healthy")
        assert "no answer" in (failed.failure or "")
        receiver.slow_seconds = 0
        assert failed.next_attempt_at is not None
        done = _execute(container, approved.id, webhook_to(receiver.url), failed.next_attempt_at)
    assert receiver.outcomes() == ["applied", "replayed"]
    assert len(receiver.applied) == 1
    keys = {r.headers["Idempotency-Key"] for r in receiver.requests}
    assert keys == {approved.idempotency_key}
    assert (done.state, done.attempts) == ("executed", 2)
    assert account_standing(container, account_id) == "paused"


def test_errors_from_the_receiver_fail_the_action(container: Container) -> None:
    """A 500 or a redirect is a failure: the action stays failed, its text says why."""
    _, _, approved = approved_pause(container)
    with running_receiver(Receiver(status=500)) as receiver:
        failed = _execute(container, approved.id, webhook_to(receiver.url))
    assert failed.state == "failed"
    assert failed.failure == (
        f'WebhookFailed: {receiver.url} answered HTTP 500: {{"error": "provider unavailable"}}'
    )
    with running_receiver(Receiver(status=302)) as receiver:
        again = _execute(container, approved.id, webhook_to(receiver.url), MONDAY + DAY)
    assert (again.state, again.attempts) == ("failed", 2)
    assert "answered HTTP 302" in (again.failure or "")


def test_exhausted_retries_dead_letter_the_action_until_retried(container: Container) -> None:
    """After max_attempts failures the action is a dead letter; retry_dead puts it back."""
    account_id, case_id, approved = approved_pause(container)
    down = provider_down()
    record = approved
    now = MONDAY
    for _ in range(RETRY.max_attempts):
        record = _execute(container, approved.id, down, now)
        now = record.next_attempt_at or now
    assert (record.state, record.attempts, record.next_attempt_at) == ("failed", 3, None)
    assert record.dead_at is not None
    assert record.dead
    with unit_of_work(container.sessions) as session:
        letters = enforcement.dead_letters(session)
        assert enforcement.due_actions(session, now=now + DAY) == []
    assert [(d.kind, d.action_id, d.case_id, d.attempts) for d in letters] == [
        ("action", approved.id, case_id, 3)
    ]
    assert letters[0].account_external_id == "acct-1"
    assert "could not reach" in (letters[0].failure or "")
    assert tags_of_action(container, approved.id)[-1] == "enforcement:action:dead_letter"
    assert account_standing(container, account_id) == "healthy"
    with unit_of_work(container.sessions) as session:
        back = enforcement.retry_dead(session, approved.id, actor="ben", now=now + DAY)
        with pytest.raises(enforcement.ActionStateConflict):
            enforcement.retry_dead(session, approved.id, actor="ben", now=now + DAY)
    assert (back.state, back.dead_at, back.next_attempt_at) == ("failed", None, now + DAY)
    with running_receiver() as receiver, unit_of_work(container.sessions) as session:
        retried = enforcement.retry_due_actions(
            session, webhook_to(receiver.url), now=now + DAY, retry=RETRY
        )
        assert enforcement.dead_letters(session) == []
    assert [(r.state, r.attempts) for r in retried] == [("executed", 4)]
    assert account_standing(container, account_id) == "paused"
    assert "enforcement:action:retry_dead" in tags_of_action(container, approved.id)


def test_resource_actions_carry_the_resource_and_mark_it(container: Container) -> None:
    """block_domain names the resource in the call and marks it blocked; unblock clears it."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        domain_id = int(
            session.scalar(select(Resource.id).where(Resource.account_id == account_id)) or 0
        )
        block = propose(
            session,
            account_id,
            "block_domain",
            cause="phishing",
            reason="phishing pages on the domain",
            resource_id=domain_id,
        )
    with running_receiver() as receiver:
        connector = webhook_to(receiver.url)
        done = _execute(container, block.id, connector)
        with unit_of_work(container.sessions) as session:
            blocked = session.get(Resource, domain_id)
            assert blocked is not None
            marks = (blocked.blocked_at, blocked.block_action_id)
            undo = enforcement.reverse(
                session, block.id, reason="domain cleaned", actor="ben", now=MONDAY + DAY
            )
        undone = _execute(container, undo.id, connector, MONDAY + DAY)
    assert done.state == undone.state == "executed"
    assert marks == (MONDAY, block.id)
    assert [a["resource"] for a in receiver.applied] == [
        {"kind": "identity_domain", "value": "customer1.example.com"}
    ] * 2
    assert [a["action"] for a in receiver.applied] == ["block_domain", "unblock_domain"]
    assert receiver.applied[1]["reverses_action_id"] == block.id
    with unit_of_work(container.sessions) as session:
        cleared = session.get(Resource, domain_id)
        assert cleared is not None
        assert (cleared.blocked_at, cleared.block_action_id) == (None, None)
        assert enforcement.action_record(session, block.id).state == ActionState.REVERSED


def test_suppress_address_puts_the_address_on_the_list(container: Container) -> None:
    """suppress_address on an address resource adds its hash (pushed by the action itself)."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        address_id = make_resource(
            session, account_id, "identity_address", "Promo@Customer1.example.com", since=MONDAY
        )
        action = propose(
            session,
            account_id,
            "suppress_address",
            cause="spam",
            reason="a spam trap address",
            resource_id=address_id,
        )
        enforcement.execute(session, action.id, LocalConnector(), actor="ana", now=MONDAY)
        listed = suppressions.account_suppressions(session, account_id)
        undo = enforcement.reverse(session, action.id, reason="not a trap", actor="ben", now=MONDAY)
        enforcement.execute(session, undo.id, LocalConnector(), actor="ben", now=MONDAY)
        lifted = suppressions.account_suppressions(session, account_id)
    expected = suppressions.address_hash("promo@customer1.example.com")
    assert [(s.address_hash, s.reason, s.state, s.action_id) for s in listed] == [
        (expected, "manual", "pushed", action.id)
    ]
    assert [(s.state, s.action_id) for s in lifted] == [("lifted", undo.id)]


def test_reinstatement_restarts_the_metrics_window(container: Container) -> None:
    """A reinstatement records when the account's metrics window starts afresh."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        warn = propose(session, account_id, "warn", cause="spam", reason="complaints")
        enforcement.execute(session, warn.id, LocalConnector(), actor="ana", now=MONDAY)
        before = enforcement.metrics_since(session, account_id)
        back = propose(
            session, account_id, "reinstate", cause="spam", reason="list cleaned", now=MONDAY + DAY
        )
        enforcement.execute(session, back.id, LocalConnector(), actor="ana", now=MONDAY + DAY)
        after = enforcement.metrics_since(session, account_id)
    assert (before, after) == (None, MONDAY + DAY)
    assert account_standing(container, account_id) == "healthy"


def test_build_connector_from_settings() -> None:
    """Local by default; a webhook needs an http(s) URL and secrets of 32+ characters."""
    assert isinstance(build_connector(ConnectorSettings()), LocalConnector)
    good = ConnectorSettings(
        kind="webhook", url="https://provider.example/hook", secrets=[SECRET.decode()]
    )
    built = build_connector(good)
    assert isinstance(built, WebhookConnector)
    assert built.url == "https://provider.example/hook"
    for bad, words in (
        ({"url": "", "secrets": [SECRET.decode()]}, "http(s) URL"),
        ({"url": "ftp://provider.example/", "secrets": [SECRET.decode()]}, "http(s) URL"),
        ({"url": "https://provider.example/hook", "secrets": []}, "at least one secret"),
        ({"url": "https://provider.example/hook", "secrets": ["short"]}, "32 characters"),
    ):
        with pytest.raises(InvalidConnectorSettings, match=re.escape(words)):
            build_connector(ConnectorSettings(kind="webhook", **bad))  # type: ignore[arg-type]
    policy = retry_policy(
        ConnectorSettings(max_attempts=4, backoff_base_seconds=10, backoff_cap_seconds=60)
    )
    assert policy == RetryPolicy(
        base=timedelta(seconds=10), cap=timedelta(seconds=60), max_attempts=4
    )
