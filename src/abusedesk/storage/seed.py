"""Load a generated demo provider into the inventory tables with chunked bulk inserts.

Only what a real provider's inventory would hold is written: accounts, pools, resources,
IP allocations, the send log and sending figures. What each account really is stays with
the generator and its ground-truth file.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from abusedesk.demo.model import DemoProvider, DemoResource, Traffic
from abusedesk.storage.tables import (
    Account,
    Base,
    IpAllocation,
    IpPool,
    Resource,
    SendingStat,
    SendLogEntry,
    table_of,
)

CHUNK_SIZE = 5_000
# Bound on the values in one IN (...) list when reading generated ids back.
_LOOKUP_CHUNK = 500

ResourceKey = tuple[int, str, str]


def has_accounts(session: Session) -> bool:
    """Tell whether the inventory holds any account at all."""
    return session.scalar(select(Account.id).limit(1)) is not None


def seed_provider(
    session: Session, provider: DemoProvider, traffic: Traffic, *, chunk_size: int = CHUNK_SIZE
) -> dict[str, int]:
    """Write the provider's inventory and traffic; return the rows written per table.

    The caller owns the transaction. External ids, pool names and provider message ids
    are unique, so loading the same provider twice fails instead of duplicating it.
    """
    accounts = [
        {
            "external_id": a.external_id,
            "name": a.name,
            "contact_email": a.contact_email,
            "country": a.country,
            "size_tier": a.size_tier,
            "standing": "healthy",
            "payment_fingerprint": a.payment_fingerprint,
            "created_at": a.created_at,
            "attributes": dict(a.attributes),
        }
        for a in provider.accounts
    ]
    _insert(session, Account, accounts, chunk_size)
    account_ids = dict(
        _read_back(
            session, Account.external_id, Account.id, [a.external_id for a in provider.accounts]
        )
    )

    pools = [
        {
            "name": p.name,
            "kind": p.kind,
            "account_id": account_ids[p.account] if p.account else None,
        }
        for p in provider.pools
    ]
    _insert(session, IpPool, pools, chunk_size)
    pool_ids = dict(_read_back(session, IpPool.name, IpPool.id, [p.name for p in provider.pools]))

    resources = [
        {
            "account_id": account_ids[a.external_id],
            "kind": r.kind,
            "value": r.value,
            "attributes": dict(r.attributes),
            "created_at": r.created_at,
            "deleted_at": r.deleted_at,
        }
        for a in provider.accounts
        for r in a.resources
    ]
    _insert(session, Resource, resources, chunk_size)
    resource_ids = _resource_ids(session, list(account_ids.values()))

    allocations = [
        {
            "ip": a.ip,
            "pool_id": pool_ids[a.pool] if a.pool else None,
            "account_id": account_ids[a.account] if a.account else None,
            "valid_from": a.valid_from,
            "valid_to": a.valid_to,
        }
        for a in provider.allocations
    ]
    _insert(session, IpAllocation, allocations, chunk_size)

    def resource_id(account: str, resource: DemoResource) -> int:
        return resource_ids[(account_ids[account], resource.kind, resource.value)]

    send_log = [
        {
            "provider_message_id": m.provider_message_id,
            "message_id_header": m.message_id_header,
            "account_id": account_ids[m.account],
            "resource_id": resource_id(m.account, m.sender.resource),
            "configuration_set": m.configuration_set,
            "source_ip": m.source_ip,
            "mail_from": m.mail_from,
            "recipient_domain": m.recipient_domain,
            "sent_at": m.sent_at,
        }
        for m in traffic.messages
    ]
    _insert(session, SendLogEntry, send_log, chunk_size)

    stats = [
        {
            "account_id": account_ids[s.account],
            "resource_key": ""
            if s.resource is None
            else f"{s.resource.kind}:{resource_id(s.account, s.resource)}",
            "hour": s.hour,
            "destination_group": s.destination_group,
            "sent": s.sent,
            "delivered": s.delivered,
            "hard_bounces": s.hard_bounces,
            "hard_bounces_non_verified": s.hard_bounces_non_verified,
            "fbl_sent": s.fbl_sent,
            "complaints": s.complaints,
        }
        for s in traffic.stats
    ]
    _insert(session, SendingStat, stats, chunk_size)
    return {
        "accounts": len(accounts),
        "ip_pools": len(pools),
        "resources": len(resources),
        "ip_allocations": len(allocations),
        "send_log": len(send_log),
        "sending_stats": len(stats),
    }


def _insert(
    session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]], chunk_size: int
) -> None:
    """Insert *rows* in chunks of executemany, so memory and statement size stay bounded."""
    # The Core table, not the ORM class: a plain executemany without ORM bookkeeping.
    table = table_of(model)
    for start in range(0, len(rows), chunk_size):
        session.execute(insert(table), rows[start : start + chunk_size])


def _read_back(
    session: Session,
    key: InstrumentedAttribute[str],
    id_column: InstrumentedAttribute[int],
    values: Sequence[str],
) -> Iterable[tuple[str, int]]:
    """Yield ``(key, id)`` for rows whose *key* column is one of *values*."""
    for start in range(0, len(values), _LOOKUP_CHUNK):
        chunk = values[start : start + _LOOKUP_CHUNK]
        rows = session.execute(select(key, id_column).where(key.in_(chunk)))
        yield from rows


def _resource_ids(session: Session, account_ids: Sequence[int]) -> dict[ResourceKey, int]:
    """Return resource ids by (account id, kind, value) for the given accounts."""
    found: dict[ResourceKey, int] = {}
    for start in range(0, len(account_ids), _LOOKUP_CHUNK):
        chunk = account_ids[start : start + _LOOKUP_CHUNK]
        rows = session.execute(
            select(Resource.account_id, Resource.kind, Resource.value, Resource.id).where(
                Resource.account_id.in_(chunk)
            )
        )
        for account_id, kind, value, resource_id in rows:
            found[(account_id, kind, value)] = resource_id
    return found
