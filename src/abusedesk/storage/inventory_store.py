"""Write the provider's inventory: idempotent upserts of import and API rows, and retention.

Rows are written a chunk at a time. For each chunk, the accounts, pools and resources its
rows name are resolved to internal ids with one query per kind, the rows already stored
under the chunk's natural keys are read with one query, and everything new or changed is
written with one ``INSERT ... ON CONFLICT DO UPDATE``. A row equal to what is stored is
not written at all and counts as unchanged, so importing the same file twice changes
nothing. A row naming an account, pool or resource that does not exist is rejected with
a row error; the other rows of its chunk are written.

Writing a resource rewrites its lookup keys (``resource_keys``) from
``attribution.keys.resource_keys``: the keys of the chunk's new and changed resources are
deleted and inserted again, so that a changed DKIM selector or Feedback-ID replaces the
old one.

Every write to accounts (their external ids), pools, resources, keys and IP allocations
bumps the inventory generation in the same transaction (database triggers, migration
0007), whoever writes: each process's in-memory copy of the inventory
(``storage.inventory_cache``) is read again after it. Rows that change nothing are not
written, so importing the same file twice leaves every copy as it is.

The caller owns the transaction.
"""

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, insert, or_, select
from sqlalchemy.orm import Session

from abusedesk.attribution.keys import resource_keys
from abusedesk.core.errors import NotFound
from abusedesk.inventory.model import (
    STAT_FIGURES,
    AccountRecord,
    AllocationRecord,
    NumberedRecord,
    PoolRecord,
    Record,
    ResourceRecord,
    RowError,
    SendingStatRecord,
    SendLogRecord,
    Table,
)
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.reputation import DAILY_FIGURES, HourChange, add_to_daily
from abusedesk.storage.tables import (
    Account,
    Base,
    IpAllocation,
    IpPool,
    Resource,
    ResourceKey,
    SendingStat,
    SendLogEntry,
    table_of,
)

CHUNK_SIZE = 1000
# Rows per statement at most: keeps every statement under SQLite's 32,766 bound values.
MAX_CHUNK_SIZE = 2500
# Bound on the values in one IN (...) list when resolving names to ids.
_LOOKUP_CHUNK = 500
# Send-log rows deleted per statement when pruning: short locks, bounded undo.
PRUNE_BATCH = 10_000


class RowResult:
    """What became of one row."""

    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"

    ALL = (INSERTED, UPDATED, UNCHANGED, REJECTED)


