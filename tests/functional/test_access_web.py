"""Signing in to the workbench over real HTTP: sessions, lockout, CSRF, redirects, cookies."""

from collections.abc import Iterator
from datetime import timedelta
from hashlib import sha256
from pathlib import Path

import httpx
import pytest
from fastapi import Depends
from sqlalchemy import select, update

from abusedesk.access.model import ADMIN, ANALYST_BASIC, AUDITOR, LEAD, USER_ADMIN
from abusedesk.access.policy import PasswordHashing
from abusedesk.bootstrap import Container, build
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, WebSession
from abusedesk.storage.tables import User as UserRow
from abusedesk.storage.users import SqlUserRepository
from abusedesk.web.app import create_app
from abusedesk.web.auth import SESSION_COOKIE, Principal, require_permission
from tests.support.access import PASSWORD, access_settings, create_user, csrf_of, sign_in
from tests.support.web import serving


@pytest.fixture
def container(database_url: str, tmp_path: Path) -> Iterator[Container]:
    """Return the app's container with fast hashing and a lock after 3 failures."""
    built = build(access_settings(database_url, tmp_path, max_failures=3))
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[httpx.Client]:
    """Return a client of the app served on 127.0.0.1, which does not follow redirects."""
    with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
        yield http


def _audit_tags(container: Container) -> list[str]:
    with read_only(container.sessions) as session:
        return list(session.scalars(select(AuditEntry.tag).order_by(AuditEntry.id)))


def _with_cookie(client: httpx.Client, token: str) -> httpx.Response:
    """Ask for the start page from a new browser that holds only the session *token*."""
    with httpx.Client(base_url=client.base_url, cookies={SESSION_COOKIE: token}) as other:
        return other.get("/")


def test_anonymous_start_page_redirects_to_sign_in_with_next(client: httpx.Client) -> None:
    """An anonymous browser asking for a page is sent to /login with the page as next."""
    response = client.get("/?tab=mine")

    assert (response.status_code, response.headers["location"]) == (
        303,
        "/login?next=/%3Ftab%3Dmine",
    )


def test_sign_in_opens_a_session_and_returns_to_next(
    container: Container, client: httpx.Client
) -> None:
    """A right password sets the session cookie and goes on to the local next page."""
    create_user(container, "alice", ANALYST_BASIC)

    response = sign_in(client, "alice", next_path="/?q=1")
    home = client.get("/")

    assert (response.status_code, response.headers["location"]) == (303, "/?q=1")
    assert home.status_code == 200
    assert "Signed in as Test alice" in home.text
    assert "analyst_basic" in home.text


def test_only_the_hash_of_the_session_token_is_stored(
    container: Container, client: httpx.Client
) -> None:
    """The stored session id is the SHA-256 of the cookie, never the cookie itself."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")
    token = client.cookies[SESSION_COOKIE]

    with read_only(container.sessions) as session:
        ids = list(session.scalars(select(WebSession.id)))

    assert ids == [sha256(token.encode()).hexdigest()]


def test_wrong_password_is_refused_with_the_same_words_as_an_unknown_user(
    container: Container, client: httpx.Client
) -> None:
    """A wrong password and an unknown username both answer 401 with one message."""
    create_user(container, "alice", ANALYST_BASIC)

    wrong = sign_in(client, "alice", "not the password at all")
    unknown = sign_in(client, "nobody", PASSWORD)

    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert "The username or password is wrong." in wrong.text
    assert "The username or password is wrong." in unknown.text
    assert SESSION_COOKIE not in client.cookies
    assert _audit_tags(container).count("auth:login:fail") == 2


def test_failures_lock_the_account_even_for_the_right_password(
    container: Container, client: httpx.Client
) -> None:
    """After the allowed failures the account is locked (429) and the password is not tried."""
    create_user(container, "alice", ANALYST_BASIC)
    for _ in range(3):
        sign_in(client, "alice", "not the password at all")

    locked = sign_in(client, "alice", PASSWORD)

    assert locked.status_code == 429
    assert "locked after too many failed sign-ins" in locked.text
    assert int(locked.headers["Retry-After"]) > 0
    assert "auth:user:lock" in _audit_tags(container)


def test_unlock_lets_the_user_sign_in_again(container: Container, client: httpx.Client) -> None:
    """An admin's unlock lifts the lock at once."""
    create_user(container, "alice", ANALYST_BASIC)
    for _ in range(3):
        sign_in(client, "alice", "not the password at all")
    with unit_of_work(container.sessions) as session:
        SqlUserRepository().unlock(session, "alice", actor="test", now=utcnow())

    response = sign_in(client, "alice")

    assert response.status_code == 303


