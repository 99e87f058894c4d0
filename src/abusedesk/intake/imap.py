"""The IMAP intake: pull reports from a mailbox, store them, then mark or move them.

The mailbox itself keeps the poller's state, so a crash at any moment loses nothing and
stores nothing twice:

* a message is read with ``BODY.PEEK`` (which leaves it unseen), stored through the
  report intake, and only after that commit flagged ``\\Seen $AbusedeskStored`` (``mark``)
  or flagged and moved to the processed folder (``move``);
* a crash before the commit leaves the message as it was: the next poll reads it again;
* a crash after the commit but before the mark also leaves it unmarked: the next poll reads
  it again, the intake finds the same bytes (same SHA-256) and answers with the report
  already stored, and the message is marked then;
* a message larger than the intake's limit, or empty, is refused at the door as the SMTP
  intake refuses it: it is never downloaded whole, stays in the mailbox flagged
  ``$AbusedeskRejected`` (and left unseen, for a person to look at), and a warning names
  its UID, size and reason. Clearing the flag (after raising the limit) makes the next poll
  try it again.

Which messages are new is asked of the server each time (``UID SEARCH`` for messages
without those keywords), not worked out from the highest UID seen: UIDs mean something
only with their folder's UIDVALIDITY, and when that changes (a folder recreated or
restored) every message may carry a new UID. The poller remembers each folder's
UIDVALIDITY to say so in its log and result; the search, the flags that travel with the
messages and the content hash keep it correct either way.
"""

import imaplib
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from imapclient import IMAPClient

from abusedesk.core.errors import AbuseDeskError
from abusedesk.intake.service import Incoming, ReportIntake, ReportRejected, ReportTooLarge

log = structlog.get_logger(__name__)

CHANNEL = "imap"
STORED = b"$AbusedeskStored"
REJECTED = b"$AbusedeskRejected"
SEEN = b"\\Seen"
DELETED = b"\\Deleted"
FLAGGED = b"\\Flagged"
# Bodies downloaded together, stored in one commit, then marked: a bound on memory.
GROUP_BYTES = 8 * 1024 * 1024
# How long to wait after a failed poll before the next attempt: doubling, up to a cap.
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
# How long stop() waits for a poll in progress (it may sit in a socket read that long).
STOP_SECONDS = 30.0
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}

Security = Literal["tls", "starttls", "none"]
AfterStore = Literal["mark", "move"]
Outcome = Literal["stored", "duplicate", "already_stored", "rejected", "failed"]


class ImapError(AbuseDeskError):
    """Raise when the IMAP server cannot be reached, refuses the login, or fails a command."""

    reason = "imap_unavailable"