@dataclass
class UpsertOutcome:
    """What became of each row, by its line, and why the rejected ones were refused."""

    results: dict[int, str] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Return how many rows were inserted, updated, unchanged and rejected."""
        counted = Counter(self.results.values())
        return {result: counted[result] for result in RowResult.ALL}

    def reject(self, error: RowError) -> None:
        """Record a rejected row and why."""
        self.results[error.line] = RowResult.REJECTED
        self.errors.append(error)


def upsert_records(
    session: Session,
    table: str,
    rows: Sequence[NumberedRecord],
    *,
    chunk_size: int = CHUNK_SIZE,
) -> UpsertOutcome:
    """Insert or update *rows* of *table* by their natural keys; return each row's result.

    Rows are taken in order: when a key repeats, the later row is written after the
    earlier one, as if each had been sent on its own.
    """
    writer = _WRITERS[table]
    outcome = UpsertOutcome()
    for chunk in _chunks(rows, max(1, min(chunk_size, MAX_CHUNK_SIZE))):
        writer(session, chunk, outcome)
    return outcome


def _chunks(rows: Sequence[NumberedRecord], size: int) -> Iterator[list[NumberedRecord]]:
    """Yield chunks of at most *size* rows in which no natural key repeats."""
    chunk: list[NumberedRecord] = []
    keys: set[object] = set()
    for row in rows:
        key = row.record.key
        if len(chunk) >= size or key in keys:
            yield chunk
            chunk, keys = [], set()
        chunk.append(row)
        keys.add(key)
    if chunk:
        yield chunk


_R = TypeVar("_R")

# --- resolving names to ids ----------------------------------------------------------


def _in_chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        yield ordered[start : start + _LOOKUP_CHUNK]


def _account_ids(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _in_chunks(external_ids):
        rows = session.execute(
            select(Account.external_id, Account.id).where(Account.external_id.in_(chunk))
        )
        found.update(dict(rows.all()))
    return found


def _pool_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _in_chunks(names):
        rows = session.execute(select(IpPool.name, IpPool.id).where(IpPool.name.in_(chunk)))
        found.update(dict(rows.all()))
    return found


ResourceName = tuple[int, str, str]


def _resource_ids(session: Session, names: Iterable[ResourceName]) -> dict[ResourceName, int]:
    wanted = set(names)
    found: dict[ResourceName, int] = {}
    if not wanted:
        return found
    statement = select(Resource.account_id, Resource.kind, Resource.value, Resource.id).where(
        Resource.account_id.in_(bindparam("accounts", expanding=True)),
        Resource.value.in_(bindparam("values", expanding=True)),
    )
    for values in _in_chunks(value for _, _, value in wanted):
        chosen = set(values)
        accounts = sorted({account for account, _, value in wanted if value in chosen})
        for account_id, kind, value, resource_id in session.execute(
            statement, {"accounts": accounts, "values": values}
        ):
            if (account_id, kind, value) in wanted:
                found[(account_id, kind, value)] = resource_id
    return found


# --- the generic write ---------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """How one table is written: its natural key columns and the columns a row sets."""

    model: type[Base]
    key: tuple[str, ...]
    columns: tuple[str, ...]
    # Columns set on insert only, never by an update (abusedesk's own state).
    insert_only: Mapping[str, Any] = field(default_factory=dict)


Prepared = list[tuple[int, dict[str, Any]]]


def _write(
    session: Session,
    spec: _Spec,
    prepared: Prepared,
    outcome: UpsertOutcome,
    *,
    stored: Mapping[tuple[Any, ...], tuple[int, dict[str, Any]]] | None = None,
) -> dict[tuple[Any, ...], int]:
    """Write *prepared* rows (line, column values); return the ids of every row by key.

    *stored* is what ``_stored`` read for these rows, when the caller has it already.
    """
    if stored is None:
        stored = _stored(session, spec, [values for _, values in prepared])
    ids = {key: row_id for key, (row_id, _) in stored.items()}
    changed: list[dict[str, Any]] = []
    for line, values in prepared:
        key = tuple(values[c] for c in spec.key)
        current = stored.get(key)
        if current is not None and all(current[1][c] == values[c] for c in spec.columns):
            outcome.results[line] = RowResult.UNCHANGED
            continue
        outcome.results[line] = RowResult.INSERTED if current is None else RowResult.UPDATED
        changed.append({**spec.insert_only, **values})
    if changed:
        # One statement run as executemany: SQLAlchemy batches it into multi-row inserts
        # without compiling a bound parameter per value.
        returned = session.execute(_upsert(session, spec), changed)
        ids.update({tuple(row[1:]): row[0] for row in returned})
    return ids


def _upsert(session: Session, spec: _Spec) -> Any:
    """Return the upsert of *spec*'s table on its natural key, built once per dialect."""
    cache_key = (session.get_bind().dialect.name, spec.model)
    if cache_key not in _UPSERTS:
        table = table_of(spec.model)
        statement = insert_for(session, spec.model)
        _UPSERTS[cache_key] = statement.on_conflict_do_update(
            index_elements=list(spec.key),
            set_={c: statement.excluded[c] for c in spec.columns if c not in spec.key},
        ).returning(table.c.id, *_cols(table, spec.key))
    return _UPSERTS[cache_key]


_UPSERTS: dict[tuple[str, type[Base]], Any] = {}


def _cols(table: Any, names: Sequence[str]) -> list[Any]:
    return [table.c[name] for name in names]


