"""The linking monitor: link accounts through shared values, keep clusters, raise signals.

A run reads every account's linking values in one short read-only transaction, links
and clusters them with no transaction open (``abusedesk.linking``), then stores the links
and clusters in place of the last run's and reads the members' standings in a second
short one. It returns a draft for every live account linked to a suspended or terminated
one (``link.terminated_account``, about the live account, severity high) and one per
cluster (``link.cluster``, about the cluster). The drafts' dedupe keys raise each once:
running again at the same time, or later with nothing changed, raises nothing new; a
cluster that grows raises again with its new size.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import LinkSettings
from abusedesk.linking.graph import Linking, link_accounts
from abusedesk.linking.model import DEFAULT_WEIGHTS, Cluster, Link, LinkPolicy
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind, Step
from abusedesk.storage import linking as store
from abusedesk.storage.db import read_only, unit_of_work

log = structlog.get_logger(__name__)

# Evidence lines a signal carries per link.
MAX_EVIDENCE_LINES = 8


def link_policy(settings: LinkSettings) -> LinkPolicy:
    """Return the linking policy the settings describe (unknown kinds raise ValueError)."""
    return LinkPolicy(
        weights={**DEFAULT_WEIGHTS, **settings.weights},
        threshold=settings.threshold,
        min_population=settings.min_population,
        common_share=settings.common_share,
        common_min_holders=settings.common_min_holders,
        max_holders=settings.max_holders,
        corroboration=settings.corroboration,
        content_similarity=settings.content_similarity,
    )


class LinkMonitor:
    """Link accounts run by one party and say when one of them is live beside a banned one."""

    name = "linking"

    def __init__(self, settings: LinkSettings | None = None) -> None:
        self.settings = settings or LinkSettings()
        self.policy = link_policy(self.settings)

    def run(self, sessions: sessionmaker[Session], now: datetime) -> Sequence[SignalDraft]:
        """Link once, unless disabled; return the drafts for linked and clustered accounts."""
        if not self.settings.enabled:
            return []
        since = now - timedelta(days=self.settings.lookback_days)
        with read_only(sessions) as session:
            inputs = store.read_inputs(
                session, since=since, max_event_indicators=self.settings.max_event_indicators
            )
        for problem in inputs.problems:
            log.warning("linking_input_skipped", problem=problem)
        linking = link_accounts(
            inputs.indicators, inputs.texts, population=inputs.population, policy=self.policy
        )
        with unit_of_work(sessions) as session:
            ids = store.save_run(
                session,
                linking,
                now=now,
                indicators=len(inputs.indicators),
                problems=inputs.problems,
            )
            members = store.members_of(session, (m for c in linking.clusters for m in c.members))
        drafts = drafts_for(linking, ids, members, now=now)
        log.info(
            "linking_ran",
            accounts=inputs.population,
            links=len(linking.links),
            clusters=len(linking.clusters),
            drafts=len(drafts),
        )
        return drafts


def drafts_for(
    linking: Linking,
    cluster_ids: Mapping[str, int],
    members: Mapping[int, store.Member],
    *,
    now: datetime,
) -> list[SignalDraft]:
    """Return the drafts a run's links and clusters raise, given the members' standings."""
    cluster_of = {m: c for c in linking.clusters for m in c.members}
    drafts: list[SignalDraft] = []
    for link in linking.links:
        low, high = members.get(link.low), members.get(link.high)
        if low is None or high is None or low.sanctioned == high.sanctioned:
            continue
        live, banned = (high, low) if low.sanctioned else (low, high)
        cluster = cluster_of.get(link.low)
        drafts.append(
            _linked_to_sanctioned(
                link, live, banned, cluster_ids.get(cluster.key) if cluster else None, now
            )
        )
    for cluster in linking.clusters:
        cluster_id = cluster_ids.get(cluster.key)
        if cluster_id is not None:
            drafts.append(_cluster(cluster, cluster_id, members, now))
    return drafts


def _said(link: Link) -> list[str]:
    return [s.describe() for s in link.evidence if s.counted][:MAX_EVIDENCE_LINES]


def _linked_to_sanctioned(
    link: Link, live: store.Member, banned: store.Member, cluster_id: int | None, now: datetime
) -> SignalDraft:
    after = live.created_at >= banned.created_at
    kinds = ", ".join(k.replace("_", " ") for k in link.kinds)
    return SignalDraft(
        kind=SignalKind.LINKED_TO_TERMINATED,
        subject_type="account",
        subject_id=str(live.account_id),
        reason=(
            f"account {live.external_id} ({live.standing.replace('_', ' ')}) is linked to "
            f"{banned.standing} account {banned.external_id} by {kinds} (score {link.score:.2f})"
        ),
        figures={
            "score": link.score,
            "kinds": kinds,
            "linked_account": banned.external_id,
            "linked_account_id": banned.account_id,
            "linked_standing": banned.standing,
            "signed_up_after_linked_account": after,
            "cluster_id": cluster_id,
        },
        at=now,
        dedupe_key=f"{SignalKind.LINKED_TO_TERMINATED}:{live.account_id}:{banned.account_id}",
        account_id=live.account_id,
        severity=Severity.HIGH,
        step=Step.REVIEW,
        evidence={"evidence": _said(link), "cluster_id": cluster_id},
    )


def _cluster(
    cluster: Cluster, cluster_id: int, members: Mapping[int, store.Member], now: datetime
) -> SignalDraft:
    known = [members[m] for m in cluster.members if m in members]
    banned = [m for m in known if m.sanctioned]
    kinds = sorted({k for link in cluster.links for k in link.kinds})
    return SignalDraft(
        kind=SignalKind.CLUSTER,
        subject_type="cluster",
        subject_id=str(cluster_id),
        reason=(
            f"{cluster.size} accounts linked by {', '.join(k.replace('_', ' ') for k in kinds)}"
            + (f"; {len(banned)} of them suspended or terminated" if banned else "")
        ),
        figures={
            "size": cluster.size,
            "links": len(cluster.links),
            "score": cluster.score,
            "sanctioned": len(banned),
            "live": cluster.size - len(banned),
            "members": ", ".join(m.external_id for m in known),
        },
        at=now,
        dedupe_key=f"{SignalKind.CLUSTER}:{cluster.key}:{cluster.size}",
        severity=Severity.MEDIUM if banned else Severity.LOW,
        evidence={"cluster_id": cluster_id, "kinds": kinds},
    )