@dataclass(frozen=True)
class ImapAccount:
    """Where the mailbox is, how to log in, and what to do with a message once stored."""

    host: str
    port: int
    username: str
    password: str
    security: Security = "tls"
    ca_file: Path | None = None
    folder: str = "INBOX"
    after_store: AfterStore = "mark"
    processed_folder: str = "Processed"
    batch_size: int = 50
    timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        """Refuse settings that cannot work, or that would send the password in the clear."""
        if not self.host or not self.username:
            raise ValueError("the IMAP poller needs a host and a username")
        if self.security == "none" and not _is_loopback(self.host):
            raise ValueError(
                f"security 'none' would send the password to {self.host} in the clear; "
                "it is allowed only for a server on this machine: use 'tls' or 'starttls'"
            )
        if self.after_store == "move" and self.processed_folder == self.folder:
            raise ValueError("the processed folder must not be the folder that is polled")
        if self.batch_size < 1:
            raise ValueError("the batch size must be at least 1")

    @property
    def server(self) -> str:
        """Return ``host:port``, for envelopes, logs and messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class MessageResult:
    """What became of one message of the mailbox in one poll."""

    uid: int
    outcome: Outcome
    size: int
    report_id: int | None = None
    detail: str = ""


@dataclass
class PollResult:
    """What one poll of one folder found and did."""

    server: str
    folder: str
    uidvalidity: int
    uidvalidity_changed: bool = False
    messages: list[MessageResult] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        """Return how many messages had *outcome*."""
        return sum(1 for message in self.messages if message.outcome == outcome)


@dataclass(frozen=True)
class FetchedMessage:
    """One message as read from the server: its bytes, or why they were not downloaded."""

    uid: int
    size: int
    raw: bytes | None = None
    already_stored: bool = False
    refusal: ReportRejected | None = None


class ImapPoller:
    """Poll one folder of one mailbox and store what is new through the report intake."""

    def __init__(
        self,
        intake: ReportIntake,
        account: ImapAccount,
        *,
        backoff_initial_seconds: float = BACKOFF_INITIAL_SECONDS,
        backoff_max_seconds: float = BACKOFF_MAX_SECONDS,
    ) -> None:
        self.intake = intake
        self.account = account
        self.backoff_initial_seconds = backoff_initial_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self._uidvalidity: dict[str, int] = {}

    @contextmanager
    def connect(self) -> Iterator["ImapFolder"]:
        """Log in, select the folder and yield it; log out at the end, however it ends."""
        account = self.account
        client = _open(account)
        try:
            with _imap_errors(account, "select the folder"):
                selected = client.select_folder(account.folder)
                folder = ImapFolder(self, client, selected)
                if account.after_store == "move" and not client.folder_exists(
                    account.processed_folder
                ):
                    client.create_folder(account.processed_folder)
                    log.info("imap_processed_folder_created", server=account.server)
            yield folder
        finally:
            _close(client)

    def poll_once(self, stop: threading.Event | None = None) -> PollResult:
        """Store every message not stored yet, batch by batch; raise ImapError on trouble.

        When *stop* is set, the poll ends after the batch in hand.
        """
        with self.connect() as folder:
            result = folder.result()
            uids = folder.pending()
            for start in range(0, len(uids), self.account.batch_size):
                if stop is not None and stop.is_set():
                    break
                batch = uids[start : start + self.account.batch_size]
                result.messages.extend(folder.process(batch))
        log.info(
            "imap_poll_finished",
            server=self.account.server,
            stored=result.count("stored"),
            duplicates=result.count("duplicate") + result.count("already_stored"),
            rejected=result.count("rejected"),
            failed=result.count("failed"),
        )
        return result

    def run(
        self,
        stop: threading.Event,
        interval_seconds: float,
        on_result: Callable[[PollResult], None] | None = None,
        on_error: Callable[[Exception, float], None] | None = None,
    ) -> None:
        """Poll every *interval_seconds* until *stop* is set; back off after failures.

        A failed poll (server unreachable, login refused, database down) never ends the
        loop: it is logged, handed to *on_error* with the delay before the next attempt,
        and retried after a delay that doubles up to a cap.
        """
        delay = self.backoff_initial_seconds
        while not stop.is_set():
            try:
                result = self.poll_once(stop)
            except Exception as exc:
                # The poller's loop boundary: whatever went wrong, the messages not marked
                # are still on the server, and the next attempt takes them.
                if isinstance(exc, ImapError):
                    log.warning("imap_poll_failed", server=self.account.server, error=str(exc))
                else:
                    log.exception("imap_poll_failed", server=self.account.server)
                if on_error is not None:
                    on_error(exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, self.backoff_max_seconds)
                continue
            delay = self.backoff_initial_seconds
            if on_result is not None:
                on_result(result)
            stop.wait(interval_seconds)

    def note_uidvalidity(self, uidvalidity: int) -> bool:
        """Remember the folder's UIDVALIDITY; tell whether it differs from the last one seen."""
        previous = self._uidvalidity.get(self.account.folder)
        self._uidvalidity[self.account.folder] = uidvalidity
        if previous is not None and previous != uidvalidity:
            log.warning(
                "imap_uidvalidity_changed",
                server=self.account.server,
                previous=previous,
                current=uidvalidity,
            )
            return True
        return False


