"""Blocklist watch storage: what to check, listing intervals, and each run's summary.

Targets are read from the inventory: every IP address ``ip_allocations`` has ever named
(with who holds it now: one account, a shared pool, or nobody) plus the configured ranges
of our space, and the registrable domains of the domain identities accounts hold now.
"""

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from abusedesk.attribution.keys import ResourceKind
from abusedesk.blocklists.answers import InvalidQueryTarget, ListKind, registrable_domain
from abusedesk.blocklists.checks import CheckRun
from abusedesk.blocklists.model import Check, Holder, Holding, Listing, Target
from abusedesk.blocklists.watch import compare
from abusedesk.core.errors import NotFound
from abusedesk.storage.inventory import external_ids
from abusedesk.storage.tables import (
    Account,
    BlocklistListing,
    BlocklistListingAccount,
    BlocklistRun,
    IpAllocation,
    IpPool,
    Resource,
)

# Errors kept with a run: enough to see what failed; the tallies count them all.
MAX_RUN_ERRORS = 200
_CHUNK = 500


@dataclass
class TargetLoad:
    """The targets of a run, and the inventory values that could not be checked, and why."""

    targets: list[Target] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunView:
    """A blocklist run as pages and the command line show it."""

    run_id: int
    started_at: datetime
    finished_at: datetime
    status: str
    targets: int
    finished_targets: int
    queries: int
    listed: int
    new_listings: int
    delistings: int
    error_count: int
    cap_reached: bool
    cursor: str | None
    tallies: dict[str, Any]
    errors: list[dict[str, str]]
    note: str


@dataclass(frozen=True)
class AppliedChecks:
    """What a run's checks changed: listings opened, confirmed and ended."""

    new: list[Listing]
    confirmed: int
    delisted: list[Listing]


def load_targets(
    session: Session,
    *,
    now: datetime,
    ranges: Sequence[str] = (),
    ips: bool = True,
    domains: bool = True,
) -> TargetLoad:
    """Return our IPs (allocated ever, or in *ranges*) and customers' domains, sorted by key."""
    load = TargetLoad()
    if ips:
        _ip_targets(session, now, ranges, load)
    if domains:
        _domain_targets(session, now, load)
    load.targets.sort(key=lambda target: target.key)
    return load


def _ip_targets(session: Session, now: datetime, ranges: Sequence[str], load: TargetLoad) -> None:
    """Add every IP of the inventory and of *ranges*, with who holds it at *now*."""
    rows = session.execute(
        select(
            IpAllocation.ip,
            IpAllocation.account_id,
            IpAllocation.valid_from,
            IpAllocation.valid_to,
            IpPool.name,
            IpPool.kind,
            IpPool.account_id,
        ).outerjoin(IpPool, IpPool.id == IpAllocation.pool_id)
    ).all()
    held: dict[str, tuple[int | None, str | None, bool]] = {}
    seen: set[str] = set()
    for ip, allocated_to, valid_from, valid_to, pool_name, pool_kind, pool_account in rows:
        address = _canonical_ip(ip)
        if address is None:
            load.problems.append(f"ip_allocations holds {str(ip)[:60]!r}, not an IP address")
            continue
        seen.add(address)
        if valid_from <= now and (valid_to is None or now < valid_to):
            held[address] = (allocated_to or pool_account, pool_name, pool_kind == "shared")
    for text in ranges:
        network = ipaddress.ip_network(text, strict=False)
        seen.update(str(member) for member in network)
    names = external_ids(session, {a for a, _, _ in held.values() if a is not None})
    for address in seen:
        account_id, pool, shared = held.get(address, (None, None, False))
        if address not in held:
            target = Target(ListKind.IP, address, Holding.UNALLOCATED)
        elif shared or account_id is None:
            holding = Holding.SHARED if shared else Holding.UNALLOCATED
            target = Target(ListKind.IP, address, holding, pool=pool)
        else:
            holder = Holder(account_id, names.get(account_id, str(account_id)))
            target = Target(ListKind.IP, address, Holding.DEDICATED, (holder,), pool)
        load.targets.append(target)


