"""Quality-assurance fixtures: analysts who joined on a given day, closed cases, executed
actions and decided appeals, inserted as rows in bulk (the sampling sweep only reads them)."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from abusedesk.storage.tables import (
    AppealRow,
    Case,
    CaseHistoryEntry,
    EnforcementAction,
    User,
    table_of,
)

CASES = table_of(Case)
HISTORY = table_of(CaseHistoryEntry)
ACTIONS = table_of(EnforcementAction)
APPEALS = table_of(AppealRow)


def analyst(
    session: Session,
    username: str,
    *,
    joined: datetime,
    role: str = "analyst_basic",
    team: str = "",
) -> int:
    """Insert a user who joined at *joined* (in *team*); return the id."""
    return int(
        session.execute(
            insert(table_of(User))
            .values(
                username=username,
                display_name=username.title(),
                email=f"{username}@abusedesk.example",
                role=role,
                team=team,
                password_hash="!",
                created_at=joined,
                failed_logins=0,
                lockouts=0,
            )
            .returning(User.id)
        ).scalar_one()
    )


def set_team(session: Session, username: str, team: str) -> None:
    """Put *username* in *team*."""
    session.execute(update(table_of(User)).where(User.username == username).values(team=team))


def closed_cases(
    session: Session,
    account_id: int,
    closer: str,
    count: int,
    *,
    closed_at: datetime,
    queue_id: int | None = None,
    group: str = "spam",
    assignee_id: int | None = None,
) -> list[int]:
    """Insert *count* cases closed by *closer* at *closed_at*; return their ids in order."""
    opened = closed_at - timedelta(hours=2)
    rows = [
        {
            "account_id": account_id,
            "category_group": group,
            "status": "closed",
            "priority": 0,
            "priority_factors": [],
            "event_count": 1,
            "reporter_count": 1,
            "opened_at": opened,
            "closed_at": closed_at,
            "close_reason": "no_action",
            "resolved_at": closed_at,
            "state_changed_at": closed_at,
            "queue_id": queue_id,
            "assignee_id": assignee_id,
            "sla_state": "ok",
            "snoozed_for_reply": False,
            "reopen_count": 0,
        }
        for _ in range(count)
    ]
    before = session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1)) or 0
    session.execute(insert(CASES), rows)
    ids = list(session.scalars(select(Case.id).where(Case.id > before).order_by(Case.id)))
    session.execute(
        insert(HISTORY),
        [
            {
                "case_id": case_id,
                "at": closed_at,
                "actor": closer,
                "kind": "transition",
                "from_value": "in_progress",
                "to_value": "closed",
                "reason": "no_action",
            }
            for case_id in ids
        ],
    )
    return ids


def executed_action(
    session: Session,
    account_id: int,
    case_id: int,
    *,
    at: datetime,
    proposer: str = "ana",
    approver: str | None = None,
    executor: str | None = None,
    action: str = "pause",
) -> int:
    """Insert an action executed at *at*; return its id."""
    return int(
        session.execute(
            insert(ACTIONS)
            .values(
                account_id=account_id,
                case_id=case_id,
                action=action,
                proposed_action=action,
                cause="complaint_rate",
                state="executed",
                policy_version=1,
                policy_reason="ladder",
                needs_approval=approver is not None,
                evidence={},
                reason="complaint rate 0.62%",
                proposed_by=proposer,
                proposed_at=at - timedelta(minutes=30),
                approved_by=approver,
                approved_at=None if approver is None else at - timedelta(minutes=10),
                executed_by=executor or approver or proposer,
                executed_at=at,
                attempts=1,
            )
            .returning(EnforcementAction.id)
        ).scalar_one()
    )


def decided_appeal(
    session: Session,
    account_id: int,
    case_id: int,
    action_id: int,
    state: str,
    *,
    decided_at: datetime,
    reviewer: str = "rev",
) -> int:
    """Insert an appeal of *action_id* decided *state* at *decided_at*; return its id."""
    return int(
        session.execute(
            insert(APPEALS)
            .values(
                action_id=action_id,
                case_id=case_id,
                account_id=account_id,
                root_cause="a bought list",
                fix="removed it",
                prevention="double opt-in",
                state=state,
                submitted_at=decided_at - timedelta(days=1),
                due_at=decided_at + timedelta(days=1),
                reviewer=reviewer,
                decided_at=decided_at,
                decision_reason="checked",
                lifted_action_ids=[],
                reversal_action_ids=[],
            )
            .returning(AppealRow.id)
        ).scalar_one()
    )


def reasons(pairs: Sequence[tuple[int, int | None, str]]) -> dict[str, int]:
    """Count (case, action, reason) samples by reason."""
    counts: dict[str, int] = {}
    for _, _, reason in pairs:
        counts[reason] = counts.get(reason, 0) + 1
    return counts
