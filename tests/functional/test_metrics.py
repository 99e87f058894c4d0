"""``GET /metrics`` over real HTTP and ``abusedesk parsers health`` as a real command."""

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.parsing.arf import ArfParser
from abusedesk.parsing.health import SIGNAL_KIND, SIGNAL_SUBJECT
from abusedesk.parsing.registry import ParserRegistry
from abusedesk.pipeline.processor import ReportProcessor
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.signals import raise_signal
from abusedesk.web.app import create_app
from tests.factories.arf import arf_report
from tests.functional.cli import run_cli
from tests.support.scripted import ScriptedParser, scripted
from tests.support.web import bearer, issue, serving

# One sample line: name, labels (values may hold escaped quotes and backslashes), value.
SAMPLE = re.compile(
    r'(?P<name>[a-z_]+)(?:\{(?P<labels>(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)*)\})? (?P<value>\d+)'
)
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\\n]|\\.)*)"')


def _ingest(container: Container, batch: list[Incoming]) -> None:
    stored = container.intake.accept_many(batch)
    processor = ReportProcessor(
        container.sessions, container.reports, ParserRegistry([ArfParser(), ScriptedParser()])
    )
    for item in stored:
        processor.process_report(item.report_id)


def _mixed(container: Container) -> None:
    _ingest(
        container,
        [
            Incoming(arf_report(message_id="m@x", from_domain="news.example.com"), "smtp", {}),
            Incoming(b"\x00 garbage \xff", "smtp", {"mail_from": "someone@junk.example"}),
            Incoming(scripted(1, "kind"), "sns", {}),
            Incoming(scripted(2, "partial"), "api", {}),
        ],
    )


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], int]:
    """Parse exposition text line by line; fail on any line that is not a comment or sample."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("# "):
            continue
        match = SAMPLE.fullmatch(line)
        assert match is not None, f"not a sample line: {line!r}"
        labels = tuple(LABEL.findall(match["labels"] or ""))
        samples[(match["name"], labels)] = int(match["value"])
    return samples


def _parser(
    reporter: str, fmt: str, outcome: str, window: str
) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = (("reporter", reporter), ("format", fmt), ("outcome", outcome), ("window", window))
    return ("abusedesk_parser_reports", labels)


@pytest.fixture
def client(container: Container) -> Iterator[httpx.Client]:
    """Return an HTTP client talking to the app served on 127.0.0.1."""
    with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
        yield http


@pytest.fixture
def scraper(container: Container) -> dict[str, str]:
    """Return headers presenting a token that may read metrics."""
    return bearer(issue(container, "metrics:read").token)


def test_metrics_need_a_token(client: httpx.Client) -> None:
    """Without a token /metrics answers 401."""
    assert client.get("/metrics").status_code == 401


def test_metrics_need_the_metrics_scope(container: Container, client: httpx.Client) -> None:
    """A token without metrics:read gets 403."""
    headers = bearer(issue(container, "reports:read").token)
    assert client.get("/metrics", headers=headers).status_code == 403


def test_metrics_are_prometheus_text(client: httpx.Client, scraper: dict[str, str]) -> None:
    """The answer is served as the Prometheus text exposition format, version 0.0.4."""
    response = client.get("/metrics", headers=scraper)
    assert (
        response.status_code,
        "; ".join(response.headers["content-type"].split("; ")[:2]),
    ) == (200, "text/plain; version=0.0.4")


def test_metrics_hold_report_counts_by_status(
    container: Container, client: httpx.Client, scraper: dict[str, str]
) -> None:
    """abusedesk_reports counts reports per status, every status listed, zeros included."""
    _mixed(container)
    samples = _samples(client.get("/metrics", headers=scraper).text)
    by_status = {
        labels[0][1]: value
        for (name, labels), value in samples.items()
        if name == "abusedesk_reports"
    }
    assert by_status == {
        "pending": 0,
        "processing": 0,
        "done": 3,
        "quarantined": 0,
        "unknown_format": 1,
    }


def test_metrics_hold_the_unknown_format_inbox_and_open_drop_signals(
    container: Container, client: httpx.Client, scraper: dict[str, str]
) -> None:
    """The inbox size and the open parser drop signals are gauges of their own."""
    _mixed(container)
    with unit_of_work(container.sessions) as session:
        raise_signal(
            session,
            kind=SIGNAL_KIND,
            subject_type=SIGNAL_SUBJECT,
            subject_id="fbl.example.net|arf",
            reason="test",
            figures={},
            at=utcnow(),
        )
    samples = _samples(client.get("/metrics", headers=scraper).text)
    assert (
        samples[("abusedesk_unknown_format_inbox", ())],
        samples[("abusedesk_parser_success_drops_open", ())],
    ) == (1, 1)


def test_metrics_hold_parser_outcomes_per_reporter_format_and_window(
    container: Container, client: httpx.Client, scraper: dict[str, str]
) -> None:
    """Each reporter and format has its outcome counts in both windows, zeros included."""
    _mixed(container)
    samples = _samples(client.get("/metrics", headers=scraper).text)
    expected = {
        _parser("fbl.example.net", "arf", "parsed", "24h"): 1,
        _parser("fbl.example.net", "arf", "parsed", "7d"): 1,
        _parser("fbl.example.net", "arf", "failed", "7d"): 0,
        _parser("fbl.example.net", "scripted", "partial", "24h"): 1,
        _parser("junk.example", "none", "unknown", "24h"): 1,
        _parser("sns", "scripted", "recognised", "7d"): 1,
        _parser("sns", "scripted", "parsed", "7d"): 0,
    }
    assert expected == {key: samples[key] for key in expected}


def test_hostile_reporter_is_escaped_in_label_values(
    container: Container, client: httpx.Client, scraper: dict[str, str]
) -> None:
    """A reporter holding a quote, a backslash and a newline stays inside its label value."""
    hostile = {"mail_from": 'x@EVIL"quote\\slash\nline.example'}
    _ingest(container, [Incoming(b"junk bytes", "smtp", hostile)])
    text = client.get("/metrics", headers=scraper).text
    expected = (
        'abusedesk_parser_reports{reporter="evil\\"quote\\\\slash\\nline.example",'
        'format="none",outcome="unknown",window="24h"} 1'
    )
    assert expected in text.splitlines()


def test_cli_prints_the_health_table_worst_first(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """``abusedesk parsers health`` lists each reporter and format, the failing one first."""
    _mixed(container)
    result = run_cli(
        "parsers", "health", "--hours", "24", database_url=database_url, workdir=tmp_path
    )
    lines = [line for line in result.stdout.splitlines() if "example" in line or "sns" in line]
    assert (
        result.returncode,
        [[cell.strip() for cell in line.strip("│┃| ").split("│")][:2] for line in lines],
    ) == (
        0,
        [
            ["junk.example", "none"],
            ["fbl.example.net", "arf"],
            ["fbl.example.net", "scripted"],
            ["sns", "scripted"],
        ],
    )


def test_cli_names_reporters_that_need_attention(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """A reporter whose reports go unread is flagged in words."""
    _mixed(container)
    result = run_cli("parsers", "health", database_url=database_url, workdir=tmp_path)
    flagged = [line.split()[1] for line in result.stdout.splitlines() if "ATTENTION" in line]
    assert flagged == ["junk.example"]
