"""``abusedesk serve`` (alias ``run``): the web app, SMTP intake and background work in one process.

Start order: database check, web socket, background work, SMTP intake, then the web
server. A first SIGINT or SIGTERM stops the SMTP intake (no new reports), then the
background work (finishing what it holds), then the web server; a second one hurries
the web server along.
"""

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import typer
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

import abusedesk
from abusedesk.bootstrap import Container, build
from abusedesk.cli import imap as imap_cli
from abusedesk.cli.context import console, errors
from abusedesk.config import Settings
from abusedesk.intake.smtp import SmtpIntakeServer
from abusedesk.storage import migrate

# How long the web server waits for open requests once it is told to stop.
WEB_GRACE_SECONDS = 10


def serve() -> None:
    """Run the web app, the SMTP intake and background work until SIGINT or SIGTERM."""
    container = build(Settings(), configure_logs=True)
    try:
        _serve(container)
    finally:
        container.close()


def display_url(url: str) -> str:
    """Return the database URL with any password hidden, fit to print."""
    return make_url(url).render_as_string(hide_password=True)


def _serve(container: Container) -> None:
    # Imported here: the web stack is heavy, and every other command would pay for it.
    from abusedesk.web.app import create_app  # noqa: PLC0415  # see above

    settings = container.settings
    _check_database(container)
    web_socket = _bind_web(settings.web.host, settings.web.port)
    shutdown = _Shutdown()
    server = _WebServer(
        shutdown,
        uvicorn.Config(
            create_app(container),
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=True,
            forwarded_allow_ips=settings.web.forwarded_allow_ips,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=WEB_GRACE_SECONDS,
        ),
    )
    shutdown.server = server
    previous = {sig: signal.signal(sig, shutdown.on_signal) for sig in _SIGNALS}
    try:
        with shutdown.finally_stop():
            if settings.jobs.backend == "embedded":
                container.embedded.start()
                shutdown.add("background work", container.embedded.stop)
            smtp = _start_smtp(container) if settings.smtp.enabled else None
            if smtp is not None:
                shutdown.add("SMTP intake", smtp.stop)
            if settings.imap.enabled:
                shutdown.add("IMAP poller", imap_cli.start_background(container).stop)
            _print_banner(container, web_socket, smtp)
            server.run(sockets=[web_socket])
        _say("web server stopped; abusedesk is down")
    finally:
        web_socket.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_database(container: Container) -> None:
    shown = display_url(container.settings.database.url)
    try:
        current = migrate.current_revision(container.engine)
    except SQLAlchemyError as exc:
        _complain(f"cannot reach the database at {shown} ({type(exc).__name__})")
        raise typer.Exit(1) from exc
    head = migrate.head_revision()
    if current != head:
        _complain(
            f"the database at {shown} is at revision {current or 'empty'}, but this abusedesk "
            f"needs {head}: run `abusedesk db upgrade`"
        )
        raise typer.Exit(1)


