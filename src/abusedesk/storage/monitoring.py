"""Monitors' signals applied to casework, in the caller's transaction.

For each draft a monitor returns: the signal is recorded once per dedupe key (a draft
raised before does nothing again), the signal it *resolves* ends, and by the rules
(``abusedesk.monitoring.rules``) it opens, joins or reopens the account's case of its
group through the case machinery (``storage.cases.case_for_signal``), raises the case's
priority, sends the case to an advanced-tier queue when its severity asks, and proposes the
ladder action its step asks for through ``storage.enforcement.propose`` with the figures
as evidence. Nothing is proposed while the same or a stronger step waits for the account
(a pause goes beside a waiting review, never a review beside a waiting pause); what the
ladder or the policy refuses is recorded, not raised. Every decision is kept on the
signal in words, and the case's history gets a ``signal`` step.

Also here: when each monitor last ran (``sweep_marks``), for the sweep and the pages.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from abusedesk.cases.errors import ReasonRequired
from abusedesk.cases.routing import Department, Tier
from abusedesk.core.clock import as_utc
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.enforcement.ladder import ACCOUNT_ACTIONS, AccountAction, Standing
from abusedesk.monitoring.rules import Decision, SignalRules, draft_problems, evidence_figures
from abusedesk.monitoring.signals import SignalDraft
from abusedesk.storage import audit, case_history, casework, enforcement, queues
from abusedesk.storage.case_history import Step
from abusedesk.storage.cases import (
    DEFAULT_REOPEN_GRACE,
    case_for_signal,
    refresh_case,
    route_signal_case,
)
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.enforcement import ActionState
from abusedesk.storage.signals import (
    OPEN,
    raise_signal,
    record_decision,
    resolve_signal,
    signal_id_by_key,
)
from abusedesk.storage.tables import Account, Case, EnforcementAction, Signal, SweepMark

log = structlog.get_logger(__name__)

ACTOR: Final = "system:monitor"
SIGNAL_STEP: Final = "signal"
MARK_PREFIX: Final = "monitor:"
# Signals the sweep raises about the monitors themselves.
MONITOR_FAILED: Final = "monitor.failed"
MONITOR_BAD_DRAFTS: Final = "monitor.refused_drafts"


@dataclass(frozen=True)
class AppliedSignal:
    """What became of one draft: its signal (None: raised before, or refused), the case
    it went to, the action it proposed, and the decision in words (or the problem)."""

    dedupe_key: str
    kind: str
    signal_id: int | None
    case_id: int | None = None
    action_id: int | None = None
    decision: str = ""
    problem: str | None = None

    @property
    def raised(self) -> bool:
        """Tell whether the draft raised a new signal."""
        return self.signal_id is not None


@dataclass(frozen=True)
class Casework:
    """How signals become casework: the rules, the reopen grace and the advanced queue."""

    rules: SignalRules
    grace: timedelta = DEFAULT_REOPEN_GRACE
    # The advanced-tier queue for severe signals; empty: the first advanced trust and
    # safety queue.
    advanced_queue: str = ""


def apply_drafts(
    session: Session, drafts: Iterable[SignalDraft], *, casework_rules: Casework, now: datetime
) -> list[AppliedSignal]:
    """Apply every draft in the caller's transaction; return what became of each.

    A draft with bad data, or one the case machinery refuses, is rolled back on its own
    (a savepoint) and comes back with its problem; the others still apply.
    """
    applied = []
    for draft in drafts:
        problems = draft_problems(draft)
        if problems:
            applied.append(_refused(draft, "; ".join(problems)))
            continue
        try:
            with session.begin_nested():
                applied.append(apply_draft(session, draft, casework_rules=casework_rules, now=now))
        except AbuseDeskError as problem:
            applied.append(_refused(draft, str(problem)))
    return applied


def apply_draft(
    session: Session, draft: SignalDraft, *, casework_rules: Casework, now: datetime
) -> AppliedSignal:
    """Record one draft and do what the rules say with it (see the module's description)."""
    if draft.account_id is not None and session.get(Account, draft.account_id) is None:
        return _refused(draft, f"no account {draft.account_id}")
    decision = casework_rules.rules.decide(draft)
    signal_id = raise_signal(
        session,
        kind=draft.kind,
        subject_type=draft.subject_type,
        subject_id=draft.subject_id,
        reason=draft.reason,
        figures=draft.figures,
        at=draft.at,
        dedupe_key=draft.dedupe_key,
        account_id=draft.account_id,
        severity=draft.severity,
        step=draft.step,
        evidence=draft.evidence,
    )
    if signal_id is None:
        return AppliedSignal(
            draft.dedupe_key, draft.kind, None, decision="raised before under this dedupe key"
        )
    words = [decision.sentence()]
    if draft.resolves:
        words.append(_resolve_earlier(session, draft, signal_id))
    if decision.records_end:
        resolve_signal(
            session,
            signal_id,
            at=draft.at,
            by=ACTOR,
            resolution="it records an end; nothing is left to work",
        )
    case_id: int | None = None
    action_id: int | None = None
    if decision.case_group is not None and draft.account_id is not None:
        case_id, case_words = _to_case(
            session,
            draft,
            decision=decision,
            account_id=draft.account_id,
            group=decision.case_group,
            signal_id=signal_id,
            casework_rules=casework_rules,
            now=now,
        )
        words.extend(case_words)
        if decision.action is not None:
            action_id, action_words = _propose(
                session,
                draft,
                account_id=draft.account_id,
                action=decision.action,
                cause=decision.cause,
                case_id=case_id,
                now=now,
            )
            words.append(action_words)
    text = " ".join(w for w in words if w)
    record_decision(session, signal_id, text, case_id=case_id, action_id=action_id)
    return AppliedSignal(draft.dedupe_key, draft.kind, signal_id, case_id, action_id, text)


def _refused(draft: SignalDraft, problem: str) -> AppliedSignal:
    log.warning("signal_draft_refused", kind=draft.kind, problem=problem)
    return AppliedSignal(draft.dedupe_key, draft.kind, None, problem=problem)


def _resolve_earlier(session: Session, draft: SignalDraft, signal_id: int) -> str:
    assert draft.resolves is not None  # noqa: S101  # called only for drafts that resolve
    earlier = signal_id_by_key(session, draft.resolves)
    if earlier is None:
        return f"No signal was raised under {draft.resolves}; there is nothing to end."
    ended = resolve_signal(
        session,
        earlier,
        at=draft.at,
        by=f"signal {signal_id} ({draft.kind})",
        resolution=draft.reason,
    )
    if not ended:
        return f"Signal {earlier} had already ended."
    case = session.execute(
        select(Case.id, Case.category_group)
        .join(Signal, Signal.case_id == Case.id)
        .where(Signal.id == earlier)
    ).first()
    if case is None:
        return f"Signal {earlier} ends with it."
    # The case's priority counts open signals only: it falls back as its signals end.
    refresh_case(session, case.id, case.category_group)
    case_history.record(
        session,
        case.id,
        SIGNAL_STEP,
        actor=ACTOR,
        at=draft.at,
        to_value=f"signal {earlier} ended",
        reason=f"signal {signal_id} ({draft.kind}): {draft.reason}",
        tag="case:signal:resolve",
        after={"signal_id": earlier, "ended_by": signal_id},
    )
    return f"Signal {earlier} ends with it; its case {case.id} records the end."


def _to_case(
    session: Session,
    draft: SignalDraft,
    *,
    decision: Decision,
    account_id: int,
    group: str,
    signal_id: int,
    casework_rules: Casework,
    now: datetime,
) -> tuple[int, list[str]]:
    """Open, join or reopen the account's case, raise its priority; return it and why."""
    found = case_for_signal(
        session, account_id, group, now=now, grace=casework_rules.grace, actor=ACTOR
    )
    before = session.scalar(select(Case.priority).where(Case.id == found.case_id))
    record_decision(session, signal_id, decision.sentence(), case_id=found.case_id)
    refresh_case(session, found.case_id, group)
    if found.opened:
        route_signal_case(session, found.case_id, group, source=f"monitor:{draft.kind}", now=now)
    case_history.record(
        session,
        found.case_id,
        SIGNAL_STEP,
        actor=ACTOR,
        at=now,
        to_value=draft.kind,
        reason=f"signal {signal_id}: {draft.reason}",
        tag="case:signal:attach",
        after={"signal_id": signal_id, "kind": draft.kind, "severity": draft.severity},
    )
    words = [found.reason[:1].upper() + found.reason[1:] + "."]
    after = session.scalar(select(Case.priority).where(Case.id == found.case_id))
    if not found.opened and before is not None and after is not None and after > before:
        case_history.record(
            session,
            found.case_id,
            Step.PRIORITY,
            actor=ACTOR,
            at=now,
            from_value=before,
            to_value=after,
            reason=f"a {draft.severity} {draft.kind} signal raised the priority",
        )
        words.append(f"The case's priority rose from {before} to {after}.")
    if decision.higher_tier:
        words.append(_to_higher_tier(session, found.case_id, draft, casework_rules, now=now))
    return found.case_id, words


def _to_higher_tier(
    session: Session, case_id: int, draft: SignalDraft, casework_rules: Casework, *, now: datetime
) -> str:
    """Move the case to an advanced-tier queue unless it waits in one; say what happened."""
    queue_id = session.scalar(select(Case.queue_id).where(Case.id == case_id))
    current = None if queue_id is None else queues.queue_by_id(session, queue_id)
    if current is not None and current.tier == Tier.ADVANCED:
        return f"The case already waits in the advanced-tier queue {current.name}."
    target = _advanced_queue(session, casework_rules.advanced_queue)
    if target is None:
        where = "" if current is None else f"; the case stays in {current.name}"
        return f"No advanced-tier queue is open{where}."
    casework.transfer(
        session,
        case_id,
        target,
        actor=ACTOR,
        now=now,
        reason=f"a {draft.severity}-severity {draft.kind} signal needs an advanced-tier analyst",
    )
    return f"The case moved to the advanced-tier queue {target}."


def _advanced_queue(session: Session, configured: str) -> str | None:
    candidates = [
        q
        for q in queues.queues(session)
        if q.tier == Tier.ADVANCED and (q.name == configured if configured else True)
    ]
    if not configured:
        candidates.sort(key=lambda q: (q.department != Department.TRUST_SAFETY, q.id))
    return candidates[0].name if candidates else None


def _propose(
    session: Session,
    draft: SignalDraft,
    *,
    account_id: int,
    action: str,
    cause: str,
    case_id: int,
    now: datetime,
) -> tuple[int | None, str]:
    """Propose *action* unless the same or a stronger step waits for the account.

    A weaker pending action (a review) does not hold back a stronger one (a pause): the
    pause is proposed beside it, and the decision names both.
    """
    pending = session.execute(
        select(EnforcementAction.id, EnforcementAction.action)
        .where(
            EnforcementAction.account_id == account_id,
            EnforcementAction.resource_id.is_(None),
            EnforcementAction.state.in_(sorted(ActionState.PENDING)),
        )
        .order_by(EnforcementAction.id)
    ).all()
    wanted = ladder_rung(action)
    blocking = [p for p in pending if ladder_rung(p.action) >= wanted]
    if blocking:
        first = blocking[0]
        same = "the same step" if first.action == action else "a stronger step"
        return None, (
            f"Action {first.id} ({first.action}) already waits for the account, {same}, so no"
            f" {action} is proposed again."
        )
    weaker = [p for p in pending if ladder_rung(p.action) >= 0]
    beside = (
        " beside "
        + ", ".join(f"action {p.id} ({p.action})" for p in weaker)
        + ", a weaker step still waiting"
        if weaker
        else ""
    )
    evidence = {"case_ids": [case_id], "figures": evidence_figures(draft.figures)}
    try:
        with session.begin_nested():
            record = enforcement.propose(
                session,
                account_id,
                action,
                cause=cause,
                reason=draft.reason,
                evidence=evidence,
                actor=ACTOR,
                now=now,
                case_id=case_id,
            )
    except AbuseDeskError as refused:
        log.info("signal_action_refused", kind=draft.kind, action=action)
        return None, f"{action.capitalize()} was not proposed: {refused}."
    text = f"Action {record.id} proposes {record.action}"
    if record.escalated:
        text += f" (the policy turned the {record.proposed_action} into {record.action})"
    if record.needs_approval:
        text += "; it waits for a second analyst to approve it"
    elif record.action == AccountAction.REVIEW:
        text += "; an analyst executes it"
    return record.id, text + beside + "."


def ladder_rung(action: str) -> int:
    """Return how high on the ladder *action* takes an account (its resulting standing's
    rung); -1 for actions that lift an account or are not account actions."""
    if action not in AccountAction.PUNITIVE:
        return -1
    return Standing.ALL.index(ACCOUNT_ACTIONS[action][1])


# --- by time ------------------------------------------------------------------------------


def end_expired_signals(
    session: Session, kind: str, *, hours: int, now: datetime, limit: int = 1000
) -> int:
    """End the open signals of *kind* raised more than *hours* before *now*; return how many.

    Each one's case records the end in its history (``case:signal:expire``) and no longer
    counts it in its priority: a spike counts while it is recent, not for ever.
    """
    rows = session.execute(
        select(Signal.id, Signal.case_id)
        .where(
            Signal.kind == kind,
            Signal.state == OPEN,
            Signal.raised_at < now - timedelta(hours=hours),
        )
        .order_by(Signal.id)
        .limit(limit)
    ).all()
    why = f"a {kind} signal counts for {hours} hours after it is raised; it ended by itself"
    cases: set[int] = set()
    for row in rows:
        if not resolve_signal(session, row.id, at=now, by=ACTOR, resolution=why):
            continue
        if row.case_id is None:
            continue
        cases.add(row.case_id)
        case_history.record(
            session,
            row.case_id,
            SIGNAL_STEP,
            actor=ACTOR,
            at=now,
            to_value=f"signal {row.id} ended",
            reason=why,
            tag="case:signal:expire",
            after={"signal_id": row.id},
        )
    for case_id, group in session.execute(
        select(Case.id, Case.category_group).where(Case.id.in_(sorted(cases)))
    ):
        refresh_case(session, case_id, group)
    return len(rows)


# --- by hand -----------------------------------------------------------------------------


class SignalEnded(AbuseDeskError):
    """Raise when an analyst ends a signal that has already ended."""


MAX_REASON: Final = 2000


def dismiss_signal(
    session: Session, signal_id: int, *, actor: str, reason: str, now: datetime
) -> int | None:
    """End an open signal by hand (a false alarm, or handled), saying why; return its case.

    The case it joined records the end in its history and its priority no longer counts
    it; the audit log keeps who ended it and why.
    """
    why = reason.strip()
    if not why:
        raise ReasonRequired("say why the signal ends")
    if len(why) > MAX_REASON:
        raise ReasonRequired(f"keep the reason under {MAX_REASON} characters")
    row = session.get(Signal, signal_id)
    if row is None:
        raise NotFound(f"no signal {signal_id}")
    if not resolve_signal(session, signal_id, at=now, by=actor, resolution=why):
        raise SignalEnded(f"signal {signal_id} has already ended")
    audit.record(
        session,
        actor=actor,
        tag="monitoring:signal:dismiss",
        subject_type="signal",
        subject_id=signal_id,
        at=now,
        before={"state": OPEN},
        after={"state": "resolved", "kind": row.kind, "case_id": row.case_id},
        reason=why,
    )
    case = session.execute(
        select(Case.id, Case.category_group).where(Case.id == row.case_id)
    ).first()
    if case is None:
        return None
    refresh_case(session, case.id, case.category_group)
    case_history.record(
        session,
        case.id,
        SIGNAL_STEP,
        actor=actor,
        at=now,
        to_value=f"signal {signal_id} ended",
        reason=why,
        tag="case:signal:dismiss",
        after={"signal_id": signal_id},
    )
    return int(case.id)


# --- when each monitor ran ------------------------------------------------------------


@dataclass(frozen=True)
class MonitorMark:
    """When a monitor last started a run, and its open failure if its last run failed."""

    name: str
    last_run_at: datetime | None
    failure: str | None = None


def claim_run(
    session: Session, monitor: str, *, now: datetime, interval: timedelta, force: bool = False
) -> bool:
    """Mark *monitor* as run at *now* if its interval has passed since its last run.

    Return whether this caller may run it: two sweeps in different processes never both
    claim the same run. *force* claims it whatever the interval.
    """
    name = f"{MARK_PREFIX}{monitor}"
    session.execute(
        insert_for(session, SweepMark)
        .values(name=name, mark_at=None, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    statement = update(SweepMark).where(SweepMark.name == name)
    if not force:
        statement = statement.where(
            or_(SweepMark.mark_at.is_(None), SweepMark.mark_at <= now - interval)
        )
    claimed = session.execute(
        statement.values(mark_at=now, updated_at=now).returning(SweepMark.name)
    ).first()
    return claimed is not None


def monitor_marks(session: Session, names: Sequence[str] = ()) -> list[MonitorMark]:
    """Return when each monitor last ran (those in *names* even if never), with failures."""
    runs = {
        name.removeprefix(MARK_PREFIX): at
        for name, at in session.execute(
            select(SweepMark.name, SweepMark.mark_at).where(SweepMark.name.like(f"{MARK_PREFIX}%"))
        )
    }
    failures = {
        str(subject): str(reason)
        for subject, reason in session.execute(
            select(Signal.subject_id, Signal.reason)
            .where(Signal.kind == MONITOR_FAILED, Signal.state == OPEN)
            .order_by(Signal.raised_at)
        )
    }
    every = sorted(set(runs) | set(names))
    return [MonitorMark(name, runs.get(name), failures.get(name)) for name in every]


def record_failure(session: Session, monitor: str, error: str, *, now: datetime) -> int | None:
    """Raise the monitor's failure signal (once a day while it keeps failing).

    A failure after a run that worked raises anew, even on the day of an earlier one.
    """
    day = datetime.combine(as_utc(now).date(), datetime.min.time(), tzinfo=UTC)
    still_failing = session.scalar(
        select(Signal.id)
        .where(
            Signal.kind == MONITOR_FAILED,
            Signal.subject_id == monitor,
            Signal.state == OPEN,
            Signal.raised_at >= day,
        )
        .limit(1)
    )
    if still_failing is not None:
        return None
    return raise_signal(
        session,
        kind=MONITOR_FAILED,
        subject_type="monitor",
        subject_id=monitor,
        reason=f"the {monitor} monitor failed: {error}"[:2000],
        figures={"monitor": monitor},
        at=now,
        dedupe_key=f"{MONITOR_FAILED}:{monitor}:{as_utc(now).isoformat()}",
        severity="medium",
    )


def record_refused_drafts(
    session: Session, monitor: str, refused: Sequence[AppliedSignal], *, now: datetime
) -> int | None:
    """Raise a signal saying how many of a run's drafts were refused, and why (the first few)."""
    problems = sorted({f"{a.kind}: {a.problem}" for a in refused})
    return raise_signal(
        session,
        kind=MONITOR_BAD_DRAFTS,
        subject_type="monitor",
        subject_id=monitor,
        reason=f"{len(refused)} signal(s) of the {monitor} monitor were refused: "
        + "; ".join(problems[:5])[:1500],
        figures={"monitor": monitor, "refused": len(refused)},
        at=now,
        dedupe_key=f"{MONITOR_BAD_DRAFTS}:{monitor}:{now:%Y-%m-%dT%H}",
    )


def clear_failure(session: Session, monitor: str, *, now: datetime) -> int:
    """End the monitor's open failure signals after a run that worked; return how many."""
    ids = list(
        session.scalars(
            select(Signal.id).where(
                Signal.kind == MONITOR_FAILED, Signal.subject_id == monitor, Signal.state == OPEN
            )
        )
    )
    for signal_id in ids:
        resolve_signal(
            session, signal_id, at=now, by=ACTOR, resolution="the monitor ran again without error"
        )
    return len(ids)


# --- what the monitoring pages read ----------------------------------------------------


@dataclass(frozen=True)
class AccountFacts:
    """An account as its monitoring page shows it."""

    account_id: int
    external_id: str
    name: str
    standing: str
    size_tier: str | None
    country: str | None
    created_at: datetime
    metrics_since: datetime | None


@dataclass(frozen=True)
class AccountCase:
    """One of an account's cases, for its page."""

    case_id: int
    category_group: str
    status: str
    priority: int
    event_count: int
    opened_at: datetime
    closed_at: datetime | None
    signals: int


def account_facts(session: Session, external_id: str) -> AccountFacts:
    """Return the account *external_id*, or raise NotFound."""
    row = session.scalar(select(Account).where(Account.external_id == external_id))
    if row is None:
        raise NotFound(f"no account {external_id!r}")
    return AccountFacts(
        row.id,
        row.external_id,
        row.name,
        row.standing,
        row.size_tier,
        row.country,
        row.created_at,
        row.metrics_since,
    )


def account_cases(session: Session, account_id: int, *, limit: int = 100) -> list[AccountCase]:
    """Return the account's cases, open ones first, then the newest, with their signals."""
    signals = select(func.count(Signal.id)).where(Signal.case_id == Case.id).scalar_subquery()
    rows = session.execute(
        select(
            Case.id,
            Case.category_group,
            Case.status,
            Case.priority,
            Case.event_count,
            Case.opened_at,
            Case.closed_at,
            signals,
        )
        .where(Case.account_id == account_id)
        .order_by(Case.closed_at.is_not(None), Case.id.desc())
        .limit(limit)
    )
    return [AccountCase(*row) for row in rows]


def signals_per_day(
    session: Session, *, since: datetime, account_id: int | None = None
) -> dict[str, dict[date, int]]:
    """Return how many signals each monitor raised per day (UTC) since *since*."""
    query = select(Signal.kind, Signal.raised_at).where(Signal.raised_at >= since)
    if account_id is not None:
        query = query.where(Signal.account_id == account_id)
    counts: dict[str, dict[date, int]] = {}
    for kind, raised_at in session.execute(query):
        day = as_utc(raised_at).date()
        per_day = counts.setdefault(kind.split(".", 1)[0], {})
        per_day[day] = per_day.get(day, 0) + 1
    return counts


def accounts_by_signal_kind(session: Session, kinds: Sequence[str]) -> dict[str, int]:
    """Return how many distinct accounts have an open signal of each of *kinds*."""
    rows = session.execute(
        select(Signal.kind, func.count(func.distinct(Signal.account_id)))
        .where(Signal.state == OPEN, Signal.kind.in_(list(kinds)), Signal.account_id.is_not(None))
        .group_by(Signal.kind)
    )
    return {kind: int(count) for kind, count in rows}
