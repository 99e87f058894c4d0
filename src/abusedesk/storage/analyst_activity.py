"""What analysts' time went to, as stored: focus pings on case pages, and shifts.

The case page's heartbeat (`ping`) extends the analyst's current focus stretch on the
case, or starts a new one after a gap. Shifts and breaks are recorded in the workbench
(`set_status`, `add_period`) or imported from a rota file (`import_periods`); every
change to them is audited. Teams are set on the user (`set_team`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from abusedesk.core.clock import as_utc
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.insights.metrics import (
    MAX_NOTE,
    OFF,
    STATUSES,
    ShiftKind,
    check_period,
    clean_text,
    parse_rota,
)
from abusedesk.storage import audit
from abusedesk.storage.tables import AnalystActivity, AnalystShift, Case, User, table_of

ACTIVITY = table_of(AnalystActivity)
SHIFTS = table_of(AnalystShift)
USERS = table_of(User)
FOCUS = "focus"
RECORDED = "recorded"
IMPORTED = "imported"
MAX_TEAM = 80


class InvalidShift(AbuseDeskError):
    """Raise when a period of availability cannot be recorded as given."""


class ShiftImportRefused(AbuseDeskError):
    """Raise when a rota file has problems; nothing of it is imported."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = "; ".join(self.problems[:20])
        more = f" (and {len(self.problems) - 20} more)" if len(self.problems) > 20 else ""
        super().__init__(f"nothing imported: {shown}{more}")


@dataclass(frozen=True)
class ShiftView:
    """A period of availability as the shifts page lists it."""

    id: int
    username: str
    kind: str
    starts_at: datetime
    ends_at: datetime | None
    source: str
    recorded_by: str
    note: str


# --- the focus heartbeat ------------------------------------------------------------


def ping(session: Session, username: str, case_id: int, *, now: datetime, gap: timedelta) -> int:
    """Record that *username* has case *case_id* visible and in focus at *now*.

    The current stretch (last ping within *gap*) is extended; otherwise a new one
    starts. Return the stretch's id.
    """
    if session.scalar(select(Case.id).where(Case.id == case_id)) is None:
        raise NotFound(f"no case {case_id}")
    current = session.execute(
        select(AnalystActivity.id, AnalystActivity.last_seen_at)
        .where(
            AnalystActivity.username == username,
            AnalystActivity.case_id == case_id,
            AnalystActivity.source == FOCUS,
            AnalystActivity.last_seen_at >= now - gap,
        )
        .order_by(AnalystActivity.last_seen_at.desc())
        .limit(1)
    ).first()
    if current is not None:
        session.execute(
            update(ACTIVITY)
            .where(AnalystActivity.id == current.id)
            .values(
                last_seen_at=max(as_utc(current.last_seen_at), as_utc(now)),
                pings=AnalystActivity.pings + 1,
            )
        )
        return int(current.id)
    return int(
        session.execute(
            insert(ACTIVITY)
            .values(
                username=username,
                case_id=case_id,
                source=FOCUS,
                started_at=now,
                last_seen_at=now,
                pings=1,
            )
            .returning(AnalystActivity.id)
        ).scalar_one()
    )


# --- shifts -------------------------------------------------------------------------


def _active_user(session: Session, username: str) -> None:
    if clean_text(username) != username:
        raise NotFound(f"no active user named {username[:64]!r}")
    found = session.scalar(
        select(User.id).where(User.username == username, User.disabled_at.is_(None))
    )
    if found is None:
        raise NotFound(f"no active user named {username[:64]!r}")


def _open_periods(session: Session, username: str) -> list[tuple[int, str]]:
    return [
        (int(row.id), row.kind)
        for row in session.execute(
            select(AnalystShift.id, AnalystShift.kind).where(
                AnalystShift.username == username, AnalystShift.ends_at.is_(None)
            )
        )
    ]


def _close(
    session: Session, period_id: int, kind: str, username: str, *, actor: str, now: datetime
) -> None:
    session.execute(update(SHIFTS).where(AnalystShift.id == period_id).values(ends_at=now))
    audit.record(
        session,
        actor=actor,
        tag="insights:shift:end",
        subject_type="analyst_shift",
        subject_id=period_id,
        at=now,
        before={"ends_at": None},
        after={"username": username, "kind": kind, "ends_at": as_utc(now).isoformat()},
    )


def _insert(
    session: Session,
    username: str,
    kind: str,
    start: datetime,
    end: datetime | None,
    *,
    source: str,
    actor: str,
    now: datetime,
    note: str = "",
) -> int:
    period_id = int(
        session.execute(
            insert(SHIFTS)
            .values(
                username=username,
                kind=kind,
                starts_at=start,
                ends_at=end,
                source=source,
                recorded_by=actor,
                note=clean_text(note)[:MAX_NOTE],
                created_at=now,
            )
            .returning(AnalystShift.id)
        ).scalar_one()
    )
    audit.record(
        session,
        actor=actor,
        tag=f"insights:shift:{'import' if source == IMPORTED else 'record'}",
        subject_type="analyst_shift",
        subject_id=period_id,
        at=now,
        after={
            "username": username,
            "kind": kind,
            "starts_at": as_utc(start).isoformat(),
            "ends_at": None if end is None else as_utc(end).isoformat(),
            "source": source,
        },
        reason=clean_text(note)[:MAX_NOTE] or None,
    )
    return period_id


