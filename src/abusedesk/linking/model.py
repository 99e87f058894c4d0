"""Indicators held by accounts, the links they make between accounts, and clusters.

An *indicator* is one value an account holds (a payment fingerprint, a domain in its
reported mail, a DKIM key ...). Two accounts holding the same value share it; how much
a shared value says depends on its kind (a card says more than a URL domain) and on how
rare it is (a value held by very many accounts says nothing). A *link* joins two accounts
whose shared values add up to at least the policy's threshold, with every shared value
as its evidence; a *cluster* is a group of accounts joined by links.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final


class IndicatorKind:
    """The kinds of value that can link accounts; stored as strings."""

    PAYMENT_FINGERPRINT = "payment_fingerprint"
    DEVICE_FINGERPRINT = "device_fingerprint"
    DKIM_KEY = "dkim_key"
    SENDING_DOMAIN = "sending_domain"
    URL_DOMAIN = "url_domain"
    PHONE_NUMBER = "phone_number"
    SIGNUP_IP = "signup_ip"
    CONTACT_DOMAIN = "contact_domain"
    CONTENT = "content"

    ALL = (
        PAYMENT_FINGERPRINT,
        DEVICE_FINGERPRINT,
        DKIM_KEY,
        SENDING_DOMAIN,
        URL_DOMAIN,
        PHONE_NUMBER,
        SIGNUP_IP,
        CONTACT_DOMAIN,
        CONTENT,
    )


# What one shared value of each kind weighs before rarity: the kinds at or above the link
# threshold link two accounts on their own (a card, a device, a signing key are not shared
# by chance); the others need another kind beside them.
DEFAULT_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {
        IndicatorKind.PAYMENT_FINGERPRINT: 1.5,
        IndicatorKind.DEVICE_FINGERPRINT: 1.5,
        IndicatorKind.DKIM_KEY: 1.5,
        IndicatorKind.SENDING_DOMAIN: 0.8,
        IndicatorKind.URL_DOMAIN: 0.8,
        IndicatorKind.PHONE_NUMBER: 0.8,
        IndicatorKind.CONTENT: 0.8,
        IndicatorKind.SIGNUP_IP: 0.6,
        IndicatorKind.CONTACT_DOMAIN: 0.5,
    }
)


@dataclass(frozen=True)
class Indicator:
    """One value one account holds, where it was seen, and what it repeats.

    *same_as* names another value (of any kind) that states the same fact: a DKIM key
    published on a domain repeats that domain. When two accounts share both, the pair
    counts the fact once (the stronger of the two), so an agency that verified its
    client's domain, keys and all, is not linked twice over for one domain.
    """

    account_id: int
    kind: str
    value: str
    source: str
    same_as: str | None = None


@dataclass(frozen=True)
class Text:
    """A message text an account sent, as reports quote it (an SMS, a push, a body)."""

    account_id: int
    text: str
    source: str


@dataclass(frozen=True)
class LinkPolicy:
    """How shared values become links.

    A value's rarity is ``ln(P / n) / ln(P / 2)`` for a value held by *n* accounts among a
    population *P* of at least *min_population* accounts: 1 for a value two accounts
    share, falling as more hold it. A value held by more than *common_share* of the
    accounts, and by more than *common_min_holders*, is common: it links nobody; so is
    one held by more than *max_holders* (which also bounds the pairs one value makes). A link
    needs a *score* (per kind the strongest shared value, weight times rarity, summed over
    kinds) of at least *threshold*. Without a value strong enough alone, the weaker
    kinds add to the strongest only where they *corroborate* it: the accounts holding the
    smaller of the two values' holder sets mostly hold the other too (their overlap over
    the smaller set at least *corroboration*), as when one operator's accounts share a
    sign-up IP and the links in their mail; two accounts that happen to meet on a busy IP
    and a link popular with others do not.
    Texts are alike at an estimated Jaccard similarity of
    *content_similarity* or more over word shingles of *shingle_words* words.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    threshold: float = 1.0
    corroboration: float = 0.6
    min_population: int = 1000
    common_share: float = 0.01
    common_min_holders: int = 10
    max_holders: int = 200
    content_similarity: float = 0.6
    shingle_words: int = 3
    minhash_permutations: int = 64
    minhash_bands: int = 16
    max_texts_per_account: int = 50

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(IndicatorKind.ALL))
        if unknown:
            raise ValueError(f"no indicator kind {', '.join(unknown)}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("indicator weights are 0 or more")
        if self.threshold <= 0:
            raise ValueError("the link threshold must be above 0")
        if not 0 <= self.corroboration <= 1:
            raise ValueError("the corroboration overlap is a fraction from 0 to 1")
        if self.min_population < 3:
            raise ValueError("the reference population is at least 3 accounts")
        if not 0 < self.common_share <= 1:
            raise ValueError("the common share is a fraction above 0 and at most 1")
        if self.common_min_holders < 2:
            raise ValueError("a value is common only when more than 2 accounts hold it")
        if self.max_holders < self.common_min_holders:
            raise ValueError("the most holders a value may have is at least common_min_holders")
        if not 0 < self.content_similarity <= 1:
            raise ValueError("the content similarity is a fraction above 0 and at most 1")
        if self.shingle_words < 1:
            raise ValueError("a shingle has at least one word")
        if self.minhash_permutations < 1 or self.minhash_bands < 1:
            raise ValueError("MinHash needs at least one permutation and one band")
        if self.minhash_permutations % self.minhash_bands:
            raise ValueError("the MinHash bands must divide its permutations")
        if self.max_texts_per_account < 1:
            raise ValueError("keep at least one text per account")

    def weight(self, kind: str) -> float:
        """Return the weight of a shared value of *kind* (0 for a kind not weighed)."""
        return self.weights.get(kind, 0.0)

    def strong_alone(self, kind: str) -> bool:
        """Tell whether one rare shared value of *kind* links two accounts on its own."""
        return self.weight(kind) >= self.threshold


@dataclass(frozen=True)
class Shared:
    """One value two accounts share: the evidence for a link, with what it weighed."""

    kind: str
    value: str
    holders: int
    rarity: float
    weight: float
    sources: tuple[str, ...]
    # For content: the estimated similarity of the two accounts' most alike texts.
    similarity: float | None = None
    # Counted inside a stronger value stating the same fact (see Indicator.same_as).
    counted: bool = True
    # False: a weak value held mostly by other accounts than the strongest value's holders.
    corroborates: bool = True

    def describe(self) -> str:
        """Say the evidence in one line an analyst reads."""
        what = self.kind.replace("_", " ")
        alike = f", texts {self.similarity:.0%} alike" if self.similarity is not None else ""
        held = f"held by {self.holders} accounts" if self.holders > 2 else "held by these two"
        tail = "" if self.counted else "; the same fact as a stronger value, counted once"
        if self.counted and not self.corroborates:
            tail = "; held mostly by other accounts, so it does not corroborate"
        return f"{what} {self.value} ({held}{alike}; weighs {self.weight:.2f}{tail})"


@dataclass(frozen=True)
class Link:
    """Two accounts (``low`` < ``high``) joined by shared values whose score passed."""

    low: int
    high: int
    score: float
    evidence: tuple[Shared, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        """Return the kinds of counted evidence, strongest first."""
        ordered = sorted((s for s in self.evidence if s.counted), key=lambda s: -s.weight)
        return tuple(dict.fromkeys(s.kind for s in ordered))

    def other(self, account_id: int) -> int:
        """Return the account at the other end from *account_id*."""
        return self.high if account_id == self.low else self.low


@dataclass(frozen=True)
class Cluster:
    """Accounts joined by links, named by its oldest member (lowest account id)."""

    key: str
    members: tuple[int, ...]
    links: tuple[Link, ...]

    @property
    def size(self) -> int:
        """Return how many accounts the cluster holds."""
        return len(self.members)

    @property
    def score(self) -> float:
        """Return the strongest link's score."""
        return max((link.score for link in self.links), default=0.0)
