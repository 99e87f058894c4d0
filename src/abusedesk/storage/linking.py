"""Linked accounts as stored: what the linker reads, the links and clusters it found.

`read_inputs` gathers every account's indicators (sign-up facts, resources, the events
attributed to it lately); `save_run` replaces the links with the latest run's, keeps one
row per cluster while it lasts (named by its oldest member) and records the run. The
pages and the account page read `cluster_lines`, `cluster_view`, `cluster_of_account`,
`links_of_account` and `last_run`.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from abusedesk.core.errors import NotFound
from abusedesk.enforcement.ladder import Standing
from abusedesk.linking.graph import Linking
from abusedesk.linking.indicators import (
    EVENT_KEYS,
    account_indicators,
    event_indicator,
    resource_indicators,
)
from abusedesk.linking.model import Indicator, Link, Shared, Text
from abusedesk.storage.tables import (
    Account,
    AccountCluster,
    AccountLink,
    ClusterMember,
    Event,
    EventIndicator,
    LinkRun,
    Resource,
    table_of,
)

# Standings whose accounts a live account must not be linked to unseen.
SANCTIONED: Final = frozenset({Standing.SUSPENDED, Standing.TERMINATED})
# Resource kinds that give linking values.
RESOURCE_KINDS: Final = ("identity_domain", "identity_address", "origination_number")
# Event services whose details carry the message text (``message_text``).
TEXT_SERVICES: Final = ("sms", "push")
# Common values kept on the run's record, most held first.
MAX_COMMON_KEPT: Final = 20
MAX_PROBLEMS_KEPT: Final = 50
_CHUNK: Final = 500


@dataclass(frozen=True)
class LinkInputs:
    """What one run links: the indicators, the texts, how many accounts, what was unreadable."""

    population: int
    indicators: list[Indicator]
    texts: list[Text]
    problems: list[str]


def read_inputs(
    session: Session, *, since: datetime, max_event_indicators: int = 2_000_000
) -> LinkInputs:
    """Read every account's linking values; events count from *since* on.

    A row of the wrong shape is skipped and named in ``problems``; reading goes on.
    """
    problems: list[str] = []
    indicators: list[Indicator] = []
    population = 0
    for account_id, card, contact, attributes in session.execute(
        select(Account.id, Account.payment_fingerprint, Account.contact_email, Account.attributes)
    ):
        population += 1
        if attributes is not None and not isinstance(attributes, Mapping):
            problems.append(f"account {account_id}: attributes are not an object; read without")
        indicators.extend(
            account_indicators(
                account_id, payment_fingerprint=card, contact_email=contact, attributes=attributes
            )
        )
    for resource_id, account_id, kind, value, attributes in session.execute(
        select(Resource.id, Resource.account_id, Resource.kind, Resource.value, Resource.attributes)
        .where(Resource.kind.in_(RESOURCE_KINDS))
        .order_by(Resource.id)
    ):
        if attributes is not None and not isinstance(attributes, Mapping):
            problems.append(f"resource {resource_id}: attributes are not an object; read without")
        indicators.extend(resource_indicators(account_id, resource_id, kind, value, attributes))
    rows = session.execute(
        select(Event.account_id, EventIndicator.event_id, EventIndicator.key, EventIndicator.value)
        .join(Event, Event.id == EventIndicator.event_id)
        .where(
            Event.account_id.is_not(None),
            Event.attribution_state == "attributed",
            Event.occurred_at >= since,
            EventIndicator.key.in_(EVENT_KEYS),
        )
        .order_by(EventIndicator.event_id.desc())
        .limit(max_event_indicators + 1)
    ).all()
    if len(rows) > max_event_indicators:
        problems.append(
            f"more than {max_event_indicators:,} event indicators since {since:%Y-%m-%d}; "
            "linked the newest only"
        )
        rows = rows[:max_event_indicators]
    for account_id, event_id, key, value in rows:
        # The query reads attributed events only: every row has its account.
        found = None if account_id is None else event_indicator(account_id, event_id, key, value)
        if found is not None:
            indicators.append(found)
    texts = []
    for event_id, account_id, details in session.execute(
        select(Event.id, Event.account_id, Event.details).where(
            Event.account_id.is_not(None),
            Event.attribution_state == "attributed",
            Event.occurred_at >= since,
            Event.service.in_(TEXT_SERVICES),
        )
    ):
        text = details.get("message_text") if isinstance(details, Mapping) else None
        if isinstance(text, str) and text.strip():
            texts.append(Text(account_id, text, f"event:{event_id}"))
    return LinkInputs(population, indicators, texts, problems[:MAX_PROBLEMS_KEPT])


# --- saving a run ------------------------------------------------------------------


def evidence_rows(link: Link) -> list[dict[str, Any]]:
    """Return a link's evidence as the JSON kept on its row."""
    return [_shared_row(s) for s in link.evidence]