def test_many_failures_from_one_address_refuse_it_whatever_the_username(
    database_url: str, tmp_path: Path
) -> None:
    """The per-address limit refuses an address that guessed across several accounts."""
    built = build(access_settings(database_url, tmp_path, address_max_failures=4))
    try:
        create_user(built, "alice", ANALYST_BASIC)
        with serving(create_app(built)) as base_url, httpx.Client(base_url=base_url) as http:
            for name in ("bob", "carol", "dave", "erin"):
                sign_in(http, name, "guessing a password")
            refused = sign_in(http, "alice", PASSWORD)
    finally:
        built.close()

    assert refused.status_code == 429
    assert "Too many failed sign-ins came from your address" in refused.text


def test_disabled_user_cannot_sign_in(container: Container, client: httpx.Client) -> None:
    """A disabled user is refused with 403 even with the right password."""
    create_user(container, "alice", ANALYST_BASIC)
    with unit_of_work(container.sessions) as session:
        SqlUserRepository().set_disabled(session, "alice", True, actor="test", now=utcnow())

    response = sign_in(client, "alice")

    assert (response.status_code, "This account is disabled" in response.text) == (403, True)


def test_disabling_a_user_ends_their_session(container: Container, client: httpx.Client) -> None:
    """A session stops working as soon as its user is disabled."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")
    with unit_of_work(container.sessions) as session:
        SqlUserRepository().set_disabled(session, "alice", True, actor="test", now=utcnow())

    assert client.get("/").status_code == 303


def test_sign_out_ends_the_session_and_the_cookie_no_longer_works(
    container: Container, client: httpx.Client
) -> None:
    """POST /logout with the CSRF token ends the session; replaying the cookie is refused."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")
    token = client.cookies[SESSION_COOKIE]
    csrf = csrf_of(client)

    response = client.post("/logout", data={"csrf_token": csrf})
    replay = _with_cookie(client, token)

    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert SESSION_COOKIE in response.headers["set-cookie"]
    assert replay.status_code == 303
    assert "auth:login:logout" in _audit_tags(container)


def test_idle_session_ends(container: Container, client: httpx.Client) -> None:
    """A session unused for longer than the idle timeout no longer signs anyone in."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")
    idle = timedelta(minutes=container.settings.access.session_idle_minutes)
    with unit_of_work(container.sessions) as session:
        session.execute(update(WebSession).values(last_seen_at=utcnow() - idle))

    assert client.get("/").status_code == 303


def test_session_ends_at_its_lifetime_however_active(
    container: Container, client: httpx.Client
) -> None:
    """A session past its absolute lifetime ends even when it was used a moment ago."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")
    with unit_of_work(container.sessions) as session:
        session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))

    assert client.get("/").status_code == 303


def test_use_keeps_a_session_alive(container: Container, client: httpx.Client) -> None:
    """A request after more than a minute moves the session's last-seen time forward."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")
    earlier = utcnow() - timedelta(minutes=5)
    with unit_of_work(container.sessions) as session:
        session.execute(update(WebSession).values(last_seen_at=earlier))

    client.get("/")

    with read_only(container.sessions) as session:
        seen = session.scalar(select(WebSession.last_seen_at))
    assert seen is not None
    assert seen > earlier


def test_post_without_the_csrf_token_is_refused_with_a_clear_page(
    container: Container, client: httpx.Client
) -> None:
    """A cookie-authenticated POST without the CSRF token answers 403 and does nothing."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")

    response = client.post("/logout", data={})

    assert response.status_code == 403
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "reload the page and try again" in response.text
    assert client.get("/").status_code == 200


def test_post_with_another_sessions_csrf_token_is_refused(
    container: Container, client: httpx.Client
) -> None:
    """A CSRF token belongs to its session: one from another session is refused."""
    create_user(container, "alice", ANALYST_BASIC)
    create_user(container, "bob", ANALYST_BASIC)
    with httpx.Client(base_url=str(client.base_url)) as other:
        sign_in(other, "bob")
        foreign = csrf_of(other)
    sign_in(client, "alice")

    response = client.post("/logout", data={"csrf_token": foreign})

    assert response.status_code == 403


def test_csrf_token_in_the_header_is_accepted(container: Container, client: httpx.Client) -> None:
    """htmx sends the token in X-CSRF-Token; that is as good as the form field."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")

    response = client.post("/logout", headers={"X-CSRF-Token": csrf_of(client)})

    assert response.status_code == 303


def test_post_from_another_origin_is_refused_even_with_the_token(
    container: Container, client: httpx.Client
) -> None:
    """An Origin naming another site is refused, token or not."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")

    response = client.post(
        "/logout",
        data={"csrf_token": csrf_of(client)},
        headers={"Origin": "https://attacker.example"},
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    "target",
    [
        "https://attacker.example/",
        "//attacker.example/",
        "/\\attacker.example",
        "/\r\nLocation: https://attacker.example",
        "javascript:alert(1)",
        "http:/attacker.example",
    ],
)
def test_next_pointing_elsewhere_goes_to_the_start_page(
    container: Container, client: httpx.Client, target: str
) -> None:
    """A next parameter that is not a local path is replaced by /."""
    create_user(container, "alice", ANALYST_BASIC)

    response = sign_in(client, "alice", next_path=target)

    assert (response.status_code, response.headers["location"]) == (303, "/")


