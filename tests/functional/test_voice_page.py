"""The voice of the customer page over real HTTP: figures, quotes, filters, refusals."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from abusedesk.bootstrap import Container, build
from abusedesk.storage import notices
from abusedesk.storage.db import unit_of_work
from abusedesk.web.app import create_app
from tests.support.access import access_settings, create_user, sign_in
from tests.support.browser import hostile_payloads
from tests.support.casework import make_case, new_account
from tests.support.voice import WEEK2, seed_two_weeks
from tests.support.web import serving

# The two seeded weeks: Monday 2 to Sunday 15 November 2026.
TWO_WEEKS = "/insights/voice?weeks=2&until=2026-11-15"


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    """Serve the workbench; users: a lead (insight.view) and a basic analyst (not)."""
    container = build(access_settings(database_url, tmp_path))
    create_user(container, "lena", "lead")
    create_user(container, "ana", "analyst_basic")
    try:
        with serving(create_app(container)) as base_url:
            yield container, base_url
    finally:
        container.close()


@contextmanager
def _client(base_url: str, username: str = "lena") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as client:
        assert sign_in(client, username).status_code == 303
        yield client


def _rows(html: str) -> list[str]:
    found = re.search(r'<table class="voice-themes">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert found is not None
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def test_the_page_counts_themes_by_source_over_the_weeks_asked(
    site: tuple[Container, str],
) -> None:
    """Totals per theme equal the hand count of the seeded appeals and replies."""
    container, base_url = site
    seed_two_weeks(container)
    with _client(base_url) as client:
        page = client.get(TWO_WEEKS)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert _rows(page.text) == [
        "Compromised account 1 0 1",
        "False positive / legitimate mail 2 0 2",
        "Purchased or rented list 1 0 1",
        "Fixed / will fix 2 0 2",
        "Urgent business impact 0 1 1",
        "Third-party sender 0 1 1",
        "Did not know 0 1 1",
        "Other 0 1 1",
    ]
    assert '<strong id="voice-total">10</strong>' in page.text
    assert page.text.count('<svg class="chart"') == 2
    assert "from 2026-11-02 to 2026-11-15" in page.text


def test_the_source_filter_keeps_replies_only(site: tuple[Container, str]) -> None:
    """source=reply zeroes the appeals and counts the four replies' themes."""
    container, base_url = site
    seed_two_weeks(container)
    with _client(base_url) as client:
        page = client.get(TWO_WEEKS + "&source=reply")
    rows = _rows(page.text)
    assert rows[0] == "Compromised account 0 0 0"
    assert rows[4] == "Urgent business impact 0 1 1"
    assert '<strong id="voice-total">4</strong>' in page.text


def test_one_week_shows_only_that_week(site: tuple[Container, str]) -> None:
    """weeks=1 up to a day of week 2 leaves week 1's texts out."""
    container, base_url = site
    seed_two_weeks(container)
    with _client(base_url) as client:
        page = client.get(f"/insights/voice?weeks=1&until={(WEEK2 + timedelta(days=3)).date()}")
    assert _rows(page.text)[1] == "False positive / legitimate mail 1 0 1"
    assert '<strong id="voice-total">4</strong>' in page.text


def test_quotes_show_the_customers_words_and_link_their_case(
    site: tuple[Container, str],
) -> None:
    """The reply's own words are quoted (not the quoted notice), with a link to its case."""
    container, base_url = site
    seed_two_weeks(container)
    with _client(base_url) as client:
        page = client.get(TWO_WEEKS)
    assert "This is urgent, our customers cannot log in!" in page.text
    assert "&gt; your account was compromised" not in page.text
    assert re.search(r'<a href="/cases/\d+">case \d+</a>', page.text)
    assert 'id="define-compromised"' in page.text


def test_hostile_quotes_are_escaped(site: tuple[Container, str]) -> None:
    """Every payload a customer may write shows as text: no tag of it reaches the page."""
    container, base_url = site
    payloads = hostile_payloads()
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, new_account(session, 9), queue="triage")
        for n, payload in enumerate(payloads):
            notices.record_reply(
                session,
                case_id=case_id,
                body=payload,
                channel="portal",
                now=WEEK2 + timedelta(minutes=n),
            )
    with _client(base_url) as client:
        page = client.get("/insights/voice?weeks=1&until=2026-11-15")
    assert page.status_code == 200
    assert page.text.count('<blockquote class="voice-quote">') == 3
    for payload in payloads:
        flat = " ".join(payload.split())
        if "<" in flat:
            assert flat not in page.text


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        ("weeks=0", "Weeks must be a whole number from 1 to 104."),
        ("weeks=abc", "Weeks must be a whole number from 1 to 104."),
        # Digits str.isdigit() takes and int() does not, and digits of other scripts.
        ("weeks=%C2%B2", "Weeks must be a whole number from 1 to 104."),
        ("weeks=%D9%A1%D9%A2", "Weeks must be a whole number from 1 to 104."),
        ("weeks=999999999", "Weeks must be a whole number from 1 to 104."),
        ("weeks=%00", "Weeks must be a whole number from 1 to 104."),
        ("until=2026-02-30", "Give the last day as a date, like 2026-11-30."),
        ("until=9999-12-31", "The last day must lie between 2000-01-03 and today."),
        ("source=%3Cscript%3E", "Choose appeals, replies or both."),
        ("until=yesterday", "Give the last day as a date, like 2026-11-30."),
        ("until=1999-01-01", "The last day must lie between 2000-01-03 and today."),
        ("source=admin", "Choose appeals, replies or both."),
    ],
)
def test_bad_filters_get_a_sentence_and_the_defaults(
    site: tuple[Container, str], query: str, sentence: str
) -> None:
    """A wrong value is named in a sentence (400), and the page still shows the defaults."""
    _, base_url = site
    with _client(base_url) as client:
        page = client.get(f"/insights/voice?{query}")
    assert page.status_code == 400
    assert sentence in page.text
    assert '<table class="voice-themes">' in page.text


def test_only_insight_viewers_see_the_page(site: tuple[Container, str]) -> None:
    """A basic analyst is refused; a visitor is sent to sign in."""
    _, base_url = site
    with _client(base_url, "ana") as client:
        refused = client.get("/insights/voice")
    with httpx.Client(base_url=base_url) as anonymous:
        visitor = anonymous.get("/insights/voice")
    assert refused.status_code == 403
    assert visitor.status_code in (302, 303)
    assert "/login" in visitor.headers["location"]
