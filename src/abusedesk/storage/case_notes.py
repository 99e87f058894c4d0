"""Notes on cases, with mentions of other users, and the saved replies analysts reuse.

A note is the team's first response when the case has none yet: it stops the response
clock. Every note and every change to a saved reply is audited; the audit row carries
the note's id, length and mentions, never its words.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Text, cast, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.storage import audit, case_history, casework
from abusedesk.storage.case_history import Step
from abusedesk.storage.tables import Case, CaseNote, SavedReply, User, table_of

NOTES = table_of(CaseNote)
REPLIES = table_of(SavedReply)
MAX_NOTE = 20_000
MAX_TITLE = 200
MAX_REPLY = 20_000
MAX_GROUP = 40
# ``@name`` where the name is a username (letters, digits, '.', '-', '_'), not part of
# an email address or a longer word; a trailing '.' or '-' ends the sentence, not the name.
_MENTION = re.compile(r"(?<![\w@.])@([a-z0-9][a-z0-9._-]{0,63})", re.IGNORECASE)


class InvalidNote(AbuseDeskError):
    """Raise when a note is empty or longer than the limit."""


class InvalidSavedReply(AbuseDeskError):
    """Raise when a saved reply lacks a title or body, or one is too long."""


class SavedReplyTitleTaken(AbuseDeskError):
    """Raise when a saved reply's title is already used by another."""


@dataclass(frozen=True)
class NoteView:
    """A note as the case page shows it."""

    id: int
    case_id: int
    author: str
    body: str
    mentions: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class SavedReplyView:
    """A saved reply; ``category_group`` None means it fits every case."""

    id: int
    title: str
    body: str
    category_group: str | None
    updated_by: str
    updated_at: datetime


# --- notes --------------------------------------------------------------------------


def mentioned_names(body: str) -> list[str]:
    """Return the lower-cased ``@names`` in *body*, first appearance first, each once."""
    names = (match.group(1).rstrip(".-_").lower() for match in _MENTION.finditer(body))
    return list(dict.fromkeys(name for name in names if len(name) >= 2))


def add_note(session: Session, case_id: int, body: str, *, author: str, now: datetime) -> NoteView:
    """Add a note by *author* to case *case_id*; mentions of active users are kept.

    The note is the case's first response when it has none: the response clock stops.
    """
    text = body.strip()
    if not text:
        raise InvalidNote("a note needs some words")
    if len(text) > MAX_NOTE:
        raise InvalidNote(f"a note holds at most {MAX_NOTE} characters, this one {len(text)}")
    case = casework.lock_case(session, case_id)
    candidates = mentioned_names(text)
    known = set(
        session.scalars(
            select(User.username).where(User.username.in_(candidates), User.disabled_at.is_(None))
        )
    )
    mentions = [name for name in candidates if name in known]
    note_id = int(
        session.execute(
            insert(NOTES)
            .values(case_id=case_id, author=author, body=text, mentions=mentions, created_at=now)
            .returning(CaseNote.id)
        ).scalar_one()
    )
    case_history.record(
        session,
        case_id,
        Step.NOTE,
        actor=author,
        at=now,
        to_value=f"note {note_id}",
        tag="case:note:add",
        after={"note_id": note_id, "length": len(text), "mentions": mentions},
    )
    if case.first_response_at is None:
        session.execute(
            update(table_of(Case)).where(Case.id == case_id).values(first_response_at=now)
        )
        casework.refresh_sla(session, case_id, now=now)
    return NoteView(note_id, case_id, author, text, tuple(mentions), now)


def notes(session: Session, case_id: int) -> list[NoteView]:
    """Return the notes of case *case_id*, oldest first."""
    rows = session.execute(
        select(NOTES).where(CaseNote.case_id == case_id).order_by(CaseNote.created_at, CaseNote.id)
    )
    return [_note(row) for row in rows]


def my_mentions(
    session: Session, username: str, *, limit: int = 50, before_id: int | None = None
) -> list[NoteView]:
    """Return the notes that mention *username*, newest first; page on with *before_id*."""
    name = username.strip().lower()
    # The mentions are a JSON list of names: match the quoted name in its text form
    # (the same on both databases), then confirm on the decoded list.
    pattern = '%"' + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
    found: list[NoteView] = []
    cursor = before_id
    while len(found) < limit:
        statement = (
            select(NOTES)
            .where(cast(CaseNote.mentions, Text).like(pattern, escape="\\"))
            .order_by(CaseNote.id.desc())
            .limit(limit)
        )
        if cursor is not None:
            statement = statement.where(CaseNote.id < cursor)
        rows = session.execute(statement).all()
        found += [_note(row) for row in rows if name in row.mentions]
        if len(rows) < limit:
            break
        cursor = rows[-1].id
    return found[:limit]


def _note(row: Row[Any]) -> NoteView:
    return NoteView(
        row.id, row.case_id, row.author, row.body, tuple(row.mentions or ()), row.created_at
    )


