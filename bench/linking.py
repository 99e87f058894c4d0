"""Linked accounts: cluster precision and recall on the simulated provider's planted ring.

    uv run python bench/linking.py --seed S [--accounts N --days D --reports R]

Generates the simulated provider from the seed, the sign-up facts its provider would feed
in (``abusedesk.demo.linking``: hashed card and device fingerprints, with a ring that
rotates cards and a device fingerprint common to many legitimate accounts), its traffic
and R reports; parses every report with the real parsers and keeps, for the account the
report is about (its ground truth), the indicators the search index would store. Then
links and clusters the accounts (``abusedesk.linking``) and compares the clusters with the
planted ring, pairwise: precision is the share of account pairs put in one cluster that
are one ring's members; recall is the share of the ring's pairs put in one cluster.

Exit status: 0 when both meet their goals, 1 otherwise.
"""

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from abusedesk.demo.linking import planted_rings, sign_up_facts  # noqa: E402
from abusedesk.demo.provider import generate_provider  # noqa: E402
from abusedesk.demo.reports import ReportGenerator  # noqa: E402
from abusedesk.demo.traffic import generate_traffic  # noqa: E402
from abusedesk.linking.graph import Linking, link_accounts  # noqa: E402
from abusedesk.linking.indicators import (  # noqa: E402
    account_indicators,
    event_indicator,
    resource_indicators,
)
from abusedesk.linking.model import Indicator, IndicatorKind, LinkPolicy, Text  # noqa: E402
from abusedesk.parsing.errors import ParseError  # noqa: E402
from abusedesk.parsing.registry import default_registry  # noqa: E402
from abusedesk.pipeline.enrich import enrich  # noqa: E402
from abusedesk.search.query import index_entries  # noqa: E402

# The goals, pairwise over the planted ring.
GOAL_PRECISION = 0.95
GOAL_RECALL = 0.9

END = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LinkingResult:
    """The figures of one run and what they rest on."""

    seed: int
    accounts: int
    reports: int
    indicators: int
    texts: int
    ring: tuple[str, ...]
    linking: Linking
    names: dict[int, str]
    true_pairs: int
    found_pairs: int
    right_pairs: int
    seconds: float
    # The same figures without the card and device fingerprints: reports and inventory only.
    without_fingerprints: tuple[float, float]

    @property
    def precision(self) -> float:
        """Return the share of clustered pairs that are ring pairs (1 when none clustered)."""
        return self.right_pairs / self.found_pairs if self.found_pairs else 1.0

    @property
    def recall(self) -> float:
        """Return the share of ring pairs clustered together."""
        return self.right_pairs / self.true_pairs if self.true_pairs else 1.0

    def wrong(self) -> list[str]:
        """Return, in words, every cluster holding an account outside the ring."""
        ring = set(self.ring)
        lines = []
        for cluster in self.linking.clusters:
            names = [self.names[m] for m in cluster.members]
            if any(n not in ring for n in names) or not set(names) <= ring:
                kinds = sorted({k for link in cluster.links for k in link.kinds})
                lines.append(f"{', '.join(names)} via {', '.join(kinds)}")
        return lines


