"""Serve the web app for tests on a real port, and give test clients their tokens."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tokens import IssuedToken, SqlTokenRepository


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve *app* with uvicorn on an ephemeral port of 127.0.0.1; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def issue(container: Container, *scopes: str) -> IssuedToken:
    """Create a token with *scopes* in the test database."""
    with unit_of_work(container.sessions) as session:
        return SqlTokenRepository().create(
            session, "test client", scopes, actor="test", now=utcnow()
        )


def bearer(token: str) -> dict[str, str]:
    """Return the Authorization header presenting *token*."""
    return {"Authorization": f"Bearer {token}"}
