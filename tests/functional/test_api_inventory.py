"""The inventory API over real HTTP: upsert rows with a token, read an account back."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from abusedesk.bootstrap import Container, build
from abusedesk.config import Settings
from abusedesk.web.app import create_app
from tests.support.web import bearer, issue, serving

ACCOUNTS = "/api/v1/inventory/accounts"
ACCOUNT = {"external_id": "4411", "name": "Northwind", "created_at": "2025-01-01T00:00:00Z"}
DOMAIN = {
    "account": "4411",
    "kind": "identity_domain",
    "value": "news.example.com",
    "created_at": "2025-01-01T00:00:00Z",
    "attributes": {"dkim_selectors": ["s1"]},
}
SMALL_ROWS = 3


@pytest.fixture
def client(container: Container) -> Iterator[httpx.Client]:
    """Return an HTTP client talking to the app served on 127.0.0.1."""
    with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
        yield http


@pytest.fixture
def writer(container: Container) -> dict[str, str]:
    """Return headers presenting a token that may write and read the inventory."""
    return bearer(issue(container, "inventory:write", "inventory:read").token)


def _put(client: httpx.Client, table: str, rows: Any, headers: dict[str, str]) -> httpx.Response:
    return client.put(f"/api/v1/inventory/{table}", json=rows, headers=headers)


def test_without_a_token_nothing_is_written(client: httpx.Client) -> None:
    """No token: 401."""
    assert _put(client, "accounts", [ACCOUNT], {}).status_code == 401


def test_a_read_token_may_not_write(
    container: Container, client: httpx.Client, writer: dict[str, str]
) -> None:
    """inventory:read alone cannot upsert (403), and nothing lands."""
    reader = bearer(issue(container, "inventory:read").token)

    refused = _put(client, "accounts", [ACCOUNT], reader)
    lookup = client.get(f"{ACCOUNTS}/4411", headers=writer)

    assert (refused.status_code, refused.json()["error"], lookup.status_code) == (
        403,
        "insufficient_scope",
        404,
    )


def test_a_write_token_may_not_read(container: Container, client: httpx.Client) -> None:
    """Reading an account needs inventory:read."""
    only_write = bearer(issue(container, "inventory:write").token)

    assert client.get(f"{ACCOUNTS}/4411", headers=only_write).status_code == 403


def test_rows_are_upserted_and_reported_per_row(
    client: httpx.Client, writer: dict[str, str]
) -> None:
    """The answer counts the rows and names each one's result; a second PUT is unchanged."""
    first = _put(client, "accounts", [ACCOUNT], writer)
    second = _put(client, "accounts", [ACCOUNT, {**ACCOUNT, "external_id": "4412"}], writer)

    assert (first.status_code, first.json()["inserted"]) == (200, 1)
    assert second.json()["results"] == [
        {"line": 1, "result": "unchanged"},
        {"line": 2, "result": "inserted"},
    ]


def test_some_bad_rows_give_200_with_their_errors(
    client: httpx.Client, writer: dict[str, str]
) -> None:
    """Good rows land; bad ones come back with position, field and message."""
    _put(client, "accounts", [ACCOUNT], writer)

    answer = _put(client, "resources", [DOMAIN, {**DOMAIN, "account": "9999"}, "x"], writer)

    body = answer.json()
    assert (answer.status_code, body["inserted"], body["rejected"]) == (200, 1, 2)
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(2, "account"), (3, "")]


def test_all_rows_bad_is_422_with_the_errors(client: httpx.Client, writer: dict[str, str]) -> None:
    """When no row could be taken the answer is 422 and lists why."""
    answer = _put(client, "accounts", [{**ACCOUNT, "created_at": "soon"}], writer)

    assert (answer.status_code, answer.json()["error"], answer.json()["errors"][0]["field"]) == (
        422,
        "rejected",
        "created_at",
    )


def test_an_unknown_table_is_404_and_a_non_list_is_400(
    client: httpx.Client, writer: dict[str, str]
) -> None:
    """Only inventory tables exist; the body must be a JSON list."""
    assert _put(client, "cases", [ACCOUNT], writer).status_code == 404
    assert _put(client, "accounts", ACCOUNT, writer).status_code == 400
    assert _put(client, "accounts", [], writer).status_code == 400


def test_an_account_reads_back_with_its_resources(
    client: httpx.Client, writer: dict[str, str]
) -> None:
    """GET gives the account, its standing and its resources in the import row shape."""
    _put(client, "accounts", [ACCOUNT], writer)
    _put(client, "resources", [DOMAIN], writer)

    body = client.get(f"{ACCOUNTS}/4411", headers=writer).json()

    assert (body["account"]["name"], body["account"]["standing"], body["resources"]) == (
        "Northwind",
        "healthy",
        [{**DOMAIN, "created_at": "2025-01-01T00:00:00+00:00", "deleted_at": None}],
    )


@pytest.fixture
def small_client(settings: Settings) -> Iterator[httpx.Client]:
    """Return a client of an app that takes at most SMALL_ROWS rows and 2 KiB per request."""
    limits = settings.inventory.model_copy(
        update={"api_max_rows": SMALL_ROWS, "api_max_bytes": 2048}
    )
    built = build(settings.model_copy(update={"inventory": limits}))
    token = issue(built, "inventory:write").token
    try:
        with (
            serving(create_app(built)) as base_url,
            httpx.Client(base_url=base_url, headers=bearer(token)) as http,
        ):
            yield http
    finally:
        built.close()


def test_too_many_rows_or_bytes_is_413(small_client: httpx.Client) -> None:
    """More rows than allowed, or a body over the byte limit, is refused with 413."""
    rows = [{**ACCOUNT, "external_id": str(n)} for n in range(SMALL_ROWS + 1)]
    big = [{**ACCOUNT, "name": "x" * 3000}]

    assert _put(small_client, "accounts", rows, {}).status_code == 413
    assert _put(small_client, "accounts", big, {}).status_code == 413
    assert _put(small_client, "accounts", rows[:SMALL_ROWS], {}).status_code == 200