def _stored(
    session: Session, spec: _Spec, rows: Sequence[Mapping[str, Any]]
) -> dict[tuple[Any, ...], tuple[int, dict[str, Any]]]:
    """Return the stored rows under the keys of *rows*: key -> (id, column values)."""
    if not rows:
        return {}
    table = table_of(spec.model)
    wanted = {tuple(row[c] for c in spec.key) for row in rows}
    # Each key column filtered by its values finds a superset; the exact keys pick from it.
    statement = select(table.c.id, *_cols(table, spec.columns)).where(
        *[table.c[c].in_(sorted({row[c] for row in rows}, key=str)) for c in spec.key]
    )
    found: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    for row in session.execute(statement).mappings():
        values = {c: row[c] for c in spec.columns}
        key = tuple(values[c] for c in spec.key)
        if key in wanted:
            found[key] = (row["id"], values)
    return found


# --- the tables ----------------------------------------------------------------------

_ACCOUNTS = _Spec(
    Account,
    key=("external_id",),
    columns=(
        "external_id",
        "name",
        "contact_email",
        "country",
        "size_tier",
        "payment_fingerprint",
        "created_at",
        "attributes",
    ),
    insert_only={"standing": "healthy"},
)
_POOLS = _Spec(IpPool, key=("name",), columns=("name", "kind", "account_id"))
_RESOURCES = _Spec(
    Resource,
    key=("account_id", "kind", "value"),
    columns=("account_id", "kind", "value", "attributes", "created_at", "deleted_at"),
)
_ALLOCATIONS = _Spec(
    IpAllocation,
    key=("ip", "valid_from"),
    columns=("ip", "valid_from", "valid_to", "pool_id", "account_id"),
)
_SEND_LOG = _Spec(
    SendLogEntry,
    key=("provider_message_id",),
    columns=(
        "provider_message_id",
        "message_id_header",
        "account_id",
        "resource_id",
        "configuration_set",
        "source_ip",
        "mail_from",
        "recipient_domain",
        "recipient_hash",
        "sent_at",
    ),
)
_STATS = _Spec(
    SendingStat,
    key=("account_id", "resource_key", "hour", "destination_group"),
    columns=("account_id", "resource_key", "hour", "destination_group", *STAT_FIGURES),
)


def _unknown(line: int, name: str, what: str, value: str) -> RowError:
    return RowError(line, name, f"no {what} {value!r} in the inventory")


def _write_accounts(session: Session, chunk: list[NumberedRecord], outcome: UpsertOutcome) -> None:
    prepared: Prepared = []
    for row in chunk:
        record = _as(AccountRecord, row.record)
        prepared.append(
            (
                row.line,
                {
                    "external_id": record.external_id,
                    "name": record.name,
                    "contact_email": record.contact_email,
                    "country": record.country,
                    "size_tier": record.size_tier,
                    "payment_fingerprint": record.payment_fingerprint,
                    "created_at": record.created_at,
                    "attributes": dict(record.attributes),
                },
            )
        )
    _write(session, _ACCOUNTS, prepared, outcome)


def _write_pools(session: Session, chunk: list[NumberedRecord], outcome: UpsertOutcome) -> None:
    records = [(row.line, _as(PoolRecord, row.record)) for row in chunk]
    accounts = _account_ids(session, [r.account for _, r in records if r.account])
    prepared: Prepared = []
    for line, record in records:
        account_id = None
        if record.account is not None:
            account_id = accounts.get(record.account)
            if account_id is None:
                outcome.reject(_unknown(line, "account", "account", record.account))
                continue
        prepared.append(
            (line, {"name": record.name, "kind": record.kind, "account_id": account_id})
        )
    _write(session, _POOLS, prepared, outcome)


