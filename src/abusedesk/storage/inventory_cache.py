"""An in-process copy of the inventory's slow-changing part, for attribution.

Attribution asks, per batch of events, for resource keys, pool memberships, IP
allocation intervals and the names of accounts and resources. Those change seldom
compared with how often they are read, so each process keeps a copy in memory and asks
the database only for the send log (which grows by the million and is never copied).

The copy is tagged with the inventory generation it was read at (one row that triggers
bump with every inventory write, in the writing transaction; migration 0007). Every
batch reads the generation first, in its own transaction: when it equals the copy's, the
copy answers; when it differs, the copy is read again, at most once per
``min_reload_seconds`` (meanwhile the batch asks SQL for everything, as without a copy),
so a steady change feed costs a reload now and then instead of one per batch.

The copy is read on a connection of its own, in one snapshot (a read transaction on
SQLite, REPEATABLE READ on PostgreSQL) that starts by reading the generation: it holds
committed rows only, all of one moment, tagged with that moment's generation. A batch
uses it only when the generation its own transaction sees is the same, so it is never
answered from an inventory other than the one its transaction sees (its own uncommitted
writes included: they bump the generation it sees).
"""

import gc
import threading
import time
from array import array
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from abusedesk.attribution.keys import KeyKind, ResourceKind
from abusedesk.attribution.model import IpInterval, KeyHolding, SendProbe, SentMessage
from abusedesk.attribution.ports import InventoryLookup
from abusedesk.core.clock import as_utc
from abusedesk.storage.db import READ_ONLY
from abusedesk.storage.inventory import SqlInventoryLookup
from abusedesk.storage.tables import (
    Account,
    InventoryGeneration,
    IpAllocation,
    IpPool,
    Resource,
    ResourceKey,
)

# How long after a reload a changed inventory is answered by SQL before the copy is
# read again (seconds).
DEFAULT_MIN_RELOAD_SECONDS = 120.0

