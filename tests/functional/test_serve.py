"""`abusedesk serve` as a real process: it checks, starts, takes a report, and stops cleanly."""

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from abusedesk.cli.serve import display_url
from abusedesk.storage.db import make_engine
from abusedesk.storage.tables import Report
from tests.support.databases import (
    backends,
    create_postgres_database,
    drop_postgres_database,
    fresh_database,
)

REPORT = (
    b"From: Subscriber <someone@isp.example>\r\n"
    b"To: abuse@provider.example\r\n"
    b"Subject: Spam from your network\r\n"
    b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"I never signed up for this: hxxp://offers.example/win\r\n"
)
START_SECONDS = 60
STOP_SECONDS = 60


@dataclass
class Served:
    """A running `abusedesk serve` process and where it listens."""

    process: subprocess.Popen[bytes]
    web_url: str
    smtp_port: int
    output: Path
    errors: Path

    def stdout(self) -> str:
        """Return what the process printed so far."""
        return self.output.read_text()


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def abusedesk_command(*args: str) -> list[str]:
    """Return the command line that runs abusedesk with *args* in this environment."""
    return [sys.executable, "-c", "from abusedesk.cli import main; main()", *args]


def environment(database_url: str, tmp_path: Path, web_port: int, smtp_port: int) -> dict[str, str]:
    """Return the environment of a serve process on *database_url* and the given ports."""
    return {
        **os.environ,
        "ABUSEDESK_DATABASE__URL": database_url,
        "ABUSEDESK_STORAGE__EVIDENCE_DIR": str(tmp_path / "evidence"),
        "ABUSEDESK_WEB__HOST": "127.0.0.1",
        "ABUSEDESK_WEB__PORT": str(web_port),
        "ABUSEDESK_SMTP__ENABLED": "true",
        "ABUSEDESK_SMTP__HOST": "127.0.0.1",
        "ABUSEDESK_SMTP__PORT": str(smtp_port),
        "ABUSEDESK_JOBS__BACKEND": "embedded",
    }


@contextmanager
def serving(database_url: str, tmp_path: Path, **settings: str) -> Iterator[Served]:
    """Start `abusedesk serve` (with *settings* as extra environment) and wait until /health
    answers; kill it if a test leaves it."""
    web_port, smtp_port = free_port(), free_port()
    output, errors = tmp_path / "serve.out", tmp_path / "serve.err"
    with output.open("wb") as out, errors.open("wb") as err:
        process = subprocess.Popen(
            abusedesk_command("serve"),
            env={**environment(database_url, tmp_path, web_port, smtp_port), **settings},
            cwd=tmp_path,
            stdout=out,
            stderr=err,
        )
    served = Served(process, f"http://127.0.0.1:{web_port}", smtp_port, output, errors)
    try:
        wait_for_health(served)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_SECONDS)


def wait_for_health(served: Served) -> None:
    """Poll /health until it answers 200; fail with the process output if it never does."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            pytest.fail(f"serve exited early:\n{served.errors.read_text()}")
        try:
            response = httpx.get(f"{served.web_url}/health", timeout=5)
        except httpx.TransportError:
            # Not listening yet.
            time.sleep(0.1)
            continue
        if response.status_code != 200:
            pytest.fail(f"/health answered {response.status_code}: {response.text}")
        return
    pytest.fail(f"serve did not become healthy:\n{served.errors.read_text()}")


def stop(served: Served, signum: int) -> int:
    """Send *signum* and return the exit status once the process has ended."""
    served.process.send_signal(signum)
    return served.process.wait(STOP_SECONDS)


def report_statuses(database_url: str) -> list[str]:
    """Return the status of every stored report, oldest first."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.scalars(select(Report.status).order_by(Report.id)))
    finally:
        engine.dispose()


def wait_for_statuses(database_url: str, expected: list[str]) -> list[str]:
    """Poll the stored statuses until they equal *expected* or time runs out; return the last."""
    deadline = time.monotonic() + START_SECONDS
    statuses = report_statuses(database_url)
    while statuses != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        statuses = report_statuses(database_url)
    return statuses


@pytest.fixture(params=backends())
def serve_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield a fresh, migrated database of each backend for a serve process of its own."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


def test_serve_takes_a_report_by_smtp_and_processes_it(serve_database: str, tmp_path: Path) -> None:
    """A report sent by SMTP to a running serve is stored and processed to done."""
    with serving(serve_database, tmp_path) as served:
        with smtplib.SMTP("127.0.0.1", served.smtp_port, timeout=30) as client:
            client.sendmail("someone@isp.example", ["abuse@provider.example"], REPORT)

        assert wait_for_statuses(serve_database, ["done"]) == ["done"]