def _write_resources(session: Session, chunk: list[NumberedRecord], outcome: UpsertOutcome) -> None:
    records = [(row.line, _as(ResourceRecord, row.record)) for row in chunk]
    accounts = _account_ids(session, [r.account for _, r in records])
    prepared: Prepared = []
    for line, record in records:
        account_id = accounts.get(record.account)
        if account_id is None:
            outcome.reject(_unknown(line, "account", "account", record.account))
            continue
        prepared.append(
            (
                line,
                {
                    "account_id": account_id,
                    "kind": record.kind,
                    "value": record.value,
                    "attributes": dict(record.attributes),
                    "created_at": record.created_at,
                    "deleted_at": record.deleted_at,
                },
            )
        )
    ids = _write(session, _RESOURCES, prepared, outcome)
    # An unchanged resource keeps its keys: rewriting them would change nothing but the
    # inventory generation, and make every process read its inventory copy again.
    changed = [values for line, values in prepared if outcome.results[line] != RowResult.UNCHANGED]
    _rewrite_keys(session, changed, ids)


def _rewrite_keys(
    session: Session, resources: Sequence[Mapping[str, Any]], ids: Mapping[tuple[Any, ...], int]
) -> None:
    """Replace the lookup keys of *resources* with those their kind, value and attributes give."""
    keys: list[dict[str, Any]] = []
    resource_ids: list[int] = []
    for values in resources:
        resource_id = ids[(values["account_id"], values["kind"], values["value"])]
        resource_ids.append(resource_id)
        keys += [
            {
                "resource_id": resource_id,
                "account_id": values["account_id"],
                "kind": key_kind,
                "value": key_value,
            }
            for key_kind, key_value in resource_keys(
                values["kind"], values["value"], values["attributes"]
            )
        ]
    if not resource_ids:
        return
    table = table_of(ResourceKey)
    session.execute(delete(table).where(table.c.resource_id.in_(resource_ids)))
    if keys:
        session.execute(insert(table), keys)


def _write_allocations(
    session: Session, chunk: list[NumberedRecord], outcome: UpsertOutcome
) -> None:
    records = [(row.line, _as(AllocationRecord, row.record)) for row in chunk]
    accounts = _account_ids(session, [r.account for _, r in records if r.account])
    pools = _pool_ids(session, [r.pool for _, r in records if r.pool])
    prepared: Prepared = []
    for line, record in records:
        if record.pool is not None and record.pool not in pools:
            outcome.reject(_unknown(line, "pool", "IP pool", record.pool))
            continue
        if record.account is not None and record.account not in accounts:
            outcome.reject(_unknown(line, "account", "account", record.account))
            continue
        prepared.append(
            (
                line,
                {
                    "ip": record.ip,
                    "valid_from": record.valid_from,
                    "valid_to": record.valid_to,
                    "pool_id": pools[record.pool] if record.pool else None,
                    "account_id": accounts[record.account] if record.account else None,
                },
            )
        )
    _write(session, _ALLOCATIONS, prepared, outcome)


def _referenced_resources(
    session: Session,
    records: Sequence[tuple[int, SendLogRecord | SendingStatRecord]],
    accounts: Mapping[str, int],
) -> dict[ResourceName, int]:
    return _resource_ids(
        session,
        [
            (accounts[r.account], r.resource.kind, r.resource.value)
            for _, r in records
            if r.resource is not None and r.account in accounts
        ],
    )


def _resolve_resource(
    line: int,
    record: SendLogRecord | SendingStatRecord,
    account_id: int,
    resources: Mapping[ResourceName, int],
    outcome: UpsertOutcome,
) -> tuple[bool, int | None]:
    """Return (found, resource id) for the row's resource; a missing one rejects the row."""
    if record.resource is None:
        return True, None
    resource_id = resources.get((account_id, record.resource.kind, record.resource.value))
    if resource_id is None:
        outcome.reject(
            RowError(
                line,
                "resource_value",
                f"account {record.account!r} has no {record.resource.kind} "
                f"{record.resource.value!r}",
            )
        )
        return False, None
    return True, resource_id


