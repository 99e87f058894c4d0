"""Shared values to weighted links, and links to clusters (connected components)."""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

from abusedesk.linking.content import alike_pairs
from abusedesk.linking.model import (
    Cluster,
    Indicator,
    IndicatorKind,
    Link,
    LinkPolicy,
    Shared,
    Text,
)

# Sources kept per shared value and account: enough to show where it was seen.
MAX_SOURCES = 5


@dataclass(frozen=True)
class CommonValue:
    """A value held by so many accounts that it links nobody."""

    kind: str
    value: str
    holders: int


@dataclass(frozen=True)
class Linking:
    """What one pass found: the links, the clusters and the common values left out."""

    links: tuple[Link, ...]
    clusters: tuple[Cluster, ...]
    common: tuple[CommonValue, ...]
    population: int


def rarity(holders: int, population: int, policy: LinkPolicy) -> float:
    """Return how rare a value held by *holders* accounts is: 1 when two share it, less
    as more hold it, never below 0 (see LinkPolicy)."""
    reference = max(population, policy.min_population)
    if holders <= 2:
        return 1.0
    value = math.log(reference / holders) / math.log(reference / 2)
    return min(1.0, max(0.0, value))


def common_limit(population: int, policy: LinkPolicy) -> int:
    """Return the most accounts a value may have before it is common and links nobody."""
    share = max(policy.common_min_holders, math.floor(policy.common_share * population))
    return min(share, policy.max_holders)


def link_accounts(
    indicators: Iterable[Indicator],
    texts: Iterable[Text] = (),
    *,
    population: int,
    policy: LinkPolicy | None = None,
) -> Linking:
    """Return the links between accounts sharing values, and the clusters they make.

    *population* is how many accounts the indicators were read from (those holding none
    count too): rarity is judged against it.
    """
    policy = policy or LinkPolicy()
    limit = common_limit(population, policy)
    # (kind, value) -> account -> (sources, the value it repeats)
    held: dict[tuple[str, str], dict[int, tuple[list[str], str | None]]] = {}
    for item in indicators:
        if policy.weight(item.kind) <= 0 or not item.value:
            continue
        holders = held.setdefault((item.kind, item.value), {})
        sources, same_as = holders.get(item.account_id, ([], item.same_as))
        if len(sources) < MAX_SOURCES and item.source not in sources:
            sources.append(item.source)
        holders[item.account_id] = (sources, same_as if same_as == item.same_as else None)
    shared: dict[tuple[int, int], list[tuple[Shared, str | None]]] = {}
    common: list[CommonValue] = []
    # Who holds each linking value: corroboration compares these.
    groups: dict[tuple[str, str], frozenset[int]] = {}
    for (kind, value), holders in held.items():
        count = len(holders)
        if count < 2:
            continue
        if count > limit:
            common.append(CommonValue(kind, value, count))
            continue
        groups[(kind, value)] = frozenset(holders)
        score = rarity(count, population, policy)
        weight = policy.weight(kind) * score
        for a, b in combinations(sorted(holders), 2):
            sources_a, same_a = holders[a]
            sources_b, same_b = holders[b]
            evidence = Shared(
                kind, value, count, round(score, 4), round(weight, 4),
                tuple(dict.fromkeys([*sources_a, *sources_b])),
            )  # fmt: skip
            shared.setdefault((a, b), []).append((evidence, same_a if same_a == same_b else None))
    for pair in alike_pairs(texts, policy, common=limit):
        score = rarity(pair.holders, population, policy)
        evidence = Shared(
            IndicatorKind.CONTENT,
            pair.fingerprint,
            pair.holders,
            round(score, 4),
            round(policy.weight(IndicatorKind.CONTENT) * score, 4),
            pair.sources,
            similarity=round(pair.similarity, 4),
        )
        groups[(IndicatorKind.CONTENT, pair.fingerprint)] = pair.group
        shared.setdefault((pair.low, pair.high), []).append((evidence, None))
    links = []
    for (a, b), items in sorted(shared.items()):
        facts = _corroborated(_once_per_fact(items), groups, policy)
        total = _score(facts)
        if total >= policy.threshold:
            ordered = sorted(facts, key=lambda s: (not s.counted, -s.weight, s.kind, s.value))
            links.append(Link(a, b, round(total, 4), tuple(ordered)))
    common.sort(key=lambda c: (-c.holders, c.kind, c.value))
    return Linking(tuple(links), tuple(clusters_of(links)), tuple(common), population)


def _once_per_fact(items: Sequence[tuple[Shared, str | None]]) -> list[Shared]:
    """Mark the shared values that repeat a fact already counted as not counted.

    One value shared under two kinds (a domain the accounts send from and link to) is
    one fact: the stronger counts. A value repeating another the pair shares too (a DKIM
    key published on the domain both verified) says no more than that value: only the
    repeated value counts.
    """
    values = {s.value for s, _ in items}
    repeats = {id(s) for s, same_as in items if same_as is not None and same_as in values}
    best: dict[str, Shared] = {}
    for item, _ in items:
        if id(item) in repeats:
            continue
        found = best.get(item.value)
        if found is None or item.weight > found.weight:
            best[item.value] = item
    kept = {id(s) for s in best.values()}
    return [s if id(s) in kept else replace(s, counted=False) for s, _ in items]


def _corroborated(
    evidence: list[Shared], groups: Mapping[tuple[str, str], frozenset[int]], policy: LinkPolicy
) -> list[Shared]:
    """Without a value strong enough alone, mark the weaker kinds' values whose holders are
    mostly others than the strongest value's holders: they do not corroborate it."""
    counted = [s for s in evidence if s.counted]
    if not counted or max(s.weight for s in counted) >= policy.threshold:
        return evidence
    lead = max(counted, key=lambda s: (s.weight, s.kind, s.value))
    around = groups.get((lead.kind, lead.value), frozenset())
    apart = set()
    for item in counted:
        if item.kind == lead.kind:
            continue
        other = groups.get((item.kind, item.value), frozenset())
        smaller = min(len(around), len(other))
        if smaller and len(around & other) / smaller < policy.corroboration:
            apart.add(id(item))
    return [replace(s, corroborates=False) if id(s) in apart else s for s in evidence]


def _score(evidence: Iterable[Shared]) -> float:
    """Sum, over kinds, the strongest counted, corroborating value of each kind."""
    best: dict[str, float] = {}
    for item in evidence:
        if item.counted and item.corroborates:
            best[item.kind] = max(best.get(item.kind, 0.0), item.weight)
    return sum(best.values())


def clusters_of(links: Sequence[Link]) -> list[Cluster]:
    """Return the connected components of *links*, largest first, each named by its
    lowest account id."""
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for link in links:
        a, b = root(link.low), root(link.high)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for node in parent:
        groups.setdefault(root(node), []).append(node)
    inside: dict[int, list[Link]] = {}
    for link in links:
        inside.setdefault(root(link.low), []).append(link)
    found = [
        Cluster(f"c{top}", tuple(sorted(members)), tuple(inside.get(top, ())))
        for top, members in groups.items()
    ]
    found.sort(key=lambda c: (-c.size, c.members[0]))
    return found
