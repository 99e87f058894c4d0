"""Quality assurance as stored: samples, the QA queue, scorecards, reviews, calibration.

The sampling sweep (`run_sampling`) reads the closed cases, executed actions and decided
appeals since its mark in ``sweep_marks`` and draws samples by the policy of
``insights/qa.py``; the mark and the samples commit together, so a crash repeats a sweep
rather than losing one. The analyst of a closed case is the person who closed it, else
its assignee; of an action, the person who proposed it, else who approved it, else who
executed it (`insights.qa.analyst_of_action`). Work no person did is not sampled.

A reviewer scores a waiting sample on the newest scorecard of its case type (a shipped
default is stored as version 1 the first time it is used); the analyst acknowledges or
disputes the review; a dispute is settled by someone with ``qa.admin`` who is neither the
analyst nor the reviewer: upheld, or amended with new ratings. A calibration round copies
samples for several reviewers, who each score them without seeing the others' scores;
the round's agreement per criterion is shown once it is closed. Every change a person
makes is audited (``qa:<subject>:<verb>``).
"""

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from abusedesk.access.model import QA_REVIEW, role_allows
from abusedesk.core.clock import as_utc
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.insights.qa import (
    MAX_COMMENT,
    Candidate,
    CriterionAgreement,
    InvalidRatings,
    Rating,
    Reason,
    SamplingPolicy,
    Scorecard,
    ScoredReview,
    analyst_of_action,
    criterion_agreement,
    default_scorecard,
    is_person,
    score,
)
from abusedesk.storage import audit
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.tables import (
    Account,
    AppealRow,
    Case,
    CaseHistoryEntry,
    EnforcementAction,
    QaCalibration,
    QaReview,
    QaSample,
    QaScorecard,
    QueueRow,
    SweepMark,
    User,
    table_of,
)

MARK: Final = "qa:sampling"
SYSTEM: Final = "system:qa"
MAX_LISTED: Final = 500
MAX_TITLE: Final = 200
MAX_ROUND_SAMPLES: Final = 50
MAX_TARGETED: Final = 200
_CHUNK: Final = 500

SAMPLES = table_of(QaSample)
REVIEWS = table_of(QaReview)
CARDS = table_of(QaScorecard)
ROUNDS = table_of(QaCalibration)


class SampleState:
    """Where a sample stands in the QA queue."""

    WAITING: Final = "waiting"
    SCORED: Final = "scored"
    SKIPPED: Final = "skipped"
    ALL: Final = (WAITING, SCORED, SKIPPED)


class Feedback:
    """Where a review stands with the analyst it is about."""

    SENT: Final = "sent"
    ACKNOWLEDGED: Final = "acknowledged"
    DISPUTED: Final = "disputed"
    UPHELD: Final = "upheld"
    AMENDED: Final = "amended"
    # A calibration review is for the reviewers' agreement, not sent to the analyst.
    CALIBRATION: Final = "calibration"
    SETTLEMENTS: Final = (UPHELD, AMENDED)


class QaRefused(AbuseDeskError):
    """Raise when a QA step is refused; the message says why in an analyst's words."""


class OwnWork(QaRefused):
    """Raise when a reviewer would score, or settle a dispute about, their own work."""


class QaConflict(QaRefused):
    """Raise when a sample, review or round is not in the state the step needs."""


class NotYourReview(QaRefused):
    """Raise when an analyst answers a review of someone else's work."""


class InvalidQaInput(QaRefused):
    """Raise when a form's values are missing, too long or unknown."""


# --- scorecards -----------------------------------------------------------------------


@dataclass(frozen=True)
class StoredScorecard:
    """One stored version of a case type's scorecard."""

    id: int
    case_type: str
    version: int
    card: Scorecard
    author: str
    note: str
    created_at: datetime


def _stored(row: Any) -> StoredScorecard:
    return StoredScorecard(
        id=row.id,
        case_type=row.case_type,
        version=row.version,
        card=Scorecard.from_definition(row.case_type, row.definition),
        author=row.author,
        note=row.note,
        created_at=as_utc(row.created_at),
    )


def scorecard_versions(session: Session, case_type: str) -> list[StoredScorecard]:
    """Return every stored version of *case_type*'s scorecard, the newest first."""
    rows = session.execute(
        select(CARDS).where(CARDS.c.case_type == case_type).order_by(CARDS.c.version.desc())
    )
    return [_stored(row) for row in rows]


def current_scorecards(session: Session) -> dict[str, StoredScorecard]:
    """Return the newest stored scorecard of each case type that has one."""
    newest = (
        select(CARDS.c.case_type, func.max(CARDS.c.version).label("version"))
        .group_by(CARDS.c.case_type)
        .subquery()
    )
    rows = session.execute(
        select(CARDS).join(
            newest,
            and_(CARDS.c.case_type == newest.c.case_type, CARDS.c.version == newest.c.version),
        )
    )
    return {row.case_type: _stored(row) for row in rows}


def scorecard_by_id(session: Session, scorecard_id: int) -> StoredScorecard:
    """Return the stored scorecard *scorecard_id*."""
    row = session.execute(select(CARDS).where(CARDS.c.id == scorecard_id)).first()
    if row is None:
        raise NotFound(f"no scorecard {scorecard_id}")
    return _stored(row)


def effective_scorecard(
    session: Session, case_type: str
) -> tuple[StoredScorecard | None, Scorecard]:
    """Return the scorecard work of *case_type* is scored on, and its stored version if any.

    The newest stored version of *case_type*; else its shipped default; else the newest
    stored card for any case type; else the shipped card for any case type.
    """
    stored = current_scorecards(session)
    if case_type in stored:
        return stored[case_type], stored[case_type].card
    shipped = default_scorecard(case_type)
    if shipped.case_type == case_type:
        return None, shipped
    if "" in stored:
        return stored[""], stored[""].card
    return None, shipped


