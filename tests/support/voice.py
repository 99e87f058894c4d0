"""Appeals and customer replies over three weeks, for the voice of the customer tests.

The themes each text falls in are worked out by hand beside it.
"""

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container
from abusedesk.storage import appeals, notices
from abusedesk.storage.appeals import AttachmentLimits
from abusedesk.storage.db import unit_of_work
from tests.support.casework import MONDAY, make_case, new_account
from tests.support.enforcement import executed

WEEK1 = MONDAY.replace(hour=0)
WEEK2 = WEEK1 + timedelta(days=7)
WEEK3 = WEEK1 + timedelta(days=14)
LIMITS = AttachmentLimits(max_count=0, max_bytes=0, types=frozenset())


def _appeal(session: Session, n: int, at: datetime, *words: str) -> int:
    """Pause account *n* on a case the day before *at*, appeal it at *at* with *words*
    (root cause, fix, prevention); return the case."""
    root, fix, prevention = words
    account_id = new_account(session, n)
    case_id = make_case(session, account_id, queue="triage")
    pause = executed(session, account_id, "pause", case_id=case_id, now=at - timedelta(days=1))
    appeals.submit_appeal(
        session,
        pause.id,
        root_cause=root,
        fix=fix,
        prevention=prevention,
        uploads=[],
        limits=LIMITS,
        now=at,
    )
    return case_id


def _reply(session: Session, case_id: int, at: datetime, body: str, subject: str = "") -> None:
    notices.record_reply(
        session, case_id=case_id, body=body, channel="portal", now=at, subject=subject
    )


def seed_two_weeks(container: Container) -> None:
    """Three appeals and five replies over three weeks, themes worked out in the test."""
    with unit_of_work(container.sessions) as session:
        # Week 1: compromised + fixed.
        first = _appeal(
            session,
            1,
            WEEK1 + timedelta(days=1, hours=10),
            "Our account was HACKED.",
            "We rotated the keys.",
            "We will monitor logins.",
        )
        # Week 1: purchased list + fixed + legitimate (double opt-in).
        _appeal(
            session,
            2,
            WEEK1 + timedelta(days=2),
            "We bought a list from a broker.",
            "We removed those addresses.",
            "Only double opt-in from now on.",
        )
        # Week 2: legitimate only ("Nothing to fix" names no keyword).
        third = _appeal(
            session,
            3,
            WEEK2 + timedelta(days=1),
            "The mail is legitimate: recipients signed up.",
            "Nothing to fix.",
            "None.",
        )
        # Week 1: urgent; the quoted notice below the "wrote:" line is not the customer's.
        _reply(
            session,
            first,
            WEEK1 + timedelta(days=3),
            "This is urgent, our customers cannot log in!\n\n"
            "On Mon, 2 Nov 2026, Abuse Desk <abuse@example.net> wrote:\n"
            "> your account was compromised",
            subject="Re: Notice about your account",
        )
        # Week 2: other; then did-not-know and third party in one reply (curly apostrophe).
        _reply(session, third, WEEK2 + timedelta(days=2), "Thanks, see you.")
        _reply(
            session,
            third,
            WEEK2 + timedelta(days=3),
            "We didn\u2019t know our agency was sending for us.",
        )
        # Week 3 lies outside the window the tests ask for.
        _reply(session, third, WEEK3 + timedelta(hours=1), "Hacked again!")