def _domain_targets(session: Session, now: datetime, load: TargetLoad) -> None:
    """Add the registrable domain of every domain identity held at *now*, with its holders."""
    rows = session.execute(
        select(Resource.value, Resource.account_id, Account.external_id)
        .join(Account, Account.id == Resource.account_id)
        .where(
            Resource.kind == ResourceKind.IDENTITY_DOMAIN,
            Resource.created_at <= now,
            or_(Resource.deleted_at.is_(None), Resource.deleted_at > now),
        )
    ).all()
    holders: dict[str, dict[int, Holder]] = defaultdict(dict)
    for value, account_id, external_id in rows:
        try:
            domain = registrable_domain(value)
        except InvalidQueryTarget as exc:
            load.problems.append(f"identity of account {external_id}: {exc}")
            continue
        holders[domain][account_id] = Holder(account_id, external_id)
    for domain, by_account in holders.items():
        accounts = tuple(sorted(by_account.values(), key=lambda h: h.account_id))
        load.targets.append(Target(ListKind.DOMAIN, domain, Holding.IDENTITY, accounts))


def _canonical_ip(value: object) -> str | None:
    """Return an IP address in its compressed form, or None for anything else."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def apply_checks(session: Session, checks: Sequence[Check], *, now: datetime) -> AppliedChecks:
    """Open, confirm or end listing intervals as *checks* say; return what changed."""
    changes = compare(open_listings(session), checks)
    new: list[Listing] = []
    for check in changes.new:
        row = BlocklistListing(
            target_kind=str(check.target.kind),
            target=check.target.value,
            blocklist=check.blocklist,
            zone=check.zone,
            meanings=list(check.result.meanings),
            answers=list(check.result.answers),
            holding=str(check.target.holding),
            pool=check.target.pool,
            first_seen_at=now,
            last_confirmed_at=now,
            delisted_at=None,
        )
        session.add(row)
        session.flush()
        for holder in check.target.accounts:
            session.add(BlocklistListingAccount(listing_id=row.id, account_id=holder.account_id))
        new.append(_listing(row, check.target.accounts))
    for listing, check in changes.confirmed:
        session.execute(
            update(BlocklistListing)
            .where(BlocklistListing.id == listing.listing_id)
            .values(
                last_confirmed_at=now,
                meanings=list(check.result.meanings),
                answers=list(check.result.answers),
            )
        )
    delisted: list[Listing] = []
    for listing, _check in changes.delisted:
        session.execute(
            update(BlocklistListing)
            .where(BlocklistListing.id == listing.listing_id)
            .values(delisted_at=now)
        )
        delisted.append(_ended(listing, now))
    session.flush()
    return AppliedChecks(new, len(changes.confirmed), delisted)


def _ended(listing: Listing, at: datetime) -> Listing:
    """Return *listing* as it reads once delisted at *at*."""
    return Listing(
        listing.listing_id,
        listing.target_kind,
        listing.target,
        listing.blocklist,
        listing.zone,
        listing.meanings,
        listing.answers,
        listing.holding,
        listing.pool,
        listing.accounts,
        listing.first_seen_at,
        listing.last_confirmed_at,
        at,
    )


def record_run(
    session: Session,
    *,
    started_at: datetime,
    finished_at: datetime,
    run: CheckRun,
    targets: int,
    applied: AppliedChecks,
    cursor: str | None,
    problems: Sequence[str] = (),
) -> int:
    """Keep the summary of one run, with its errors (the first MAX_RUN_ERRORS); return its id."""
    errors = [
        *({"target": "", "blocklist": "", "error": "inventory", "detail": p} for p in problems),
        *(error.as_dict() for error in run.errors),
    ]
    row = BlocklistRun(
        started_at=started_at,
        finished_at=finished_at,
        status="errors" if errors else "ok",
        targets=targets,
        finished_targets=len(run.finished),
        queries=run.queries,
        listed=len(run.listed),
        new_listings=len(applied.new),
        delistings=len(applied.delisted),
        error_count=len(errors),
        cap_reached=run.cap_reached,
        cursor=cursor,
        tallies={name: tally.as_dict() for name, tally in run.tallies.items()},
        errors=errors[:MAX_RUN_ERRORS],
        note="",
    )
    session.add(row)
    session.flush()
    return row.id


def record_failed_run(
    session: Session, *, started_at: datetime, finished_at: datetime, note: str
) -> int:
    """Keep a run that could not complete, saying why; return its id."""
    row = BlocklistRun(
        started_at=started_at,
        finished_at=finished_at,
        status="failed",
        targets=0,
        finished_targets=0,
        queries=0,
        listed=0,
        new_listings=0,
        delistings=0,
        error_count=1,
        cap_reached=False,
        cursor=None,
        tallies={},
        errors=[{"target": "", "blocklist": "", "error": "run_failed", "detail": note[:500]}],
        note=note[:2000],
    )
    session.add(row)
    session.flush()
    return row.id


def last_run(session: Session) -> RunView | None:
    """Return the latest run, or None before the first."""
    runs = recent_runs(session, limit=1)
    return runs[0] if runs else None


def recent_runs(session: Session, *, limit: int = 20) -> list[RunView]:
    """Return the latest runs, newest first."""
    rows = session.scalars(
        select(BlocklistRun)
        .order_by(BlocklistRun.started_at.desc(), BlocklistRun.id.desc())
        .limit(limit)
    )
    return [_run_view(row) for row in rows]


def run_view(session: Session, run_id: int) -> RunView:
    """Return run *run_id*; raise NotFound when there is none."""
    row = session.get(BlocklistRun, run_id)
    if row is None:
        raise NotFound(f"no blocklist run #{run_id}")
    return _run_view(row)


def _run_view(row: BlocklistRun) -> RunView:
    """Return a run row as readers see it."""
    return RunView(
        row.id,
        row.started_at,
        row.finished_at,
        row.status,
        row.targets,
        row.finished_targets,
        row.queries,
        row.listed,
        row.new_listings,
        row.delistings,
        row.error_count,
        row.cap_reached,
        row.cursor,
        dict(row.tallies),
        list(row.errors),
        row.note,
    )


def last_cursor(session: Session) -> str | None:
    """Return where the rotation of the latest completed run stopped, or None."""
    return session.scalar(
        select(BlocklistRun.cursor)
        .where(BlocklistRun.status != "failed")
        .order_by(BlocklistRun.started_at.desc(), BlocklistRun.id.desc())
        .limit(1)
    )


def open_listings(session: Session) -> list[Listing]:
    """Return every listing still open."""
    return listings(session, open_only=True, limit=None)


def listings(
    session: Session,
    *,
    open_only: bool = False,
    target_kind: str | None = None,
    target: str | None = None,
    account_id: int | None = None,
    since: datetime | None = None,
    limit: int | None = 500,
) -> list[Listing]:
    """Return listings, newest first: open ones only, of one target or account, or since."""
    query = select(BlocklistListing).order_by(
        BlocklistListing.first_seen_at.desc(), BlocklistListing.id.desc()
    )
    if open_only:
        query = query.where(BlocklistListing.delisted_at.is_(None))
    if target_kind is not None:
        query = query.where(BlocklistListing.target_kind == target_kind)
    if target is not None:
        query = query.where(BlocklistListing.target == target)
    if account_id is not None:
        query = query.where(
            BlocklistListing.id.in_(
                select(BlocklistListingAccount.listing_id).where(
                    BlocklistListingAccount.account_id == account_id
                )
            )
        )
    if since is not None:
        query = query.where(
            or_(BlocklistListing.delisted_at.is_(None), BlocklistListing.delisted_at >= since)
        )
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.scalars(query))
    holders = _holders(session, [row.id for row in rows])
    return [_listing(row, holders.get(row.id, ())) for row in rows]


def delisted_since(session: Session, since: datetime) -> list[Listing]:
    """Return the listings that ended at or after *since*."""
    rows = list(
        session.scalars(
            select(BlocklistListing)
            .where(BlocklistListing.delisted_at >= since)
            .order_by(BlocklistListing.id)
        )
    )
    holders = _holders(session, [row.id for row in rows])
    return [_listing(row, holders.get(row.id, ())) for row in rows]


def _holders(session: Session, listing_ids: Iterable[int]) -> dict[int, tuple[Holder, ...]]:
    """Return the accounts each listing names."""
    found: dict[int, list[Holder]] = defaultdict(list)
    ordered = sorted(set(listing_ids))
    for start in range(0, len(ordered), _CHUNK):
        rows = session.execute(
            select(
                BlocklistListingAccount.listing_id,
                BlocklistListingAccount.account_id,
                Account.external_id,
            )
            .join(Account, Account.id == BlocklistListingAccount.account_id)
            .where(BlocklistListingAccount.listing_id.in_(ordered[start : start + _CHUNK]))
            .order_by(BlocklistListingAccount.account_id)
        )
        for listing_id, account_id, external_id in rows:
            found[listing_id].append(Holder(account_id, external_id))
    return {listing_id: tuple(holders) for listing_id, holders in found.items()}


def _listing(row: BlocklistListing, accounts: tuple[Holder, ...]) -> Listing:
    """Return a listing row as the domain reads it."""
    return Listing(
        row.id,
        row.target_kind,
        row.target,
        row.blocklist,
        row.zone,
        tuple(row.meanings),
        tuple(row.answers),
        row.holding,
        row.pool,
        accounts,
        row.first_seen_at,
        row.last_confirmed_at,
        row.delisted_at,
    )
