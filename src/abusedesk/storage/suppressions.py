"""Suppression lists: the addresses each account must not send to again, and their push.

A complainant (someone who reported the account's mail as spam, phishing, fraud or
malware) or a hard-bounced address is added to the account's list once; only the
SHA-256 of the lowercased address is kept, as events carry it. The periodic sweep
collects new addresses from attributed events (`collect_suppressions`, reading on from a
watermark) and pushes the pending ones to the provider through the connector in batches,
with retries and backoff; a batch whose attempts are used up is dead-lettered until
someone retries it (`retry_dead_push`). A push is three steps, each batch on its own:
the batch is formed (`form_batch`) or, when a failed push is due again, claimed
(`claim_push`) and committed with its key; the connector is called outside any
transaction; the outcome is recorded (`push_done`, `push_failed`).
`pipeline.enforcement.push_suppressions` runs them.

A row is ``pending`` (waiting for its push), ``pushed``, ``dead`` (retries exhausted) or
``lifted`` (an unsuppress_address action took it off). Rows sent in one call share a
``push_key``, which is also the call's idempotency key, so a retry sends the same batch
under the same key. See docs/connector.md.
"""

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from secrets import token_urlsafe
from typing import Any, Final

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from abusedesk.connectors.calls import SuppressionEntry
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.core.hashing import sha256_hex
from abusedesk.enforcement.signing import RetryPolicy
from abusedesk.parsing.model import Category, Service
from abusedesk.storage import audit
from abusedesk.storage.attempts import failed_attempt
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.tables import Account, Event, Suppression, SweepMark, table_of

ACTOR: Final = "system:suppressions"
MARK: Final = "suppressions:events"
# Events aggregated by a transaction that committed late may carry an aggregated_at a
# little before the watermark: each sweep reads this far back again (re-reading is
# harmless: an address is added once).
OVERLAP: Final = timedelta(minutes=10)
PAGE: Final = 1000
# What a recipient complains about: their address goes on the account's list.
COMPLAINT_CATEGORIES: Final = frozenset(
    {Category.SPAM, Category.PHISHING, Category.FRAUD, Category.MALWARE}
)
HASH_KEYS: Final = ("recipient_hash", "complainant_hash")


class SuppressionState:
    """The states of a suppression row."""

    PENDING = "pending"
    PUSHED = "pushed"
    DEAD = "dead"
    LIFTED = "lifted"

    ALL = (PENDING, PUSHED, DEAD, LIFTED)


class SuppressionReason:
    """Why an address is suppressed."""

    COMPLAINT = "complaint"
    HARD_BOUNCE = "hard_bounce"
    MANUAL = "manual"

    ALL = (COMPLAINT, HARD_BOUNCE, MANUAL)


class InvalidAddressHash(AbuseDeskError):
    """Raise when an address hash is not 64 lowercase hex digits."""


@dataclass(frozen=True)
class SuppressionRecord:
    """One suppressed address of an account, as stored."""

    id: int
    account_id: int
    address_hash: str
    reason: str
    event_id: int | None
    action_id: int | None
    first_seen_at: datetime
    state: str
    push_key: str | None
    attempts: int
    next_attempt_at: datetime | None
    pushed_at: datetime | None
    dead_at: datetime | None
    failure: str | None


@dataclass(frozen=True)
class PushOutcome:
    """What one push of a batch did: pushed, or failed (retrying or dead)."""

    push_key: str
    account_id: int
    addresses: int
    state: str
    attempts: int
    failure: str | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class DeadPush:
    """A batch of suppressions whose push the connector gave up on."""

    push_key: str
    account_id: int
    account_external_id: str
    account_name: str
    addresses: int
    attempts: int
    failure: str | None
    dead_at: datetime


def address_hash(address: str) -> str:
    """Return the SHA-256 hex of the trimmed, lowercased *address* (what the list keeps)."""
    cleaned = address.strip().lower()
    if not cleaned:
        raise InvalidAddressHash("an empty address cannot be suppressed")
    return sha256_hex(cleaned.encode("utf-8"))


def check_hash(value: str) -> str:
    """Return *value* if it is a SHA-256 in lowercase hex; raise InvalidAddressHash otherwise."""
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidAddressHash(f"{value[:80]!r} is not a SHA-256 in lowercase hex")
    return value


