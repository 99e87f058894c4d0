"""``GET /metrics`` over real HTTP and ``abusedesk parsers health`` as a real command."""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from abusedesk.bootstrap import Container
from abusedesk.intake.service import Incoming
from abusedesk.web.app import create_app
from tests.factories.arf import arf_report
from tests.functional.cli import run_cli
from tests.support.web import bearer, issue, serving

SES_DELIVERY = {
    "notificationType": "Delivery",
    "mail": {"timestamp": "2025-03-05T10:00:00.000Z", "messageId": "0100019a-0001"},
    "delivery": {"timestamp": "2025-03-05T10:00:01.000Z", "recipients": ["someone@example.net"]},
}
# One sample line: name, labels (values may hold escaped quotes and backslashes), value.
SAMPLE = re.compile(
    r'(?P<name>[a-z_]+)\{(?P<labels>(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)*)\} (?P<value>\d+)'
)
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\\n]|\\.)*)"')


def _ingest(container: Container, batch: list[Incoming]) -> None:
    container.intake.accept_many(batch)
    while container.embedded.run_once():
        pass


def _mixed(container: Container) -> None:
    _ingest(
        container,
        [
            Incoming(arf_report(message_id="m@x", from_domain="news.example.com"), "smtp", {}),
            Incoming(b"\x00 garbage \xff", "smtp", {"mail_from": "someone@junk.example"}),
            Incoming(json.dumps(SES_DELIVERY).encode(), "sns", {}),
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
        labels = tuple(LABEL.findall(match["labels"]))
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
    """abusedesk_reports_total counts reports per status."""
    _mixed(container)
    samples = _samples(client.get("/metrics", headers=scraper).text)
    assert (
        samples[("abusedesk_reports_total", (("status", "done"),))],
        samples[("abusedesk_reports_total", (("status", "quarantined"),))],
    ) == (2, 1)


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
        _parser("junk.example", "none", "unknown", "24h"): 1,
        _parser("sns", "ses", "empty", "7d"): 1,
        _parser("sns", "ses", "parsed", "7d"): 0,
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
        [line.strip("│┃| ").split()[0] for line in lines],
    ) == (0, ["junk.example", "fbl.example.net", "sns"])


def test_cli_names_reporters_that_need_attention(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """A reporter whose reports go unread is flagged in words."""
    _mixed(container)
    result = run_cli("parsers", "health", database_url=database_url, workdir=tmp_path)
    flagged = [line.split()[1] for line in result.stdout.splitlines() if "ATTENTION" in line]
    assert flagged == ["junk.example"]
