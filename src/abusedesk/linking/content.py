"""Near-duplicate message texts across accounts, by MinHash over word shingles.

Each text becomes the set of its word *k*-grams (numbers read as ``#``, so that one
template with different codes or amounts stays one text); MinHash estimates the Jaccard
similarity of two such sets from fixed-length signatures, and locality-sensitive hashing
(signatures cut into bands; texts that agree on a whole band are candidates) finds the
alike pairs without comparing every text with every other.
"""

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abusedesk.linking.model import LinkPolicy, Text

# A prime above 2**32: the universal hash family ((a * x + b) mod p) over 32-bit shingles.
_PRIME = np.uint64(4_294_967_311)
_WORD = re.compile(r"\w+", re.UNICODE)
_NUMBER = re.compile(r"^\d+$")
_PERMUTATION_SEED = 20_261_129

Signature = npt.NDArray[np.uint64]


def shingles(text: str, words: int) -> set[str]:
    """Return the word *words*-grams of *text*, lowercased, numbers read as ``#``."""
    tokens = ["#" if _NUMBER.match(w) else w for w in _WORD.findall(text.lower())]
    if not tokens:
        return set()
    if len(tokens) <= words:
        return {" ".join(tokens)}
    return {" ".join(tokens[i : i + words]) for i in range(len(tokens) - words + 1)}


@functools.cache
def _permutations(count: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    rng = np.random.default_rng(_PERMUTATION_SEED)
    a = rng.integers(1, 2**31, size=count, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**31, size=count, dtype=np.uint64)
    return a, b


def signature(pieces: Iterable[str], permutations: int) -> Signature | None:
    """Return the MinHash signature of a set of shingles, or None for an empty set."""
    hashed = [
        int.from_bytes(hashlib.blake2b(p.encode("utf-8"), digest_size=4).digest(), "big")
        for p in pieces
    ]
    if not hashed:
        return None
    a, b = _permutations(permutations)
    x = np.asarray(hashed, dtype=np.uint64)
    # a < 2**31 and x < 2**32: the products stay below 2**63, inside uint64.
    values = (np.outer(x, a) + b) % _PRIME
    minimum: Signature = values.min(axis=0)
    return minimum


def similarity(one: Signature, other: Signature) -> float:
    """Return the Jaccard similarity two signatures estimate."""
    return float(np.mean(one == other))


def fingerprint(sig: Signature) -> str:
    """Return a short name for a text's signature (shown instead of the text itself)."""
    return hashlib.sha256(sig.tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class AlikePair:
    """Two accounts whose texts are alike: the best similarity and its texts' names."""

    low: int
    high: int
    similarity: float
    fingerprint: str
    holders: int
    sources: tuple[str, ...]
    # Every account sending a text alike to either of the two texts.
    group: frozenset[int] = frozenset()


@dataclass(frozen=True)
class _Signed:
    account_id: int
    source: str
    sig: Signature


def alike_pairs(texts: Iterable[Text], policy: LinkPolicy, *, common: int) -> list[AlikePair]:
    """Return the account pairs with alike texts; texts alike across more than *common*
    accounts are a common template and link nobody."""
    signed = _signed(texts, policy)
    rows = policy.minhash_permutations // policy.minhash_bands
    buckets: dict[tuple[int, bytes], list[int]] = {}
    for index, item in enumerate(signed):
        for band in range(policy.minhash_bands):
            key = item.sig[band * rows : (band + 1) * rows].tobytes()
            buckets.setdefault((band, key), []).append(index)
    alike: dict[tuple[int, int], float] = {}
    for members in buckets.values():
        accounts = {signed[i].account_id for i in members}
        if len(accounts) < 2 or len(accounts) > common:
            continue
        for n, i in enumerate(members):
            for j in members[n + 1 :]:
                if signed[i].account_id == signed[j].account_id or (i, j) in alike:
                    continue
                alike[(i, j)] = similarity(signed[i].sig, signed[j].sig)
    close = {pair: s for pair, s in alike.items() if s >= policy.content_similarity}
    # How many accounts send a text alike to each text: its holders.
    spread: dict[int, set[int]] = {}
    for i, j in close:
        for one, other in ((i, j), (j, i)):
            spread.setdefault(one, {signed[one].account_id}).add(signed[other].account_id)
    best: dict[tuple[int, int], AlikePair] = {}
    for (i, j), value in close.items():
        group = frozenset(spread[i] | spread[j])
        holders = len(group)
        if holders > common:
            continue
        a, b = sorted((signed[i].account_id, signed[j].account_id))
        found = best.get((a, b))
        if found is None or value > found.similarity:
            best[(a, b)] = AlikePair(
                a,
                b,
                value,
                fingerprint(signed[i].sig),
                holders,
                tuple(sorted({signed[i].source, signed[j].source})),
                group,
            )
    return sorted(best.values(), key=lambda p: (p.low, p.high))


def _signed(texts: Iterable[Text], policy: LinkPolicy) -> Sequence[_Signed]:
    kept: dict[int, dict[str, _Signed]] = {}
    for text in texts:
        pieces = shingles(text.text, policy.shingle_words)
        own = kept.setdefault(text.account_id, {})
        key = "\n".join(sorted(pieces))
        if not pieces or key in own or len(own) >= policy.max_texts_per_account:
            continue
        sig = signature(pieces, policy.minhash_permutations)
        if sig is not None:
            own[key] = _Signed(text.account_id, text.source, sig)
    return [item for own in kept.values() for item in own.values()]