def _bind_web(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        _complain(f"cannot listen for HTTP on {host}:{port}: {exc.strerror}")
        raise typer.Exit(1) from exc
    return sock


def _start_smtp(container: Container) -> SmtpIntakeServer:
    settings = container.settings
    try:
        smtp = SmtpIntakeServer(
            container.intake,
            host=settings.smtp.host,
            port=settings.smtp.port,
            recipients=settings.smtp.recipients,
            max_bytes=settings.storage.max_report_bytes,
            rate_per_second=settings.smtp_rate_limit.per_second,
            rate_burst=settings.smtp_rate_limit.burst,
            line_length_limit=settings.smtp.line_length_limit,
            max_connections=settings.smtp.max_connections,
            max_connections_per_peer=settings.smtp.max_connections_per_peer,
            reply_mailbox=settings.notices.reply_mailbox,
        )
        smtp.start()
    except ValueError as exc:
        _complain(f"SMTP intake: {exc}")
        raise typer.Exit(1) from exc
    except OSError as exc:
        _complain(
            f"cannot listen for SMTP on {settings.smtp.host}:{settings.smtp.port}: "
            f"{exc.strerror or exc}"
        )
        raise typer.Exit(1) from exc
    return smtp


def _print_banner(
    container: Container, web_socket: socket.socket, smtp: SmtpIntakeServer | None
) -> None:
    settings = container.settings
    host, port = web_socket.getsockname()[:2]
    base = f"http://{_url_host(host)}:{port}"
    _say(f"abusedesk {abusedesk.__version__} is running")
    _say(f"  web:       {base}/")
    _say(f"  health:    {base}/health")
    if smtp is not None:
        accepted = ", ".join(
            f"{entry} (any domain)" if entry.endswith("@") else entry
            for entry in smtp.recipients.entries
        )
        _say(f"  SMTP:      {_url_host(smtp.host)}:{smtp.port}, accepting mail to {accepted}")
    else:
        _say("  SMTP:      off (set ABUSEDESK_SMTP__ENABLED=true to take reports by mail)")
    if settings.imap.enabled:
        imap = settings.imap
        _say(
            f"  IMAP:      polling {imap.folder} at {imap.host}:{imap.port} every {imap.poll_interval_seconds:g} s"
        )
    _say(f"  database:  {display_url(settings.database.url)}")
    if settings.jobs.backend == "embedded":
        _say(f"  work:      {settings.jobs.embedded_workers} worker threads in this process")
    else:
        _say(
            f"  work:      done by `abusedesk worker` processes ({settings.jobs.backend}); "
            "start at least one"
        )
    _say("  API:       get a service token with `abusedesk token create NAME --scope ...`")
    _say(f"  people:    sign in at {base}/login (`abusedesk user create NAME --role ROLE`)")
    _say("Press Ctrl+C to stop.")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _say(text: str) -> None:
    # Paths and URLs must reach the terminal whole: no markup, no wrapping.
    console.print(text, markup=False, soft_wrap=True)


def _complain(text: str) -> None:
    errors.print(text, markup=False, soft_wrap=True)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _WebServer(uvicorn.Server):
    """uvicorn's server, leaving signals to the shutdown sequence."""

    def __init__(self, shutdown: "_Shutdown", config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stopper = shutdown

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Hand a signal to the shutdown sequence instead of stopping the web server first."""
        self.stopper.on_signal(sig, frame)


class _Shutdown:
    """Stop the parts in the reverse order of their start, then the web server."""

    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None
        self._steps: list[tuple[str, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._requested = False
        self._thread: threading.Thread | None = None

    def add(self, name: str, stop: Callable[[], None]) -> None:
        """Remember how to stop a part that has started."""
        with self._lock:
            self._steps.append((name, stop))

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Begin stopping on the first signal; on another, stop the web server at once."""
        del frame
        with self._lock:
            if self._requested:
                self._stop_web(force=True)
                return
            self._requested = True
        # Stopping joins threads; the signal arrives on the web server's loop, which must
        # keep answering (health, open requests) meanwhile.
        self._thread = threading.Thread(
            target=self._stop_all, args=(signal.Signals(signum).name,), name="abusedesk-shutdown"
        )
        self._thread.start()

    @contextlib.contextmanager
    def finally_stop(self) -> Iterator[None]:
        """Make sure every started part is stopped however the block ends."""
        try:
            yield
        finally:
            if self._thread is not None:
                self._thread.join()
            self._stop_steps()

    def _stop_all(self, reason: str) -> None:
        _say(f"{reason} received: stopping")
        self._stop_steps()
        self._stop_web(force=False)

    def _stop_web(self, *, force: bool) -> None:
        if self.server is not None:
            self.server.force_exit = self.server.force_exit or force
            self.server.should_exit = True

    def _stop_steps(self) -> None:
        while True:
            with self._lock:
                if not self._steps:
                    return
                name, stop = self._steps.pop()
            stop()
            _say(f"{name} stopped")