def _shared_row(shared: Shared) -> dict[str, Any]:
    return {
        "kind": shared.kind,
        "value": shared.value,
        "holders": shared.holders,
        "rarity": shared.rarity,
        "weight": shared.weight,
        "sources": list(shared.sources),
        "similarity": shared.similarity,
        "counted": shared.counted,
        "said": shared.describe(),
    }


def save_run(
    session: Session,
    linking: Linking,
    *,
    now: datetime,
    indicators: int,
    problems: Sequence[str] = (),
) -> dict[str, int]:
    """Store one run's links and clusters in place of the last run's; return the cluster
    ids by key. Clusters no link holds any more are marked dissolved."""
    known = {
        key: (cluster_id, dissolved)
        for cluster_id, key, dissolved in session.execute(
            select(AccountCluster.id, AccountCluster.key, AccountCluster.dissolved_at)
        )
    }
    ids: dict[str, int] = {}
    for cluster in linking.clusters:
        values = {"size": cluster.size, "score": cluster.score, "last_seen_at": now}
        if cluster.key in known:
            cluster_id = known[cluster.key][0]
            session.execute(
                update(AccountCluster)
                .where(AccountCluster.id == cluster_id)
                .values(**values, dissolved_at=None)
            )
        else:
            cluster_id = session.execute(
                insert(AccountCluster)
                .values(key=cluster.key, first_seen_at=now, dissolved_at=None, **values)
                .returning(AccountCluster.id)
            ).scalar_one()
        ids[cluster.key] = cluster_id
    gone = [cid for key, (cid, dissolved) in known.items() if key not in ids and dissolved is None]
    for start in range(0, len(gone), _CHUNK):
        session.execute(
            update(AccountCluster)
            .where(AccountCluster.id.in_(gone[start : start + _CHUNK]))
            .values(dissolved_at=now)
        )
    session.execute(delete(table_of(ClusterMember)))
    members = [
        {"cluster_id": ids[c.key], "account_id": m} for c in linking.clusters for m in c.members
    ]
    if members:
        session.execute(insert(table_of(ClusterMember)), members)
    _save_links(session, linking, ids, now)
    session.add(
        LinkRun(
            ran_at=now,
            accounts=linking.population,
            indicators=indicators,
            links=len(linking.links),
            clusters=len(linking.clusters),
            common_values=[
                {"kind": c.kind, "value": c.value, "holders": c.holders}
                for c in linking.common[:MAX_COMMON_KEPT]
            ],
            problems=list(problems)[:MAX_PROBLEMS_KEPT],
        )
    )
    session.flush()
    return ids


