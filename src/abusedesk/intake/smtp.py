"""The SMTP intake: aiosmtpd accepting reports for the configured abuse addresses.

A message is answered ``250`` only after its bytes are committed; anything that goes
wrong while storing answers ``451`` so that the sender keeps the message and retries.
"""

import asyncio
import socket
import threading
from collections.abc import Sequence
from typing import Any

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from abusedesk.core.ratelimit import PeerRateLimiter
from abusedesk.intake.service import Incoming, ReportIntake, ReportRejected, ReportTooLarge

log = structlog.get_logger(__name__)

CHANNEL = "smtp"
# How long stop() lets messages that are being stored finish before it cuts them off.
DRAIN_SECONDS = 10.0
# The defaults of the SMTP settings, for servers built without them (see config.py).
LINE_LENGTH_LIMIT = 1024 * 1024
MAX_CONNECTIONS = 200
MAX_CONNECTIONS_PER_PEER = 20
TOO_MANY_CONNECTIONS = b"421 4.7.0 too many connections\r\n"


class ConnectionLimiter:
    """Count open connections, overall and per peer address, and refuse those beyond a cap."""

    def __init__(self, *, max_total: int, max_per_peer: int) -> None:
        if max_total < 1 or max_per_peer < 1:
            raise ValueError("connection limits must allow at least one connection")
        self.max_total = max_total
        self.max_per_peer = max_per_peer
        self.total = 0
        self._per_peer: dict[str, int] = {}
        self._lock = threading.Lock()

    def open(self, peer: str) -> bool:
        """Count a new connection from *peer*; tell whether it is within both caps."""
        with self._lock:
            if self.total >= self.max_total or self._per_peer.get(peer, 0) >= self.max_per_peer:
                return False
            self.total += 1
            self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
            return True

    def close(self, peer: str) -> None:
        """Count a connection from *peer* that open() let in as closed."""
        with self._lock:
            self.total -= 1
            left = self._per_peer.pop(peer) - 1
            # Peers with no open connection are forgotten, so the table stays small.
            if left:
                self._per_peer[peer] = left


class RecipientPolicy:
    """Decide which recipients the intake accepts.

    ``abuse@`` accepts that local part at any domain; ``abuse@example.net`` accepts
    exactly that address. Both compare without regard to case. With a *reply_mailbox*
    (``case``), every ``case+<token>@<any domain>`` is taken too: customers' replies to
    notices, whose token the pipeline checks (pipeline/replies.py).
    """

    def __init__(self, entries: Sequence[str], *, reply_mailbox: str = "") -> None:
        self.entries = tuple(entries)
        self.reply_prefix = f"{reply_mailbox.strip().lower()}+" if reply_mailbox.strip() else ""
        self._local_parts: set[str] = set()
        self._addresses: set[str] = set()
        for entry in entries:
            local, at, domain = entry.strip().lower().rpartition("@")
            if not at or not local:
                raise ValueError(
                    f"SMTP recipient {entry!r} should look like 'abuse@' or 'abuse@example.net'"
                )
            if domain:
                self._addresses.add(f"{local}@{domain}")
            else:
                self._local_parts.add(local)
        if not entries:
            raise ValueError("the SMTP intake needs at least one recipient, such as 'abuse@'")

    def accepts(self, address: str) -> bool:
        """Tell whether mail to *address* is taken in."""
        normalised = address.strip().lower()
        local, at, domain = normalised.rpartition("@")
        if not at or not local or not domain:
            return False
        if self.reply_prefix and local.startswith(self.reply_prefix):
            return len(local) > len(self.reply_prefix)
        return normalised in self._addresses or local in self._local_parts


