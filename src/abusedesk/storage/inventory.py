"""The provider's inventory as attribution reads it: a batch's questions in a few queries.

The statements are built once and run with expanding bound lists; long lists are asked
in chunks so that no statement outgrows a database's limit on bound values.
"""

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import bindparam, literal, select
from sqlalchemy.orm import Session

from abusedesk.attribution.keys import KeyKind, ResourceKind
from abusedesk.attribution.model import IpInterval, KeyHolding, SendProbe, SentMessage
from abusedesk.storage.tables import (
    Account,
    IpAllocation,
    IpPool,
    Resource,
    ResourceKey,
    SendLogEntry,
)

CHUNK = 500
# The most send-log entries one recipient probe returns: enough to tell accounts apart.
PROBE_LIMIT = 50

_SENT_COLUMNS = (
    SendLogEntry.account_id,
    SendLogEntry.resource_id,
    SendLogEntry.provider_message_id,
    SendLogEntry.message_id_header,
    SendLogEntry.sent_at,
    SendLogEntry.source_ip,
)
_SENT_BY_PROVIDER_MESSAGE_ID = select(*_SENT_COLUMNS).where(
    SendLogEntry.provider_message_id.in_(bindparam("values", expanding=True))
)
_SENT_BY_MESSAGE_ID = select(*_SENT_COLUMNS).where(
    SendLogEntry.message_id_header.in_(bindparam("values", expanding=True))
)
_SENT_TO_RECIPIENTS = select(*_SENT_COLUMNS, SendLogEntry.recipient_hash).where(
    SendLogEntry.recipient_hash.in_(bindparam("values", expanding=True)),
    SendLogEntry.sent_at >= bindparam("start"),
    SendLogEntry.sent_at <= bindparam("end"),
)
_KEY_HOLDINGS = (
    select(
        ResourceKey.kind,
        ResourceKey.value,
        Resource.account_id,
        Resource.id,
        Resource.kind,
        Resource.value,
        Resource.created_at,
        Resource.deleted_at,
    )
    .join(Resource, Resource.id == ResourceKey.resource_id)
    .where(
        ResourceKey.kind == bindparam("kind"),
        ResourceKey.value.in_(bindparam("values", expanding=True)),
    )
)
_POOL_MEMBERSHIPS = select(
    literal(KeyKind.IP_POOL),
    Resource.value,
    Resource.account_id,
    Resource.id,
    Resource.kind,
    Resource.value,
    Resource.created_at,
    Resource.deleted_at,
).where(
    Resource.account_id.in_(bindparam("values", expanding=True)),
    Resource.kind == ResourceKind.IP_POOL,
)
_IP_INTERVALS = (
    select(
        IpAllocation.ip,
        IpAllocation.account_id,
        IpPool.name,
        IpPool.kind,
        IpAllocation.valid_from,
        IpAllocation.valid_to,
    )
    .outerjoin(IpPool, IpPool.id == IpAllocation.pool_id)
    .where(IpAllocation.ip.in_(bindparam("values", expanding=True)))
)
_ACCOUNT_IDS = select(Account.external_id, Account.id).where(
    Account.external_id.in_(bindparam("values", expanding=True))
)
_ACCOUNT_NAMES = select(Account.id, Account.external_id).where(
    Account.id.in_(bindparam("values", expanding=True))
)
_RESOURCE_NAMES = select(Resource.id, Resource.kind, Resource.value).where(
    Resource.id.in_(bindparam("values", expanding=True))
)

T = TypeVar("T")