# --- collecting ---------------------------------------------------------------------


def collect_suppressions(session: Session, *, now: datetime) -> int:
    """Add the complainants and hard bounces of newly aggregated events; return how many.

    Reads attributed e-mail events aggregated since the watermark (less `OVERLAP`),
    page by page, adds each new (account, address hash) as pending, moves the watermark
    to the newest event read and writes one audit row per account that gained addresses.
    """
    mark = _mark(session)
    since = None if mark is None else mark - OVERLAP
    added: Counter[int] = Counter()
    reasons: dict[int, Counter[str]] = {}
    last: tuple[datetime, int] | None = None
    newest = mark
    categories = sorted(COMPLAINT_CATEGORIES | {Category.BOUNCE})
    while True:
        statement = (
            select(
                Event.id,
                Event.account_id,
                Event.category,
                Event.indicators,
                Event.details,
                Event.occurred_at,
                Event.aggregated_at,
            )
            .where(
                Event.aggregated_at.is_not(None),
                Event.account_id.is_not(None),
                Event.attribution_state == "attributed",
                Event.service == Service.EMAIL,
                Event.category.in_(categories),
            )
            .order_by(Event.aggregated_at, Event.id)
            .limit(PAGE)
        )
        if since is not None:
            statement = statement.where(Event.aggregated_at > since)
        if last is not None:
            statement = statement.where(
                or_(
                    Event.aggregated_at > last[0],
                    and_(Event.aggregated_at == last[0], Event.id > last[1]),
                )
            )
        rows = session.execute(statement).all()
        if not rows:
            break
        for row in rows:
            reason = _reason(row.category, row.details)
            if reason is None or row.account_id is None:
                continue
            for value in _hashes(row.indicators):
                if _add(
                    session,
                    account_id=row.account_id,
                    value=value,
                    reason=reason,
                    event_id=row.id,
                    action_id=None,
                    first_seen_at=row.occurred_at,
                    state=SuppressionState.PENDING,
                    pushed_at=None,
                ):
                    added[row.account_id] += 1
                    reasons.setdefault(row.account_id, Counter())[reason] += 1
        last = (rows[-1].aggregated_at, rows[-1].id)
        if newest is None or last[0] > newest:
            newest = last[0]
        if len(rows) < PAGE:
            break
    if newest is not None and newest != mark:
        _set_mark(session, newest, now)
    for account_id, count in sorted(added.items()):
        audit.record(
            session,
            actor=ACTOR,
            tag="suppression:collect",
            subject_type="account",
            subject_id=account_id,
            at=now,
            after={"added": count, "reasons": dict(sorted(reasons[account_id].items()))},
            reason=f"{count} address(es) to suppress from complaints and hard bounces",
        )
    return sum(added.values())


def _reason(category: str, details: Any) -> str | None:
    if category in COMPLAINT_CATEGORIES:
        return SuppressionReason.COMPLAINT
    hard = isinstance(details, dict) and details.get("bounce_class") == "hard"
    if category == Category.BOUNCE and hard:
        return SuppressionReason.HARD_BOUNCE
    return None


def _hashes(indicators: Any) -> list[str]:
    if not isinstance(indicators, dict):
        return []
    found: dict[str, None] = {}
    for key in HASH_KEYS:
        values = indicators.get(key) or ()
        for value in values if isinstance(values, list | tuple) else ():
            if isinstance(value, str):
                text = value.strip().lower()
                if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
                    found.setdefault(text, None)
    return list(found)


def _add(
    session: Session,
    *,
    account_id: int,
    value: str,
    reason: str,
    event_id: int | None,
    action_id: int | None,
    first_seen_at: datetime,
    state: str,
    pushed_at: datetime | None,
) -> bool:
    """Insert the row unless the account has the address already; tell whether it was new."""
    result = session.execute(
        insert_for(session, Suppression)
        .values(
            account_id=account_id,
            address_hash=value,
            reason=reason,
            event_id=event_id,
            action_id=action_id,
            first_seen_at=first_seen_at,
            state=state,
            attempts=0,
            pushed_at=pushed_at,
        )
        .on_conflict_do_nothing(index_elements=["account_id", "address_hash"])
        .returning(Suppression.id)
    )
    return result.scalar_one_or_none() is not None