def scorecard_for(session: Session, case_type: str, *, now: datetime) -> StoredScorecard:
    """Return the stored scorecard to score *case_type* on, storing a shipped one if needed."""
    found, card = effective_scorecard(session, case_type)
    if found is not None:
        return found
    return _insert_card(session, card, version=1, author="abusedesk", note="shipped", now=now)


def save_scorecard(
    session: Session, card: Scorecard, *, actor: str, note: str, now: datetime
) -> StoredScorecard:
    """Store *card* as the next version of its case type's scorecard (audited)."""
    note = note.strip()
    if not note:
        raise InvalidQaInput("say in a note what changed and why")
    if len(note) > MAX_COMMENT:
        raise InvalidQaInput(f"the note is longer than {MAX_COMMENT} characters")
    latest = session.scalar(
        select(func.max(CARDS.c.version)).where(CARDS.c.case_type == card.case_type)
    )
    before = None
    if latest is not None:
        before = scorecard_versions(session, card.case_type)[0].card.to_definition()
    stored = _insert_card(
        session, card, version=(latest or 0) + 1, author=actor, note=note, now=now
    )
    audit.record(
        session,
        actor=actor,
        tag="qa:scorecard:save",
        subject_type="qa_scorecard",
        subject_id=card.case_type or "(any)",
        at=now,
        before=before,
        after={"version": stored.version, **card.to_definition()},
        reason=note,
    )
    return stored


def _insert_card(
    session: Session, card: Scorecard, *, version: int, author: str, note: str, now: datetime
) -> StoredScorecard:
    card_id = session.execute(
        insert(CARDS)
        .values(
            case_type=card.case_type,
            version=version,
            definition=card.to_definition(),
            author=author,
            note=note,
            created_at=now,
        )
        .returning(CARDS.c.id)
    ).scalar_one()
    return StoredScorecard(card_id, card.case_type, version, card, author, note, now)


# --- sampling -------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplingRules:
    """What a sampling sweep needs besides the database: the policy and its settings."""

    policy: SamplingPolicy = field(default_factory=SamplingPolicy)
    new_analyst_days: int = 30
    overturn_states: tuple[str, ...] = ("overturned", "partial")
    # Fixes each piece of work's draw (insights.qa.unit_draw): the same seed, the same picks.
    seed: int = 0


@dataclass(frozen=True)
class SamplingRound:
    """What one sampling sweep did: its window, what it considered and what it picked."""

    start: datetime
    end: datetime
    considered: int
    picked: Mapping[str, int]
    sample_ids: tuple[int, ...]
    without_analyst: int = 0

    @property
    def total(self) -> int:
        """Return how many samples the sweep added."""
        return len(self.sample_ids)