class ImapFolder:
    """The selected folder of one connection, and the steps of a poll on it.

    A poll is ``pending()``, then for each batch ``fetch()``, ``store()`` and ``settle()``
    (``process()`` runs the three); the steps are separate so that each one's effect on
    the mailbox and the database can be seen on its own.
    """

    def __init__(self, poller: ImapPoller, client: Any, selected: dict[bytes, Any]) -> None:
        self.poller = poller
        self.account = poller.account
        self.client = client
        self.uidvalidity = int(selected.get(b"UIDVALIDITY", 0))
        self.uidvalidity_changed = poller.note_uidvalidity(self.uidvalidity)
        permanent = selected.get(b"PERMANENTFLAGS", ())
        # Servers that keep no keywords of ours (\* missing) can only move what is stored.
        self.keywords = b"\\*" in permanent
        if self.account.after_store == "mark" and not self.keywords:
            raise ImapError(
                f"the IMAP server {self.account.server} keeps no custom keywords in "
                f"{self.account.folder!r}, so stored messages cannot be marked: "
                "set after_store to 'move'"
            )
        capabilities = {bytes(c).upper() for c in client.capabilities()}
        self.can_move = b"MOVE" in capabilities
        self.can_uid_expunge = b"UIDPLUS" in capabilities

    def result(self) -> PollResult:
        """Return an empty result for this folder, to be filled by the poll."""
        return PollResult(
            server=self.account.server,
            folder=self.account.folder,
            uidvalidity=self.uidvalidity,
            uidvalidity_changed=self.uidvalidity_changed,
        )

    def pending(self) -> list[int]:
        """Return the UIDs of the messages still to store (or, in move mode, to move)."""
        criteria: list[Any] = ["NOT", "DELETED"]
        if self.keywords:
            criteria += ["NOT", "KEYWORD", REJECTED.decode()]
            # In move mode a message flagged stored but still here is moved, not read again.
            if self.account.after_store == "mark":
                criteria += ["NOT", "KEYWORD", STORED.decode()]
        with _imap_errors(self.account, "search the folder"):
            return sorted(int(uid) for uid in self.client.search(criteria))

    def process(self, uids: Sequence[int]) -> list[MessageResult]:
        """Fetch, store and settle one batch; return what became of each message."""
        results: list[MessageResult] = []
        sizes = self._sizes(uids)
        for group in self._groups(sizes):
            messages = self._fetch({uid: sizes[uid] for uid in group})
            stored = self.store(messages)
            self.settle(stored)
            results.extend(stored)
        return results

    def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        """Read the messages *uids*; too large ones are not downloaded, only measured.

        A body is read as a partial fetch one byte longer than the limit, so that a server
        that misstates a size still cannot make us hold more than that.
        """
        return self._fetch(self._sizes(uids))

    def _fetch(self, sizes: dict[int, tuple[int, tuple[bytes, ...]]]) -> list[FetchedMessage]:
        limit = self.poller.intake.max_bytes
        fetched: dict[int, FetchedMessage] = {}
        wanted: list[int] = []
        for uid, (size, flags) in sizes.items():
            if self.keywords and STORED in flags:
                fetched[uid] = FetchedMessage(uid, size, already_stored=True)
            elif size > limit:
                fetched[uid] = FetchedMessage(uid, size, refusal=_too_large(size, limit))
            else:
                wanted.append(uid)
        if wanted:
            section = f"BODY.PEEK[]<0.{limit + 1}>"
            with _imap_errors(self.account, "fetch messages"):
                bodies = self.client.fetch(wanted, [section])
            for uid in wanted:
                raw = _body_of(bodies.get(uid, {}))
                if raw is None:
                    # Expunged by someone else since the search: nothing left to store.
                    log.info("imap_message_vanished", server=self.account.server, uid=uid)
                    continue
                fetched[uid] = FetchedMessage(uid, len(raw), raw=raw)
        return [fetched[uid] for uid in sizes if uid in fetched]

    def store(self, messages: Sequence[FetchedMessage]) -> list[MessageResult]:
        """Store the downloaded messages through the intake in one commit.

        Nothing on the server changes here; the results say what settle() must do.
        """
        results: dict[int, MessageResult] = {}
        accepted: list[tuple[FetchedMessage, bytes]] = []
        for message in messages:
            if message.already_stored:
                results[message.uid] = MessageResult(message.uid, "already_stored", message.size)
                continue
            refusal = message.refusal
            if refusal is None:
                try:
                    self.poller.intake.check(message.raw or b"")
                except ReportRejected as exc:
                    refusal = exc
                else:
                    accepted.append((message, message.raw or b""))
                    continue
            detail = f"{refusal.reason}: {refusal}"
            results[message.uid] = MessageResult(
                message.uid, "rejected", message.size, None, detail
            )
        for message, stored_as in self._commit(accepted):
            results[message.uid] = stored_as
        return [results[m.uid] for m in messages if m.uid in results]

    def settle(self, results: Sequence[MessageResult]) -> None:
        """Mark or move what is stored, flag what was refused; leave failures for next time."""
        done = [r.uid for r in results if r.outcome in ("stored", "duplicate", "already_stored")]
        refused = [r for r in results if r.outcome == "rejected"]
        with _imap_errors(self.account, "mark stored messages"):
            if done:
                self._mark_stored(done)
            if refused:
                self._flag_rejected(refused)

    def _sizes(self, uids: Sequence[int]) -> dict[int, tuple[int, tuple[bytes, ...]]]:
        """Return each message's size and flags, in the order of *uids*."""
        if not uids:
            return {}
        with _imap_errors(self.account, "fetch message sizes"):
            response = self.client.fetch(list(uids), ["RFC822.SIZE", "FLAGS"])
        sizes: dict[int, tuple[int, tuple[bytes, ...]]] = {}
        for uid in uids:
            data = response.get(uid)
            if data is None:
                continue
            sizes[uid] = (int(data.get(b"RFC822.SIZE", 0)), tuple(data.get(b"FLAGS", ())))
        return sizes

    def _groups(self, sizes: dict[int, tuple[int, tuple[bytes, ...]]]) -> Iterator[list[int]]:
        """Split a batch into groups whose bodies together stay near GROUP_BYTES."""
        group: list[int] = []
        total = 0
        limit = self.poller.intake.max_bytes
        for uid, (size, _flags) in sizes.items():
            # Messages that will not be downloaded weigh nothing.
            weight = size if size <= limit else 0
            if group and total + weight > GROUP_BYTES:
                yield group
                group, total = [], 0
            group.append(uid)
            total += weight
        if group:
            yield group

    def _commit(
        self, accepted: Sequence[tuple[FetchedMessage, bytes]]
    ) -> list[tuple[FetchedMessage, MessageResult]]:
        """Store *accepted* in one commit; when that fails, one by one, to isolate a bad one."""
        if not accepted:
            return []
        try:
            stored = self.poller.intake.accept_many([self._incoming(m, raw) for m, raw in accepted])
        except Exception:
            if len(accepted) == 1:
                message = accepted[0][0]
                # A loop boundary: the message stays unmarked and is tried again next poll.
                log.exception("imap_store_failed", server=self.account.server, uid=message.uid)
                failed = MessageResult(message.uid, "failed", message.size, None, "not stored")
                return [(message, failed)]
            results: list[tuple[FetchedMessage, MessageResult]] = []
            for one in accepted:
                results.extend(self._commit([one]))
            return results
        return [
            (
                message,
                MessageResult(
                    message.uid,
                    "stored" if report.created else "duplicate",
                    message.size,
                    report.report_id,
                ),
            )
            for (message, _raw), report in zip(accepted, stored, strict=True)
        ]

    def _incoming(self, message: FetchedMessage, raw: bytes) -> Incoming:
        return Incoming(
            raw=raw,
            channel=CHANNEL,
            envelope={
                "server": self.account.server,
                "username": self.account.username,
                "folder": self.account.folder,
                "uidvalidity": self.uidvalidity,
                "uid": message.uid,
            },
        )

    def _mark_stored(self, uids: list[int]) -> None:
        if self.keywords:
            self.client.add_flags(uids, [SEEN, STORED], silent=True)
        else:
            self.client.add_flags(uids, [SEEN], silent=True)
        if self.account.after_store == "move":
            self._move(uids)

    def _move(self, uids: list[int]) -> None:
        target = self.account.processed_folder
        if self.can_move:
            self.client.move(uids, target)
            return
        # Without MOVE: copy, then delete here. A crash between the two leaves the message
        # in both places; the flag on it already says it is stored, so it is not read again.
        self.client.copy(uids, target)
        self.client.add_flags(uids, [DELETED], silent=True)
        if self.can_uid_expunge:
            self.client.uid_expunge(uids)

    def _flag_rejected(self, refused: list[MessageResult]) -> None:
        for result in refused:
            log.warning(
                "imap_report_rejected",
                server=self.account.server,
                folder=self.account.folder,
                uid=result.uid,
                size=result.size,
                reason=result.detail,
            )
        flags = [REJECTED] if self.keywords else [FLAGGED]
        self.client.add_flags([r.uid for r in refused], flags, silent=True)


