"""Enforcement actions as the workbench lists them: with their account, resource and clocks.

`storage.enforcement` changes actions; this module only reads them for pages: the
actions awaiting a second analyst, those the connector failed, those recently executed,
one account's actions, the resources an action may name, and the case an action is
about (whose queue's tier says who may act on it).
"""

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

from sqlalchemy import RowMapping, Select, select
from sqlalchemy.orm import Session

from abusedesk.cases.routing import Tier
from abusedesk.core.errors import NotFound
from abusedesk.storage.enforcement import ActionRecord, ActionState
from abusedesk.storage.tables import (
    Account,
    Case,
    EnforcementAction,
    QueueRow,
    Resource,
    table_of,
)

MAX_LISTED: Final = 200
_RECORD_FIELDS: Final = tuple(f.name for f in fields(ActionRecord))


@dataclass(frozen=True)
class ActionLine:
    """One action with what a list shows beside it: the account, the resource, the retries."""

    record: ActionRecord
    account_external_id: str
    account_name: str
    account_standing: str
    resource_kind: str | None
    resource_value: str | None

    @property
    def dead(self) -> bool:
        """Tell whether the connector gave up on the action (a dead letter)."""
        return self.record.dead

    @property
    def next_attempt_at(self) -> datetime | None:
        """Return when the connector tries a failed action again, if it does."""
        return self.record.next_attempt_at

    @property
    def dead_at(self) -> datetime | None:
        """Return when the connector gave up on the action, if it did."""
        return self.record.dead_at

    @property
    def target(self) -> str:
        """Return what the action is on, in words: the account, or one of its resources."""
        if self.resource_kind is None:
            return f"account {self.account_external_id}"
        return f"{self.resource_kind.replace('_', ' ')} {self.resource_value}"


@dataclass(frozen=True)
class ResourceChoice:
    """A live resource of an account that a resource action may name."""

    id: int
    kind: str
    value: str


def _lines() -> Select[Any]:
    actions = table_of(EnforcementAction)
    return (
        select(
            actions,
            Account.external_id.label("account_external_id"),
            Account.name.label("account_name"),
            Account.standing.label("account_standing"),
            Resource.kind.label("resource_kind"),
            Resource.value.label("resource_value"),
        )
        .join(Account, Account.id == actions.c.account_id)
        .outerjoin(Resource, Resource.id == actions.c.resource_id)
    )


def _line(row: RowMapping) -> ActionLine:
    return ActionLine(
        record=ActionRecord(**{name: row[name] for name in _RECORD_FIELDS}),
        account_external_id=row["account_external_id"],
        account_name=row["account_name"],
        account_standing=row["account_standing"],
        resource_kind=row["resource_kind"],
        resource_value=row["resource_value"],
    )


def _run(session: Session, statement: Select[Any]) -> list[ActionLine]:
    return [_line(row) for row in session.execute(statement).mappings()]


def action_line(session: Session, action_id: int) -> ActionLine:
    """Return action *action_id* as a list shows it, or raise NotFound."""
    found = _run(session, _lines().where(EnforcementAction.id == action_id))
    if not found:
        raise NotFound(f"no enforcement action {action_id}")
    return found[0]


def awaiting_approval(session: Session, *, limit: int = MAX_LISTED) -> list[ActionLine]:
    """Return proposed actions that wait for a second analyst, oldest proposal first."""
    return _run(
        session,
        _lines()
        .where(
            EnforcementAction.state == ActionState.PROPOSED,
            EnforcementAction.needs_approval.is_(True),
        )
        .order_by(EnforcementAction.proposed_at, EnforcementAction.id)
        .limit(limit),
    )


def failing(session: Session, *, limit: int = MAX_LISTED) -> list[ActionLine]:
    """Return actions the connector failed (retrying or dead-lettered), oldest first."""
    return _run(
        session,
        _lines()
        .where(EnforcementAction.state == ActionState.FAILED)
        .order_by(EnforcementAction.id)
        .limit(limit),
    )


def recently_executed(session: Session, *, limit: int = 50) -> list[ActionLine]:
    """Return the actions executed last (reversed ones included), newest first."""
    return _run(
        session,
        _lines()
        .where(
            EnforcementAction.state.in_([ActionState.EXECUTED, ActionState.REVERSED]),
            EnforcementAction.executed_at.is_not(None),
        )
        .order_by(EnforcementAction.executed_at.desc(), EnforcementAction.id.desc())
        .limit(limit),
    )


def account_action_lines(
    session: Session, account_id: int, *, limit: int = MAX_LISTED
) -> list[ActionLine]:
    """Return the actions on account *account_id*, newest first."""
    return _run(
        session,
        _lines()
        .where(EnforcementAction.account_id == account_id)
        .order_by(EnforcementAction.id.desc())
        .limit(limit),
    )


def resource_choices(
    session: Session, account_id: int, *, limit: int = MAX_LISTED
) -> list[ResourceChoice]:
    """Return the live resources of account *account_id* by kind and value."""
    rows = session.execute(
        select(Resource.id, Resource.kind, Resource.value)
        .where(Resource.account_id == account_id, Resource.deleted_at.is_(None))
        .order_by(Resource.kind, Resource.value)
        .limit(limit)
    )
    return [ResourceChoice(int(row.id), row.kind, row.value) for row in rows]


def action_case_id(session: Session, action_id: int) -> int | None:
    """Return the case action *action_id* was proposed on (None: none, or no such action)."""
    return session.scalar(
        select(EnforcementAction.case_id).where(EnforcementAction.id == action_id)
    )


def advanced_case_ids(session: Session, case_ids: Iterable[int | None]) -> set[int]:
    """Return those of *case_ids* whose case sits in a queue of the advanced tier."""
    wanted = sorted({case_id for case_id in case_ids if case_id is not None})
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(Case.id)
            .join(QueueRow, QueueRow.id == Case.queue_id)
            .where(Case.id.in_(wanted), QueueRow.tier == Tier.ADVANCED)
        )
    )