def _save_links(session: Session, linking: Linking, ids: Mapping[str, int], now: datetime) -> None:
    cluster_of = {m: ids[c.key] for c in linking.clusters for m in c.members}
    existing = {
        (low, high): link_id
        for link_id, low, high in session.execute(
            select(AccountLink.id, AccountLink.account_id, AccountLink.other_account_id)
        )
    }
    found = {(link.low, link.high) for link in linking.links}
    stale = [link_id for pair, link_id in existing.items() if pair not in found]
    for start in range(0, len(stale), _CHUNK):
        session.execute(
            delete(AccountLink).where(AccountLink.id.in_(stale[start : start + _CHUNK]))
        )
    new: list[dict[str, Any]] = []
    for link in linking.links:
        values = {
            "cluster_id": cluster_of.get(link.low),
            "score": link.score,
            "kinds": list(link.kinds),
            "evidence": evidence_rows(link),
            "last_seen_at": now,
        }
        link_id = existing.get((link.low, link.high))
        if link_id is None:
            new.append(
                {"account_id": link.low, "other_account_id": link.high, "first_seen_at": now}
                | values
            )
        else:
            session.execute(update(AccountLink).where(AccountLink.id == link_id).values(**values))
    if new:
        session.execute(insert(table_of(AccountLink)), new)


# --- reading -----------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """An account in a cluster, with its standing."""

    account_id: int
    external_id: str
    name: str
    standing: str
    created_at: datetime

    @property
    def sanctioned(self) -> bool:
        """Tell whether the account is suspended or terminated."""
        return self.standing in SANCTIONED


@dataclass(frozen=True)
class ClusterLine:
    """A cluster as the list shows it."""

    id: int
    key: str
    size: int
    score: float
    first_seen_at: datetime
    last_seen_at: datetime
    dissolved_at: datetime | None
    members: tuple[Member, ...]
    kinds: tuple[str, ...]

    @property
    def sanctioned(self) -> int:
        """Return how many members are suspended or terminated."""
        return sum(1 for m in self.members if m.sanctioned)

    @property
    def live(self) -> int:
        """Return how many members are neither suspended nor terminated."""
        return self.size - self.sanctioned if not self.dissolved_at else 0


@dataclass(frozen=True)
class LinkLine:
    """A stored link between two accounts, with its evidence."""

    id: int
    account_id: int
    other_account_id: int
    cluster_id: int | None
    score: float
    kinds: tuple[str, ...]
    evidence: tuple[dict[str, Any], ...]
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class ClusterView:
    """One cluster with its members and every link between them."""

    line: ClusterLine
    links: tuple[LinkLine, ...]

    def member(self, account_id: int) -> Member | None:
        """Return the member with this account id, if it is one."""
        return next((m for m in self.line.members if m.account_id == account_id), None)


@dataclass(frozen=True)
class RunLine:
    """The latest linking run, as the pages show it."""

    ran_at: datetime
    accounts: int
    indicators: int
    links: int
    clusters: int
    common_values: tuple[dict[str, Any], ...]
    problems: tuple[str, ...]


def cluster_lines(session: Session, *, limit: int = 200) -> list[ClusterLine]:
    """Return the clusters standing now: those holding a suspended or terminated account
    first, then the largest."""
    rows = session.scalars(
        select(AccountCluster)
        .where(AccountCluster.dissolved_at.is_(None))
        .order_by(AccountCluster.size.desc(), AccountCluster.id)
        .limit(limit)
    ).all()
    lines = _lines(session, rows)
    lines.sort(key=lambda c: (c.sanctioned == 0, -c.size, c.id))
    return lines


def cluster_view(session: Session, cluster_id: int) -> ClusterView:
    """Return a cluster with its members and links, or raise NotFound."""
    row = session.get(AccountCluster, cluster_id)
    if row is None:
        raise NotFound(f"no cluster {cluster_id}")
    line = _lines(session, [row])[0]
    links = session.scalars(
        select(AccountLink)
        .where(AccountLink.cluster_id == cluster_id)
        .order_by(AccountLink.score.desc(), AccountLink.id)
    ).all()
    return ClusterView(line, tuple(_link_line(link) for link in links))


