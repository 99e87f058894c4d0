"""A served workbench with users in queues and cases made by the real pipeline."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container, build
from abusedesk.core.clock import utcnow
from abusedesk.storage import queues
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Account, Case
from abusedesk.web.app import create_app
from tests.factories.arf import arf_report
from tests.factories.inventory import make_account
from tests.support.access import access_settings, create_user
from tests.support.unattributed import ingest
from tests.support.web import serving

DOMAIN = "news.example.com"


@dataclass(frozen=True)
class Workbench:
    """The container behind a served app and the app's base URL."""

    container: Container
    base_url: str


@contextmanager
def served_workbench(database_url: str, tmp_path: Path) -> Iterator[Workbench]:
    """Serve the app with fast password hashing and plain-HTTP cookies."""
    container = build(access_settings(database_url, tmp_path))
    try:
        with serving(create_app(container)) as base_url:
            yield Workbench(container, base_url)
    finally:
        container.close()


def analyst_in(container: Container, username: str, role: str, *queue_names: str) -> None:
    """Create a user with *role* who works the named queues."""
    create_user(container, username, role)
    with unit_of_work(container.sessions) as session:
        for name in queue_names:
            members = queues.member_names(session, queues.queue_by_name(session, name).id)
            queues.set_members(session, name, [*members, username], actor="test", now=utcnow())


def complaint_case(container: Container, *, serial: int = 1, raw: bytes | None = None) -> int:
    """Store a complaint about the account holding DOMAIN; return the case it folds into."""
    with unit_of_work(container.sessions) as session:
        if session.scalar(select(Account.id).where(Account.external_id == "4411")) is None:
            make_account(session, "4411", domain=DOMAIN)
    ingest(
        container,
        [raw or arf_report(message_id=f"m{serial}@{DOMAIN}", from_domain=DOMAIN, serial=serial)],
    )
    with read_only(container.sessions) as session:
        case_id = session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1))
    assert case_id is not None, "the complaint made no case"
    return case_id


@pytest.fixture
def bench(database_url: str, tmp_path: Path) -> Iterator[Workbench]:
    """Serve the workbench until the test, database checks included, is over."""
    with served_workbench(database_url, tmp_path) as served:
        yield served
