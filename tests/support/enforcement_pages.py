"""A workbench whose actions run through the signed webhook to a real receiver on 127.0.0.1.

The receiver is `tests.support.webhook.Receiver`: it checks every call as the provider
would and keeps what it applied; set its ``status`` (e.g. 503) for a control plane that is
down, and back to None when it is up again.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container, build
from abusedesk.core.clock import utcnow
from abusedesk.storage import enforcement
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Account, EnforcementAction
from abusedesk.web.app import create_app
from tests.support.access import access_settings, csrf_of, sign_in
from tests.support.casework import audit_trail
from tests.support.notices import add_sending, hours_ago
from tests.support.web import serving
from tests.support.webhook import SECRET, Receiver, running_receiver
from tests.support.workbench import Workbench


def enforcement_container(
    database_url: str,
    tmp_path: Path,
    receiver_url: str | None = None,
    *,
    max_attempts: int = 8,
    **access: Any,
) -> Container:
    """Build a container whose evidence, notice keys and outbox live in *tmp_path*.

    With *receiver_url* its connector is the signed webhook to it; without, the local one.
    """
    settings = access_settings(database_url, tmp_path, **access)
    connector = settings.connector
    if receiver_url is not None:
        connector = connector.model_copy(
            update={
                "kind": "webhook",
                "url": receiver_url,
                "secrets": [SecretStr(SECRET.decode())],
                "timeout_seconds": 5.0,
                "max_attempts": max_attempts,
                "backoff_base_seconds": 60.0,
            }
        )
    return build(settings.model_copy(update={"connector": connector}))


@contextmanager
def enforcement_workbench(
    database_url: str,
    tmp_path: Path,
    receiver: Receiver | None = None,
    *,
    max_attempts: int = 8,
) -> Iterator[Workbench]:
    """Serve a workbench whose actions go to *receiver* (or stay local without one)."""
    container = enforcement_container(
        database_url,
        tmp_path,
        None if receiver is None else receiver.url,
        max_attempts=max_attempts,
    )
    try:
        with serving(create_app(container)) as base_url:
            yield Workbench(container, base_url)
    finally:
        container.close()


@contextmanager
def signed_in(base_url: str, username: str) -> Iterator[tuple[httpx.Client, str]]:
    """Yield a client signed in as *username* and its CSRF token."""
    with httpx.Client(base_url=base_url) as client:
        assert sign_in(client, username).status_code == 303
        yield client, csrf_of(client)


def standing(container: Container, external_id: str = "4411") -> str:
    """Return the standing of the account *external_id*."""
    with read_only(container.sessions) as session:
        found = session.scalar(select(Account.standing).where(Account.external_id == external_id))
    assert found is not None
    return found


def account_id_of(session: Session, external_id: str = "4411") -> int:
    """Return the id of the account *external_id* (the one `complaint_case` makes)."""
    found = session.scalar(select(Account.id).where(Account.external_id == external_id))
    assert found is not None
    return found


def quote_complaints(container: Container, *, hours_back: int) -> None:
    """Record 77 complaints over 12,400 feedback-loop messages of account 4411, in one hour
    *hours_back* hours ago: a complaint rate of 0.62%."""
    with unit_of_work(container.sessions) as session:
        add_sending(
            session,
            account_id_of(session),
            hours_ago(utcnow(), hours_back),
            "feedback_loop",
            sent=12_400,
            fbl_sent=12_400,
            complaints=77,
        )


def stored(container: Container, *columns: Any, order_by: Any) -> list[tuple[Any, ...]]:
    """Return *columns* of every stored row of their table, ordered by *order_by*."""
    with read_only(container.sessions) as session:
        return [tuple(row) for row in session.execute(select(*columns).order_by(order_by))]


def actions(container: Container) -> list[tuple[int, str, str]]:
    """Return every stored action as (id, action, state), oldest first."""
    action = EnforcementAction
    return stored(container, action.id, action.action, action.state, order_by=action.id)


def action_tags(container: Container, action_id: int) -> list[tuple[str, str]]:
    """Return the audit rows about action *action_id* as (tag, actor), oldest first."""
    with read_only(container.sessions) as session:
        return audit_trail(session, "enforcement_action", action_id)


def idempotency_key(container: Container, action_id: int) -> str:
    """Return the key every connector call of action *action_id* carries."""
    with read_only(container.sessions) as session:
        return enforcement.action_record(session, action_id).idempotency_key


class Workbenches:
    """Start receivers and served workbenches that stay up until the test is over.

    Database checks made after the last request still find the container open, so no
    connection outlives its engine.
    """

    def __init__(self, database_url: str, tmp_path: Path, stack: ExitStack) -> None:
        """Start things on *stack*, which the fixture closes after the test."""
        self._database_url = database_url
        self._tmp_path = tmp_path
        self._stack = stack

    def receiver(self) -> Receiver:
        """Start a receiver on 127.0.0.1."""
        return self._stack.enter_context(running_receiver())

    def serve(self, receiver: Receiver | None = None, *, max_attempts: int = 8) -> Workbench:
        """Serve a workbench whose actions go to *receiver* (or stay local without one)."""
        return self._stack.enter_context(
            enforcement_workbench(
                self._database_url, self._tmp_path, receiver, max_attempts=max_attempts
            )
        )


@contextmanager
def workbenches(database_url: str, tmp_path: Path) -> Iterator[Workbenches]:
    """Yield a starter of receivers and workbenches; stop them all at the end."""
    with ExitStack() as stack:
        yield Workbenches(database_url, tmp_path, stack)


@pytest.fixture
def benches(database_url: str, tmp_path: Path) -> Iterator[Workbenches]:
    """Start receivers and workbenches that stay up until the test's checks are done."""
    with workbenches(database_url, tmp_path) as started:
        yield started