# A type without a result processor: the driver's value as it comes.
_RAW = NullType()
_GENERATION = select(InventoryGeneration.generation).where(InventoryGeneration.id == 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Rows read per fetch while loading: the copy is built as the rows stream in.
_LOAD_CHUNK = 20_000
_STREAM = {"yield_per": _LOAD_CHUNK}
_SHARED = "shared"


@dataclass(frozen=True)
class CacheFigures:
    """What the copy holds and what reading it cost."""

    generation: int | None
    accounts: int
    resources: int
    keys: int
    ips: int
    intervals: int
    load_seconds: float


class InventorySnapshot:
    """The inventory at one generation, held compactly: dicts of strings, arrays of numbers."""

    def __init__(self, connection: Connection, generation: int | None) -> None:
        """Read the copy on *connection*, in the snapshot in which it read *generation*."""
        started = time.perf_counter()
        self.generation = generation
        # Core rows, streamed, times converted once per distinct value: the copy is read
        # by the million rows.
        time_of = _time_reader()
        self.external_ids: dict[int, str] = {}
        self.account_ids: dict[str, int] = {}
        accounts = select(Account.id, Account.external_id)
        for account_id, external_id in connection.execute(accounts, execution_options=_STREAM):
            self.external_ids[account_id] = external_id
            self.account_ids[external_id] = account_id
        # Resources by id: lists indexed by id (ids are serial, so nearly dense).
        size = (connection.execute(select(func.max(Resource.id))).scalar() or 0) + 1
        self._resource_account = array("q", bytes(8 * size))
        self._resource_kind: list[str | None] = [None] * size
        self._resource_value: list[str | None] = [None] * size
        self._resource_from: list[datetime | None] = [None] * size
        self._resource_to: list[datetime | None] = [None] * size
        # One string per resource kind, not one per row.
        shared: dict[Any, Any] = {}
        # Account -> its ip_pool resources (its pool memberships).
        memberships: dict[int, list[int]] = {}
        count = 0
        rows = connection.execute(
            select(
                Resource.id,
                Resource.account_id,
                Resource.kind,
                Resource.value,
                _raw(Resource.created_at),
                _raw(Resource.deleted_at),
            ).where(Resource.id < size),
            execution_options=_STREAM,
        )
        for rid, account_id, kind, value, created_at, deleted_at in rows:
            self._resource_account[rid] = account_id
            self._resource_kind[rid] = shared.setdefault(kind, kind)
            self._resource_value[rid] = value
            self._resource_from[rid] = time_of(created_at)
            self._resource_to[rid] = None if deleted_at is None else time_of(deleted_at)
            if kind == ResourceKind.IP_POOL:
                memberships.setdefault(account_id, []).append(rid)
            count += 1
        self._resource_count = count
        self._memberships = {account: tuple(rids) for account, rids in memberships.items()}
        # Key kind -> key value -> resource id, or a tuple of ids when several share it
        # (a shared pool's name names every member's membership).
        self._keys: dict[str, dict[str, int | tuple[int, ...]]] = {}
        several: dict[tuple[str, str], list[int]] = {}
        keys = 0
        for kind, value, rid in connection.execute(
            select(ResourceKey.kind, ResourceKey.value, ResourceKey.resource_id).order_by(
                ResourceKey.id
            ),
            execution_options=_STREAM,
        ):
            by_value = self._keys.setdefault(shared.setdefault(kind, kind), {})
            # Every value is one id while loading; tuples come after the loop.
            held = cast(int, by_value.setdefault(value, rid))
            if held != rid:
                several.setdefault((kind, value), [held]).append(rid)
            keys += 1
        for (kind, value), rids in several.items():
            self._keys[kind][value] = tuple(rids)
        self._keys_count = keys
        self._load_intervals(connection, time_of)
        self.load_seconds = time.perf_counter() - started

    def _load_intervals(self, connection: Connection, time_of: Callable[[Any], datetime]) -> None:
        """Read every allocation interval, grouped by IP in time order, into flat arrays."""
        pools: dict[int, tuple[str, bool]] = {
            pool_id: (name, kind == _SHARED)
            for pool_id, name, kind in connection.execute(
                select(IpPool.id, IpPool.name, IpPool.kind)
            )
        }
        self._pool_names: list[str | None] = [None]
        self._pool_shared: list[bool] = [False]
        pool_index: dict[int, int] = {}
        for pool_id, (name, is_shared) in pools.items():
            pool_index[pool_id] = len(self._pool_names)
            self._pool_names.append(name)
            self._pool_shared.append(is_shared)
        # IP -> (first position, count) packed in one int: start * 2**24 + count.
        self._ips: dict[str, int] = {}
        # Times as datetimes, equal ones shared: turning numbers back into datetimes cost
        # more per event than the lists cost in memory.
        self._from: list[datetime] = []
        self._to: list[datetime | None] = []
        self._account = array("q")
        self._pool = array("l")
        rows = connection.execute(
            select(
                IpAllocation.ip,
                IpAllocation.account_id,
                IpAllocation.pool_id,
                _raw(IpAllocation.valid_from),
                _raw(IpAllocation.valid_to),
            ).order_by(IpAllocation.ip, IpAllocation.valid_from, IpAllocation.id),
            execution_options=_STREAM,
        )
        ip_before: str | None = None
        start = 0
        for position, (ip, holder, pool_ref, valid_from, valid_to) in enumerate(rows):
            if ip != ip_before:
                if ip_before is not None:
                    self._ips[ip_before] = (start << 24) | (position - start)
                ip_before, start = ip, position
            self._from.append(time_of(valid_from))
            self._to.append(None if valid_to is None else time_of(valid_to))
            self._account.append(holder or 0)
            self._pool.append(0 if pool_ref is None else pool_index.get(pool_ref, 0))
        if ip_before is not None:
            self._ips[ip_before] = (start << 24) | (len(self._from) - start)

    @property
    def figures(self) -> CacheFigures:
        """Return what the copy holds and how long reading it took."""
        return CacheFigures(
            self.generation,
            len(self.external_ids),
            self._resource_count,
            self._keys_count,
            len(self._ips),
            len(self._from),
            self.load_seconds,
        )

    def _holding(self, kind: str, value: str, rid: int) -> KeyHolding:
        return KeyHolding(
            kind,
            value,
            self._resource_account[rid],
            rid,
            self._resource_kind[rid] or "",
            self._resource_value[rid] or "",
            self._resource_from[rid] or _EPOCH,
            self._resource_to[rid],
        )

    def key_holdings(self, keys: Collection[tuple[str, str]]) -> list[KeyHolding]:
        """Return the resources named by any of these ``(key kind, value)`` pairs."""
        found: list[KeyHolding] = []
        for kind, value in keys:
            held = self._keys.get(kind, {}).get(value)
            if held is None:
                continue
            rids = held if isinstance(held, tuple) else (held,)
            found.extend(self._holding(kind, value, rid) for rid in rids)
        return found

    def pool_memberships(
        self, pools: Collection[str], accounts: Collection[int]
    ) -> list[KeyHolding]:
        """Return the memberships (``ip_pool`` resources) of these accounts in these pools."""
        wanted = set(pools)
        values = self._resource_value
        return [
            self._holding(KeyKind.IP_POOL, pool, rid)
            for account in set(accounts)
            for rid in self._memberships.get(account, ())
            if (pool := values[rid]) in wanted
        ]

    def ip_intervals(self, ips: Collection[str]) -> list[IpInterval]:
        """Return every allocation interval of these IPs, each IP's in time order."""
        found: list[IpInterval] = []
        for ip in set(ips):
            packed = self._ips.get(ip)
            if packed is None:
                continue
            start = packed >> 24
            for n in range(start, start + (packed & 0xFFFFFF)):
                pool = self._pool[n]
                found.append(
                    IpInterval(
                        ip,
                        self._account[n] or None,
                        self._pool_names[pool],
                        self._pool_shared[pool],
                        self._from[n],
                        self._to[n],
                    )
                )
        return found

    def names(
        self, account_ids: Collection[int], resource_ids: Collection[int]
    ) -> tuple[Mapping[int, str], Mapping[int, tuple[str, str]]]:
        """Return the accounts' external ids and the resources' (kind, value)."""
        external = self.external_ids
        accounts = {a: external[a] for a in account_ids if a in external}
        resources: dict[int, tuple[str, str]] = {}
        for rid in resource_ids:
            if 0 <= rid < len(self._resource_kind):
                kind, value = self._resource_kind[rid], self._resource_value[rid]
                if kind is not None and value is not None:
                    resources[rid] = (kind, value)
        return accounts, resources


def _raw(column: Any) -> Any:
    """Return *column* read as the driver gives it (SQLite: text), for ``_time_reader``."""
    return type_coerce(column, _RAW)


def _time_reader() -> Callable[[Any], datetime]:
    """Return a converter of raw time values to UTC datetimes, as ``UtcDateTime`` reads them.

    Each distinct value is converted once and its datetime shared by every row with it.
    """
    seen: dict[Any, datetime] = {}

    def time_of(raw: Any) -> datetime:
        found = seen.get(raw)
        if found is None:
            found = seen[raw] = as_utc(datetime.fromisoformat(raw) if isinstance(raw, str) else raw)
        return found

    return time_of


class CachedInventoryLookup:
    """Answer attribution's questions from a snapshot, and the send log's from SQL."""

    def __init__(self, sql: SqlInventoryLookup, snapshot: InventorySnapshot) -> None:
        """Use *snapshot* for the inventory and *sql* (the batch's session) for the send log."""
        self.sql = sql
        self.snapshot = snapshot

    def sent_messages(
        self, *, provider_message_ids: Collection[str], message_ids: Collection[str]
    ) -> list[SentMessage]:
        """Return the send-log entries with any of these provider message ids or Message-IDs."""
        return self.sql.sent_messages(
            provider_message_ids=provider_message_ids, message_ids=message_ids
        )

    def key_holdings(self, keys: Collection[tuple[str, str]]) -> list[KeyHolding]:
        """Return the resources named by any of these ``(key kind, value)`` pairs."""
        return self.snapshot.key_holdings(keys)

    def pool_memberships(
        self, pools: Collection[str], accounts: Collection[int]
    ) -> list[KeyHolding]:
        """Return the memberships (``ip_pool`` resources) of these accounts in these pools."""
        return self.snapshot.pool_memberships(pools, accounts)

    def ip_intervals(self, ips: Collection[str]) -> list[IpInterval]:
        """Return every allocation interval of these IPs."""
        return self.snapshot.ip_intervals(ips)

    def account_ids(self, external_ids: Collection[str]) -> Mapping[str, int]:
        """Return the internal ids of the accounts with these external ids."""
        known = self.snapshot.account_ids
        return {e: known[e] for e in external_ids if e in known}

    def senders(self, probes: Collection[SendProbe]) -> Mapping[SendProbe, list[SentMessage]]:
        """Return, per probe, the latest send-log entries to its recipient within its window."""
        return self.sql.senders(probes)

    def names(
        self, account_ids: Collection[int], resource_ids: Collection[int]
    ) -> tuple[Mapping[int, str], Mapping[int, tuple[str, str]]]:
        """Return the accounts' external ids and the resources' (kind, value), for sentences."""
        return self.snapshot.names(account_ids, resource_ids)


class InventoryCache:
    """One process's copy of the inventory, shared by its threads, reloaded when it changes."""

    def __init__(
        self,
        *,
        min_reload_seconds: float = DEFAULT_MIN_RELOAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Reload a changed copy at most once per *min_reload_seconds* of *clock*."""
        self.min_reload_seconds = min_reload_seconds
        self._clock = clock
        self._snapshot: InventorySnapshot | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        self.loads = 0

    @property
    def figures(self) -> CacheFigures | None:
        """Return what the current copy holds, or None before the first load."""
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.figures

    def lookup(self, session: Session) -> InventoryLookup:
        """Return the lookup for one batch in *session*: the copy when it is current, else SQL."""
        sql = SqlInventoryLookup(session)
        generation = inventory_generation(session)
        snapshot = self._snapshot
        if snapshot is None or snapshot.generation != generation:
            snapshot = self._reload(session, generation)
        return sql if snapshot is None else CachedInventoryLookup(sql, snapshot)

    def _reload(self, session: Session, generation: int | None) -> InventorySnapshot | None:
        # One thread reads the copy; the others answer from SQL meanwhile, never wait.
        if not self._lock.acquire(blocking=False):
            return None
        try:
            current = self._snapshot
            if current is not None and current.generation == generation:
                return current  # another thread read it meanwhile
            now = self._clock()
            if current is not None and now - self._loaded_at < self.min_reload_seconds:
                return None
            # The old copy goes before the new one is read: never two in memory at once.
            self._snapshot = None
            snapshot = read_snapshot(session.get_bind())
            self._snapshot, self._loaded_at = snapshot, now
            self.loads += 1
            # Millions of long-lived objects would make every full collection walk them
            # all: move everything alive now out of the collector's sight. The copy holds
            # no reference cycles, so dropping it later frees it all the same.
            gc.collect()
            gc.freeze()
            # Read after the batch's transaction began, the copy may be newer than what
            # the batch sees: then the batch asks SQL, and the next batches use the copy.
            return snapshot if snapshot.generation == generation else None
        finally:
            self._lock.release()


def read_snapshot(bind: Engine | Connection) -> InventorySnapshot:
    """Read the inventory's copy on a connection of its own, in one snapshot."""
    engine = bind if isinstance(bind, Engine) else bind.engine
    with engine.connect() as connection:
        options: dict[str, Any] = {READ_ONLY: True}
        if connection.dialect.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        connection.execution_options(**options)
        with connection.begin():
            generation = connection.execute(_GENERATION).scalar()
            return InventorySnapshot(connection, generation)


def inventory_generation(session: Session) -> int | None:
    """Return the inventory generation *session* sees (None when its row is missing)."""
    return session.execute(_GENERATION).scalar()