def set_status(session: Session, username: str, status: str, *, actor: str, now: datetime) -> None:
    """Set *username*'s current status: on shift, on break, training, meeting, or off.

    Going on shift ends an open break, training or meeting; going on break (training,
    meeting) ends another one and starts a shift first if none is open; going off ends
    everything open.
    """
    if status not in STATUSES:
        raise InvalidShift(f"status {status[:40]!r} is not one of {', '.join(STATUSES)}")
    _active_user(session, username)
    open_periods = _open_periods(session, username)
    on_shift = any(kind == ShiftKind.SHIFT for _, kind in open_periods)
    for period_id, kind in open_periods:
        ends = status == OFF or (kind in ShiftKind.AWAY and kind != status)
        if ends:
            _close(session, period_id, kind, username, actor=actor, now=now)
    if status == OFF:
        return
    if not on_shift:
        _insert(
            session, username, ShiftKind.SHIFT, now, None, source=RECORDED, actor=actor, now=now
        )
    already = any(kind == status for _, kind in open_periods)
    if status in ShiftKind.AWAY and not already:
        _insert(session, username, status, now, None, source=RECORDED, actor=actor, now=now)


def current_status(session: Session, username: str) -> str:
    """Return the analyst's status now: the open break/training/meeting, shift, or off."""
    kinds = {kind for _, kind in _open_periods(session, username)}
    for kind in ShiftKind.AWAY:
        if kind in kinds:
            return kind
    return ShiftKind.SHIFT if ShiftKind.SHIFT in kinds else OFF


def add_period(
    session: Session,
    username: str,
    kind: str,
    start: datetime,
    end: datetime,
    *,
    actor: str,
    now: datetime,
    note: str = "",
) -> int:
    """Record a past period of availability for *username*; return its id."""
    problems = check_period(kind, as_utc(start), as_utc(end))
    if problems:
        raise InvalidShift("; ".join(problems))
    _active_user(session, username)
    return _insert(
        session, username, kind, start, end, source=RECORDED, actor=actor, now=now, note=note
    )


def periods(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    usernames: Sequence[str] | None = None,
    limit: int = 1000,
) -> list[ShiftView]:
    """Return the periods overlapping *start*..*end* (open ones too), newest first."""
    statement = (
        select(AnalystShift)
        .where(
            AnalystShift.starts_at < end,
            or_(AnalystShift.ends_at.is_(None), AnalystShift.ends_at > start),
        )
        .order_by(AnalystShift.starts_at.desc(), AnalystShift.id.desc())
        .limit(limit)
    )
    if usernames is not None:
        statement = statement.where(AnalystShift.username.in_(list(usernames)))
    return [
        ShiftView(
            row.id,
            row.username,
            row.kind,
            as_utc(row.starts_at),
            None if row.ends_at is None else as_utc(row.ends_at),
            row.source,
            row.recorded_by,
            row.note,
        )
        for row in session.scalars(statement)
    ]


# --- importing a rota ---------------------------------------------------------------


@dataclass(frozen=True)
class ImportOutcome:
    """What importing a rota did."""

    imported: int
    skipped: int


def import_periods(session: Session, text: str, *, actor: str, now: datetime) -> ImportOutcome:
    """Import a rota: every line or none. Lines already imported are skipped, so importing
    the same file twice changes nothing."""
    lines, problems = parse_rota(text)
    known = set(
        session.scalars(
            select(User.username).where(
                User.username.in_({line.username for line in lines}), User.disabled_at.is_(None)
            )
        )
    )
    problems.extend(
        f"line {line.line}: no active user named {line.username[:64]!r}"
        for line in lines
        if line.username not in known
    )
    if problems:
        raise ShiftImportRefused(sorted(problems, key=_line_number))
    imported = skipped = 0
    for line in lines:
        exists = session.scalar(
            select(AnalystShift.id).where(
                and_(
                    AnalystShift.username == line.username,
                    AnalystShift.kind == line.kind,
                    AnalystShift.starts_at == line.start,
                    AnalystShift.ends_at == line.end,
                )
            )
        )
        if exists is not None:
            skipped += 1
            continue
        _insert(
            session,
            line.username,
            line.kind,
            line.start,
            line.end,
            source=IMPORTED,
            actor=actor,
            now=now,
            note=line.note,
        )
        imported += 1
    return ImportOutcome(imported, skipped)


def _line_number(problem: str) -> int:
    head = problem.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 0


# --- teams --------------------------------------------------------------------------


def set_team(session: Session, username: str, team: str, *, actor: str, now: datetime) -> None:
    """Put *username* in *team* (empty: no team); audited."""
    name = team.strip()
    if len(name) > MAX_TEAM or clean_text(name) != name:
        raise InvalidShift(f"a team name is at most {MAX_TEAM} printable characters")
    row = None
    if clean_text(username) == username:
        row = session.execute(select(User.id, User.team).where(User.username == username)).first()
    if row is None:
        raise NotFound(f"no user named {username[:64]!r}")
    if row.team == name:
        return
    session.execute(update(USERS).where(User.id == row.id).values(team=name))
    audit.record(
        session,
        actor=actor,
        tag="auth:user:team",
        subject_type="user",
        subject_id=row.id,
        at=now,
        before={"team": row.team},
        after={"team": name},
    )


def teams(session: Session) -> list[str]:
    """Return the team names in use, sorted."""
    return sorted(t for t in session.scalars(select(User.team).distinct()) if t)
