"""A workbench whose actions run through the signed webhook to a real receiver on 127.0.0.1.

The receiver checks every call as the provider would (`signing.verify` with a record of
idempotency keys) and keeps what it accepted; it can be told to answer 503, as a control
plane that is down.
"""

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from abusedesk.bootstrap import Container, build
from abusedesk.core.clock import utcnow
from abusedesk.enforcement.signing import SeenKeys, WebhookRefused, verify
from abusedesk.storage import enforcement
from abusedesk.storage.db import read_only
from abusedesk.storage.tables import Account, AuditEntry, EnforcementAction
from abusedesk.web.app import create_app
from tests.support.access import access_settings, csrf_of, sign_in
from tests.support.web import serving
from tests.support.workbench import Workbench

SECRET = "a-shared-secret-of-at-least-32-characters"


@dataclass
class Receiver:
    """What the provider's control plane received: accepted calls and refusals."""

    url: str = ""
    status: int = 200
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    seen: SeenKeys = field(default_factory=SeenKeys)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, headers: dict[str, str], body: bytes) -> int:
        """Check one call; keep it when it is correctly signed and new; return the status."""
        with self.lock:
            if self.status != 200:
                return self.status
            try:
                key = verify(headers, body, [SECRET.encode()], utcnow(), seen=self.seen)
            except WebhookRefused as refusal:
                self.refused.append(type(refusal).__name__)
                return 401
            self.accepted.append({"idempotency_key": key, **json.loads(body)})
            return 200


@contextmanager
def receiving() -> Iterator[Receiver]:
    """Run a receiver on an ephemeral port of 127.0.0.1 until the block ends."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.take(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/enforcement"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def enforcement_container(
    database_url: str,
    tmp_path: Path,
    receiver_url: str | None = None,
    *,
    max_attempts: int = 8,
    **access: Any,
) -> Container:
    """Build a container whose notice keys and outbox live in *tmp_path*.

    With *receiver_url* its connector is the signed webhook to it; without, the local one.
    """
    settings = access_settings(database_url, tmp_path, **access)
    connector = settings.connector
    if receiver_url is not None:
        connector = connector.model_copy(
            update={
                "kind": "webhook",
                "url": receiver_url,
                "secrets": [SecretStr(SECRET)],
                "timeout_seconds": 5.0,
                "max_attempts": max_attempts,
                "backoff_base_seconds": 60.0,
            }
        )
    notices = settings.notices.model_copy(
        update={"keys_file": tmp_path / "keys" / "notices.json", "outbox_dir": tmp_path / "outbox"}
    )
    return build(settings.model_copy(update={"connector": connector, "notices": notices}))


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


def actions(container: Container) -> list[tuple[int, str, str]]:
    """Return every stored action as (id, action, state), oldest first."""
    with read_only(container.sessions) as session:
        rows = session.execute(
            select(
                EnforcementAction.id, EnforcementAction.action, EnforcementAction.state
            ).order_by(EnforcementAction.id)
        ).all()
    return [(row.id, row.action, row.state) for row in rows]


def action_tags(container: Container, action_id: int) -> list[tuple[str, str]]:
    """Return the audit rows about action *action_id* as (tag, actor), oldest first."""
    with read_only(container.sessions) as session:
        rows = session.execute(
            select(AuditEntry.tag, AuditEntry.actor)
            .where(
                AuditEntry.subject_type == "enforcement_action",
                AuditEntry.subject_id == str(action_id),
            )
            .order_by(AuditEntry.id)
        ).all()
    return [(row.tag, row.actor) for row in rows]


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
        return self._stack.enter_context(receiving())

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