_Sent = TypeVar("_Sent", SendLogRecord, SendingStatRecord)


def _resolved(
    session: Session, records: list[tuple[int, _Sent]], outcome: UpsertOutcome
) -> Iterator[tuple[int, _Sent, int, int | None]]:
    """Yield (line, record, account id, resource id) for rows whose references exist."""
    accounts = _account_ids(session, [r.account for _, r in records])
    resources = _referenced_resources(session, records, accounts)
    for line, record in records:
        account_id = accounts.get(record.account)
        if account_id is None:
            outcome.reject(_unknown(line, "account", "account", record.account))
            continue
        found, resource_id = _resolve_resource(line, record, account_id, resources, outcome)
        if found:
            yield line, record, account_id, resource_id


def _write_send_log(session: Session, chunk: list[NumberedRecord], outcome: UpsertOutcome) -> None:
    records = [(row.line, _as(SendLogRecord, row.record)) for row in chunk]
    prepared: Prepared = [
        (
            line,
            {
                "provider_message_id": record.provider_message_id,
                "message_id_header": record.message_id_header,
                "account_id": account_id,
                "resource_id": resource_id,
                "configuration_set": record.configuration_set,
                "source_ip": record.source_ip,
                "mail_from": record.mail_from,
                "recipient_domain": record.recipient_domain,
                "recipient_hash": record.recipient_hash,
                "sent_at": record.sent_at,
            },
        )
        for line, record, account_id, resource_id in _resolved(session, records, outcome)
    ]
    _write(session, _SEND_LOG, prepared, outcome)


def _write_stats(session: Session, chunk: list[NumberedRecord], outcome: UpsertOutcome) -> None:
    records = [(row.line, _as(SendingStatRecord, row.record)) for row in chunk]
    pools = _pool_ids(session, [r.pool for _, r in records if r.pool])
    prepared: Prepared = []
    for line, record, account_id, resource_id in _resolved(session, records, outcome):
        if record.resource is not None:
            part = f"{record.resource.kind}:{resource_id}"
        elif record.pool is not None:
            if record.pool not in pools:
                outcome.reject(_unknown(line, "pool", "IP pool", record.pool))
                continue
            part = f"pool:{pools[record.pool]}"
        elif record.feedback_id is not None:
            part = f"feedback_id:{record.feedback_id}"
        else:
            part = ""
        values = {
            "account_id": account_id,
            "resource_key": part,
            "hour": record.hour,
            "destination_group": record.destination_group,
            **{name: getattr(record, name) for name in STAT_FIGURES},
        }
        prepared.append((line, values))
    stored = _stored(session, _STATS, [values for _, values in prepared])
    _write(session, _STATS, prepared, outcome, stored=stored)
    # The daily sums the rates read take what each row added (or took away) in this write.
    changes: dict[tuple[Any, ...], HourChange] = {}
    for _, values in prepared:
        key = tuple(values[c] for c in _STATS.key)
        before = stored.get(key)
        old = before[1] if before is not None else None
        change = HourChange(
            account_id=values["account_id"],
            resource_key=values["resource_key"],
            hour=values["hour"],
            destination_group=values["destination_group"],
            figures=_difference(values, old),
        )
        # A key repeated within a chunk cannot happen (chunks split on repeats); the last
        # write of a key is what the table holds.
        changes[key] = change
        stored[key] = (0, values)
    add_to_daily(session, list(changes.values()))


def _difference(
    new: Mapping[str, Any], old: Mapping[str, Any] | None
) -> tuple[int, int, int, int, int]:
    """Return the daily figures *new* adds over *old* (None: the row is new)."""
    a, b, c, d, e = (
        int(new[name]) - (0 if old is None else int(old[name])) for name in DAILY_FIGURES
    )
    return (a, b, c, d, e)


def _as(kind: type[_R], record: Record) -> _R:
    if not isinstance(record, kind):
        raise TypeError(f"expected a {kind.__name__}, got a {type(record).__name__}")
    return record


