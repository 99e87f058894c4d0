"""Users, sign-in and CSRF tokens for tests of the workbench over HTTP."""

import re
from pathlib import Path
from typing import Any

import httpx

from abusedesk.access.model import User
from abusedesk.access.policy import PasswordHashing
from abusedesk.bootstrap import Container
from abusedesk.config import Settings
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.users import SqlUserRepository
from tests.support.settings import private_settings

PASSWORD = "correct horse battery"
# Cheap argon2 parameters: tests hash many passwords on few cores.
FAST_HASHING: dict[str, Any] = {
    "password_time_cost": 1,
    "password_memory_kib": 1024,
    "password_parallelism": 1,
}
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')


def access_settings(database_url: str, tmp_path: Path, **access: Any) -> Settings:
    """Return test settings with fast hashing, plain-HTTP cookies and *access* overrides."""
    return private_settings(
        database_url, tmp_path, access={**FAST_HASHING, "allow_plain_http": True, **access}
    )


def hashing_of(container: Container) -> PasswordHashing:
    """Return the password hashing the container's settings ask for."""
    settings = container.settings.access
    return PasswordHashing(
        time_cost=settings.password_time_cost,
        memory_kib=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
    )


def create_user(container: Container, username: str, role: str, password: str = PASSWORD) -> User:
    """Create a user with *role* in the test database."""
    with unit_of_work(container.sessions) as session:
        return SqlUserRepository().create(
            session,
            username=username,
            display_name=f"Test {username}",
            email=f"{username}@example.net",
            role=role,
            password=password,
            hashing=hashing_of(container),
            min_password_length=container.settings.access.password_min_length,
            actor="test",
            now=utcnow(),
        )


def sign_in(
    client: httpx.Client, username: str, password: str = PASSWORD, next_path: str = "/"
) -> httpx.Response:
    """Post the sign-in form; return the answer (a 303 on success)."""
    return client.post(
        "/login", data={"username": username, "password": password, "next": next_path}
    )


def csrf_of(client: httpx.Client) -> str:
    """Return the CSRF token of the client's session, read from the start page."""
    page = client.get("/")
    found = _CSRF_META.search(page.text)
    if found is None:
        raise AssertionError(f"no CSRF token on the start page (status {page.status_code})")
    return found.group(1)
