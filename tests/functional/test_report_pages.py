"""The weekly report over real HTTP and the real CLI: generate, read, summarise, download.

The PDF is checked as a reader sees it: its pages rendered to images (pdfium), none
blank, a chart's colour on the page, the words of each section in its text.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, WeeklyReport
from tests.functional.cli import run_cli
from tests.support.access import create_user, csrf_of, sign_in
from tests.support.pdf import colour_fraction, is_blank, pdf_pages, pdf_text
from tests.support.trends import seed_week
from tests.support.workbench import Workbench, served_workbench

WEEK = "2026-11-16"


@pytest.fixture
def reports(database_url: str, tmp_path: Path) -> Iterator[Workbench]:
    """Serve the workbench over the seeded week, with a lead, an auditor and an analyst."""
    with served_workbench(database_url, tmp_path) as served:
        with unit_of_work(served.container.sessions) as session:
            seed_week(session)
        for username, role in (("lena", "lead"), ("aud", "auditor"), ("ana", "analyst_basic")):
            create_user(served.container, username, role)
        yield served
        for client in _OPEN:
            client.close()
        _OPEN.clear()


_OPEN: list[httpx.Client] = []


def _client(bench: Workbench, username: str | None) -> tuple[httpx.Client, str]:
    """Return a client signed in as *username* (closed after the test) and its CSRF token."""
    client = httpx.Client(base_url=bench.base_url, follow_redirects=False, timeout=60)
    _OPEN.append(client)
    if username is None:
        return client, ""
    assert sign_in(client, username).status_code == 303
    return client, csrf_of(client)


def _generate(client: httpx.Client, csrf: str, week: str = WEEK) -> httpx.Response:
    return client.post("/reports/weekly/generate", data={"csrf_token": csrf, "week": week})


def test_lead_generates_a_week_and_reads_it_with_charts(reports: Workbench) -> None:
    """Generating from any date of the week shows that Monday's report with SVG charts."""
    client, csrf = _client(reports, "lena")
    answer = _generate(client, csrf, "2026-11-19")
    page = client.get(answer.headers["location"])
    listing = client.get("/reports/weekly")
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        f"/reports/weekly/{WEEK}?done=generated",
    )
    assert page.status_code == 200
    assert "Weekly report: week of 2026-11-16" in page.text
    assert page.text.count("<svg") >= 3
    for words in ("Volumes", "acct-a", "Phishing wave from acct-a", "Parser health"):
        assert words in page.text
    assert f'id="week-{WEEK}"' in listing.text


def test_summary_is_saved_escaped_shown_first_and_audited(reports: Workbench) -> None:
    """The lead's summary opens the report, escaped, and its change is in the audit log."""
    client, csrf = _client(reports, "lena")
    _generate(client, csrf)
    said = "Quiet week <script>alert(1)</script>\nOne phishing wave."
    answer = client.post(
        f"/reports/weekly/{WEEK}/summary", data={"csrf_token": csrf, "summary": said}
    )
    page = client.get(f"/reports/weekly/{WEEK}")
    article = page.text[page.text.index('<article class="document">') :]
    with read_only(reports.container.sessions) as session:
        tags = session.scalars(
            select(AuditEntry.tag).where(AuditEntry.subject_type == "weekly_report")
        ).all()
    assert answer.status_code == 303
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in article
    assert article.index("Quiet week") < article.index("Volumes")
    assert sorted(tags) == ["report:weekly:generate", "report:weekly:summary"]


def test_too_long_summary_is_refused_and_kept_in_the_form(reports: Workbench) -> None:
    """A summary over 20,000 characters is refused with a sentence; nothing is stored."""
    client, csrf = _client(reports, "lena")
    _generate(client, csrf)
    answer = client.post(
        f"/reports/weekly/{WEEK}/summary", data={"csrf_token": csrf, "summary": "y" * 20_001}
    )
    assert answer.status_code == 400
    assert "keep it under 20,000" in answer.text
    assert "not written the summary" in client.get(f"/reports/weekly/{WEEK}").text


