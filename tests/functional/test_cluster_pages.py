"""Clusters of linked accounts over real HTTP: the list, one cluster's evidence, and acting on
many members at once through the enforcement policy (approvals and the ladder hold)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.routing import BaseRoute

from abusedesk.core.clock import utcnow
from abusedesk.pipeline.link_monitor import LinkMonitor
from abusedesk.storage import linking as store
from abusedesk.storage.db import read_only
from abusedesk.web.app import create_app
from abusedesk.web.ui import clusters
from tests.support.access import create_user
from tests.support.enforcement_pages import (
    account_id_of,
    actions,
    enforcement_container,
    signed_in,
    standing,
)
from tests.support.linking import add_account, plant_ring
from tests.support.web import serving
from tests.support.workbench import Workbench


def _has_clusters(routes: list[BaseRoute]) -> bool:
    return any(getattr(route, "path", None) == "/clusters" for route in routes)


@contextmanager
def _served(database_url: str, tmp_path: Path) -> Iterator[Workbench]:
    """Serve the workbench (its clusters pages included) with a local connector."""
    container = enforcement_container(database_url, tmp_path)
    try:
        app = create_app(container)
        if not _has_clusters(app.routes):
            app.include_router(clusters.router)
        with serving(app) as base_url:
            yield Workbench(container, base_url)
    finally:
        container.close()


@pytest.fixture
def ring(database_url: str, tmp_path: Path) -> Iterator[tuple[Workbench, dict[str, int], int]]:
    """Serve a workbench whose ring is linked; yield it, the account ids and the cluster id."""
    with _served(database_url, tmp_path) as bench:
        ids = plant_ring(bench.container)
        LinkMonitor().run(bench.container.sessions, utcnow())
        for username, role in (("ana", "analyst_basic"), ("tia", "analyst_advanced")):
            create_user(bench.container, username, role)
        with read_only(bench.container.sessions) as session:
            cluster_id = store.cluster_lines(session)[0].id
        yield bench, ids, cluster_id


def _act(
    client_csrf: tuple[httpx.Client, str], cluster_id: int, action: str, *accounts: int
) -> httpx.Response:
    client, csrf = client_csrf
    return client.post(
        f"/clusters/{cluster_id}/actions",
        data={
            "csrf_token": csrf,
            "account": [str(a) for a in accounts],
            "action": action,
            "cause": "linked_accounts",
            "reason": "one operator's accounts: same card, same tracking links",
        },
    )


def test_the_list_shows_the_cluster_and_the_values_too_common_to_link(
    ring: tuple[Workbench, dict[str, int], int],
) -> None:
    """The ring's cluster is listed with its terminated member; the placeholder card is common."""
    bench, _, cluster_id = ring
    with signed_in(bench.base_url, "ana") as (client, _):
        page = client.get("/clusters")

    assert page.status_code == 200
    assert f'href="/clusters/{cluster_id}"' in page.text
    assert '9001 <span class="muted">(terminated)</span>' in page.text
    assert "pf_invoice" in page.text


def test_the_cluster_page_shows_each_member_and_each_link_with_its_evidence(
    ring: tuple[Workbench, dict[str, int], int],
) -> None:
    """Members with standings; links with their values, domains defanged; no form for tier 1."""
    bench, ids, cluster_id = ring
    with signed_in(bench.base_url, "ana") as (client, _):
        page = client.get(f"/clusters/{cluster_id}")

    assert page.status_code == 200
    assert f'id="member-{ids["9001"]}" class="is-sanctioned"' in page.text
    assert "payment fingerprint <code>pf_ring</code>" in page.text
    assert "url domain <code>ring-tracker[.]test</code>" in page.text
    assert "ring-tracker.test" not in page.text
    assert 'id="act-on-members"' not in page.text


def test_a_tier_one_analyst_may_not_act_on_a_cluster(
    ring: tuple[Workbench, dict[str, int], int],
) -> None:
    """Acting on many accounts is advanced-tier work: refused, nothing proposed."""
    bench, ids, cluster_id = ring
    with signed_in(bench.base_url, "ana") as ana:
        response = _act(ana, cluster_id, "review", ids["9002"])

    assert (response.status_code, actions(bench.container)) == (403, [])