def cluster_of_account(session: Session, account_id: int) -> ClusterLine | None:
    """Return the cluster the account is in now, if any."""
    cluster_id = session.scalar(
        select(ClusterMember.cluster_id).where(ClusterMember.account_id == account_id)
    )
    if cluster_id is None:
        return None
    row = session.get(AccountCluster, cluster_id)
    return _lines(session, [row])[0] if row is not None else None


def links_of_account(session: Session, account_id: int) -> list[LinkLine]:
    """Return the account's links, strongest first."""
    links = session.scalars(
        select(AccountLink)
        .where(
            or_(AccountLink.account_id == account_id, AccountLink.other_account_id == account_id)
        )
        .order_by(AccountLink.score.desc(), AccountLink.id)
    ).all()
    return [_link_line(link) for link in links]


def last_run(session: Session) -> RunLine | None:
    """Return the latest run, if there was one."""
    row = session.scalars(
        select(LinkRun).order_by(LinkRun.ran_at.desc(), LinkRun.id.desc())
    ).first()
    if row is None:
        return None
    return RunLine(
        row.ran_at,
        row.accounts,
        row.indicators,
        row.links,
        row.clusters,
        tuple(row.common_values or ()),
        tuple(str(p) for p in row.problems or ()),
    )


def links_first_seen(session: Session) -> dict[tuple[int, int], datetime]:
    """Return when each stored link (lower account id, higher) was first seen."""
    return {
        (low, high): first_seen
        for low, high, first_seen in session.execute(
            select(AccountLink.account_id, AccountLink.other_account_id, AccountLink.first_seen_at)
        )
    }


def members_of(session: Session, account_ids: Iterable[int]) -> dict[int, Member]:
    """Return the accounts with these ids as members (standing, name ...)."""
    wanted = sorted(set(account_ids))
    found: dict[int, Member] = {}
    for start in range(0, len(wanted), _CHUNK):
        for account_id, external_id, name, standing, created_at in session.execute(
            select(
                Account.id, Account.external_id, Account.name, Account.standing, Account.created_at
            ).where(Account.id.in_(wanted[start : start + _CHUNK]))
        ):
            found[account_id] = Member(account_id, external_id, name, standing, created_at)
    return found


def _lines(session: Session, rows: Sequence[AccountCluster]) -> list[ClusterLine]:
    if not rows:
        return []
    cluster_ids = [row.id for row in rows]
    members: dict[int, list[int]] = {}
    kinds: dict[int, list[str]] = {}
    for start in range(0, len(cluster_ids), _CHUNK):
        chunk = cluster_ids[start : start + _CHUNK]
        for cluster_id, account_id in session.execute(
            select(ClusterMember.cluster_id, ClusterMember.account_id).where(
                ClusterMember.cluster_id.in_(chunk)
            )
        ):
            members.setdefault(cluster_id, []).append(account_id)
        for cluster_id, link_kinds in session.execute(
            select(AccountLink.cluster_id, AccountLink.kinds).where(
                AccountLink.cluster_id.in_(chunk)
            )
        ):
            if cluster_id is not None:
                kinds.setdefault(cluster_id, []).extend(str(k) for k in link_kinds or ())
    accounts = members_of(session, (a for ids in members.values() for a in ids))
    return [
        ClusterLine(
            row.id,
            row.key,
            row.size,
            row.score,
            row.first_seen_at,
            row.last_seen_at,
            row.dissolved_at,
            tuple(accounts[a] for a in sorted(members.get(row.id, ())) if a in accounts),
            tuple(dict.fromkeys(kinds.get(row.id, ()))),
        )
        for row in rows
    ]


def _link_line(row: AccountLink) -> LinkLine:
    return LinkLine(
        row.id,
        row.account_id,
        row.other_account_id,
        row.cluster_id,
        row.score,
        tuple(str(k) for k in row.kinds or ()),
        tuple(e for e in row.evidence or () if isinstance(e, dict)),
        row.first_seen_at,
        row.last_seen_at,
    )
