"""Notes with mentions, the first response they make, and saved replies."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.cases.sla import SlaState
from abusedesk.cases.states import CaseState
from abusedesk.core.errors import NotFound
from abusedesk.storage import case_history, case_notes
from abusedesk.storage.case_history import Step
from abusedesk.storage.case_notes import InvalidNote, InvalidSavedReply, SavedReplyTitleTaken
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry
from tests.support.casework import (
    MONDAY,
    audit_tags,
    case_row,
    make_case,
    make_user,
    new_account,
    restore_defaults,
)

HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _defaults(container: Container) -> None:
    """Start every test with the default queue and a few users."""
    with unit_of_work(container.sessions) as session:
        restore_defaults(session)
        for name in ("alice", "bob", "a_b", "carol"):
            make_user(session, name)


@pytest.fixture
def case_id(container: Container) -> int:
    """Return a new case in the triage queue, not yet answered."""
    with unit_of_work(container.sessions) as session:
        return make_case(session, new_account(session), queue="triage")


def _note(container: Container, case_id: int, body: str, *, author: str = "alice") -> int:
    with unit_of_work(container.sessions) as session:
        return case_notes.add_note(session, case_id, body, author=author, now=MONDAY + HOUR).id


# --- notes --------------------------------------------------------------------------


def test_mentions_keep_existing_users_only(container: Container, case_id: int) -> None:
    """@bob and @Carol are kept, @ghost and an email address are not, each name once."""
    _note(
        container,
        case_id,
        "@bob please look; cc @Carol, @ghost and mail ops@bob.example. Thanks @bob.",
    )
    with read_only(container.sessions) as session:
        (note,) = case_notes.notes(session, case_id)
    assert (note.author, note.mentions) == ("alice", ("bob", "carol"))


def test_the_mention_parser_reads_names_as_written() -> None:
    """Names end at punctuation, an address is not a mention, and case does not matter."""
    assert case_notes.mentioned_names("(@Bob) x@alice.example @a_b. @c @carol-") == [
        "bob",
        "a_b",
        "carol",
    ]


def test_a_note_is_the_first_response_when_there_is_none(
    container: Container, case_id: int
) -> None:
    """The first note stops the response clock; a later note does not move it."""
    _note(container, case_id, "looking into it")
    with unit_of_work(container.sessions) as session:
        case_notes.add_note(session, case_id, "still on it", author="bob", now=MONDAY + 2 * HOUR)
    with read_only(container.sessions) as session:
        row = case_row(session, case_id)
        steps = [s for s in case_history.history(session, case_id) if s.kind == Step.NOTE]
    assert (row.first_response_at, row.status, row.sla_state) == (
        MONDAY + HOUR,
        CaseState.NEW,
        SlaState.OK,
    )
    assert [(s.actor, s.to_value is not None) for s in steps] == [("alice", True), ("bob", True)]


def test_a_note_is_audited_without_its_words(container: Container, case_id: int) -> None:
    """The audit row of a note names its id, length and mentions, never the body."""
    body = "private detail: @bob the password was hunter2"
    note_id = _note(container, case_id, body)
    with read_only(container.sessions) as session:
        tags = audit_tags(session, case_id)
        after = session.scalars(
            select(AuditEntry.after).where(AuditEntry.tag == "case:note:add")
        ).one()
    assert (tags[-1], after) == (
        "case:note:add",
        {"note_id": note_id, "length": len(body), "mentions": ["bob"]},
    )


def test_empty_and_overlong_notes_are_refused(container: Container, case_id: int) -> None:
    """A note of blanks or beyond the limit is refused and nothing is stored."""
    with pytest.raises(InvalidNote, match="needs some words"):
        _note(container, case_id, "  \n ")
    with pytest.raises(InvalidNote, match="at most"):
        _note(container, case_id, "x" * (case_notes.MAX_NOTE + 1))
    with read_only(container.sessions) as session:
        assert case_notes.notes(session, case_id) == []


def test_my_mentions_lists_newest_first_and_only_mine(container: Container, case_id: int) -> None:
    """Bob sees the notes naming him, newest first; a_b's name is not matched by 'axb'."""
    first = _note(container, case_id, "@bob first")
    _note(container, case_id, "@carol only")
    second = _note(container, case_id, "@carol and @bob")
    _note(container, case_id, "@axb is nobody")
    underscored = _note(container, case_id, "@a_b here")
    with read_only(container.sessions) as session:
        bobs = [n.id for n in case_notes.my_mentions(session, "bob")]
        paged = [n.id for n in case_notes.my_mentions(session, "bob", before_id=second)]
        a_b = [n.id for n in case_notes.my_mentions(session, "a_b")]
        limited = [n.id for n in case_notes.my_mentions(session, "bob", limit=1)]
    assert (bobs, paged, a_b, limited) == ([second, first], [first], [underscored], [second])