def test_suspending_members_proposes_one_action_each_that_waits_for_a_second_analyst(
    ring: tuple[Workbench, dict[str, int], int],
) -> None:
    """Two selected members get a suspension each; both wait, the page says so."""
    bench, ids, cluster_id = ring
    with signed_in(bench.base_url, "tia") as tia:
        response = _act(tia, cluster_id, "suspend", ids["9002"], ids["9003"])
        page = tia[0].get(response.headers["location"])

    stored = actions(bench.container)
    assert response.status_code == 303
    assert [(a, s) for _, a, s in stored] == [("suspend", "proposed"), ("suspend", "proposed")]
    assert page.text.count("needs a second analyst</span>") == 2
    assert (standing(bench.container, "9002"), standing(bench.container, "9003")) == (
        "healthy",
        "healthy",
    )


def test_a_review_the_policy_lets_run_is_executed_for_each_member(
    ring: tuple[Workbench, dict[str, int], int],
) -> None:
    """A review needs no second analyst: it runs through the connector for both members."""
    bench, ids, cluster_id = ring
    with signed_in(bench.base_url, "tia") as tia:
        response = _act(tia, cluster_id, "review", ids["9002"], ids["9003"])
        page = tia[0].get(response.headers["location"])

    assert [(a, s) for _, a, s in actions(bench.container)] == [
        ("review", "executed"),
        ("review", "executed"),
    ]
    assert (standing(bench.container, "9002"), standing(bench.container, "9003")) == (
        "under_review",
        "under_review",
    )
    assert page.text.count(": executed") == 2


def test_one_member_the_ladder_refuses_makes_no_proposal_at_all(
    ring: tuple[Workbench, dict[str, int], int],
) -> None:
    """Warning a terminated account is refused: the page names it and nothing is proposed."""
    bench, ids, cluster_id = ring
    with signed_in(bench.base_url, "tia") as tia:
        response = _act(tia, cluster_id, "warn", ids["9002"], ids["9001"])

    assert response.status_code == 409
    assert "account 9001:" in response.text
    assert actions(bench.container) == []


def test_acting_without_the_session_token_is_refused(
    ring: tuple[Workbench, dict[str, int], int],
) -> None:
    """A post without the CSRF token proposes nothing."""
    bench, ids, cluster_id = ring
    with signed_in(bench.base_url, "tia") as (client, _):
        response = _act((client, "forged"), cluster_id, "review", ids["9002"])

    assert (response.status_code, actions(bench.container)) == (403, [])


def test_an_account_outside_the_cluster_cannot_be_slipped_in(
    ring: tuple[Workbench, dict[str, int], int],
) -> None:
    """Only the cluster's members can be acted on from its page."""
    bench, ids, cluster_id = ring
    with signed_in(bench.base_url, "tia") as tia:
        response = _act(tia, cluster_id, "review", ids["9004"])

    assert response.status_code == 409
    assert "is not a member of cluster" in response.text
    assert actions(bench.container) == []


def test_an_unknown_cluster_is_not_found(ring: tuple[Workbench, dict[str, int], int]) -> None:
    """A cluster id that does not exist is a 404."""
    bench, _, cluster_id = ring
    with signed_in(bench.base_url, "ana") as (client, _):
        response = client.get(f"/clusters/{cluster_id + 1000}")

    assert response.status_code == 404


def test_a_hostile_value_is_shown_as_text(ring: tuple[Workbench, dict[str, int], int]) -> None:
    """A fingerprint written as markup is escaped on the cluster page, never run."""
    bench, _, _ = ring
    payload = '<script>alert("linked")</script>'
    for external_id in ("9400", "9401"):
        add_account(bench.container, external_id, attributes={"device_fingerprint": payload})
    LinkMonitor().run(bench.container.sessions, utcnow())
    with read_only(bench.container.sessions) as session:
        cluster = store.cluster_of_account(session, account_id_of(session, "9400"))
    assert cluster is not None
    with signed_in(bench.base_url, "ana") as (client, _):
        page = client.get(f"/clusters/{cluster.id}")

    assert payload not in page.text
    assert "&lt;script&gt;alert(&#34;linked&#34;)&lt;/script&gt;" in page.text


def test_acting_with_no_member_selected_says_so(
    ring: tuple[Workbench, dict[str, int], int],
) -> None:
    """Nothing selected: the page asks for a member and nothing is proposed."""
    bench, _, cluster_id = ring
    with signed_in(bench.base_url, "tia") as tia:
        response = _act(tia, cluster_id, "review")

    assert response.status_code == 409
    assert "select at least one member" in response.text
    assert actions(bench.container) == []