class IntakeHandler:
    """The aiosmtpd handler: refuse what we do not take, store what we do, then answer."""

    def __init__(
        self,
        intake: ReportIntake,
        recipients: RecipientPolicy,
        limiter: PeerRateLimiter,
    ) -> None:
        self.intake = intake
        self.recipients = recipients
        self.limiter = limiter
        self._in_flight = 0
        self._settled = threading.Condition()

    async def handle_MAIL(  # noqa: N802  # aiosmtpd finds hooks by this name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Start a message unless its peer has sent too many too fast."""
        if not self.limiter.allow(_peer_host(session)):
            log.warning("smtp_rate_limited")
            return "451 4.7.1 Too many messages from your address; try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(  # noqa: N802  # aiosmtpd finds hooks by this name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept only the configured report addresses."""
        if not self.recipients.accepts(address):
            return "550 5.1.1 No such mailbox: this server takes abuse reports only"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802  # aiosmtpd finds hooks by this name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Store the message and answer 250 only once it is committed."""
        raw = envelope.original_content or b""
        incoming = Incoming(
            raw=bytes(raw),
            channel=CHANNEL,
            envelope={
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "peer": _peer_host(session),
                "helo": session.host_name,
            },
        )
        loop = asyncio.get_running_loop()
        with self._settled:
            self._in_flight += 1
        try:
            # The commit blocks; a worker thread keeps other connections moving meanwhile.
            stored = await loop.run_in_executor(None, self.intake.accept, incoming)
        except ReportTooLarge as exc:
            return f"552 5.3.4 {exc}"
        except ReportRejected as exc:
            return f"554 5.6.0 Report refused: {exc}"
        except Exception as exc:
            # The handler's boundary: a temporary answer keeps the message with the sender,
            # who retries, so nothing is lost.
            log.exception("smtp_store_failed", error_class=type(exc).__qualname__)
            return "451 4.3.0 Could not store the report right now; please try again later"
        finally:
            with self._settled:
                self._in_flight -= 1
                self._settled.notify_all()
        log.info(
            "smtp_report_received",
            report_id=stored.report_id,
            created=stored.created,
            size=len(incoming.raw),
        )
        return f"250 2.0.0 Queued as report {stored.report_id}"

    def wait_settled(self, timeout: float) -> bool:
        """Wait until no message is being stored; tell whether that happened in time."""
        with self._settled:
            return self._settled.wait_for(lambda: self._in_flight == 0, timeout)


class _IntakeSMTP(SMTP):
    """aiosmtpd's protocol, with room for long lines and a cap on open connections."""

    def __init__(
        self,
        handler: IntakeHandler,
        *,
        line_length_limit: int,
        connections: ConnectionLimiter,
        **kwargs: Any,
    ) -> None:
        # RFC 5321 caps lines at 1000 octets, but reporters quote spam that ignores it;
        # refusing such a report would lose evidence. The limit also bounds what a peer can
        # make us buffer in a command line, so it stays far below the data size limit.
        self.line_length_limit = line_length_limit
        self._connections = connections
        self._counted_peer: str | None = None
        self._refused = False
        super().__init__(handler, **kwargs)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the connection, or answer 421 and close it when there are too many."""
        # STARTTLS makes a second call for the same connection; it is counted once.
        if self._counted_peer is None:
            peer = _peer_address(transport.get_extra_info("peername"))
            if not self._connections.open(peer):
                self._refused = True
                log.warning("smtp_too_many_connections", open=self._connections.total)
                if isinstance(transport, asyncio.WriteTransport):
                    transport.write(TOO_MANY_CONNECTIONS)
                # The reply is sent before the socket closes; no session was ever started.
                transport.close()
                return
            self._counted_peer = peer
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        """Release the connection's place, then let aiosmtpd clean up its session."""
        if self._refused:
            return
        if self._counted_peer is not None:
            self._connections.close(self._counted_peer)
            self._counted_peer = None
        super().connection_lost(error)


class _Controller(Controller):
    """aiosmtpd's threaded controller, able to listen on an ephemeral port."""

    def __init__(
        self,
        handler: IntakeHandler,
        *,
        line_length_limit: int,
        connections: ConnectionLimiter,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self.line_length_limit = line_length_limit
        self.connections = connections

    def factory(self) -> SMTP:
        """Build the protocol object for one connection."""
        return _IntakeSMTP(
            self.handler,
            line_length_limit=self.line_length_limit,
            connections=self.connections,
            **self.SMTP_kwargs,
        )

    def _trigger_server(self) -> None:
        # With port 0 the system chose the port; the start-up probe must use that one.
        if isinstance(self.server, asyncio.Server) and self.server.sockets:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it untyped


class SmtpIntakeServer:
    """Listen for reports by SMTP on a host and port, on a thread of its own."""

    def __init__(
        self,
        intake: ReportIntake,
        *,
        host: str,
        port: int,
        recipients: Sequence[str],
        max_bytes: int,
        rate_per_second: float,
        rate_burst: int,
        hostname: str | None = None,
        line_length_limit: int = LINE_LENGTH_LIMIT,
        max_connections: int = MAX_CONNECTIONS,
        max_connections_per_peer: int = MAX_CONNECTIONS_PER_PEER,
        reply_mailbox: str = "",
    ) -> None:
        self.host = host
        self.recipients = RecipientPolicy(recipients, reply_mailbox=reply_mailbox)
        self.handler = IntakeHandler(
            intake,
            self.recipients,
            PeerRateLimiter(per_second=rate_per_second, burst=rate_burst),
        )
        self._controller = _Controller(
            self.handler,
            hostname=host,
            port=port,
            line_length_limit=line_length_limit,
            connections=ConnectionLimiter(
                max_total=max_connections, max_per_peer=max_connections_per_peer
            ),
            # The protocol refuses oversized mail itself, before it is all in memory.
            data_size_limit=max_bytes,
            # A name for the greeting; looking up our own FQDN could stall without DNS.
            server_hostname=hostname or socket.gethostname(),
            enable_SMTPUTF8=True,
        )
        self._running = False

    @property
    def port(self) -> int:
        """Return the port listened on (the one the system chose, when asked for 0)."""
        return int(self._controller.port)

    def start(self) -> None:
        """Bind and start answering; raise OSError when the address cannot be used."""
        self._controller.start()
        self._running = True
        log.info("smtp_intake_started", port=self.port)

    def stop(self) -> None:
        """Stop taking connections, let messages being stored finish, then shut down."""
        if not self._running:
            return
        self._running = False
        server = self._controller.server
        if server is not None:
            self._controller.loop.call_soon_threadsafe(server.close)
        if not self.handler.wait_settled(DRAIN_SECONDS):
            log.warning("smtp_intake_stopped_with_messages_in_flight")
        self._controller.stop()
        log.info("smtp_intake_stopped")


def _peer_host(session: Session) -> str:
    return _peer_address(session.peer)


def _peer_address(peer: object) -> str:
    # A socket address is (host, port) for IPv4 and (host, port, flow, scope) for IPv6.
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    return str(peer)
