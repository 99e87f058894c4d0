"""Domains that look like a customer's verified domain but belong to somebody else.

Phishers and spammers who are not the provider's customers imitate the domains of
customers who are: a typo, an extra hyphen or word, another top-level domain, or the
customer's whole domain as a label of their own (``acme-shop.test.mailer-x.example``).
Complaints about their mail reach the provider's abuse desk anyway, because the From
line names a brand the complainant knows is sent through the provider.
"""

import random
from collections.abc import Collection

# Reserved top-level names only (RFC 2606, RFC 6761), so nothing real is named.
_TOP_LEVEL = (".example", ".test")
_EXTRA_WORDS = ("secure", "online", "mail", "support", "account", "my", "info", "news")
_FOREIGN_PARENTS = (
    "mailer-x.example",
    "bulk-relay.test",
    "send-fast.example",
    "campaign-hub.test",
    "inbox-direct.example",
)
# Letters people misread for each other.
_CONFUSABLE = {"o": "0", "l": "1", "i": "l", "m": "rn", "e": "3", "a": "4", "s": "5"}

STYLES = ("typo", "hyphen", "word", "tld", "foreign_parent")


def lookalike(rng: random.Random, domain: str, style: str) -> str:
    """Return a domain that imitates *domain* in one *style* (it may equal *domain*)."""
    # The registrable label (``acme-shop`` in ``email.acme-shop.example``) is the one
    # twisted; what is left and right of it stays as it was.
    labels = domain.split(".")
    if len(labels) < 2:
        raise ValueError(f"{domain!r} has no registrable label to imitate")
    head, label, tail = ".".join(labels[:-2]), labels[-2], "." + labels[-1]
    head = f"{head}." if head else ""
    if style == "typo":
        return head + _typo(rng, label) + tail
    if style == "hyphen":
        return head + _extra_hyphen(rng, label) + tail
    if style == "word":
        word = rng.choice(_EXTRA_WORDS)
        return head + (f"{word}-{label}" if rng.random() < 0.5 else f"{label}-{word}") + tail
    if style == "tld":
        suffix = next((t for t in _TOP_LEVEL if domain.endswith(t)), "")
        others = [t for t in _TOP_LEVEL if t != suffix]
        return domain.removesuffix(suffix) + rng.choice(others)
    if style == "foreign_parent":
        return f"{domain}.{rng.choice(_FOREIGN_PARENTS)}"
    raise ValueError(f"unknown look-alike style {style!r}")


def imitates_none_of(candidate: str, identities: Collection[str]) -> bool:
    """Tell whether *candidate* is neither one of *identities* nor above or below one.

    A domain equal to a verified identity, a subdomain of one (``x.acme.example`` is
    ``acme.example``'s), or a parent of one (``acme.example`` above ``mail.acme.example``)
    would be the customer's own; only what crosses no label boundary is a look-alike.
    """
    candidate = candidate.lower().rstrip(".")
    for name in identities:
        identity = name.lower().rstrip(".")
        if (
            candidate == identity
            or candidate.endswith(f".{identity}")
            or identity.endswith(f".{candidate}")
        ):
            return False
    return True


def pick_lookalike(
    rng: random.Random, domain: str, identities: Collection[str], *, attempts: int = 20
) -> str | None:
    """Return a look-alike of *domain* that imitates no identity, or None if none is found."""
    for _ in range(attempts):
        candidate = lookalike(rng, domain, rng.choice(STYLES))
        if imitates_none_of(candidate, identities):
            return candidate
    return None


def _typo(rng: random.Random, label: str) -> str:
    """Return *label* with two neighbours swapped, a letter doubled, or one misread."""
    letters = [i for i, c in enumerate(label) if c.isalpha()]
    if len(letters) < 2:
        return label + label[-1:]
    how = rng.randrange(3)
    if how == 0:
        pairs = [i for i in letters[:-1] if i + 1 in letters and label[i] != label[i + 1]]
        if pairs:
            i = rng.choice(pairs)
            return label[:i] + label[i + 1] + label[i] + label[i + 2 :]
    if how == 1:
        confusable = [i for i in letters if label[i] in _CONFUSABLE]
        if confusable:
            i = rng.choice(confusable)
            return label[:i] + _CONFUSABLE[label[i]] + label[i + 1 :]
    i = rng.choice(letters)
    return label[: i + 1] + label[i] + label[i + 1 :]


def _extra_hyphen(rng: random.Random, label: str) -> str:
    """Return *label* with a hyphen added (or one taken away where it had one)."""
    if "-" in label and rng.random() < 0.5:
        return label.replace("-", "", 1)
    inner = [i for i in range(1, len(label)) if label[i - 1] != "-" and label[i] != "-"]
    if not inner:
        return f"{label}-mail"
    i = rng.choice(inner)
    return label[:i] + "-" + label[i:]
