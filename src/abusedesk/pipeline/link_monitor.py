"""The linking monitor: link accounts through shared values, keep clusters, raise signals.

A run reads every account's linking values in one short read-only transaction, links
and clusters them with no transaction open (``abusedesk.linking``), then stores the links
and clusters in place of the last run's and reads the members' standings in a second
short one. It returns a draft for every live account linked to a suspended or terminated
one (``link.terminated_account``, about the live account: severity high and a review when
it signed up after the banned one, severity medium and no ladder step when it is the
older customer) and one per cluster (``link.cluster``, about the cluster, recorded only).
The drafts' dedupe keys raise each once: a link by its two accounts and when it was first
seen, a cluster by its set of members. Running again at the same time, or later with
nothing changed, raises nothing new; a cluster whose members change raises anew. An open
signal of either kind that the latest run no longer raises (the link went, a standing
changed, the cluster changed or dissolved) is ended by a ``link.ended`` draft.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import LinkSettings
from abusedesk.core.clock import as_utc
from abusedesk.core.hashing import sha256_hex
from abusedesk.linking.graph import Linking, link_accounts
from abusedesk.linking.model import DEFAULT_WEIGHTS, Cluster, Link, LinkPolicy
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind, Step
from abusedesk.storage import linking as store
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.signals import OPEN, SignalView, find_signals

log = structlog.get_logger(__name__)

# Evidence lines a signal carries per link.
MAX_EVIDENCE_LINES = 8
# The kinds of signal a run raises, and so may end.
RAISED_KINDS: Final = (SignalKind.LINKED_TO_TERMINATED, SignalKind.CLUSTER)


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
            first_seen = store.links_first_seen(session)
            still_open = find_signals(session, state=OPEN, kinds=RAISED_KINDS, limit=None)
        drafts = drafts_for(linking, ids, members, now=now, first_seen=first_seen)
        drafts.extend(ended_drafts(still_open, drafts, linking, now=now))
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
    first_seen: Mapping[tuple[int, int], datetime] | None = None,
) -> list[SignalDraft]:
    """Return the drafts a run's links and clusters raise, given the members' standings
    and when each link was first seen (its signal's key: a link that goes and comes back
    raises again)."""
    cluster_of = {m: c for c in linking.clusters for m in c.members}
    drafts: list[SignalDraft] = []
    for link in linking.links:
        low, high = members.get(link.low), members.get(link.high)
        if low is None or high is None or low.sanctioned == high.sanctioned:
            continue
        live, banned = (high, low) if low.sanctioned else (low, high)
        cluster = cluster_of.get(link.low)
        since = (first_seen or {}).get((link.low, link.high))
        drafts.append(
            _linked_to_sanctioned(
                link,
                live,
                banned,
                cluster_ids.get(cluster.key) if cluster else None,
                now,
                since=since,
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
    link: Link,
    live: store.Member,
    banned: store.Member,
    cluster_id: int | None,
    now: datetime,
    *,
    since: datetime | None = None,
) -> SignalDraft:
    # A new account of a banned party signs up after the ban's account; an older
    # customer linked to a newer banned account is shown, not pushed up the ladder.
    after = as_utc(live.created_at) >= as_utc(banned.created_at)
    kinds = ", ".join(k.replace("_", " ") for k in link.kinds)
    older = (
        ""
        if after
        else f"; it signed up before {banned.external_id}, so it is the older customer:"
        " no ladder step is asked for"
    )
    key = f"{SignalKind.LINKED_TO_TERMINATED}:{live.account_id}:{banned.account_id}"
    if since is not None:
        key += f":{as_utc(since):%Y%m%dT%H%M%S}"
    return SignalDraft(
        kind=SignalKind.LINKED_TO_TERMINATED,
        subject_type="account",
        subject_id=str(live.account_id),
        reason=(
            f"account {live.external_id} ({live.standing.replace('_', ' ')}) is linked to "
            f"{banned.standing} account {banned.external_id} by {kinds} (score {link.score:.2f})"
            + older
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
        dedupe_key=key,
        account_id=live.account_id,
        severity=Severity.HIGH if after else Severity.MEDIUM,
        step=Step.REVIEW if after else Step.NONE,
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
        dedupe_key=cluster_key(cluster.members),
        severity=Severity.MEDIUM if banned else Severity.LOW,
        evidence={"cluster_id": cluster_id, "kinds": kinds},
    )


def cluster_key(members: Sequence[int]) -> str:
    """Return a cluster signal's dedupe key: a digest of its set of members, so the same
    accounts raise once and any change of members raises anew."""
    digest = sha256_hex(",".join(str(m) for m in sorted(members)).encode())
    return f"{SignalKind.CLUSTER}:{digest[:32]}"


def ended_drafts(
    open_signals: Sequence[SignalView],
    raised: Sequence[SignalDraft],
    linking: Linking,
    *,
    now: datetime,
) -> list[SignalDraft]:
    """Return a ``link.ended`` draft for every open link or cluster signal this run no
    longer raises: its link went or a standing changed, or its cluster changed."""
    current = {d.dedupe_key for d in raised}
    linked = {(link.low, link.high) for link in linking.links}
    drafts = []
    for signal in open_signals:
        if signal.dedupe_key is None or signal.dedupe_key in current:
            continue
        if signal.kind == SignalKind.LINKED_TO_TERMINATED:
            other = signal.figures.get("linked_account", "?")
            other_id = signal.figures.get("linked_account_id")
            pair = (
                tuple(sorted((signal.account_id, other_id)))
                if isinstance(other_id, int) and signal.account_id is not None
                else None
            )
            what = (
                f"is still linked to account {other}, but no longer as a live account beside"
                " a suspended or terminated one (a standing changed)"
                if pair in linked
                else f"is no longer linked to account {other}"
            )
            reason = f"account {signal.account_external_id or signal.subject_id} {what}"
        else:
            reason = (
                f"cluster {signal.subject_id} as it was raised no longer stands: its members"
                " changed or it dissolved"
            )
        drafts.append(
            SignalDraft(
                kind=SignalKind.LINK_ENDED,
                subject_type=signal.subject_type,
                subject_id=signal.subject_id,
                reason=reason + " in the latest linking run",
                figures={"ended_kind": signal.kind, "ended_signal": signal.signal_id},
                at=now,
                dedupe_key=f"{SignalKind.LINK_ENDED}:{signal.signal_id}",
                account_id=signal.account_id,
                resolves=signal.dedupe_key,
            )
        )
    return drafts