def test_sign_in_page_keeps_a_local_next_and_drops_a_foreign_one(client: httpx.Client) -> None:
    """The form carries a local next on, escaped, and never a foreign one."""
    local = client.get("/login", params={"next": "/cases?queue=basic"})
    foreign = client.get("/login", params={"next": "https://attacker.example/"})

    assert 'name="next" value="/cases?queue=basic"' in local.text
    assert 'name="next" value="/"' in foreign.text


def test_cookie_is_secure_http_only_and_same_site(database_url: str, tmp_path: Path) -> None:
    """By default the session cookie is Secure, HttpOnly, SameSite=Lax and for the whole site."""
    built = build(access_settings(database_url, tmp_path, allow_plain_http=False))
    try:
        create_user(built, "alice", ANALYST_BASIC)
        with serving(create_app(built)) as base_url, httpx.Client(base_url=base_url) as http:
            response = sign_in(http, "alice")
    finally:
        built.close()

    flags = {part.strip().lower() for part in response.headers["set-cookie"].split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= flags


def test_plain_http_setting_drops_only_the_secure_flag(
    container: Container, client: httpx.Client
) -> None:
    """With plain HTTP allowed the cookie is still HttpOnly and SameSite, but not Secure."""
    create_user(container, "alice", ANALYST_BASIC)

    response = sign_in(client, "alice")

    flags = {part.strip().lower() for part in response.headers["set-cookie"].split(";")[1:]}
    assert ("secure" in flags, {"httponly", "samesite=lax"} <= flags) == (False, True)


def test_role_change_ends_the_session(container: Container, client: httpx.Client) -> None:
    """A new role applies at once: the user's sessions end and they sign in again."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")
    with unit_of_work(container.sessions) as session:
        SqlUserRepository().set_role(session, "alice", LEAD, actor="test", now=utcnow())

    assert client.get("/").status_code == 303
    assert "auth:user:role" in _audit_tags(container)


def test_sign_in_rehashes_a_password_hashed_under_old_parameters(
    container: Container, client: httpx.Client
) -> None:
    """A hash made under other argon2 parameters is replaced at the next sign-in."""
    create_user(container, "alice", AUDITOR)
    old = PasswordHashing(time_cost=2, memory_kib=2048, parallelism=1).hash(PASSWORD)
    with unit_of_work(container.sessions) as session:
        session.execute(update(UserRow).values(password_hash=old))

    sign_in(client, "alice")

    with read_only(container.sessions) as session:
        stored = session.scalar(select(UserRow.password_hash))
    assert stored is not None
    assert stored != old
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def test_signed_in_pages_are_not_cached(container: Container, client: httpx.Client) -> None:
    """Answers to a signed-in browser carry Cache-Control: no-store."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")

    assert client.get("/health").headers["cache-control"] == "no-store"


def test_a_role_without_the_permission_gets_403_and_one_with_it_gets_the_page(
    container: Container,
) -> None:
    """require_permission refuses a signed-in user whose role lacks it, with a 403 page."""
    app = create_app(container)

    @app.get("/probe/users")
    def users_probe(
        principal: Principal = Depends(require_permission(USER_ADMIN)),
    ) -> dict[str, str]:
        return {"user": principal.user.username}

    create_user(container, "alice", ANALYST_BASIC)
    create_user(container, "root", ADMIN)
    with serving(app) as base_url:
        with httpx.Client(base_url=base_url) as analyst:
            sign_in(analyst, "alice")
            refused = analyst.get("/probe/users")
        with httpx.Client(base_url=base_url) as admin:
            sign_in(admin, "root")
            allowed = admin.get("/probe/users")

    assert (refused.status_code, refused.headers["content-type"]) == (
        403,
        "text/html; charset=utf-8",
    )
    assert "does not include the permission user.admin" in refused.text
    assert (allowed.status_code, allowed.json()) == (200, {"user": "root"})


def test_htmx_request_without_a_session_is_told_where_to_sign_in(client: httpx.Client) -> None:
    """An htmx call from an expired session gets 401 and HX-Redirect instead of a fragment."""
    response = client.get("/", headers={"HX-Request": "true"})

    assert (response.status_code, response.headers["HX-Redirect"]) == (401, "/login?next=/")


def test_signing_in_again_ends_the_browsers_previous_session(
    container: Container, client: httpx.Client
) -> None:
    """A second sign-in from the same browser replaces its session; the old cookie is dead."""
    create_user(container, "alice", ANALYST_BASIC)
    sign_in(client, "alice")
    first = client.cookies[SESSION_COOKIE]

    sign_in(client, "alice")
    second = client.cookies[SESSION_COOKIE]

    assert first != second
    assert (_with_cookie(client, first).status_code, _with_cookie(client, second).status_code) == (
        303,
        200,
    )
