"""A real webhook receiver on 127.0.0.1 that verifies calls the way docs/connector.md says.

The connector's own tests call it directly; served workbenches reach it through their
settings (`tests.support.enforcement_pages.enforcement_container`).

It runs an HTTP server on a thread, checks each POST with `signing.verify` and a
`SeenKeys` store, and keeps what it applied and what it refused. Its behaviour can be
switched while it runs: answer errors (``status``), or act and then answer too late for
the sender's timeout (``slow_seconds``, for a lost answer).
"""

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from abusedesk.connectors import WebhookConnector
from abusedesk.core.clock import utcnow
from abusedesk.enforcement.signing import ReplayedCall, SeenKeys, WebhookRefused, verify

SECRET = b"s3cret-s3cret-s3cret-s3cret-s3cret-42"
OLD_SECRET = b"old-secret-old-secret-old-secret-0001"


@dataclass
class Received:
    """One request as it arrived: headers, raw body, and what the receiver did with it."""

    headers: dict[str, str]
    body: bytes
    outcome: str  # applied | replayed | refused:<reason> | failed:<status>

    @property
    def payload(self) -> dict[str, Any]:
        """Return the JSON body."""
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """The provider's side: verifies, de-duplicates by idempotency key, applies."""

    secrets: list[bytes] = field(default_factory=lambda: [SECRET])
    # None: verify and apply; an int: answer that status without applying.
    status: int | None = None
    # Act, then wait this long before answering (longer than the sender's timeout).
    slow_seconds: float = 0.0
    # The answer to a correctly signed repeat: 200 (already done) or e.g. 409.
    replay_status: int = 200
    requests: list[Received] = field(default_factory=list)
    applied: list[dict[str, Any]] = field(default_factory=list)
    seen: SeenKeys = field(default_factory=SeenKeys)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Decide the answer to one call and remember it."""
        with self.lock:
            if self.status is not None:
                self.requests.append(Received(headers, body, f"failed:{self.status}"))
                return self.status, b'{"error": "provider unavailable"}'
            try:
                verify(headers, body, self.secrets, utcnow(), seen=self.seen)
            except ReplayedCall:
                self.requests.append(Received(headers, body, "replayed"))
                return self.replay_status, b'{"status": "already applied"}'
            except WebhookRefused as refusal:
                self.requests.append(Received(headers, body, f"refused:{type(refusal).__name__}"))
                return 401, json.dumps({"error": str(refusal)}).encode()
            self.requests.append(Received(headers, body, "applied"))
            self.applied.append(json.loads(body))
            return 200, b'{"status": "applied"}'

    def outcomes(self) -> list[str]:
        """Return what became of each request, in order."""
        with self.lock:
            return [r.outcome for r in self.requests]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, answer = receiver.handle(dict(self.headers.items()), body)
            if receiver.slow_seconds:
                threading.Event().wait(receiver.slow_seconds)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the sender gave up waiting: its answer is lost, as intended

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    return Handler


@contextmanager
def running_receiver(receiver: Receiver | None = None) -> Iterator[Receiver]:
    """Serve *receiver* on 127.0.0.1 (a free port) while the block runs; set its ``url``."""
    receiver = receiver or Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/abuse/enforcement"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port_url() -> str:
    """Return a URL on 127.0.0.1 where nothing listens (the provider is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/abuse/enforcement"


def webhook_to(url: str, *, timeout: float = 2.0) -> WebhookConnector:
    """Return the signed webhook connector to *url*, signing with `SECRET`."""
    return WebhookConnector(url, [SECRET], timeout_seconds=timeout)


def provider_down() -> WebhookConnector:
    """Return a signed webhook connector to a provider that is down (nothing listens)."""
    return webhook_to(closed_port_url(), timeout=1.0)