def test_control_characters_are_dropped_from_the_summary(reports: Workbench) -> None:
    """NUL (which PostgreSQL cannot store), terminal escapes and a bell are dropped from
    the summary; line breaks and tabs stay; the page and the PDF still render."""
    client, csrf = _client(reports, "lena")
    _generate(client, csrf)
    answer = client.post(
        f"/reports/weekly/{WEEK}/summary",
        data={"csrf_token": csrf, "summary": "Quiet\x00 week\x1b[31m\x07.\nNext:\tmore."},
    )
    with read_only(reports.container.sessions) as session:
        stored = session.scalar(select(WeeklyReport.summary))
    assert answer.status_code == 303
    assert stored == "Quiet week[31m.\nNext:\tmore."
    assert client.get(f"/reports/weekly/{WEEK}.pdf").status_code == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/reports/weekly/%00", 400),
        ("/reports/weekly/" + "9" * 5000 + ".pdf", 400),
        ("/reports/weekly/%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-11-16.md", 400),
        (f"/reports/weekly/{WEEK}?done=" + "x" * 500, 404),
    ],
)
def test_hostile_week_paths_get_a_sentence(reports: Workbench, path: str, status: int) -> None:
    """NUL, a 5,000-digit week, full-width digits: a sentence on the list page, no 500;
    an unknown notice is ignored (404 here: the week has no report yet)."""
    client, _ = _client(reports, "lena")
    answer = client.get(path)
    assert answer.status_code == status
    assert "is not a date" in answer.text or "no report for the week" in answer.text


def test_generating_without_a_week_is_refused_with_a_sentence(reports: Workbench) -> None:
    """An empty week field is a sentence on the list page (400), not a validation error."""
    client, csrf = _client(reports, "lena")
    answer = client.post("/reports/weekly/generate", data={"csrf_token": csrf})
    assert answer.status_code == 400
    assert "is not a date" in answer.text


def test_pdf_renders_pages_with_charts_and_every_section(reports: Workbench) -> None:
    """The PDF download renders to pages, none blank, with chart colour and every section."""
    client, csrf = _client(reports, "lena")
    _generate(client, csrf)
    answer = client.get(f"/reports/weekly/{WEEK}.pdf")
    pages = pdf_pages(answer.content, scale=1.0)
    text = "\n".join(pdf_text(answer.content))
    assert (answer.status_code, answer.headers["content-type"]) == (200, "application/pdf")
    assert f'filename="weekly-report-{WEEK}.pdf"' in answer.headers["content-disposition"]
    assert len(pages) >= 2
    assert not any(is_blank(page) for page in pages)
    assert max(colour_fraction(page) for page in pages) > 0.002
    for words in (
        "Weekly report: week of 2026-11-16",
        "Summary",
        "Volumes",
        "Top accounts and rings",
        "Backlog, time to action and SLA",
        "Enforcement and appeals",
        "Customer contacts",
        "Parser health",
        "Notable incidents",
        "Voice of the customer",
        "acct-a",
    ):
        assert words in text, words


def test_markdown_download_holds_the_figures(reports: Workbench) -> None:
    """The Markdown download carries the same sections and hand-counted figures."""
    client, csrf = _client(reports, "lena")
    _generate(client, csrf)
    answer = client.get(f"/reports/weekly/{WEEK}.md")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/markdown")
    assert "Volumes" in answer.text
    assert "| email | 6 | 2 | +200% |" in answer.text


@pytest.mark.parametrize(
    ("week", "status", "words"),
    [
        ("2026-13-45", 400, "is not a date"),
        ("next tuesday", 400, "is not a date"),
        ("2099-01-01", 400, "has not started yet"),
        ("1999-01-01", 400, "too long ago"),
        ("2026-11-02", 404, "no report for the week of 2026-11-02"),
    ],
)
def test_bad_or_missing_weeks_are_answered_with_a_sentence(
    reports: Workbench, week: str, status: int, words: str
) -> None:
    """A week that cannot be read, is to come, or has no report gets a sentence, no 500."""
    client, _ = _client(reports, "lena")
    for path in (f"/reports/weekly/{week}", f"/reports/weekly/{week}.pdf"):
        answer = client.get(path)
        assert (answer.status_code, words in answer.text) == (status, True), path