def measure(
    *, seed: int, accounts: int = 300, days: int = 14, reports: int = 3000
) -> LinkingResult:
    """Generate, link and compare for one seed; return the figures."""
    provider = generate_provider(seed=seed, accounts=accounts, days=days, end=END)
    facts = sign_up_facts(provider)
    ids = {a.external_id: n for n, a in enumerate(provider.accounts, start=1)}
    names = {n: e for e, n in ids.items()}
    indicators: list[Indicator] = []
    resource_id = 0
    for account in provider.accounts:
        number = ids[account.external_id]
        signed_up = facts[account.external_id]
        attributes = {**account.attributes, "device_fingerprint": signed_up.device_fingerprint}
        indicators.extend(
            account_indicators(
                number,
                payment_fingerprint=signed_up.payment_fingerprint,
                contact_email=account.contact_email,
                attributes=attributes,
            )
        )
        for resource in account.resources:
            resource_id += 1
            indicators.extend(
                resource_indicators(
                    number, resource_id, resource.kind, resource.value, resource.attributes
                )
            )
    traffic = generate_traffic(provider, with_stats=False)
    registry = default_registry()
    texts: list[Text] = []
    event_id = 0
    for report in ReportGenerator(provider, traffic).generate(reports):
        if report.truth.account is None:
            continue
        number = ids[report.truth.account]
        try:
            parsed = registry.parse(report.raw)
        except ParseError:
            continue
        for draft in parsed.events:
            event_id += 1
            event = enrich(draft)
            for key, value in index_entries(event.indicators):
                found = event_indicator(number, event_id, key, value)
                if found is not None:
                    indicators.append(found)
            text = event.details.get("message_text")
            if isinstance(text, str) and text.strip():
                texts.append(Text(number, text, f"event:{event_id}"))
    # The simulator's millions of objects would make the collector's full passes, not the
    # linking, dominate the time: set them aside before timing.
    gc.collect()
    gc.freeze()
    parsed_at = time.perf_counter()
    linking = link_accounts(indicators, texts, population=len(ids), policy=LinkPolicy())
    seconds = time.perf_counter() - parsed_at
    gc.unfreeze()
    rings = planted_rings(provider)
    ring = tuple(sorted(rings[0])) if rings else ()
    truth = {frozenset(p) for r in rings for p in combinations(sorted(r), 2)}
    found = _pairs(linking, names)
    fingerprints = (IndicatorKind.PAYMENT_FINGERPRINT, IndicatorKind.DEVICE_FINGERPRINT)
    bare = link_accounts(
        [i for i in indicators if i.kind not in fingerprints], texts, population=len(ids)
    )
    bare_found = _pairs(bare, names)
    return LinkingResult(
        seed=seed,
        accounts=len(ids),
        reports=reports,
        indicators=len(indicators),
        texts=len(texts),
        ring=ring,
        linking=linking,
        names=names,
        true_pairs=len(truth),
        found_pairs=len(found),
        right_pairs=len(found & truth),
        seconds=seconds,
        without_fingerprints=(
            len(bare_found & truth) / len(bare_found) if bare_found else 1.0,
            len(bare_found & truth) / len(truth) if truth else 1.0,
        ),
    )


def _pairs(linking: Linking, names: dict[int, str]) -> set[frozenset[str]]:
    """Return every pair of accounts put in one cluster, by external id."""
    return {
        frozenset((names[a], names[b]))
        for cluster in linking.clusters
        for a, b in combinations(cluster.members, 2)
    }


def print_result(result: LinkingResult) -> None:
    """Print the figures beside their goals, and every wrong cluster."""
    linking = result.linking
    print(
        f"seed {result.seed}: {result.accounts} accounts, {result.reports} reports, "
        f"{result.indicators:,} indicators, {result.texts} texts; ring of {len(result.ring)}"
    )
    print(
        f"  links {len(linking.links)}, clusters {len(linking.clusters)} "
        f"(sizes {[c.size for c in linking.clusters]}), common values left out "
        f"{len(linking.common)}; linking took {result.seconds:.2f} s"
    )
    print(
        f"  pairwise precision {result.precision:.3f} (goal >= {GOAL_PRECISION}), "
        f"recall {result.recall:.3f} (goal >= {GOAL_RECALL}); "
        f"pairs found {result.found_pairs}, right {result.right_pairs}, planted {result.true_pairs}"
    )
    precision, recall = result.without_fingerprints
    print(
        f"  without card and device fingerprints (reports and inventory only): "
        f"precision {precision:.3f}, recall {recall:.3f} (no goal)"
    )
    for line in result.wrong():
        print(f"  cluster not the ring: {line}")


def meets_goals(result: LinkingResult) -> bool:
    """Tell whether precision and recall reach their goals."""
    return result.precision >= GOAL_PRECISION and result.recall >= GOAL_RECALL


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench for one seed and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--reports", type=int, default=3000)
    args = parser.parse_args(argv)
    result = measure(seed=args.seed, accounts=args.accounts, days=args.days, reports=args.reports)
    print_result(result)
    return 0 if meets_goals(result) else 1


if __name__ == "__main__":
    sys.exit(main())
