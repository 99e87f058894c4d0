"""Incident review pages over real HTTP: open, write, follow up, close, export, permissions."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import func, select

from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import IncidentReview
from tests.support.access import create_user, csrf_of, sign_in
from tests.support.pdf import ink_fraction, pdf_pages, pdf_text
from tests.support.reviews import Incident, seed_incident
from tests.support.workbench import Workbench


@contextmanager
def _client(base_url: str, username: str) -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(base_url=base_url) as client:
        assert sign_in(client, username).status_code == 303
        yield client, csrf_of(client)


def _seeded(bench: Workbench) -> Incident:
    create_user(bench.container, "lee", "lead")
    create_user(bench.container, "ana", "analyst_basic")
    create_user(bench.container, "aud", "auditor")
    with unit_of_work(bench.container.sessions) as session:
        return seed_incident(session)


def _rows(html: str, table_id: str) -> list[str]:
    """Return the text of each row of the table *table_id*'s body, tags stripped."""
    found = re.search(rf'<table id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert found is not None, f"no table {table_id}"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def _open_spike_review(client: httpx.Client, csrf: str, signal_id: int) -> str:
    answer = client.post(
        "/reviews/open",
        data={"csrf_token": csrf, "origin": "spike", "origin_id": str(signal_id)},
    )
    assert answer.status_code == 303, answer.text[:500]
    return answer.headers["location"]


def test_a_lead_opens_a_review_from_a_spike_and_sees_its_timeline(bench: Workbench) -> None:
    """The button's post lands on the review, whose timeline lists the incident in order."""
    incident = _seeded(bench)
    with _client(bench.base_url, "lee") as (client, csrf):
        location = _open_spike_review(client, csrf, incident.signal_id)
        page = client.get(location)
    rows = _rows(page.text, "timeline")
    assert (page.status_code, location.endswith("?done=opened"), len(rows)) == (200, True, 12)
    assert rows[0].startswith("2026-11-02 10:00 events 3 spam events (email) about account 4411")
    assert rows[-1].startswith(
        f"2026-11-02 14:00 signal signal #{incident.signal_id} spike.jump ended"
    )
    assert '<svg class="chart"' in page.text


def test_the_monitoring_and_case_pages_offer_the_button_to_leads_only(bench: Workbench) -> None:
    """A lead sees 'Open a review' on the spike signal (not on a rate signal) and the case;
    an analyst does not."""
    incident = _seeded(bench)
    with _client(bench.base_url, "lee") as (lead, _):
        lead_case = lead.get(f"/cases/{incident.case_id}").text
        lead_account = lead.get("/accounts/4411").text
        lead_other = lead.get("/accounts/5522").text
    with _client(bench.base_url, "ana") as (analyst, _):
        analyst_case = analyst.get(f"/cases/{incident.case_id}").text
    assert f'id="signal-{incident.other_signal_id}"' in lead_other
    assert (
        'id="open-case-review"' in lead_case,
        f'id="review-signal-{incident.signal_id}"' in lead_account,
        f'id="review-signal-{incident.other_signal_id}"' in lead_other,
        'id="open-case-review"' in analyst_case,
    ) == (True, True, False, False)


def test_opening_from_the_same_case_twice_finds_the_open_review(bench: Workbench) -> None:
    """The second post from the case page redirects to the first review, not a new one."""
    incident = _seeded(bench)
    form = {"origin": "case", "origin_id": str(incident.case_id)}
    with _client(bench.base_url, "lee") as (client, csrf):
        first = client.post("/reviews/open", data={"csrf_token": csrf, **form})
        second = client.post("/reviews/open", data={"csrf_token": csrf, **form})
    with read_only(bench.container.sessions) as session:
        count = session.scalar(select(func.count(IncidentReview.id)))
    assert (
        first.headers["location"].split("?")[0],
        second.headers["location"].endswith("?done=existing"),
        count,
    ) == (second.headers["location"].split("?")[0], True, 1)


def test_a_period_review_with_a_bad_window_is_refused_in_words(bench: Workbench) -> None:
    """A backwards window, a non-time, an unknown account and a week and a minute of every
    account each get a sentence and a 422."""
    _seeded(bench)
    base = {"origin": "period", "title": "Morning"}
    cases = [
        ({"starts": "2026-11-02T12:00", "ends": "2026-11-02T10:00"}, "must end after it starts"),
        ({"starts": "yesterday", "ends": "2026-11-02T10:00"}, "is not a time"),
        (
            {"starts": "2026-11-02T10:00", "ends": "2026-11-02T12:00", "accounts": "<b>x</b>"},
            "No account &#39;&lt;b&gt;x&lt;/b&gt;&#39;",
        ),
        (
            {"starts": "2026-11-02T10:00", "ends": "2026-11-02T12:00", "title": " "},
            "Give the review a title",
        ),
        (
            {"starts": "2026-11-01T00:00", "ends": "2026-11-08T00:01"},
            "A review of every account covers at most 168 hours",
        ),
        ({"origin": "nowhere"}, "opens from a spike, a case or a period"),
        ({"origin": "spike"}, "Say which spike"),
    ]
    with _client(bench.base_url, "lee") as (client, csrf):
        answers = [
            client.post("/reviews/open", data={"csrf_token": csrf, **base, **fields})
            for fields, _ in cases
        ]
    assert [
        (a.status_code, words in a.text) for a, (_, words) in zip(answers, cases, strict=True)
    ] == [(422, True)] * len(cases)


def test_a_review_is_written_followed_up_closed_and_exported(bench: Workbench) -> None:
    """Template saved, a follow-up added and done, the review closed, Markdown and PDF out."""
    incident = _seeded(bench)
    with _client(bench.base_url, "lee") as (client, csrf):
        review = _open_spike_review(client, csrf, incident.signal_id).split("?")[0]
        refused = client.post(f"{review}/close", data={"csrf_token": csrf})
        saved = client.post(
            f"{review}/template",
            data={
                "csrf_token": csrf,
                "impact": "40 complaints <script>alert(1)</script>",
                "root_cause": "A purchased list.",
                "went_well": "",
                "went_badly": "Approval took 10 minutes.",
            },
        )
        added = client.post(
            f"{review}/follow-ups",
            data={"csrf_token": csrf, "title": "Ask for provenance", "owner": "ana", "due": ""},
        )
        item = re.search(r'id="follow-up-(\d+)"', client.get(review).text)
        assert item is not None
        done = client.post(
            f"{review}/follow-ups/{item.group(1)}",
            data={"csrf_token": csrf, "state": "done", "outcome": "asked in the notice"},
        )
        closed = client.post(f"{review}/close", data={"csrf_token": csrf})
        page = client.get(review)
        markdown = client.get(f"{review}.md")
        pdf = client.get(f"{review}.pdf")
    assert (refused.status_code, "Write the impact and the root cause" in refused.text) == (
        422,
        True,
    )
    assert [a.status_code for a in (saved, added, done, closed)] == [303] * 4
    assert (
        "<script>alert(1)</script>" in page.text,
        "40 complaints &lt;script&gt;" in page.text,
        "(closed)" in page.text,
        _rows(page.text, "follow-up-items")[0].startswith("Ask for provenance ana - done"),
    ) == (False, True, True, True)
    assert (
        markdown.headers["content-type"],
        "attachment" in markdown.headers["content-disposition"],
        "## Root cause\n\nA purchased list.\n" in markdown.text,
        "| Ask for provenance | ana | - | done | asked in the notice |" in markdown.text,
    ) == ("text/markdown; charset=utf-8", True, True, True)
    text = " ".join(" ".join(page_text.split()) for page_text in pdf_text(pdf.content))
    assert (pdf.headers["content-type"], "A purchased list." in text, "We fixed it" in text) == (
        "application/pdf",
        True,
        True,
    )
    assert all(ink_fraction(image) > 0.005 for image in pdf_pages(pdf.content))


def test_a_closed_review_refuses_changes_until_reopened(bench: Workbench) -> None:
    """Posting the template to a closed review is a 409 with the reason; reopening allows it."""
    incident = _seeded(bench)
    text = {"impact": "i", "root_cause": "r", "went_well": "", "went_badly": ""}
    with _client(bench.base_url, "lee") as (client, csrf):
        review = _open_spike_review(client, csrf, incident.signal_id).split("?")[0]
        client.post(f"{review}/template", data={"csrf_token": csrf, **text})
        client.post(f"{review}/close", data={"csrf_token": csrf})
        late = client.post(f"{review}/template", data={"csrf_token": csrf, **text, "impact": "j"})
        reopened = client.post(f"{review}/reopen", data={"csrf_token": csrf, "reason": "new facts"})
        again = client.post(f"{review}/template", data={"csrf_token": csrf, **text, "impact": "j"})
    assert (late.status_code, "reopen it to change it" in late.text) == (409, True)
    assert (reopened.status_code, again.status_code) == (303, 303)


def test_the_list_shows_reviews_and_overdue_follow_ups(bench: Workbench) -> None:
    """A follow-up due in 2020 is overdue on /reviews, in the review's row and in the list."""
    incident = _seeded(bench)
    with _client(bench.base_url, "lee") as (client, csrf):
        review = _open_spike_review(client, csrf, incident.signal_id).split("?")[0]
        client.post(
            f"{review}/follow-ups",
            data={
                "csrf_token": csrf,
                "title": "Tune it",
                "owner": "ana",
                "due": "2020-01-01T09:00",
            },
        )
        listing = client.get("/reviews").text
    reviews = _rows(listing, "review-list")
    items = _rows(listing, "follow-up-list")
    assert (len(reviews), "1 1 overdue" in reviews[0], items) == (
        1,
        True,
        [
            f"Tune it #{review.rsplit('/', 1)[1]} spike.jump on account 4411 at 2026-11-02 10:00 UTC ana 2020-01-01 09:00 overdue"
        ],
    )


def test_an_auditor_reads_and_exports_but_cannot_change(bench: Workbench) -> None:
    """insight.view reads the list, the review and the exports; posting is forbidden; an
    analyst may not read at all."""
    incident = _seeded(bench)
    with _client(bench.base_url, "lee") as (client, csrf):
        review = _open_spike_review(client, csrf, incident.signal_id).split("?")[0]
    with _client(bench.base_url, "aud") as (auditor, csrf):
        read = [auditor.get(path).status_code for path in ("/reviews", review, f"{review}.md")]
        page = auditor.get(review).text
        posted = auditor.post(f"{review}/close", data={"csrf_token": csrf})
        opened = auditor.post(
            "/reviews/open", data={"csrf_token": csrf, "origin": "case", "origin_id": "1"}
        )
    with _client(bench.base_url, "ana") as (analyst, _):
        denied = [analyst.get(path).status_code for path in ("/reviews", review, f"{review}.pdf")]
    assert (read, 'id="review-template-form"' in page, posted.status_code, opened.status_code) == (
        [200, 200, 200],
        False,
        403,
        403,
    )
    assert denied == [403, 403, 403]


def test_a_missing_review_or_follow_up_is_not_found(bench: Workbench) -> None:
    """An unknown review id is a 404 on the page, the exports and a post; a bad id a 422."""
    _seeded(bench)
    with _client(bench.base_url, "lee") as (client, csrf):
        answers = [
            client.get("/reviews/999").status_code,
            client.get("/reviews/999.md").status_code,
            client.get("/reviews/999.pdf").status_code,
            client.post("/reviews/999/close", data={"csrf_token": csrf}).status_code,
            client.post(
                "/reviews/999/follow-ups/5",
                data={"csrf_token": csrf, "state": "done", "outcome": "x"},
            ).status_code,
            client.get("/reviews/abc").status_code,
            client.get("/reviews?state=weird").status_code,
        ]
    assert answers == [404, 404, 404, 404, 404, 422, 404]


def test_a_post_without_the_csrf_token_is_refused(bench: Workbench) -> None:
    """Opening a review needs the session's CSRF token."""
    incident = _seeded(bench)
    with _client(bench.base_url, "lee") as (client, _):
        answer = client.post(
            "/reviews/open", data={"origin": "spike", "origin_id": str(incident.signal_id)}
        )
    with read_only(bench.container.sessions) as session:
        count = session.scalar(select(func.count(IncidentReview.id)))
    assert (answer.status_code, count) == (403, 0)