def _mark(session: Session) -> datetime | None:
    return session.scalar(select(SweepMark.mark_at).where(SweepMark.name == MARK))


def _set_mark(session: Session, at: datetime, now: datetime) -> None:
    statement = insert_for(session, SweepMark).values(name=MARK, mark_at=at, updated_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"mark_at": at, "updated_at": now}
        )
    )


# --- by hand (resource actions) -----------------------------------------------------


def suppress_by_action(
    session: Session, account_id: int, value: str, *, action_id: int, now: datetime
) -> SuppressionRecord:
    """Put the address hash *value* on the account's list as done by action *action_id*.

    The action itself told the provider, so the row is recorded as pushed; an address
    already on the list (or lifted earlier) is marked pushed again under this action.
    """
    check_hash(value)
    if not _add(
        session,
        account_id=account_id,
        value=value,
        reason=SuppressionReason.MANUAL,
        event_id=None,
        action_id=action_id,
        first_seen_at=now,
        state=SuppressionState.PUSHED,
        pushed_at=now,
    ):
        session.execute(
            update(table_of(Suppression))
            .where(Suppression.account_id == account_id, Suppression.address_hash == value)
            .values(
                state=SuppressionState.PUSHED,
                action_id=action_id,
                pushed_at=now,
                dead_at=None,
                next_attempt_at=None,
                failure=None,
            )
        )
    return _record(session, account_id, value)


def lift_by_action(
    session: Session, account_id: int, value: str, *, action_id: int, now: datetime
) -> SuppressionRecord | None:
    """Take the address hash *value* off the account's list (state lifted); None if absent."""
    check_hash(value)
    session.execute(
        update(table_of(Suppression))
        .where(Suppression.account_id == account_id, Suppression.address_hash == value)
        .values(state=SuppressionState.LIFTED, action_id=action_id, next_attempt_at=None)
    )
    try:
        return _record(session, account_id, value)
    except NotFound:
        return None


def _record(session: Session, account_id: int, value: str) -> SuppressionRecord:
    row = session.execute(
        select(table_of(Suppression)).where(
            Suppression.account_id == account_id, Suppression.address_hash == value
        )
    ).first()
    if row is None:
        raise NotFound(f"account {account_id} has no suppression for that address")
    return SuppressionRecord(**row._asdict())


# --- pushing ------------------------------------------------------------------------


@dataclass(frozen=True)
class PushCall:
    """One batch claimed for its push: what the connector is called with, and its rows.

    ``push_key`` is the call's idempotency key; ``attempts`` is the number this attempt
    will have once it is recorded.
    """

    push_key: str
    account_id: int
    account_external_id: str
    entries: tuple[SuppressionEntry, ...]
    ids: tuple[int, ...]
    attempts: int


def due_pushes(session: Session, *, now: datetime, limit: int = 100) -> list[str]:
    """Return the keys of batches whose failed push is due again at *now*, longest waiting first."""
    return [
        str(key)
        for key in session.scalars(
            select(Suppression.push_key)
            .where(
                Suppression.state == SuppressionState.PENDING,
                Suppression.push_key.is_not(None),
                Suppression.next_attempt_at <= now,
            )
            .group_by(Suppression.push_key)
            .order_by(func.min(Suppression.next_attempt_at), Suppression.push_key)
            .limit(limit)
        )
        if key is not None
    ]


def claim_push(
    session: Session, push_key: str, *, now: datetime, lease_until: datetime
) -> PushCall | None:
    """Claim the batch *push_key* if its push is due at *now*; return its call, or None.

    The batch's next attempt moves to *lease_until*, so a second sweeper leaves it alone
    while this one calls the provider; if the call's outcome is never recorded (the
    process stopped), the batch is due again after the lease, under the same key.
    None when the batch is not due (another sweeper has it, or it was pushed meanwhile).
    """
    claimed = session.execute(
        update(table_of(Suppression))
        .where(
            Suppression.push_key == push_key,
            Suppression.state == SuppressionState.PENDING,
            Suppression.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease_until)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]  # CursorResult has rowcount
        return None
    return _call(session, push_key)