def test_health_of_a_running_serve_counts_the_processed_report(
    serve_database: str, tmp_path: Path
) -> None:
    """Once the report is processed, the running serve's /health counts it as done."""
    with serving(serve_database, tmp_path) as served:
        with smtplib.SMTP("127.0.0.1", served.smtp_port, timeout=30) as client:
            client.sendmail("someone@isp.example", ["abuse@provider.example"], REPORT)
        wait_for_statuses(serve_database, ["done"])

        counts = httpx.get(f"{served.web_url}/health", timeout=5).json()["reports"]

    assert counts == {
        "pending": 0,
        "processing": 0,
        "done": 1,
        "quarantined": 0,
        "unknown_format": 0,
    }


@pytest.mark.parametrize(
    "signum", [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]
)
def test_signal_stops_smtp_then_work_then_web_and_exits_zero(
    serve_database: str, tmp_path: Path, signum: int
) -> None:
    """SIGTERM or SIGINT stops SMTP intake, then background work, then the web server; exit 0."""
    with serving(serve_database, tmp_path) as served:
        status = stop(served, signum)
        printed = served.stdout().splitlines()

    order = [
        line
        for line in printed
        if line in {"SMTP intake stopped", "background work stopped"}
        or line.startswith("web server stopped")
    ]
    assert (status, order) == (
        0,
        ["SMTP intake stopped", "background work stopped", "web server stopped; abusedesk is down"],
    )


def test_serve_prints_where_to_go(serve_database: str, tmp_path: Path) -> None:
    """On start, serve prints the web and health URLs, the SMTP address, the database, tokens."""
    with serving(serve_database, tmp_path) as served:
        printed = served.stdout()
        stop(served, signal.SIGTERM)

    expected = [
        f"  web:       {served.web_url}/",
        f"  health:    {served.web_url}/health",
        f"  SMTP:      127.0.0.1:{served.smtp_port}, accepting mail to abuse@ (any domain), "
        "fbl@ (any domain), dmarc@ (any domain)",
        f"  database:  {display_url(serve_database)}",
        "  API:       get a service token with `abusedesk token create NAME --scope ...`",
        f"  people:    sign in at {served.web_url}/login (`abusedesk user create NAME --role ROLE`)",
    ]
    assert [line for line in expected if line not in printed.splitlines()] == []


@pytest.fixture(params=backends())
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield a database of each backend with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def test_serve_refuses_a_database_that_is_not_upgraded(empty_database: str, tmp_path: Path) -> None:
    """Against a database behind the code, serve exits 1 and says to run db upgrade."""
    result = subprocess.run(
        abusedesk_command("serve"),
        env=environment(empty_database, tmp_path, free_port(), free_port()),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
        check=False,
    )

    assert (result.returncode, "run `abusedesk db upgrade`" in result.stderr) == (1, True)


def test_database_url_is_shown_without_its_password() -> None:
    """The printed database URL hides the password and keeps everything else."""
    shown = display_url("postgresql://abuse:s3cret@db.internal.example:5432/abusedesk")

    assert shown == "postgresql://abuse:***@db.internal.example:5432/abusedesk"


@pytest.mark.parametrize(
    ("trusted", "peer"),
    [("127.0.0.1", "203.0.113.9"), ("192.0.2.1", "127.0.0.1")],
    ids=["behind-a-trusted-proxy", "forwarded-header-not-believed"],
)
def test_the_client_address_is_the_one_a_trusted_proxy_forwards(
    serve_database: str, tmp_path: Path, trusted: str, peer: str
) -> None:
    """Behind a trusted proxy, rate limits and sign-in throttling count the real client."""
    with serving(serve_database, tmp_path, ABUSEDESK_WEB__FORWARDED_ALLOW_IPS=trusted) as served:
        with httpx.Client(base_url=served.web_url, timeout=10) as http:
            form = http.get("/report").text
            token = re.search(r'name="token" value="([^"]+)"', form)
            assert token is not None
            posted = http.post(
                "/report",
                data={
                    "token": token.group(1),
                    "category": "spam",
                    "sender": "offers@news.example.com",
                    "text": "Buy now",
                    "reporter": "",
                },
                headers={"X-Forwarded-For": "203.0.113.9"},
            )
        stop(served, signal.SIGTERM)
    assert posted.status_code == 200
    engine = make_engine(serve_database)
    with engine.connect() as connection:
        envelope = connection.execute(select(Report.envelope)).scalar_one()
    engine.dispose()
    assert envelope["peer"] == peer