def claim_sweep(
    session: Session,
    *,
    now: datetime,
    interval: timedelta,
    first_lookback: timedelta,
    force: bool = False,
) -> datetime | None:
    """Move the sampling mark to *now* if *interval* has passed; return the window's start.

    None: it is not time yet, or another process claimed the sweep.
    """
    session.execute(
        insert_for(session, SweepMark)
        .values(name=MARK, mark_at=None, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    previous = session.scalar(select(SweepMark.mark_at).where(SweepMark.name == MARK))
    previous = None if previous is None else as_utc(previous)
    if previous is not None and not force and now - previous < interval:
        return None
    if previous is not None and previous >= now:
        return None
    unchanged = SweepMark.mark_at.is_(None) if previous is None else SweepMark.mark_at == previous
    claimed = session.execute(
        update(SweepMark)
        .where(SweepMark.name == MARK, unchanged)
        .values(mark_at=now, updated_at=now)
        .returning(SweepMark.name)
    ).first()
    if claimed is None:
        return None
    return previous if previous is not None else now - first_lookback


def run_sampling(
    session: Session,
    rules: SamplingRules,
    *,
    now: datetime,
    interval: timedelta,
    first_lookback: timedelta,
    force: bool = False,
) -> SamplingRound | None:
    """Claim the sweep and sample the work done since the last one; None when not due."""
    start = claim_sweep(
        session, now=now, interval=interval, first_lookback=first_lookback, force=force
    )
    if start is None:
        return None
    return sample_window(session, rules, start=start, end=now, now=now)


def sample_window(
    session: Session,
    rules: SamplingRules,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
) -> SamplingRound:
    """Sample the cases closed, actions executed and appeals overturned in (*start*, *end*]."""
    cases, no_case_analyst = _closed_case_candidates(session, rules, start, end)
    actions, no_action_analyst = _action_candidates(session, rules, start, end)
    overturned, no_appeal_analyst = _overturned_candidates(session, rules, start, end)
    existing = _existing_units(session, [c.case_id for c in (*cases, *actions, *overturned)])
    picks = [
        (pick.candidate, pick.reason)
        for pick in rules.policy.draw([*cases, *actions], rules.seed)
        if (pick.candidate.case_id, pick.candidate.action_id, False) not in existing
    ]
    for candidate in overturned:
        key = (candidate.case_id, candidate.action_id, True)
        if key not in existing:
            picks.append((candidate, Reason.OVERTURNED_APPEAL))
            existing.add(key)
    ids = [
        _insert_sample(session, candidate, reason, by=SYSTEM, now=now)
        for candidate, reason in picks
    ]
    counts: dict[str, int] = {}
    for _, reason in picks:
        counts[reason] = counts.get(reason, 0) + 1
    result = SamplingRound(
        start=start,
        end=end,
        considered=len(cases) + len(actions) + len(overturned),
        picked=counts,
        sample_ids=tuple(ids),
        without_analyst=no_case_analyst + no_action_analyst + no_appeal_analyst,
    )
    if ids:
        audit.record(
            session,
            actor=SYSTEM,
            tag="qa:sample:sweep",
            subject_type="qa_sampling",
            subject_id=MARK,
            at=now,
            after={
                "start": start.isoformat(),
                "end": end.isoformat(),
                "considered": result.considered,
                "picked": counts,
            },
        )
    return result


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for begin in range(0, len(values), _CHUNK):
        yield values[begin : begin + _CHUNK]


def _existing_units(session: Session, case_ids: Sequence[int]) -> set[tuple[int, int | None, bool]]:
    """Return (case, action, for an overturned appeal) of the samples already taken."""
    found: set[tuple[int, int | None, bool]] = set()
    for chunk in _chunks(sorted(set(case_ids))):
        rows = session.execute(
            select(SAMPLES.c.case_id, SAMPLES.c.action_id, SAMPLES.c.reason).where(
                SAMPLES.c.case_id.in_(chunk), SAMPLES.c.calibration_id.is_(None)
            )
        )
        for case_id, action_id, reason in rows:
            found.add((case_id, action_id, reason == Reason.OVERTURNED_APPEAL))
    return found


def _joined_at(session: Session, usernames: Iterable[str]) -> dict[str, datetime]:
    names = sorted(set(usernames))
    joined: dict[str, datetime] = {}
    for begin in range(0, len(names), _CHUNK):
        rows = session.execute(
            select(User.username, User.created_at).where(
                User.username.in_(names[begin : begin + _CHUNK])
            )
        )
        joined.update({name: as_utc(at) for name, at in rows})
    return joined


def _is_new(joined: Mapping[str, datetime], analyst: str, at: datetime, days: int) -> bool:
    since = joined.get(analyst)
    return since is not None and as_utc(at) - since < timedelta(days=days)


def _closers(session: Session, case_ids: Sequence[int]) -> dict[int, str]:
    """Return who made each case's last move to closed."""
    closers: dict[int, str] = {}
    for chunk in _chunks(case_ids):
        rows = session.execute(
            select(CaseHistoryEntry.case_id, CaseHistoryEntry.actor)
            .where(
                CaseHistoryEntry.case_id.in_(chunk),
                CaseHistoryEntry.kind == "transition",
                CaseHistoryEntry.to_value == "closed",
            )
            .order_by(CaseHistoryEntry.at, CaseHistoryEntry.id)
        )
        closers.update((int(case_id), str(actor)) for case_id, actor in rows)
    return closers


def case_analyst(closer: str | None, assignee: str | None) -> str | None:
    """Return whose work a closed case is: who closed it, else its assignee."""
    if closer is not None and is_person(closer):
        return closer
    if assignee is not None and is_person(assignee):
        return assignee
    return None


def _closed_case_candidates(
    session: Session, rules: SamplingRules, start: datetime, end: datetime
) -> tuple[list[Candidate], int]:
    rows = session.execute(
        select(Case.id, Case.closed_at, User.username, QueueRow.tier)
        .outerjoin(User, User.id == Case.assignee_id)
        .outerjoin(QueueRow, QueueRow.id == Case.queue_id)
        .where(
            Case.status == "closed",
            Case.merged_into_id.is_(None),
            Case.closed_at > start,
            Case.closed_at <= end,
        )
        .order_by(Case.id)
    ).all()
    closers = _closers(session, [row.id for row in rows])
    analysts = {row.id: case_analyst(closers.get(row.id), row.username) for row in rows}
    joined = _joined_at(session, [a for a in analysts.values() if a])
    found = []
    for row in rows:
        analyst = analysts[row.id]
        if analyst is None:
            continue
        found.append(
            Candidate(
                "case",
                row.id,
                None,
                analyst,
                row.tier or "",
                _is_new(joined, analyst, row.closed_at, rules.new_analyst_days),
            )
        )
    return found, len(rows) - len(found)


def _action_rows(session: Session, *conditions: Any) -> list[Any]:
    return list(
        session.execute(
            select(
                EnforcementAction.id,
                EnforcementAction.case_id,
                EnforcementAction.proposed_by,
                EnforcementAction.approved_by,
                EnforcementAction.executed_by,
                EnforcementAction.executed_at,
                QueueRow.tier,
            )
            .join(Case, Case.id == EnforcementAction.case_id)
            .outerjoin(QueueRow, QueueRow.id == Case.queue_id)
            .where(*conditions)
            .order_by(EnforcementAction.id)
        ).all()
    )


def _action_candidate(row: Any, joined: Mapping[str, datetime], days: int) -> Candidate | None:
    analyst = analyst_of_action(row.proposed_by, row.approved_by, row.executed_by)
    if analyst is None:
        return None
    return Candidate(
        "action",
        row.case_id,
        row.id,
        analyst,
        row.tier or "",
        _is_new(joined, analyst, row.executed_at, days),
    )


def _action_candidates(
    session: Session, rules: SamplingRules, start: datetime, end: datetime
) -> tuple[list[Candidate], int]:
    rows = _action_rows(
        session,
        EnforcementAction.executed_at > start,
        EnforcementAction.executed_at <= end,
    )
    return _candidates_of_actions(session, rules, rows)


def _candidates_of_actions(
    session: Session, rules: SamplingRules, rows: Sequence[Any]
) -> tuple[list[Candidate], int]:
    joined = _joined_at(
        session,
        [
            a
            for row in rows
            if (a := analyst_of_action(row.proposed_by, row.approved_by, row.executed_by))
        ],
    )
    found = [
        candidate
        for row in rows
        if (candidate := _action_candidate(row, joined, rules.new_analyst_days)) is not None
    ]
    return found, len(rows) - len(found)


def _overturned_candidates(
    session: Session, rules: SamplingRules, start: datetime, end: datetime
) -> tuple[list[Candidate], int]:
    if not rules.overturn_states:
        return [], 0
    appealed = select(AppealRow.action_id).where(
        AppealRow.state.in_(rules.overturn_states),
        AppealRow.decided_at > start,
        AppealRow.decided_at <= end,
    )
    rows = _action_rows(session, EnforcementAction.id.in_(appealed))
    return _candidates_of_actions(session, rules, rows)


def _insert_sample(
    session: Session,
    candidate: Candidate,
    reason: str,
    *,
    by: str,
    now: datetime,
    calibration_id: int | None = None,
) -> int:
    return int(
        session.execute(
            insert(SAMPLES)
            .values(
                case_id=candidate.case_id,
                action_id=candidate.action_id,
                analyst=candidate.analyst,
                tier=candidate.tier,
                reason=reason,
                state=SampleState.WAITING,
                sampled_at=now,
                sampled_by=by,
                calibration_id=calibration_id,
            )
            .returning(SAMPLES.c.id)
        ).scalar_one()
    )


def target_case(
    session: Session,
    case_id: int,
    *,
    actor: str,
    now: datetime,
    action_id: int | None = None,
    note: str = "",
) -> int:
    """Put a closed case (or one of its executed actions) in the QA queue; return the sample."""
    case = session.execute(
        select(Case.id, Case.status, User.username, QueueRow.tier)
        .outerjoin(User, User.id == Case.assignee_id)
        .outerjoin(QueueRow, QueueRow.id == Case.queue_id)
        .where(Case.id == case_id)
    ).first()
    if case is None:
        raise NotFound(f"no case {case_id}")
    if action_id is None:
        if case.status != "closed":
            raise QaConflict(f"case {case_id} is {case.status}; only closed cases are sampled")
        analyst = case_analyst(_closers(session, [case_id]).get(case_id), case.username)
        if analyst is None:
            raise QaConflict(f"nobody worked case {case_id}: it was closed by the system")
        candidate = Candidate("case", case_id, None, analyst, case.tier or "")
    else:
        rows = _action_rows(session, EnforcementAction.id == action_id)
        if not rows or rows[0].case_id != case_id:
            raise NotFound(f"case {case_id} has no action {action_id}")
        if rows[0].executed_at is None:
            raise QaConflict(
                f"action {action_id} was never executed; only executed ones are sampled"
            )
        found = _action_candidate(rows[0], {}, 0)
        if found is None:
            raise QaConflict(f"no person proposed, approved or executed action {action_id}")
        candidate = found
    waiting = session.scalar(
        select(SAMPLES.c.id).where(
            SAMPLES.c.case_id == case_id,
            SAMPLES.c.action_id.is_(None)
            if action_id is None
            else SAMPLES.c.action_id == action_id,
            SAMPLES.c.state == SampleState.WAITING,
            SAMPLES.c.calibration_id.is_(None),
        )
    )
    if waiting is not None:
        raise QaConflict(f"this work is already waiting in the QA queue as sample {waiting}")
    sample_id = _insert_sample(session, candidate, Reason.TARGETED, by=actor, now=now)
    audit.record(
        session,
        actor=actor,
        tag="qa:sample:target",
        subject_type="qa_sample",
        subject_id=sample_id,
        at=now,
        after={"case_id": case_id, "action_id": action_id, "analyst": candidate.analyst},
        reason=note[:MAX_COMMENT] or None,
    )
    return sample_id


def target_analyst(
    session: Session,
    analyst: str,
    *,
    count: int,
    since: datetime,
    actor: str,
    now: datetime,
    rng: random.Random,
) -> list[int]:
    """Put *count* random cases *analyst* closed since *since*, not sampled yet, in the queue."""
    if not 1 <= count <= MAX_TARGETED:
        raise InvalidQaInput(f"pick 1 to {MAX_TARGETED} cases at a time")
    analyst = analyst.strip()
    if not analyst:
        raise InvalidQaInput("name the analyst whose work to sample")
    window = _closed_case_candidates(session, SamplingRules(), since, now)[0]
    taken = _existing_units(session, [c.case_id for c in window])
    mine = [c for c in window if c.analyst == analyst and (c.case_id, None, False) not in taken]
    if not mine:
        raise QaConflict(
            f"{analyst[:64]} closed no case since {since:%Y-%m-%d} that is not sampled already"
        )
    chosen = sorted(rng.sample(mine, min(count, len(mine))), key=lambda c: c.case_id)
    ids = [_insert_sample(session, c, Reason.TARGETED, by=actor, now=now) for c in chosen]
    audit.record(
        session,
        actor=actor,
        tag="qa:sample:target",
        subject_type="qa_analyst",
        subject_id=analyst,
        at=now,
        after={"sample_ids": ids, "since": since.isoformat(), "asked": count},
    )
    return ids


# --- the queue ------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleLine:
    """A sample as the queue and the scoring page show it."""

    id: int
    case_id: int
    action_id: int | None
    action: str | None
    analyst: str
    tier: str
    reason: str
    state: str
    sampled_at: datetime
    sampled_by: str
    calibration_id: int | None
    case_type: str
    case_status: str
    close_reason: str | None
    closed_at: datetime | None
    account_id: int
    account_name: str
    account_external_id: str
    reviews: int


def _sample_lines() -> Any:
    reviews = (
        select(REVIEWS.c.sample_id, func.count().label("n"))
        .group_by(REVIEWS.c.sample_id)
        .subquery()
    )
    return (
        select(
            SAMPLES,
            EnforcementAction.action.label("action_name"),
            Case.category_group,
            Case.status.label("case_status"),
            Case.close_reason,
            Case.closed_at,
            Account.id.label("account_id"),
            Account.name.label("account_name"),
            Account.external_id,
            func.coalesce(reviews.c.n, 0).label("reviews"),
        )
        .join(Case, Case.id == SAMPLES.c.case_id)
        .join(Account, Account.id == Case.account_id)
        .outerjoin(EnforcementAction, EnforcementAction.id == SAMPLES.c.action_id)
        .outerjoin(reviews, reviews.c.sample_id == SAMPLES.c.id)
    )


def _line(row: Any) -> SampleLine:
    return SampleLine(
        id=row.id,
        case_id=row.case_id,
        action_id=row.action_id,
        action=row.action_name,
        analyst=row.analyst,
        tier=row.tier,
        reason=row.reason,
        state=row.state,
        sampled_at=as_utc(row.sampled_at),
        sampled_by=row.sampled_by,
        calibration_id=row.calibration_id,
        case_type=row.category_group,
        case_status=row.case_status,
        close_reason=row.close_reason,
        closed_at=None if row.closed_at is None else as_utc(row.closed_at),
        account_id=row.account_id,
        account_name=row.account_name,
        account_external_id=row.external_id,
        reviews=row.reviews,
    )


def queue(
    session: Session,
    *,
    state: str = SampleState.WAITING,
    reason: str | None = None,
    analyst: str | None = None,
    limit: int = MAX_LISTED,
) -> list[SampleLine]:
    """Return the samples in *state* (calibration copies left out), the oldest first."""
    statement = _sample_lines().where(SAMPLES.c.state == state, SAMPLES.c.calibration_id.is_(None))
    if reason:
        statement = statement.where(SAMPLES.c.reason == reason)
    if analyst:
        statement = statement.where(SAMPLES.c.analyst == analyst)
    order = SAMPLES.c.sampled_at if state == SampleState.WAITING else SAMPLES.c.sampled_at.desc()
    rows = session.execute(statement.order_by(order, SAMPLES.c.id).limit(limit))
    return [_line(row) for row in rows]


def queue_counts(session: Session) -> dict[str, int]:
    """Return how many samples wait, by reason (calibration copies left out)."""
    rows = session.execute(
        select(SAMPLES.c.reason, func.count())
        .where(SAMPLES.c.state == SampleState.WAITING, SAMPLES.c.calibration_id.is_(None))
        .group_by(SAMPLES.c.reason)
    )
    return {str(reason): int(count) for reason, count in rows}


def _lock(session: Session, table: Any, row_id: int) -> None:
    """Lock one row of *table* for the transaction (PostgreSQL; SQLite serialises writers
    already): two people changing it at once take turns, and the second sees the first's
    change, so a sample takes one review and a review one answer."""
    session.execute(select(table.c.id).where(table.c.id == row_id).with_for_update())


def sample(session: Session, sample_id: int) -> SampleLine:
    """Return sample *sample_id*."""
    row = session.execute(_sample_lines().where(SAMPLES.c.id == sample_id)).first()
    if row is None:
        raise NotFound(f"no QA sample {sample_id}")
    return _line(row)


def skip_sample(
    session: Session, sample_id: int, *, actor: str, reason: str, now: datetime
) -> None:
    """Take a waiting sample out of the queue, with the reason (audited)."""
    reason = reason.strip()
    if not reason:
        raise InvalidQaInput("say why the sample is skipped")
    _lock(session, SAMPLES, sample_id)
    found = sample(session, sample_id)
    if found.state != SampleState.WAITING:
        raise QaConflict(f"sample {sample_id} is {found.state}, not waiting")
    session.execute(
        update(SAMPLES).where(SAMPLES.c.id == sample_id).values(state=SampleState.SKIPPED)
    )
    audit.record(
        session,
        actor=actor,
        tag="qa:sample:skip",
        subject_type="qa_sample",
        subject_id=sample_id,
        at=now,
        before={"state": found.state},
        after={"state": SampleState.SKIPPED},
        reason=reason[:MAX_COMMENT],
    )


# --- reviews --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRecord:
    """One reviewer's scorecard for one sample and the analyst's answer to it."""

    id: int
    sample_id: int
    case_id: int
    action_id: int | None
    calibration_id: int | None
    analyst: str
    reviewer: str
    scorecard_id: int
    scorecard_version: int
    card: Scorecard
    ratings: Mapping[str, Mapping[str, str]]
    score: float
    critical_failure: bool
    comment: str
    scored_at: datetime
    feedback: str
    acknowledged_at: datetime | None
    dispute_reason: str | None
    disputed_at: datetime | None
    settled_by: str | None
    settled_at: datetime | None
    settlement: str | None

    def rating(self, key: str) -> str:
        """Return how criterion *key* was rated."""
        return str(self.ratings.get(key, {}).get("rating", Rating.NA))

    def comment_on(self, key: str) -> str:
        """Return the reviewer's comment on criterion *key*."""
        return str(self.ratings.get(key, {}).get("comment", ""))

    @property
    def answerable(self) -> bool:
        """Tell whether the analyst may still acknowledge or dispute it."""
        return self.feedback == Feedback.SENT


def _reviews() -> Any:
    return (
        select(
            REVIEWS,
            SAMPLES.c.case_id,
            SAMPLES.c.action_id,
            SAMPLES.c.calibration_id,
            CARDS.c.version.label("card_version"),
            CARDS.c.case_type.label("card_case_type"),
            CARDS.c.definition.label("card_definition"),
        )
        .join(SAMPLES, SAMPLES.c.id == REVIEWS.c.sample_id)
        .join(CARDS, CARDS.c.id == REVIEWS.c.scorecard_id)
    )


def _review(row: Any) -> ReviewRecord:
    def at(value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    return ReviewRecord(
        id=row.id,
        sample_id=row.sample_id,
        case_id=row.case_id,
        action_id=row.action_id,
        calibration_id=row.calibration_id,
        analyst=row.analyst,
        reviewer=row.reviewer,
        scorecard_id=row.scorecard_id,
        scorecard_version=row.card_version,
        card=Scorecard.from_definition(row.card_case_type, row.card_definition),
        ratings=row.ratings,
        score=float(row.score),
        critical_failure=bool(row.critical_failure),
        comment=row.comment,
        scored_at=as_utc(row.scored_at),
        feedback=row.feedback,
        acknowledged_at=at(row.acknowledged_at),
        dispute_reason=row.dispute_reason,
        disputed_at=at(row.disputed_at),
        settled_by=row.settled_by,
        settled_at=at(row.settled_at),
        settlement=row.settlement,
    )


def review(session: Session, review_id: int) -> ReviewRecord:
    """Return review *review_id*."""
    row = session.execute(_reviews().where(REVIEWS.c.id == review_id)).first()
    if row is None:
        raise NotFound(f"no QA review {review_id}")
    return _review(row)


def reviews_of_sample(session: Session, sample_id: int) -> list[ReviewRecord]:
    """Return the reviews of a sample, oldest first."""
    rows = session.execute(
        _reviews().where(REVIEWS.c.sample_id == sample_id).order_by(REVIEWS.c.id)
    )
    return [_review(row) for row in rows]


def feedback_of(session: Session, analyst: str, *, limit: int = MAX_LISTED) -> list[ReviewRecord]:
    """Return the reviews of *analyst*'s work sent to them (no calibration ones), newest first."""
    rows = session.execute(
        _reviews()
        .where(REVIEWS.c.analyst == analyst, REVIEWS.c.feedback != Feedback.CALIBRATION)
        .order_by(REVIEWS.c.scored_at.desc(), REVIEWS.c.id.desc())
        .limit(limit)
    )
    return [_review(row) for row in rows]


def open_disputes(session: Session) -> list[ReviewRecord]:
    """Return the disputed reviews waiting to be settled, the oldest dispute first."""
    rows = session.execute(
        _reviews()
        .where(REVIEWS.c.feedback == Feedback.DISPUTED)
        .order_by(REVIEWS.c.disputed_at, REVIEWS.c.id)
    )
    return [_review(row) for row in rows]


def _ratings(
    card: Scorecard, ratings: Mapping[str, str], comments: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    long = [key for key, text in comments.items() if len(text) > MAX_COMMENT]
    if long:
        raise InvalidRatings(f"a comment is longer than {MAX_COMMENT} characters")
    return {
        c.key: {"rating": ratings[c.key], "comment": comments.get(c.key, "").strip()}
        for c in card.criteria
    }


def score_sample(
    session: Session,
    sample_id: int,
    *,
    reviewer: str,
    ratings: Mapping[str, str],
    comments: Mapping[str, str] | None = None,
    comment: str = "",
    now: datetime,
) -> ReviewRecord:
    """Score a waiting sample on its case type's scorecard (audited); return the review.

    Nobody scores their own work. A calibration sample takes one review from each of its
    round's reviewers and is scored when all of them have; any other takes one review.
    """
    _lock(session, SAMPLES, sample_id)
    found = sample(session, sample_id)
    if found.analyst == reviewer:
        raise OwnWork("this is your own work: another reviewer must score it")
    reviewers: list[str] = []
    if found.calibration_id is not None:
        round_ = calibration(session, found.calibration_id)
        if reviewer not in round_.reviewers:
            raise QaConflict(f"you are not a reviewer of calibration round {round_.id}")
        if round_.closed_at is not None:
            raise QaConflict(f"calibration round {round_.id} is closed")
        reviewers = list(round_.reviewers)
    if found.state != SampleState.WAITING:
        raise QaConflict(f"sample {sample_id} is {found.state}, not waiting to be scored")
    if len(comment) > MAX_COMMENT:
        raise InvalidRatings(f"the comment is longer than {MAX_COMMENT} characters")
    already = session.scalar(
        select(REVIEWS.c.id).where(REVIEWS.c.sample_id == sample_id, REVIEWS.c.reviewer == reviewer)
    )
    if already is not None:
        raise QaConflict(f"you have scored sample {sample_id} already (review {already})")
    card = scorecard_for(session, found.case_type, now=now)
    result = score(card.card, ratings)
    stored = _ratings(card.card, ratings, comments or {})
    calibrating = found.calibration_id is not None
    review_id = session.execute(
        insert(REVIEWS)
        .values(
            sample_id=sample_id,
            analyst=found.analyst,
            reviewer=reviewer,
            scorecard_id=card.id,
            ratings=stored,
            score=result.score,
            critical_failure=result.critical_failure,
            comment=comment.strip(),
            scored_at=now,
            feedback=Feedback.CALIBRATION if calibrating else Feedback.SENT,
        )
        .returning(REVIEWS.c.id)
    ).scalar_one()
    done = True
    if calibrating:
        scored_by = set(
            session.scalars(select(REVIEWS.c.reviewer).where(REVIEWS.c.sample_id == sample_id))
        )
        done = set(reviewers) <= scored_by
    if done:
        session.execute(
            update(SAMPLES).where(SAMPLES.c.id == sample_id).values(state=SampleState.SCORED)
        )
    audit.record(
        session,
        actor=reviewer,
        tag="qa:review:score",
        subject_type="qa_review",
        subject_id=review_id,
        at=now,
        after={
            "sample_id": sample_id,
            "analyst": found.analyst,
            "scorecard": f"{card.case_type or '(any)'} v{card.version}",
            "score": result.score,
            "critical_failure": result.critical_failure,
        },
    )
    return review(session, review_id)


def _answer(session: Session, review_id: int, analyst: str) -> ReviewRecord:
    _lock(session, REVIEWS, review_id)
    found = review(session, review_id)
    if found.analyst != analyst:
        raise NotYourReview("this review is about someone else's work")
    if found.feedback != Feedback.SENT:
        raise QaConflict(f"this review is {found.feedback} already")
    return found


def acknowledge(session: Session, review_id: int, *, analyst: str, now: datetime) -> None:
    """Record that *analyst* read and accepts the review of their work (audited)."""
    _answer(session, review_id, analyst)
    session.execute(
        update(REVIEWS)
        .where(REVIEWS.c.id == review_id)
        .values(feedback=Feedback.ACKNOWLEDGED, acknowledged_at=now)
    )
    audit.record(
        session,
        actor=analyst,
        tag="qa:review:acknowledge",
        subject_type="qa_review",
        subject_id=review_id,
        at=now,
        before={"feedback": Feedback.SENT},
        after={"feedback": Feedback.ACKNOWLEDGED},
    )


def dispute(session: Session, review_id: int, *, analyst: str, reason: str, now: datetime) -> None:
    """Record that *analyst* disputes the review of their work, and why (audited)."""
    reason = reason.strip()
    if not reason:
        raise InvalidQaInput("say what you dispute and why")
    if len(reason) > MAX_COMMENT:
        raise InvalidQaInput(f"the reason is longer than {MAX_COMMENT} characters")
    _answer(session, review_id, analyst)
    session.execute(
        update(REVIEWS)
        .where(REVIEWS.c.id == review_id)
        .values(feedback=Feedback.DISPUTED, dispute_reason=reason, disputed_at=now)
    )
    audit.record(
        session,
        actor=analyst,
        tag="qa:review:dispute",
        subject_type="qa_review",
        subject_id=review_id,
        at=now,
        before={"feedback": Feedback.SENT},
        after={"feedback": Feedback.DISPUTED},
        reason=reason,
    )


def settle(
    session: Session,
    review_id: int,
    *,
    actor: str,
    outcome: str,
    settlement: str,
    ratings: Mapping[str, str] | None = None,
    comments: Mapping[str, str] | None = None,
    now: datetime,
) -> ReviewRecord:
    """Settle a dispute: ``upheld`` (the score stands) or ``amended`` with new ratings.

    The one who settles is neither the analyst nor the reviewer (audited).
    """
    _lock(session, REVIEWS, review_id)
    found = review(session, review_id)
    if found.feedback != Feedback.DISPUTED:
        raise QaConflict(f"review {review_id} is {found.feedback}, not disputed")
    if actor in (found.analyst, found.reviewer):
        raise OwnWork(
            "you are the analyst or the reviewer of this review: someone else settles the dispute"
        )
    if outcome not in Feedback.SETTLEMENTS:
        raise InvalidQaInput("settle a dispute as upheld or amended")
    settlement = settlement.strip()
    if not settlement:
        raise InvalidQaInput("say how the dispute is settled; the analyst reads it")
    if len(settlement) > MAX_COMMENT:
        raise InvalidQaInput(f"the settlement is longer than {MAX_COMMENT} characters")
    values: dict[str, Any] = {
        "feedback": outcome,
        "settled_by": actor,
        "settled_at": now,
        "settlement": settlement,
    }
    if outcome == Feedback.AMENDED:
        if not ratings:
            raise InvalidQaInput("an amended review needs the new ratings")
        result = score(found.card, ratings)
        values.update(
            ratings=_ratings(found.card, ratings, comments or {}),
            score=result.score,
            critical_failure=result.critical_failure,
        )
    session.execute(update(REVIEWS).where(REVIEWS.c.id == review_id).values(**values))
    after = review(session, review_id)
    audit.record(
        session,
        actor=actor,
        tag="qa:review:settle",
        subject_type="qa_review",
        subject_id=review_id,
        at=now,
        before={"feedback": found.feedback, "score": found.score},
        after={"feedback": outcome, "score": after.score},
        reason=settlement,
    )
    return after


# --- calibration ----------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationRecord:
    """A calibration round: its reviewers, samples, and who has scored what."""

    id: int
    title: str
    reviewers: tuple[str, ...]
    created_by: str
    created_at: datetime
    closed_at: datetime | None
    samples: tuple[SampleLine, ...]
    scored: Mapping[str, frozenset[int]]

    def progress(self, reviewer: str) -> int:
        """Return how many of the round's samples *reviewer* has scored."""
        return len(self.scored.get(reviewer, frozenset()))


@dataclass(frozen=True)
class CardAgreement:
    """The agreement of a round's reviewers on the samples of one scorecard."""

    card: Scorecard
    criteria: tuple[CriterionAgreement, ...]


def open_calibration(
    session: Session,
    *,
    title: str,
    reviewers: Sequence[str],
    sample_ids: Sequence[int],
    actor: str,
    now: datetime,
) -> int:
    """Open a calibration round: copies of *sample_ids* for *reviewers* to score blind."""
    title = title.strip()
    if not title or len(title) > MAX_TITLE:
        raise InvalidQaInput(f"give the round a title of 1 to {MAX_TITLE} characters")
    names = list(dict.fromkeys(r.strip() for r in reviewers if r.strip()))
    if len(names) < 2:
        raise InvalidQaInput("a calibration round needs two or more reviewers")
    users = {
        row.username: row
        for row in session.execute(
            select(User.username, User.role, User.disabled_at).where(User.username.in_(names))
        )
    }
    unfit = [
        n
        for n in names
        if n not in users
        or users[n].disabled_at is not None
        or not role_allows(users[n].role, QA_REVIEW)
    ]
    if unfit:
        raise InvalidQaInput(
            f"not an active user allowed to review: {', '.join(n[:64] for n in unfit)}"
        )
    chosen = list(dict.fromkeys(sample_ids))
    if not 1 <= len(chosen) <= MAX_ROUND_SAMPLES:
        raise InvalidQaInput(f"choose 1 to {MAX_ROUND_SAMPLES} samples for the round")
    sources = [sample(session, sample_id) for sample_id in chosen]
    copies = [s.id for s in sources if s.calibration_id is not None]
    if copies:
        raise InvalidQaInput(f"samples {', '.join(map(str, copies))} belong to a round already")
    own = sorted({f"{s.analyst} (sample {s.id})" for s in sources if s.analyst in names})
    if own:
        raise InvalidQaInput(
            f"a reviewer did the work under review, so cannot calibrate on it: {', '.join(own)}"
        )
    round_id = session.execute(
        insert(ROUNDS)
        .values(title=title, reviewers=names, created_by=actor, created_at=now, closed_at=None)
        .returning(ROUNDS.c.id)
    ).scalar_one()
    for source in sources:
        _insert_sample(
            session,
            Candidate("case", source.case_id, source.action_id, source.analyst, source.tier),
            Reason.CALIBRATION,
            by=actor,
            now=now,
            calibration_id=round_id,
        )
    audit.record(
        session,
        actor=actor,
        tag="qa:calibration:open",
        subject_type="qa_calibration",
        subject_id=round_id,
        at=now,
        after={"title": title, "reviewers": names, "samples": chosen},
    )
    return int(round_id)


def close_calibration(session: Session, round_id: int, *, actor: str, now: datetime) -> None:
    """Close a round: nobody scores it any more and its agreement is shown (audited)."""
    found = calibration(session, round_id)
    if found.closed_at is not None:
        raise QaConflict(f"calibration round {round_id} is closed already")
    session.execute(update(ROUNDS).where(ROUNDS.c.id == round_id).values(closed_at=now))
    session.execute(
        update(SAMPLES)
        .where(SAMPLES.c.calibration_id == round_id, SAMPLES.c.state == SampleState.WAITING)
        .values(state=SampleState.SKIPPED)
    )
    audit.record(
        session,
        actor=actor,
        tag="qa:calibration:close",
        subject_type="qa_calibration",
        subject_id=round_id,
        at=now,
        after={"scored": {r: found.progress(r) for r in found.reviewers}},
    )


def calibration(session: Session, round_id: int) -> CalibrationRecord:
    """Return calibration round *round_id* with its samples and progress."""
    row = session.execute(select(ROUNDS).where(ROUNDS.c.id == round_id)).first()
    if row is None:
        raise NotFound(f"no calibration round {round_id}")
    samples = tuple(
        _line(r)
        for r in session.execute(
            _sample_lines().where(SAMPLES.c.calibration_id == round_id).order_by(SAMPLES.c.id)
        )
    )
    scored: dict[str, set[int]] = {}
    for reviewer, sample_id in session.execute(
        select(REVIEWS.c.reviewer, REVIEWS.c.sample_id)
        .join(SAMPLES, SAMPLES.c.id == REVIEWS.c.sample_id)
        .where(SAMPLES.c.calibration_id == round_id)
    ):
        scored.setdefault(reviewer, set()).add(sample_id)
    return CalibrationRecord(
        id=row.id,
        title=row.title,
        reviewers=tuple(str(r) for r in row.reviewers),
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        closed_at=None if row.closed_at is None else as_utc(row.closed_at),
        samples=samples,
        scored={k: frozenset(v) for k, v in scored.items()},
    )


def calibrations(session: Session, *, limit: int = MAX_LISTED) -> list[CalibrationRecord]:
    """Return the calibration rounds, the newest first."""
    ids = session.scalars(select(ROUNDS.c.id).order_by(ROUNDS.c.id.desc()).limit(limit))
    return [calibration(session, round_id) for round_id in ids]


def calibration_agreement(session: Session, round_id: int) -> list[CardAgreement]:
    """Return the round's agreement per criterion, one entry per scorecard its samples used."""
    found = calibration(session, round_id)
    by_card: dict[int, tuple[Scorecard, dict[int, dict[str, dict[str, str]]]]] = {}
    for row in session.execute(
        _reviews().where(SAMPLES.c.calibration_id == round_id).order_by(REVIEWS.c.id)
    ):
        record = _review(row)
        card, table = by_card.setdefault(record.scorecard_id, (record.card, {}))
        table.setdefault(record.sample_id, {})[record.reviewer] = {
            c.key: record.rating(c.key) for c in card.criteria
        }
    return [
        CardAgreement(card, tuple(criterion_agreement(card, table, found.reviewers)))
        for _, (card, table) in sorted(by_card.items())
    ]


def reviews_in_round(
    session: Session, round_id: int, reviewer: str | None = None
) -> list[ReviewRecord]:
    """Return the reviews of a round (only *reviewer*'s when given), oldest first."""
    statement = _reviews().where(SAMPLES.c.calibration_id == round_id)
    if reviewer is not None:
        statement = statement.where(REVIEWS.c.reviewer == reviewer)
    return [_review(row) for row in session.execute(statement.order_by(REVIEWS.c.id))]


# --- trends ---------------------------------------------------------------------------


def scored_reviews(session: Session, *, start: datetime, end: datetime) -> list[ScoredReview]:
    """Return the reviews scored in [*start*, *end*) with each analyst's team (no calibration)."""
    rows = session.execute(
        select(
            REVIEWS.c.analyst,
            func.coalesce(User.team, ""),
            REVIEWS.c.scored_at,
            REVIEWS.c.score,
            REVIEWS.c.critical_failure,
        )
        .outerjoin(User, User.username == REVIEWS.c.analyst)
        .where(
            REVIEWS.c.scored_at >= start,
            REVIEWS.c.scored_at < end,
            REVIEWS.c.feedback != Feedback.CALIBRATION,
        )
        .order_by(REVIEWS.c.scored_at, REVIEWS.c.id)
    )
    return [
        ScoredReview(analyst, team or "", as_utc(at), float(value), bool(critical))
        for analyst, team, at, value, critical in rows
    ]


def sampled_units(session: Session) -> list[tuple[int, int | None, str]]:
    """Return (case, action, reason) of every sample outside calibration, oldest first."""
    rows = session.execute(
        select(SAMPLES.c.case_id, SAMPLES.c.action_id, SAMPLES.c.reason)
        .where(SAMPLES.c.calibration_id.is_(None))
        .order_by(SAMPLES.c.id)
    )
    return [(case_id, action_id, reason) for case_id, action_id, reason in rows]