# --- saved replies ------------------------------------------------------------------


def create_saved_reply(
    session: Session,
    title: str,
    body: str,
    *,
    category_group: str | None = None,
    actor: str,
    now: datetime,
) -> int:
    """Store a new saved reply under a unique title; return its id."""
    values = _reply_values(title, body, category_group)
    _title_free(session, values["title"], None)
    try:
        with session.begin_nested():
            reply_id = int(
                session.execute(
                    insert(REPLIES)
                    .values(**values, updated_by=actor, updated_at=now)
                    .returning(SavedReply.id)
                ).scalar_one()
            )
    except IntegrityError as exc:
        raise SavedReplyTitleTaken(f"a saved reply is already titled {values['title']!r}") from exc
    audit.record(
        session,
        actor=actor,
        tag="case:saved_reply:create",
        subject_type="saved_reply",
        subject_id=reply_id,
        at=now,
        after=values,
    )
    return reply_id


def update_saved_reply(
    session: Session,
    reply_id: int,
    *,
    title: str,
    body: str,
    category_group: str | None = None,
    actor: str,
    now: datetime,
) -> None:
    """Replace a saved reply's title, body and category group."""
    before = _reply_dict(saved_reply(session, reply_id))
    values = _reply_values(title, body, category_group)
    _title_free(session, values["title"], reply_id)
    try:
        with session.begin_nested():
            session.execute(
                update(REPLIES)
                .where(SavedReply.id == reply_id)
                .values(**values, updated_by=actor, updated_at=now)
            )
    except IntegrityError as exc:
        raise SavedReplyTitleTaken(f"a saved reply is already titled {values['title']!r}") from exc
    audit.record(
        session,
        actor=actor,
        tag="case:saved_reply:update",
        subject_type="saved_reply",
        subject_id=reply_id,
        at=now,
        before=before,
        after=values,
    )


def delete_saved_reply(session: Session, reply_id: int, *, actor: str, now: datetime) -> None:
    """Remove a saved reply; the audit log keeps what it said."""
    before = _reply_dict(saved_reply(session, reply_id))
    session.execute(delete(REPLIES).where(SavedReply.id == reply_id))
    audit.record(
        session,
        actor=actor,
        tag="case:saved_reply:delete",
        subject_type="saved_reply",
        subject_id=reply_id,
        at=now,
        before=before,
    )


def saved_reply(session: Session, reply_id: int) -> SavedReplyView:
    """Return the saved reply with *reply_id*, or raise NotFound."""
    row = session.execute(select(REPLIES).where(SavedReply.id == reply_id)).one_or_none()
    if row is None:
        raise NotFound(f"no saved reply {reply_id}")
    return _reply(row)


def saved_replies(session: Session, *, category_group: str | None = None) -> list[SavedReplyView]:
    """Return saved replies by title: all of them, or those for one category group and
    those for every case."""
    statement = select(REPLIES).order_by(SavedReply.title)
    if category_group is not None:
        statement = statement.where(
            (SavedReply.category_group == category_group) | SavedReply.category_group.is_(None)
        )
    return [_reply(row) for row in session.execute(statement)]


def saved_replies_by_group(session: Session) -> dict[str | None, list[SavedReplyView]]:
    """Return every saved reply grouped by category group (None: for every case)."""
    grouped: dict[str | None, list[SavedReplyView]] = {}
    for reply in saved_replies(session):
        grouped.setdefault(reply.category_group, []).append(reply)
    return grouped


def _reply_values(title: str, body: str, category_group: str | None) -> dict[str, Any]:
    clean_title = " ".join(title.split())
    clean_body = body.strip()
    group = (category_group or "").strip() or None
    if not clean_title or len(clean_title) > MAX_TITLE:
        raise InvalidSavedReply(f"a saved reply needs a title of 1 to {MAX_TITLE} characters")
    if not clean_body or len(clean_body) > MAX_REPLY:
        raise InvalidSavedReply(f"a saved reply needs a body of 1 to {MAX_REPLY} characters")
    if group is not None and len(group) > MAX_GROUP:
        raise InvalidSavedReply(f"a category group has at most {MAX_GROUP} characters")
    return {"title": clean_title, "body": clean_body, "category_group": group}


def _title_free(session: Session, title: str, reply_id: int | None) -> None:
    holder = session.scalar(select(SavedReply.id).where(SavedReply.title == title))
    if holder is not None and holder != reply_id:
        raise SavedReplyTitleTaken(f"a saved reply is already titled {title!r}")


def _reply(row: Row[Any]) -> SavedReplyView:
    return SavedReplyView(
        row.id, row.title, row.body, row.category_group, row.updated_by, row.updated_at
    )


def _reply_dict(reply: SavedReplyView) -> dict[str, str | None]:
    return {"title": reply.title, "body": reply.body, "category_group": reply.category_group}