class ImapPollerThread:
    """Run an ImapPoller on a thread of its own, for ``abusedesk serve``."""

    def __init__(self, poller: ImapPoller, *, interval_seconds: float) -> None:
        self.poller = poller
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling in the background."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.poller.run,
            args=(self._stop, self.interval_seconds),
            name="abusedesk-imap",
            daemon=True,
        )
        self._thread.start()
        log.info("imap_poller_started", server=self.poller.account.server)

    def stop(self) -> None:
        """Let the batch in hand finish (stored and marked), then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_SECONDS)
            if self._thread.is_alive():
                log.warning("imap_poller_stopped_in_flight")
        log.info("imap_poller_stopped")


def _open(account: ImapAccount) -> Any:
    """Connect and log in, raising ImapError with a message a person can act on."""
    context: ssl.SSLContext | None = None
    if account.security != "none":
        context = ssl.create_default_context(
            cafile=str(account.ca_file) if account.ca_file else None
        )
    with _imap_errors(account, "connect"):
        client = IMAPClient(
            account.host,
            port=account.port,
            ssl=account.security == "tls",
            ssl_context=context,
            timeout=account.timeout_seconds,
        )
    try:
        with _imap_errors(account, "log in"):
            if account.security == "starttls":
                client.starttls(context)
            client.login(account.username, account.password)
    except ImapError:
        _close(client)
        raise
    return client


def _close(client: Any) -> None:
    """Log out, or at least close the socket when the connection is already broken."""
    try:
        client.logout()
    except (imaplib.IMAP4.error, OSError):
        try:
            client.shutdown()
        except OSError:
            log.debug("imap_close_failed")


@contextmanager
def _imap_errors(account: ImapAccount, doing: str) -> Iterator[None]:
    """Turn the errors of the IMAP client and the socket into one ImapError with context."""
    try:
        yield
    except ImapError:
        raise
    except ssl.SSLError as exc:
        raise ImapError(
            f"could not {doing} on IMAP server {account.server}: TLS failed ({exc.reason or exc})"
        ) from exc
    except OSError as exc:
        text = exc.strerror or str(exc) or type(exc).__name__
        raise ImapError(f"could not {doing} on IMAP server {account.server}: {text}") from exc
    except imaplib.IMAP4.error as exc:
        text = _decoded(exc)
        raise ImapError(f"could not {doing} on IMAP server {account.server}: {text}") from exc


def _decoded(exc: BaseException) -> str:
    text = str(exc)
    # imaplib puts the server's bytes in the message; show their text, not their repr.
    if text.startswith(("b'", 'b"')) and text.endswith(("'", '"')):
        text = text[2:-1]
    return text or type(exc).__name__


def _body_of(data: dict[bytes, Any]) -> bytes | None:
    """Return the body section of one FETCH response, whatever the server called it."""
    for key, value in data.items():
        if bytes(key).upper().startswith(b"BODY[") and isinstance(value, bytes):
            return value
    return None


def _too_large(size: int, limit: int) -> ReportRejected:
    # Worded as the intake words its own refusal, so that every channel says the same.
    return ReportTooLarge(f"report is {size:,} bytes; the limit is {limit:,} bytes")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
