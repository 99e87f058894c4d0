"""The SQL console in tests: on PostgreSQL a read-only login role of the test's own."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.sql_console import Console, console_for, grant_role
from abusedesk.storage.tables import QaReview, QaSample, QaScorecard, table_of


@contextmanager
def analytics_role(container: Container, *, time_limit_seconds: float = 10.0) -> Iterator[str]:
    """Grant a login role of this test's own (PostgreSQL) and point the settings at it;
    remove the role afterwards. On SQLite there is nothing to grant."""
    settings = container.settings.analytics
    if container.engine.dialect.name != "postgresql":
        yield settings.role
        return
    role = f"abusedesk_an_{uuid.uuid4().hex[:10]}"
    with container.engine.begin() as connection:
        grant_role(
            connection,
            role=role,
            password=None,
            connection_limit=settings.connection_limit,
            time_limit_seconds=time_limit_seconds,
        )
    settings.role = role
    try:
        yield role
    finally:
        with container.engine.begin() as connection:
            connection.execute(text(f'DROP OWNED BY "{role}"'))
            connection.execute(text(f'DROP ROLE "{role}"'))


@contextmanager
def console_of(container: Container) -> Iterator[Console]:
    """Yield the console of *container*'s database, logging in as a role of its own."""
    with analytics_role(container) as role:
        url = make_url(container.settings.database.url).render_as_string(hide_password=False)
        yield console_for(url, role=role)


def scored_review(container: Container, case_id: int) -> None:
    """Store one scored QA review of *case_id*: two criteria met, one not, comments."""
    now = utcnow()
    with unit_of_work(container.sessions) as session:
        card = session.execute(
            insert(table_of(QaScorecard))
            .values(
                case_type="",
                version=1,
                definition={"criteria": []},
                author="lee",
                note="",
                created_at=now,
            )
            .returning(QaScorecard.id)
        ).scalar_one()
        sample = session.execute(
            insert(table_of(QaSample))
            .values(
                case_id=case_id,
                analyst="vera",
                tier="basic",
                reason="random",
                state="scored",
                sampled_at=now,
                sampled_by="system:qa",
            )
            .returning(QaSample.id)
        ).scalar_one()
        session.execute(
            insert(table_of(QaReview)).values(
                sample_id=sample,
                analyst="vera",
                reviewer="quinn",
                scorecard_id=card,
                ratings={
                    "evidence": {"rating": "met", "comment": "secret remark"},
                    "policy": {"rating": "not_met", "comment": "wrong step"},
                    "notice": {"rating": "met", "comment": ""},
                },
                score=66.7,
                critical_failure=True,
                comment="a comment",
                scored_at=now,
                feedback="sent",
            )
        )
