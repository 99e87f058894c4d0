"""Enforcement actions for tests: proposed, approved and executed as analysts do them.

Each helper writes through `storage.enforcement`, so the actions carry their audit rows
and case history like any other.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container
from abusedesk.core.hashing import sha256_hex
from abusedesk.storage import enforcement
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.enforcement import ActionRecord, Connector, LocalConnector
from abusedesk.storage.tables import Account, Suppression, table_of
from tests.support.casework import MONDAY, make_case, new_account, subject_tags

FIGURES = {"figures": {"complaint_rate": 0.0062, "messages": 12400}}
REASON = "complaint rate 0.62% over 12,400 messages"


def propose(
    session: Session,
    account_id: int,
    action: str = "pause",
    *,
    case_id: int | None = None,
    cause: str = "complaint_rate",
    reason: str = REASON,
    evidence: dict[str, Any] | None = None,
    event_ids: Sequence[int] = (),
    actor: str = "ana",
    now: datetime = MONDAY,
    resource_id: int | None = None,
) -> ActionRecord:
    """Propose *action*; unless *evidence* is given, it cites `FIGURES`, the case (when
    there is one) and *event_ids*. Return it."""
    if evidence is None:
        cited: dict[str, Any] = {} if case_id is None else {"case_ids": [case_id]}
        if event_ids:
            cited["event_ids"] = list(event_ids)
        evidence = {**cited, **FIGURES}
    return enforcement.propose(
        session,
        account_id,
        action,
        cause=cause,
        reason=reason,
        evidence=evidence,
        actor=actor,
        now=now,
        case_id=case_id,
        resource_id=resource_id,
    )


def executed(
    session: Session,
    account_id: int,
    action: str = "pause",
    *,
    case_id: int | None = None,
    now: datetime = MONDAY,
    proposer: str = "ana",
    approver: str | None = "ben",
    event_ids: Sequence[int] = (),
    resource_id: int | None = None,
    connector: Connector | None = None,
) -> ActionRecord:
    """Propose *action*, have *approver* approve it (None: nobody), execute it; return it.

    The approver executes it (the proposer, without one), through *connector* (the local
    one unless given).
    """
    record = propose(
        session,
        account_id,
        action,
        case_id=case_id,
        event_ids=event_ids,
        actor=proposer,
        now=now,
        resource_id=resource_id,
    )
    if approver is not None:
        enforcement.approve(session, record.id, approver=approver, now=now)
    return enforcement.execute(
        session, record.id, connector or LocalConnector(), actor=approver or proposer, now=now
    )


def approved_pause(container: Container) -> tuple[int, int, ActionRecord]:
    """Return (account id, case id, a pause on the case proposed by ana and approved by ben)."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        case_id = make_case(session, account_id)
        proposed = propose(session, account_id, "pause", case_id=case_id)
        approved = enforcement.approve(session, proposed.id, approver="ben", now=MONDAY)
    return account_id, case_id, approved


def standing_of(session: Session, account_id: int) -> str:
    """Return the standing of account *account_id*."""
    return str(session.scalar(select(Account.standing).where(Account.id == account_id)))


def account_standing(container: Container, account_id: int) -> str:
    """Return the standing of account *account_id*, read in a transaction of its own."""
    with unit_of_work(container.sessions) as session:
        return standing_of(session, account_id)


def tags_of_action(container: Container, action_id: int) -> list[str]:
    """Return the audit tags recorded about action *action_id*, oldest first."""
    with unit_of_work(container.sessions) as session:
        return subject_tags(session, "enforcement_action", action_id)


def pending_suppression(
    session: Session,
    account_id: int,
    address: str,
    *,
    reason: str = "complaint",
    now: datetime = MONDAY,
) -> None:
    """Put the hash of *address* on the account's list, waiting to be pushed."""
    session.execute(
        insert(table_of(Suppression)).values(
            account_id=account_id,
            address_hash=sha256_hex(address.encode()),
            reason=reason,
            first_seen_at=now,
            state="pending",
            attempts=0,
        )
    )