class SqlInventoryLookup:
    """Answer attribution's inventory questions from SQL, within one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def sent_messages(
        self, *, provider_message_ids: Collection[str], message_ids: Collection[str]
    ) -> list[SentMessage]:
        """Return the send-log entries with any of these provider message ids or Message-IDs."""
        found: dict[str, SentMessage] = {}
        for statement, values in (
            (_SENT_BY_PROVIDER_MESSAGE_ID, provider_message_ids),
            (_SENT_BY_MESSAGE_ID, message_ids),
        ):
            for row in self._rows(statement, values):
                found[row.provider_message_id] = SentMessage(*row)
        return list(found.values())

    def key_holdings(self, keys: Collection[tuple[str, str]]) -> list[KeyHolding]:
        """Return the resources named by any of these ``(key kind, value)`` pairs.

        One statement per key kind: an IN list on both index columns would probe every
        kind with every value.
        """
        by_kind: dict[str, set[str]] = {}
        for kind, value in keys:
            by_kind.setdefault(kind, set()).add(value)
        return [
            KeyHolding(*row)
            for kind, values in sorted(by_kind.items())
            for row in self._rows(_KEY_HOLDINGS, values, {"kind": kind})
        ]

    def pool_memberships(
        self, pools: Collection[str], accounts: Collection[int]
    ) -> list[KeyHolding]:
        """Return the memberships of these accounts in any of these shared pools.

        Read by account (the resources' unique index), never by pool: a shared pool may
        have thousands of members.
        """
        wanted = set(pools)
        holdings: list[KeyHolding] = []
        for chunk in _chunks(sorted(set(accounts))):
            rows = self.session.execute(_POOL_MEMBERSHIPS, {"values": chunk})
            holdings.extend(KeyHolding(*row) for row in rows if row[1] in wanted)
        return holdings

    def ip_intervals(self, ips: Collection[str]) -> list[IpInterval]:
        """Return every allocation interval of these IPs."""
        return [
            IpInterval(ip, account_id, pool_name, pool_kind == "shared", valid_from, valid_to)
            for ip, account_id, pool_name, pool_kind, valid_from, valid_to in self._rows(
                _IP_INTERVALS, ips
            )
        ]

    def account_ids(self, external_ids: Collection[str]) -> Mapping[str, int]:
        """Return the internal ids of the accounts with these external ids."""
        return dict(self._rows(_ACCOUNT_IDS, external_ids))

    def senders(self, probes: Collection[SendProbe]) -> Mapping[SendProbe, list[SentMessage]]:
        """Return, per probe, the latest entries to its recipient in its window (PROBE_LIMIT).

        One query covers every probe: all their recipients over the span of their windows.
        """
        if not probes:
            return {}
        by_recipient: dict[str, list[SentMessage]] = {}
        bound = {"start": min(p.start for p in probes), "end": max(p.end for p in probes)}
        for chunk in _chunks(sorted({p.recipient_hash for p in probes})):
            for row in self.session.execute(_SENT_TO_RECIPIENTS, {**bound, "values": chunk}):
                by_recipient.setdefault(row.recipient_hash, []).append(SentMessage(*row[:-1]))
        answers: dict[SendProbe, list[SentMessage]] = {}
        for probe in probes:
            entries = [
                e
                for e in by_recipient.get(probe.recipient_hash, ())
                if probe.start <= e.sent_at <= probe.end
            ]
            entries.sort(key=lambda e: e.sent_at, reverse=True)
            answers[probe] = entries[:PROBE_LIMIT]
        return answers

    def names(
        self, account_ids: Collection[int], resource_ids: Collection[int]
    ) -> tuple[Mapping[int, str], Mapping[int, tuple[str, str]]]:
        """Return the accounts' external ids and the resources' (kind, value)."""
        accounts = dict(self._rows(_ACCOUNT_NAMES, account_ids))
        resources = {
            id_: (kind, value) for id_, kind, value in self._rows(_RESOURCE_NAMES, resource_ids)
        }
        return accounts, resources

    def _rows(
        self, statement: Any, values: Collection[Any], bound: Mapping[str, Any] | None = None
    ) -> Iterator[Any]:
        for chunk in _chunks(sorted(set(values))):
            yield from self.session.execute(statement, {**(bound or {}), "values": chunk})


def external_ids(session: Session, account_ids: Iterable[int]) -> dict[int, str]:
    """Return the external id of each of these accounts (unknown ids are left out).

    Asked in chunks, so any number of ids fits a statement's bound values.
    """
    found: dict[int, str] = {}
    for chunk in _chunks(sorted(set(account_ids))):
        found.update(
            (int(account_id), str(external_id))
            for account_id, external_id in session.execute(
                select(Account.id, Account.external_id).where(Account.id.in_(chunk))
            )
        )
    return found


def _chunks(values: Sequence[T]) -> Iterator[list[T]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])