_WRITERS: dict[str, Callable[[Session, list[NumberedRecord], UpsertOutcome], None]] = {
    Table.ACCOUNTS: _write_accounts,
    Table.IP_POOLS: _write_pools,
    Table.RESOURCES: _write_resources,
    Table.IP_ALLOCATIONS: _write_allocations,
    Table.SEND_LOG: _write_send_log,
    Table.SENDING_STATS: _write_stats,
}


# --- reading one account back --------------------------------------------------------


@dataclass(frozen=True)
class AccountInventory:
    """One account as the inventory holds it: its row, resources, pools and IPs."""

    account_id: int
    account: AccountRecord
    standing: str
    resources: tuple[ResourceRecord, ...]
    pools: tuple[PoolRecord, ...]
    allocations: tuple[AllocationRecord, ...]


class AccountNotFound(NotFound):
    """Raise when no account has the external id asked for."""


def account_inventory(session: Session, external_id: str) -> AccountInventory:
    """Return an account with its resources, dedicated pools and IP allocations."""
    account = session.execute(select(Account).where(Account.external_id == external_id)).scalar()
    if account is None:
        raise AccountNotFound(f"no account {external_id!r} in the inventory")
    record = AccountRecord(
        external_id=account.external_id,
        name=account.name,
        created_at=account.created_at,
        contact_email=account.contact_email,
        country=account.country,
        size_tier=account.size_tier,
        payment_fingerprint=account.payment_fingerprint,
        attributes=dict(account.attributes),
    )
    resources = tuple(
        ResourceRecord(external_id, r.kind, r.value, r.created_at, r.deleted_at, dict(r.attributes))
        for r in session.scalars(
            select(Resource)
            .where(Resource.account_id == account.id)
            .order_by(Resource.kind, Resource.value, Resource.id)
        )
    )
    pools = session.scalars(
        select(IpPool).where(IpPool.account_id == account.id).order_by(IpPool.name)
    ).all()
    pool_ids = [p.id for p in pools]
    allocations = tuple(
        AllocationRecord(
            ip,
            valid_from,
            valid_to,
            pool_name,
            external_id if holder == account.id else None,
        )
        for ip, valid_from, valid_to, pool_name, holder in session.execute(
            select(
                IpAllocation.ip,
                IpAllocation.valid_from,
                IpAllocation.valid_to,
                IpPool.name,
                IpAllocation.account_id,
            )
            .outerjoin(IpPool, IpPool.id == IpAllocation.pool_id)
            .where(
                or_(
                    IpAllocation.account_id == account.id,
                    IpAllocation.pool_id.in_(pool_ids),
                )
            )
            .order_by(IpAllocation.ip, IpAllocation.valid_from)
        )
    )
    return AccountInventory(
        account_id=account.id,
        account=record,
        standing=account.standing,
        resources=resources,
        pools=tuple(PoolRecord(p.name, p.kind, external_id) for p in pools),
        allocations=allocations,
    )


# --- send-log retention --------------------------------------------------------------


def retention_cutoff(retention_days: int, now: datetime) -> datetime | None:
    """Return the time before which send-log rows expire, or None to keep them for ever."""
    if retention_days <= 0:
        return None
    return now - timedelta(days=retention_days)


def prune_send_log(
    session: Session,
    older_than: datetime,
    *,
    batch_size: int = PRUNE_BATCH,
    max_batches: int | None = None,
) -> int:
    """Delete send-log rows sent before *older_than*, a batch per statement; return how many.

    With *max_batches*, stop after that many batches (the rest waits for the next call),
    so that a caller can commit between batches and never hold a lock for long.
    """
    table = table_of(SendLogEntry)
    deleted = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        expired = select(table.c.id).where(table.c.sent_at < older_than).limit(batch_size)
        result = session.execute(delete(table).where(table.c.id.in_(expired)))
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult has rowcount
        deleted += count
        batches += 1
        if count < batch_size:
            break
    return deleted