def test_generating_a_bad_week_is_refused(reports: Workbench) -> None:
    """Generating with junk for a week is refused with a sentence and stores nothing."""
    client, csrf = _client(reports, "lena")
    answer = _generate(client, csrf, "<b>soon</b>")
    assert answer.status_code == 400
    assert "is not a date" in answer.text
    assert "<b>soon</b>" not in answer.text
    assert "No weekly report yet." in answer.text


def test_auditor_reads_but_cannot_generate_or_write(reports: Workbench) -> None:
    """insight.view reads reports; generating and the summary need insight.write."""
    lead, lead_csrf = _client(reports, "lena")
    _generate(lead, lead_csrf)
    client, csrf = _client(reports, "aud")
    page = client.get(f"/reports/weekly/{WEEK}")
    assert page.status_code == 200
    assert 'id="summary-form"' not in page.text
    assert _generate(client, csrf).status_code == 403
    summary = client.post(
        f"/reports/weekly/{WEEK}/summary", data={"csrf_token": csrf, "summary": "mine"}
    )
    assert summary.status_code == 403


def test_analyst_and_anonymous_cannot_read_reports(reports: Workbench) -> None:
    """An analyst without insight.view is refused; an anonymous browser is sent to sign in."""
    client, _ = _client(reports, "ana")
    anonymous, _ = _client(reports, None)
    assert client.get("/reports/weekly").status_code == 403
    assert client.get(f"/reports/weekly/{WEEK}.pdf").status_code == 403
    assert anonymous.get("/reports/weekly").status_code in (302, 303)


def test_generating_without_the_csrf_token_is_refused(reports: Workbench) -> None:
    """A generate form without the session's CSRF token does nothing."""
    client, _ = _client(reports, "lena")
    answer = client.post("/reports/weekly/generate", data={"week": WEEK})
    assert answer.status_code == 403
    assert "No weekly report yet." in client.get("/reports/weekly").text


def test_cli_generates_the_week_and_writes_pdf_and_markdown(
    reports: Workbench, database_url: str, tmp_path: Path
) -> None:
    """``abusedesk report weekly`` prints the headline figures and writes both files."""
    done = run_cli(
        "report",
        "weekly",
        "--week",
        "2026-11-22",
        "--pdf",
        str(tmp_path / "week.pdf"),
        "--markdown",
        str(tmp_path / "week.md"),
        database_url=database_url,
        workdir=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "week of 2026-11-16" in done.stdout
    assert "events 7 (+250% against 2)" in done.stdout
    pages = pdf_pages((tmp_path / "week.pdf").read_bytes())
    assert len(pages) >= 2
    assert not is_blank(pages[0])
    assert "Volumes" in (tmp_path / "week.md").read_text(encoding="utf-8")


def test_cli_refuses_a_bad_week_and_an_unwritable_file(
    reports: Workbench, database_url: str, tmp_path: Path
) -> None:
    """A junk week exits 2 and a file that cannot be written exits 1, each with a sentence."""
    junk = run_cli(
        "report", "weekly", "--week", "soon", database_url=database_url, workdir=tmp_path
    )
    unwritable = run_cli(
        "report",
        "weekly",
        "--week",
        WEEK,
        "--pdf",
        str(tmp_path / "no-such-folder" / "week.pdf"),
        database_url=database_url,
        workdir=tmp_path,
    )
    assert (junk.returncode, "is not a date" in junk.stderr) == (2, True)
    assert (unwritable.returncode, "could not write" in unwritable.stderr) == (1, True)


def test_cli_rollup_counts_the_waiting_events(
    reports: Workbench, database_url: str, tmp_path: Path
) -> None:
    """``abusedesk report rollup`` counts every stored event once; ``--rebuild`` again."""
    first = run_cli("report", "rollup", database_url=database_url, workdir=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_cli("report", "rollup", database_url=database_url, workdir=tmp_path)
    rebuilt = run_cli("report", "rollup", "--rebuild", database_url=database_url, workdir=tmp_path)
    assert [first.stdout.strip(), second.stdout.strip(), rebuilt.stdout.strip()] == [
        "counted 10 event ids",
        "counted 0 event ids",
        "counted 10 event ids",
    ]
