"""Search over events stored by the real pipeline: exact indicators, free text, references."""

import httpx
import pytest
from sqlalchemy import func, select

from abusedesk.bootstrap import Container
from abusedesk.search.query import parse_query
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.search import SearchResults, reindex_events, search
from abusedesk.storage.tables import Case, Event, EventIndicator, EventText
from abusedesk.web.app import create_app
from tests.factories.arf import arf_report
from tests.factories.inventory import make_account
from tests.factories.reports import forwarded_complaint
from tests.support.unattributed import ingest
from tests.support.web import bearer, issue, serving

DOMAIN = "news.example.com"


@pytest.fixture
def stored(container: Container) -> Container:
    """One account; three ARF reports about its mail and one person's forwarded complaint."""
    with unit_of_work(container.sessions) as session:
        make_account(session, "4411", domain=DOMAIN)
    ingest(
        container,
        [
            arf_report(message_id=f"m1@{DOMAIN}", from_domain=DOMAIN, serial=1),
            arf_report(message_id=f"m2@{DOMAIN}", from_domain=DOMAIN, serial=2),
            arf_report(
                message_id=f"m3@{DOMAIN}", from_domain=DOMAIN, source_ip="2001:db8::17", serial=3
            ),
            forwarded_complaint(
                4,
                message_id=f"m4@{DOMAIN}",
                from_domain=DOMAIN,
                complainant_domain="people.example.org",
            ),
        ],
    )
    return container


def run(container: Container, text: str) -> SearchResults:
    with read_only(container.sessions) as session:
        return search(session, parse_query(text))


def message_ids(container: Container, results: SearchResults) -> set[str]:
    with read_only(container.sessions) as session:
        rows = session.scalars(
            select(Event.indicators).where(Event.id.in_([hit.id for hit in results.events]))
        )
        return {mid for indicators in rows for mid in indicators.get("message_id", [])}


def test_a_message_id_finds_its_event_and_case(stored: Container) -> None:
    """The Message-ID as an analyst pastes it, with brackets, finds that one event."""
    results = run(stored, f"<m2@{DOMAIN}>")

    assert message_ids(stored, results) == {f"m2@{DOMAIN}"}
    assert [case.category_group for case in results.cases] == ["spam"]


def test_an_ip_finds_events_however_it_is_written(stored: Container) -> None:
    """IPv6 in a non-canonical spelling matches the canonical form the index keeps."""
    assert message_ids(stored, run(stored, "2001:DB8:0::17")) == {f"m3@{DOMAIN}"}
    assert message_ids(stored, run(stored, "192.0.2.10")) == {f"m1@{DOMAIN}", f"m2@{DOMAIN}"}


def test_a_domain_finds_events_and_the_account_that_holds_it(stored: Container) -> None:
    """A sending domain finds every event about it and names the account whose identity it is."""
    results = run(stored, DOMAIN.upper() + ".")

    assert len(results.events) == 4
    assert [(a.external_id, a.found_by) for a in results.accounts] == [
        ("4411", f"domain {DOMAIN} is theirs")
    ]


def test_a_defanged_url_finds_the_events_quoting_it(stored: Container) -> None:
    """hxxp and [.] are undone before matching."""
    results = run(stored, "hxxp://offers.news.example[.]com/deal")

    assert len(results.events) == 3


def test_free_text_matches_word_prefixes_and_every_term(stored: Container) -> None:
    """Words match by prefix; words and indicators together must all match."""
    assert message_ids(stored, run(stored, "offer NUMB")) == {f"m4@{DOMAIN}"}
    assert run(stored, "offer 192.0.2.10").events == []


def test_an_address_finds_the_complaints_it_made_through_their_hash(stored: Container) -> None:
    """Parsers keep only a hash of the complainant; the address typed in finds it."""
    results = run(stored, "Someone@People.Example.org")

    assert message_ids(stored, results) == {f"m4@{DOMAIN}"}


def test_references_find_cases_and_accounts(stored: Container) -> None:
    """#id names a case; account:x names an account by its external id."""
    with read_only(stored.sessions) as session:
        case_id = session.scalar(select(Case.id))

    assert [case.id for case in run(stored, f"#{case_id}").cases] == [case_id]
    assert [a.external_id for a in run(stored, "account:4411").accounts] == ["4411"]


@pytest.mark.parametrize(
    "hostile",
    ['" OR 1=1 --', "NEAR(a b)", "body:*", "'; DROP TABLE events; --", "a* AND -b", "^x"],
)
def test_query_syntax_of_the_engines_is_inert(stored: Container, hostile: str) -> None:
    """What the full-text engines would read as syntax is searched for as plain words."""
    results = run(stored, hostile)

    assert results.events == []
    with read_only(stored.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 4


def test_processing_again_and_reindexing_keep_one_entry_per_indicator(stored: Container) -> None:
    """The index is rewritten, never appended to, when an event is stored or indexed again."""

    def counts() -> tuple[int, int]:
        with read_only(stored.sessions) as session:
            return (
                session.scalar(select(func.count()).select_from(EventIndicator)) or 0,
                session.scalar(select(func.count()).select_from(EventText)) or 0,
            )

    before = counts()
    with unit_of_work(stored.sessions) as session:
        reindex_events(session, session.scalars(select(Event.id)))

    assert counts() == before
    assert before[0] > 4 * 3
    assert message_ids(stored, run(stored, "offer")) == {f"m4@{DOMAIN}"}


def test_search_over_http_needs_a_token_and_answers_json(stored: Container) -> None:
    """The API answers with the hits and refuses a query it cannot run with the reason."""
    with serving(create_app(stored)) as base_url, httpx.Client(base_url=base_url) as http:
        token = issue(stored, "events:read").token
        found = http.get("/api/v1/search", params={"q": f"<m1@{DOMAIN}>"}, headers=bearer(token))
        refused = http.get("/api/v1/search", params={"q": "!!"}, headers=bearer(token))
        anonymous = http.get("/api/v1/search", params={"q": DOMAIN})

    assert (found.status_code, len(found.json()["events"])) == (200, 1)
    assert found.json()["query"] == f"message_id m1@{DOMAIN}"
    assert (refused.status_code, "no letters" in refused.text) == (422, True)
    assert anonymous.status_code == 401