def test_a_note_on_an_unknown_case_is_not_found(container: Container) -> None:
    """Adding a note to a case that does not exist says so."""
    with pytest.raises(NotFound):
        _note(container, 987654, "hello")


# --- saved replies ------------------------------------------------------------------


def test_saved_replies_are_created_changed_and_removed_with_audit(container: Container) -> None:
    """Each change to a saved reply is audited, and the list follows it."""
    with unit_of_work(container.sessions) as session:
        reply_id = case_notes.create_saved_reply(
            session, "Ask for logs", "Please send the logs.", actor="lead", now=MONDAY
        )
        case_notes.update_saved_reply(
            session,
            reply_id,
            title="Ask for  send logs",
            body="Please send the send logs.",
            category_group="spam",
            actor="lead",
            now=MONDAY + HOUR,
        )
        changed = case_notes.saved_reply(session, reply_id)
        case_notes.delete_saved_reply(session, reply_id, actor="lead", now=MONDAY + 2 * HOUR)
    with read_only(container.sessions) as session:
        left = case_notes.saved_replies(session)
        tags = session.scalars(
            select(AuditEntry.tag)
            .where(AuditEntry.subject_type == "saved_reply")
            .order_by(AuditEntry.id)
        ).all()
    assert (changed.title, changed.category_group, changed.updated_at, left) == (
        "Ask for send logs",
        "spam",
        MONDAY + HOUR,
        [],
    )
    assert tags == [
        "case:saved_reply:create",
        "case:saved_reply:update",
        "case:saved_reply:delete",
    ]


def test_a_saved_reply_title_is_unique(container: Container) -> None:
    """A second reply with a taken title, new or renamed, is refused."""
    with unit_of_work(container.sessions) as session:
        case_notes.create_saved_reply(session, "Warning", "First warning.", actor="a", now=MONDAY)
        other = case_notes.create_saved_reply(session, "Other", "Text.", actor="a", now=MONDAY)
    with unit_of_work(container.sessions) as session:
        with pytest.raises(SavedReplyTitleTaken, match="'Warning'"):
            case_notes.create_saved_reply(session, "Warning", "Again.", actor="a", now=MONDAY)
        with pytest.raises(SavedReplyTitleTaken):
            case_notes.update_saved_reply(
                session, other, title="Warning", body="Text.", actor="a", now=MONDAY
            )
    with read_only(container.sessions) as session:
        assert [r.title for r in case_notes.saved_replies(session)] == ["Other", "Warning"]


def test_saved_replies_need_a_title_and_a_body(container: Container) -> None:
    """A reply with no title or no body is refused."""
    with unit_of_work(container.sessions) as session:
        with pytest.raises(InvalidSavedReply, match="title"):
            case_notes.create_saved_reply(session, " ", "Body.", actor="a", now=MONDAY)
        with pytest.raises(InvalidSavedReply, match="body"):
            case_notes.create_saved_reply(session, "Title", "", actor="a", now=MONDAY)


def test_saved_replies_are_listed_by_category_group(container: Container) -> None:
    """A group's list holds its own replies and the general ones; grouping covers all."""
    with unit_of_work(container.sessions) as session:
        for title, group in (("Spam A", "spam"), ("General", None), ("Phish A", "phishing")):
            case_notes.create_saved_reply(
                session, title, f"{title} text.", category_group=group, actor="a", now=MONDAY
            )
    with read_only(container.sessions) as session:
        spam = [r.title for r in case_notes.saved_replies(session, category_group="spam")]
        grouped = {
            group: [r.title for r in replies]
            for group, replies in case_notes.saved_replies_by_group(session).items()
        }
    assert spam == ["General", "Spam A"]
    assert grouped == {None: ["General"], "phishing": ["Phish A"], "spam": ["Spam A"]}
