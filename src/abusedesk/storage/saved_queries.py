"""Saved SQL queries over the analytics views, shared by the team; every change audited.

Anyone who may use the console may save a query and run the team's. Its author changes
or deletes it; so may a lead (whoever may write insights).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.storage import audit
from abusedesk.storage.tables import SavedQuery, table_of

MAX_NAME: Final = 200
MAX_DESCRIPTION: Final = 2000
MAX_SQL: Final = 20_000

_queries = table_of(SavedQuery)


class SavedQueryRefused(AbuseDeskError):
    """Raise when a saved query cannot be stored or changed as asked (nothing changes)."""


@dataclass(frozen=True)
class SavedQueryLine:
    """A saved query as the console lists it."""

    id: int
    name: str
    description: str
    sql: str
    author: str
    created_at: datetime
    updated_at: datetime


def saved_queries(session: Session) -> list[SavedQueryLine]:
    """Return every saved query, by name."""
    rows = session.execute(select(_queries).order_by(func.lower(_queries.c.name), _queries.c.id))
    return [_line(row) for row in rows.mappings()]


def saved_query(session: Session, query_id: int) -> SavedQueryLine:
    """Return one saved query; raise NotFound when there is none."""
    row = session.execute(select(_queries).where(_queries.c.id == query_id)).mappings().first()
    if row is None:
        raise NotFound(f"there is no saved query {query_id}")
    return _line(row)


def _line(row: object) -> SavedQueryLine:
    values = dict(row)  # type: ignore[call-overload]  # a RowMapping
    return SavedQueryLine(
        id=int(values["id"]),
        name=str(values["name"]),
        description=str(values["description"]),
        sql=str(values["sql"]),
        author=str(values["author"]),
        created_at=values["created_at"],
        updated_at=values["updated_at"],
    )


def _checked(name: str, description: str, sql: str) -> dict[str, str]:
    name = " ".join(name.split())
    if not name:
        raise SavedQueryRefused("give the query a name")
    if len(name) > MAX_NAME:
        raise SavedQueryRefused(f"a name has at most {MAX_NAME} characters")
    if len(description) > MAX_DESCRIPTION:
        raise SavedQueryRefused(f"a description has at most {MAX_DESCRIPTION} characters")
    if not sql.strip():
        raise SavedQueryRefused("there is no query to save")
    if len(sql) > MAX_SQL:
        raise SavedQueryRefused(f"a saved query has at most {MAX_SQL:,} characters")
    if "\x00" in name + description + sql:
        raise SavedQueryRefused("remove the NUL character from the query")
    return {"name": name, "description": description.strip(), "sql": sql.strip()}


def _name_free(session: Session, name: str, query_id: int | None) -> None:
    clash = session.execute(
        select(_queries.c.id).where(func.lower(_queries.c.name) == name.lower())
    ).scalar()
    if clash is not None and clash != query_id:
        raise SavedQueryRefused(f"a saved query is already named {name!r}")


def create_saved_query(
    session: Session, *, name: str, description: str, sql: str, actor: str, now: datetime
) -> int:
    """Save a query for the team under a unique name; return its id."""
    values = _checked(name, description, sql)
    _name_free(session, values["name"], None)
    try:
        with session.begin_nested():
            query_id = int(
                session.execute(
                    insert(_queries)
                    .values(**values, author=actor, created_at=now, updated_at=now)
                    .returning(_queries.c.id)
                ).scalar_one()
            )
    except IntegrityError as exc:
        raise SavedQueryRefused(f"a saved query is already named {values['name']!r}") from exc
    audit.record(
        session,
        actor=actor,
        tag="sql:saved_query:create",
        subject_type="saved_query",
        subject_id=query_id,
        at=now,
        after=values,
    )
    return query_id


def _may_change(line: SavedQueryLine, actor: str, *, lead: bool) -> None:
    if line.author != actor and not lead:
        raise SavedQueryRefused(
            f"only its author ({line.author}) or a lead may change or delete {line.name!r}"
        )


def update_saved_query(
    session: Session,
    query_id: int,
    *,
    name: str,
    description: str,
    sql: str,
    actor: str,
    lead: bool,
    now: datetime,
) -> None:
    """Change a saved query (its author, or a lead)."""
    line = saved_query(session, query_id)
    _may_change(line, actor, lead=lead)
    values = _checked(name, description, sql)
    _name_free(session, values["name"], query_id)
    try:
        with session.begin_nested():
            session.execute(
                update(_queries).where(_queries.c.id == query_id).values(**values, updated_at=now)
            )
    except IntegrityError as exc:
        raise SavedQueryRefused(f"a saved query is already named {values['name']!r}") from exc
    audit.record(
        session,
        actor=actor,
        tag="sql:saved_query:update",
        subject_type="saved_query",
        subject_id=query_id,
        at=now,
        before={"name": line.name, "description": line.description, "sql": line.sql},
        after=values,
    )


def delete_saved_query(
    session: Session, query_id: int, *, actor: str, lead: bool, now: datetime
) -> None:
    """Delete a saved query (its author, or a lead); the audit log keeps its text."""
    line = saved_query(session, query_id)
    _may_change(line, actor, lead=lead)
    session.execute(delete(_queries).where(_queries.c.id == query_id))
    audit.record(
        session,
        actor=actor,
        tag="sql:saved_query:delete",
        subject_type="saved_query",
        subject_id=query_id,
        at=now,
        before={"name": line.name, "description": line.description, "sql": line.sql},
    )