def form_batch(session: Session, *, batch_size: int, lease_until: datetime) -> PushCall | None:
    """Put up to *batch_size* unbatched pending addresses of one account in a new batch.

    Takes the account of the oldest unbatched address; the batch gets its key (the
    call's idempotency key, kept across retries) and is claimed until *lease_until*
    (see `claim_push`). Commit it before calling the provider, so that a retry reuses
    the key. None when nothing waits.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    account_id = session.scalar(
        select(Suppression.account_id)
        .where(Suppression.state == SuppressionState.PENDING, Suppression.push_key.is_(None))
        .order_by(Suppression.id)
        .limit(1)
    )
    if account_id is None:
        return None
    ids = list(
        session.scalars(
            select(Suppression.id)
            .where(
                Suppression.account_id == account_id,
                Suppression.state == SuppressionState.PENDING,
                Suppression.push_key.is_(None),
            )
            .order_by(Suppression.id)
            .limit(batch_size)
        )
    )
    # Rows join one batch only, ever; the random part keeps keys unique across databases.
    key = f"suppressions-{account_id}-{ids[0]}-{token_urlsafe(12)}"
    # A row a concurrent sweeper batched first stays in its batch (push_key no longer null).
    session.execute(
        update(table_of(Suppression))
        .where(Suppression.id.in_(ids), Suppression.push_key.is_(None))
        .values(push_key=key, next_attempt_at=lease_until)
    )
    return _call(session, key)


def _call(session: Session, key: str) -> PushCall | None:
    rows = session.execute(
        select(
            Suppression.id,
            Suppression.account_id,
            Suppression.address_hash,
            Suppression.reason,
            Suppression.first_seen_at,
            Suppression.attempts,
        )
        .where(Suppression.push_key == key, Suppression.state == SuppressionState.PENDING)
        .order_by(Suppression.id)
    ).all()
    if not rows:
        return None
    account_id = rows[0].account_id
    external_id = session.scalar(select(Account.external_id).where(Account.id == account_id))
    if external_id is None:
        raise NotFound(f"no account {account_id}")
    return PushCall(
        push_key=key,
        account_id=account_id,
        account_external_id=external_id,
        entries=tuple(SuppressionEntry(r.address_hash, r.reason, r.first_seen_at) for r in rows),
        ids=tuple(r.id for r in rows),
        attempts=max(r.attempts for r in rows) + 1,
    )


def push_done(session: Session, call: PushCall, *, now: datetime) -> PushOutcome:
    """Record that the provider took batch *call*: its rows are pushed; audited.

    A row an analyst's action lifted or pushed while the call was out keeps that state.
    """
    ids = _still_pending(session, call)
    _update(
        session,
        ids,
        state=SuppressionState.PUSHED,
        attempts=call.attempts,
        failure=None,
        next_attempt_at=None,
        dead_at=None,
        pushed_at=now,
    )
    _audit(
        session,
        call.push_key,
        "push",
        now=now,
        actor=ACTOR,
        after={
            "account_id": call.account_id,
            "addresses": len(ids),
            "attempts": call.attempts,
            # Rows an action lifted or pushed while the call was out: check them at the provider.
            "changed_during_push": len(call.ids) - len(ids),
        },
        reason=f"{len(ids)} address(es) pushed to the provider",
    )
    return PushOutcome(
        call.push_key,
        call.account_id,
        len(ids),
        SuppressionState.PUSHED,
        call.attempts,
        None,
        None,
    )


def push_failed(
    session: Session,
    call: PushCall,
    failure: str,
    *,
    now: datetime,
    retry: RetryPolicy,
    rng: random.Random | None = None,
) -> PushOutcome:
    """Record that the push of batch *call* failed with *failure*; audited.

    The batch keeps its rows and key and gets its next attempt from *retry*, or is
    dead-lettered when its attempts are used up.
    """
    ids = _still_pending(session, call)
    failed = failed_attempt(failure, attempts=call.attempts, retry=retry, now=now, rng=rng)
    state = SuppressionState.DEAD if failed.dead else SuppressionState.PENDING
    _update(session, ids, state=state, **failed.columns())
    later = failed.next_attempt_at
    _audit(
        session,
        call.push_key,
        failed.verb,
        now=now,
        actor=ACTOR,
        after={
            "account_id": call.account_id,
            "addresses": len(ids),
            "attempts": call.attempts,
            "next_attempt_at": None if later is None else later.isoformat(),
        },
        reason=f"attempt {call.attempts} failed: {failed.failure}",
    )
    return PushOutcome(
        call.push_key, call.account_id, len(ids), state, call.attempts, failed.failure, later
    )


def _still_pending(session: Session, call: PushCall) -> list[int]:
    return list(
        session.scalars(
            select(Suppression.id)
            .where(
                Suppression.id.in_(call.ids),
                Suppression.push_key == call.push_key,
                Suppression.state == SuppressionState.PENDING,
            )
            .order_by(Suppression.id)
            .with_for_update()
        )
    )


def _update(session: Session, ids: Sequence[int], **values: Any) -> None:
    session.execute(update(table_of(Suppression)).where(Suppression.id.in_(ids)).values(**values))


def _audit(
    session: Session,
    key: str,
    verb: str,
    *,
    now: datetime,
    actor: str,
    after: dict[str, Any],
    reason: str,
) -> None:
    audit.record(
        session,
        actor=actor,
        tag=f"suppression:{verb}",
        subject_type="suppression_push",
        subject_id=key,
        at=now,
        after=after,
        reason=reason,
    )


# --- dead letters -------------------------------------------------------------------


def dead_pushes(session: Session, *, limit: int = 200) -> list[DeadPush]:
    """Return the suppression batches the connector gave up on, newest first."""
    rows = session.execute(
        select(
            Suppression.push_key,
            Suppression.account_id,
            Account.external_id,
            Account.name,
            func.count(Suppression.id),
            func.max(Suppression.attempts),
            func.max(Suppression.failure),
            func.max(Suppression.dead_at),
        )
        .join(Account, Account.id == Suppression.account_id)
        .where(Suppression.state == SuppressionState.DEAD, Suppression.push_key.is_not(None))
        .group_by(Suppression.push_key, Suppression.account_id, Account.external_id, Account.name)
        .order_by(func.max(Suppression.dead_at).desc(), Suppression.push_key)
        .limit(limit)
    ).all()
    return [
        DeadPush(
            push_key=str(key),
            account_id=account_id,
            account_external_id=external_id,
            account_name=name,
            addresses=int(count),
            attempts=int(attempts),
            failure=failure,
            dead_at=dead_at,
        )
        for key, account_id, external_id, name, count, attempts, failure, dead_at in rows
        if dead_at is not None
    ]


def retry_dead_push(session: Session, push_key: str, *, actor: str, now: datetime) -> int:
    """Put a dead batch back in line, due now; return how many addresses it holds.

    The batch keeps its key and its attempt count: the next sweep makes one more
    attempt, and a failure then dead-letters it again.
    """
    ids = list(
        session.scalars(
            select(Suppression.id).where(
                Suppression.push_key == push_key, Suppression.state == SuppressionState.DEAD
            )
        )
    )
    if not ids:
        raise NotFound(f"no dead suppression push {push_key!r}")
    account_id = session.scalar(select(Suppression.account_id).where(Suppression.id == ids[0]))
    _update(session, ids, state=SuppressionState.PENDING, dead_at=None, next_attempt_at=now)
    _audit(
        session,
        push_key,
        "retry_dead",
        now=now,
        actor=actor,
        after={"account_id": account_id, "addresses": len(ids)},
        reason="dead suppression push put back in line",
    )
    return len(ids)


# --- reading ------------------------------------------------------------------------


def account_suppressions(
    session: Session, account_id: int, *, limit: int = 200
) -> list[SuppressionRecord]:
    """Return the account's suppressions, newest first."""
    rows = session.execute(
        select(table_of(Suppression))
        .where(Suppression.account_id == account_id)
        .order_by(Suppression.id.desc())
        .limit(limit)
    ).all()
    return [SuppressionRecord(**row._asdict()) for row in rows]


def suppression_counts(session: Session, account_id: int) -> dict[str, int]:
    """Return how many of the account's suppressions are in each state."""
    rows: Iterable[Any] = session.execute(
        select(Suppression.state, func.count(Suppression.id))
        .where(Suppression.account_id == account_id)
        .group_by(Suppression.state)
    ).all()
    counts = dict.fromkeys(SuppressionState.ALL, 0)
    counts.update({state: int(count) for state, count in rows})
    return counts
