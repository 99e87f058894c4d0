"""The unknown-format inbox over HTTP and as real commands, and ``parsers check``."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import get_args

import httpx
import pytest
from sqlalchemy import select, update

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.reports import REPORT_STATUSES
from abusedesk.storage.tables import Report, Signal
from abusedesk.web.api.reports import ListedStatus
from abusedesk.web.app import create_app
from tests.factories.arf import arf_report
from tests.functional.cli import run_cli
from tests.support.web import bearer, issue, serving

REPORTS = "/api/v1/reports"
# A report no parser reads, whose headers would retitle and recolour a terminal.
HOSTILE = (
    b"X-Odd: \x1b]0;owned\x07 \x1b[31mred\r\n"
    b"Subject: a format nobody knows\r\n"
    b"\r\n" + b"A" * 2000 + b"TAIL-NOT-SHOWN"
)


def _ingest(container: Container, raws: list[bytes]) -> list[int]:
    stored = container.intake.accept_many(
        [Incoming(raw, "smtp", {"mail_from": "x@sender.example"}) for raw in raws]
    )
    while container.embedded.run_once():
        pass
    return [s.report_id for s in stored]


@pytest.fixture
def client(container: Container) -> Iterator[httpx.Client]:
    """Return an HTTP client talking to the app served on 127.0.0.1."""
    with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
        yield http


def test_the_api_lists_the_unknown_format_inbox(container: Container, client: httpx.Client) -> None:
    """``?status=unknown_format`` lists only reports no parser recognised, never their bytes."""
    known, unknown = _ingest(
        container, [arf_report(message_id="a@x", from_domain="example.com"), HOSTILE]
    )
    reader = bearer(issue(container, "reports:read").token)

    response = client.get(REPORTS, params={"status": "unknown_format"}, headers=reader)

    (listed,) = response.json()["reports"]
    assert (response.status_code, listed["report_id"], listed["status"], "raw" in listed) == (
        200,
        unknown,
        "unknown_format",
        False,
    )
    assert known != unknown


def test_the_api_list_pages_on_by_id(container: Container, client: httpx.Client) -> None:
    """A full page links to the next one, which starts after its last id."""
    ids = _ingest(container, [b"one unknown thing", b"another unknown thing"])
    reader = bearer(issue(container, "reports:read").token)

    first = client.get(REPORTS, params={"status": "unknown_format", "limit": 1}, headers=reader)
    second = client.get(first.json()["links"]["next"], headers=reader)

    assert (
        [r["report_id"] for r in first.json()["reports"]],
        [r["report_id"] for r in second.json()["reports"]],
    ) == ([ids[0]], [ids[1]])


@pytest.mark.parametrize(
    ("scope", "params", "status"),
    [
        ("metrics:read", {"status": "unknown_format"}, 403),
        ("reports:read", {"status": "lost"}, 422),
        ("reports:read", {}, 422),
    ],
)
def test_the_api_list_needs_the_read_scope_and_a_known_status(
    container: Container,
    client: httpx.Client,
    scope: str,
    params: dict[str, str],
    status: int,
) -> None:
    """Without reports:read the list is 403; an unknown or missing status is 422."""
    headers = bearer(issue(container, scope).token)
    assert client.get(REPORTS, params=params, headers=headers).status_code == status


def test_cli_lists_shows_and_reprocesses_the_inbox(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """The inbox is listed, a report shown escaped and cut, and the inbox sent through again."""
    (report_id,) = _ingest(container, [HOSTILE])

    listed = run_cli("unknown", "list", database_url=database_url, workdir=tmp_path)
    shown = run_cli("unknown", "show", str(report_id), database_url=database_url, workdir=tmp_path)
    again = run_cli("unknown", "reprocess", "--all", database_url=database_url, workdir=tmp_path)

    with read_only(container.sessions) as session:
        status = container.reports.get(session, report_id).status
    assert (listed.returncode, shown.returncode, again.returncode, status) == (0, 0, 0, "pending")
    assert str(report_id) in listed.stdout
    assert "Subject: a format nobody knows" in shown.stdout
    assert "\\x1b]0;owned\\x07 \\x1b[31mred" in shown.stdout
    assert "\x1b" not in shown.stdout
    assert "TAIL-NOT-SHOWN" not in shown.stdout
    assert "sent 1 report(s) through again" in again.stdout


def test_cli_show_refuses_a_report_outside_the_inbox(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """Showing a report that was read is refused with exit code 1."""
    (report_id,) = _ingest(container, [arf_report(message_id="a@x", from_domain="example.com")])

    shown = run_cli("unknown", "show", str(report_id), database_url=database_url, workdir=tmp_path)

    assert (shown.returncode, "not in the unknown-format inbox" in shown.stderr) == (1, True)


def test_cli_check_raises_a_signal_for_a_reporter_that_stopped_parsing(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """``parsers check`` compares windows and raises a drop signal for the reporter."""
    envelope = {"mail_from": "feedback@fbl.example.net"}
    before = container.intake.accept_many(
        [
            Incoming(
                arf_report(message_id=f"m{n}@x", from_domain="example.com", serial=n), "smtp", {}
            )
            for n in range(6)
        ]
    )
    while container.embedded.run_once():
        pass
    with unit_of_work(container.sessions) as session:
        session.execute(
            update(Report)
            .where(Report.id.in_([s.report_id for s in before]))
            .values(received_at=utcnow() - timedelta(days=2))
        )
    container.intake.accept_many(
        [Incoming(f"changed {n}\r\n".encode(), "smtp", envelope) for n in range(4)]
    )
    while container.embedded.run_once():
        pass

    result = run_cli(
        "parsers",
        "check",
        "--min-recent",
        "3",
        "--min-baseline",
        "5",
        database_url=database_url,
        workdir=tmp_path,
    )

    with read_only(container.sessions) as session:
        subjects = list(session.scalars(select(Signal.subject_id)))
    assert (result.returncode, "raised 1 signal(s)" in result.stdout, subjects) == (
        0,
        True,
        ["fbl.example.net|*"],
    )


def test_the_list_accepts_every_report_status() -> None:
    """The statuses the list endpoint accepts are exactly the pipeline's statuses."""
    assert sorted(get_args(ListedStatus)) == sorted(REPORT_STATUSES)
