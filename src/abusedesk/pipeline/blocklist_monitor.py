"""The blocklist watch: check our IPs and customers' domains, keep listings, raise signals.

A run reads its targets in one short read-only transaction, asks DNS with no transaction
open, and writes what changed (listings opened, confirmed, ended, and the run's summary
with its errors) in a second short one. When the cap on lookups stops a run early, the
next starts after the last target it finished, so every target is checked in turn.

Every run returns a draft for each open listing and each listing ended in the last day:
the signals' dedupe keys raise each once, so running twice (or after a crash between
recording a listing and raising its signal) raises nothing new and loses nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.blocklists.checks import AddressLookup, CheckRun, check_targets
from abusedesk.blocklists.model import Listing, Target
from abusedesk.blocklists.watch import delisted_drafts, listed_drafts
from abusedesk.config import BlocklistSettings
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.lookups.resolver import DnsResolver
from abusedesk.monitoring.signals import SignalDraft
from abusedesk.storage import blocklists as store
from abusedesk.storage.db import read_only, unit_of_work

log = structlog.get_logger(__name__)

# Delistings whose signals every run offers again (in case one was recorded but not raised).
REDRAFT_DELISTED = timedelta(days=1)


@dataclass(frozen=True)
class BlocklistOutcome:
    """What one run did: its summary as stored, and the signal drafts it returns."""

    run: store.RunView
    drafts: list[SignalDraft]


class BlocklistMonitor:
    """Check our own IP space and customers' domains against the configured blocklists."""

    name = "blocklists"

    def __init__(self, settings: BlocklistSettings, *, lookup: AddressLookup | None = None) -> None:
        self.settings = settings
        self._lookup = lookup

    @property
    def lookup(self) -> AddressLookup:
        """Return the resolver the checks ask, built from the settings on first use."""
        if self._lookup is None:
            self._lookup = DnsResolver(
                nameservers=self.settings.nameservers,
                port=self.settings.port,
                timeout_seconds=self.settings.timeout_seconds,
                queries_per_second=self.settings.queries_per_second,
                max_cache_seconds=self.settings.max_cache_seconds,
            )
        return self._lookup

    def run(self, sessions: sessionmaker[Session], now: datetime) -> Sequence[SignalDraft]:
        """Run the checks once, unless disabled; return the listing and delisting drafts."""
        if not self.settings.enabled:
            return []
        return self.check(sessions, now).drafts

    def check(self, sessions: sessionmaker[Session], now: datetime) -> BlocklistOutcome:
        """Run the checks once, whatever the settings say about running them periodically."""
        settings = self.settings
        with read_only(sessions) as session:
            load = store.load_targets(
                session,
                now=now,
                ranges=settings.ranges,
                ips=settings.check_ips,
                domains=settings.check_domains,
            )
            cursor = store.last_cursor(session)
        rotation = _rotated(load.targets, cursor)
        try:
            run = check_targets(
                rotation,
                settings.blocklists(),
                self.lookup,
                max_queries=settings.max_queries_per_run,
                health_check=settings.health_check,
            )
        except (AbuseDeskError, OSError) as exc:
            # A resolver that cannot start (no nameserver anywhere) fails the run, not the worker.
            log.warning("blocklist_run_failed", error=type(exc).__name__)
            with unit_of_work(sessions) as session:
                run_id = store.record_failed_run(
                    session, started_at=now, finished_at=now, note=str(exc)
                )
                drafts = _drafts(session, now)
                view = store.run_view(session, run_id)
            return BlocklistOutcome(view, drafts)
        with unit_of_work(sessions) as session:
            applied = store.apply_checks(session, run.checks, now=now)
            run_id = store.record_run(
                session,
                started_at=now,
                finished_at=max(now, utcnow()),
                run=run,
                targets=len(load.targets),
                applied=applied,
                cursor=_next_cursor(rotation, run, cursor),
                problems=load.problems,
            )
            drafts = _drafts(session, now, applied)
            view = store.run_view(session, run_id)
        log.info(
            "blocklist_run",
            targets=len(load.targets),
            queries=run.queries,
            listed=len(run.listed),
            new_listings=len(applied.new),
            delistings=len(applied.delisted),
            errors=len(run.errors),
            cap_reached=run.cap_reached,
        )
        return BlocklistOutcome(view, drafts)


def _rotated(targets: Sequence[Target], cursor: str | None) -> list[Target]:
    """Return *targets* starting after *cursor* (wrapping round), all of them when None."""
    if cursor is None:
        return list(targets)
    start = next((i for i, target in enumerate(targets) if target.key > cursor), 0)
    return [*targets[start:], *targets[:start]]


def _next_cursor(rotation: Sequence[Target], run: CheckRun, cursor: str | None) -> str | None:
    """Return where the next run's rotation starts: after the last target finished here."""
    if not run.cap_reached:
        return None
    finished = set(run.finished)
    done = [target.key for target in rotation if target.key in finished]
    return done[-1] if done else cursor


def _drafts(
    session: Session, now: datetime, applied: store.AppliedChecks | None = None
) -> list[SignalDraft]:
    """Return this run's new listings and delistings, then every open listing and every
    listing ended lately (their signals may not have been raised yet)."""
    first: list[Listing] = [*applied.new, *applied.delisted] if applied else []
    rest = [*store.open_listings(session), *store.delisted_since(session, now - REDRAFT_DELISTED)]
    drafts: dict[str, SignalDraft] = {}
    for listing in [*first, *rest]:
        found = listed_drafts(listing, at=listing.first_seen_at)
        if listing.delisted_at is not None:
            found += delisted_drafts(listing, at=listing.delisted_at)
        for draft in found:
            drafts.setdefault(draft.dedupe_key, draft)
    return list(drafts.values())
