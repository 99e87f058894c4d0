"""A real Dovecot IMAP server on 127.0.0.1 for tests, with its own configuration and mail.

Each server lives in a temporary folder: a generated ``dovecot.conf``, Maildir mailboxes,
its sockets and its log. Any user name logs in with PASSWORD, and each name is a fresh,
empty mailbox, so tests sharing one server do not see each other's mail. With ``tls`` the
server also listens for implicit TLS and offers STARTTLS, with a self-signed certificate
for 127.0.0.1 made by the test.

When Dovecot is not installed the tests that need it skip, saying so, unless
``ABUSEDESK_TEST_REQUIRE_IMAP=1`` (CI sets it): then they fail.
"""

import datetime
import grp
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imapclient import IMAPClient

REQUIRE_VARIABLE = "ABUSEDESK_TEST_REQUIRE_IMAP"
PASSWORD = "imap-test-secret"
START_SECONDS = 20
# Dovecot's own account names in Debian's package, used for its unprivileged processes.
DOVECOT_SERVICE_USERS = ("dovecot", "dovenull")


def dovecot_binary() -> str:
    """Return the dovecot program, or skip (fail when REQUIRE_VARIABLE is set) without it."""
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(("/usr/sbin", "/sbin"))
    found = shutil.which("dovecot", path=path)
    if found is not None:
        return found
    message = "Dovecot is not installed (Debian: apt-get install dovecot-imapd)"
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{message}, and {REQUIRE_VARIABLE}=1 requires the IMAP tests to run")
    pytest.skip(message)


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Mailbox:
    """One user's mailbox on a test server: where it is and how to reach it."""

    host: str
    port: int
    username: str
    password: str

    def client(self) -> IMAPClient:
        """Return a logged-in plain-text IMAP client (the server is on 127.0.0.1)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        client.login(self.username, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple[bytes, ...] = ()) -> None:
        """Put *raw* into *folder*, as a mail delivery would."""
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=flags)

    def messages(self, folder: str = "INBOX") -> dict[bytes, tuple[bytes, ...]]:
        """Return each message's bytes in *folder* and its flags (\\Recent left out)."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return {}
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"])
            return {
                data[uid][b"BODY[]"]: tuple(
                    sorted(f for f in data[uid][b"FLAGS"] if f != b"\\Recent")
                )
                for uid in uids
            }


class DovecotServer:
    """A Dovecot master process serving IMAP on 127.0.0.1, started and stopped by tests."""

    def __init__(
        self, directory: Path, *, port: int | None = None, tls: bool = False, extra: str = ""
    ) -> None:
        self.binary = dovecot_binary()
        self.directory = directory
        self.port = port or free_port()
        self.tls_port = free_port() if tls else None
        self.certificate = directory / "server.pem" if tls else None
        self.process: subprocess.Popen[bytes] | None = None
        self.config = directory / "dovecot.conf"
        self.log = directory / "dovecot.log"
        self._write_config(extra)

    def mailbox(self, username: str | None = None) -> Mailbox:
        """Return a new, empty mailbox on this server (or the one of *username*)."""
        return Mailbox("127.0.0.1", self.port, username or f"u{uuid.uuid4().hex[:12]}", PASSWORD)

    def start(self) -> None:
        """Start Dovecot and wait until it greets on its port."""
        with (self.directory / "dovecot.err").open("wb") as err:
            self.process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=err
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited at start:\n{self.problems()}")
            if _greets(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not start in {START_SECONDS} s:\n{self.problems()}")

    def stop(self) -> None:
        """Stop Dovecot and its children, and wait until the port is free."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=START_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def problems(self) -> str:
        """Return what Dovecot wrote to its error output and log, to explain a failure."""
        parts = [
            path.read_text(errors="replace")
            for path in (self.directory / "dovecot.err", self.log)
            if path.exists()
        ]
        return "\n".join(parts)

    def _write_config(self, extra: str) -> None:
        mail = self.directory / "mail"
        run = self.directory / "run"
        state = self.directory / "state"
        for folder in (mail, run, state):
            folder.mkdir(parents=True, exist_ok=True)
        me = pwd.getpwuid(os.geteuid())
        if me.pw_uid == 0:
            # Dovecot refuses to serve mail as root, and to run its login process as root:
            # mail is kept by its own unprivileged account, as in a packaged install.
            mail_user = pwd.getpwnam(DOVECOT_SERVICE_USERS[0])
            os.chown(mail, mail_user.pw_uid, mail_user.pw_gid)
            # That account must be able to pass through the private temporary folder.
            self.directory.chmod(0o711)
            service_users = ""
        else:
            # Unprivileged, Dovecot runs every process as the user who started it.
            mail_user = me
            group = grp.getgrgid(me.pw_gid).gr_name
            service_users = (
                f"default_login_user = {me.pw_name}\n"
                f"default_internal_user = {me.pw_name}\n"
                f"default_internal_group = {group}\n"
            )
        tls = "ssl = no\n"
        tls_listener = "  inet_listener imaps {\n    port = 0\n  }\n"
        if self.certificate is not None and self.tls_port is not None:
            key = self.directory / "server.key"
            _self_signed_certificate(self.certificate, key)
            tls = f"ssl = yes\nssl_cert = <{self.certificate}\nssl_key = <{key}\n"
            tls_listener = (
                "  inet_listener imaps {\n"
                "    address = 127.0.0.1\n"
                f"    port = {self.tls_port}\n"
                "    ssl = yes\n"
                "  }\n"
            )
        self.config.write_text(
            "protocols = imap\n"
            "listen = 127.0.0.1\n"
            f"base_dir = {run}\n"
            f"state_dir = {state}\n"
            f"log_path = {self.log}\n"
            f"{service_users}"
            f"{tls}"
            "disable_plaintext_auth = no\n"
            "auth_mechanisms = plain login\n"
            f"first_valid_uid = {mail_user.pw_uid}\n"
            f"mail_location = maildir:{mail}/%u\n"
            "passdb {\n"
            "  driver = static\n"
            f"  args = password={PASSWORD}\n"
            "}\n"
            "userdb {\n"
            "  driver = static\n"
            f"  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={mail}/%u\n"
            "}\n"
            "service imap-login {\n"
            "  inet_listener imap {\n"
            "    address = 127.0.0.1\n"
            f"    port = {self.port}\n"
            "  }\n"
            f"{tls_listener}"
            "  chroot =\n"
            "}\n"
            "service anvil {\n"
            "  chroot =\n"
            "}\n"
            f"{extra}\n"
        )


@contextmanager
def running_dovecot(
    *, port: int | None = None, tls: bool = False, extra: str = ""
) -> Iterator[DovecotServer]:
    """Run a Dovecot server in a temporary folder while the block runs; remove it after.

    *extra* is appended to the generated configuration.
    """
    # Unix socket paths are short (108 bytes): the folder lives directly in the temp dir.
    directory = Path(tempfile.mkdtemp(prefix="abusedesk-dovecot-"))
    try:
        server = DovecotServer(directory, port=port, tls=tls, extra=extra)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _greets(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(4).startswith(b"* OK")
    except OSError:
        return False


def _self_signed_certificate(certificate: Path, key_file: Path) -> None:
    """Write a self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "abusedesk test IMAP")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
