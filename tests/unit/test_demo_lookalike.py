"""Look-alike domains: they resemble a customer's domain and are never the customer's."""

import random

import pytest

from abusedesk.demo.lookalike import STYLES, imitates_none_of, lookalike, pick_lookalike


@pytest.mark.parametrize(
    ("candidate", "identities", "expected"),
    [
        ("acme-shop.test", ["acme-shop.test"], False),
        ("ACME-shop.test.", ["acme-shop.test"], False),
        ("mail.acme-shop.test", ["acme-shop.test"], False),
        ("acme-shop.test", ["email.acme-shop.test"], False),
        ("acme-shop.test.mailer-x.example", ["acme-shop.test"], True),
        ("xacme-shop.test", ["acme-shop.test"], True),
        ("acme-shoppe.test", ["acme-shop.test", "other.example"], True),
    ],
)
def test_only_names_across_no_label_boundary_count_as_look_alikes(
    candidate: str, identities: list[str], expected: bool
) -> None:
    """Equal, subdomain or parent of an identity is the customer's own; anything else is not."""
    assert imitates_none_of(candidate, identities) is expected


@pytest.mark.parametrize("style", STYLES)
def test_every_style_changes_the_domain(style: str) -> None:
    """Each style gives a domain other than the one imitated, for many draws."""
    rng = random.Random(style)
    domains = ["harbor-logistics.example", "email.cedar-books.example", "offersave46.test"]
    same = [d for d in domains for _ in range(50) if lookalike(rng, d, style) == d]
    assert same == []


def test_the_customer_domain_under_a_foreign_parent_keeps_it_whole() -> None:
    """The foreign-parent style puts the customer's whole domain under somebody else's."""
    found = lookalike(random.Random(1), "acme-shop.test", "foreign_parent")
    assert found.startswith("acme-shop.test.")
    assert not found.endswith(".acme-shop.test")


def test_an_unknown_style_is_refused() -> None:
    """Asking for a style that does not exist is an error, not a silent copy."""
    with pytest.raises(ValueError, match="unknown look-alike style"):
        lookalike(random.Random(1), "acme-shop.test", "homoglyph-unicode")


def test_picked_look_alikes_never_fall_on_an_identity() -> None:
    """Whatever is picked is neither an identity nor a parent or subdomain of one."""
    identities = [
        "acme-shop.test",
        "acme-shop.example",
        "acmeshop.test",
        "mail.acme-shop.test",
        "secure-acme-shop.test",
    ]
    rng = random.Random(7)
    picked = [pick_lookalike(rng, "acme-shop.test", identities) for _ in range(300)]
    wrong = [
        p
        for p in picked
        if p is not None
        and any(p == i or p.endswith(f".{i}") or i.endswith(f".{p}") for i in identities)
    ]
    assert (wrong, sum(p is not None for p in picked) > 250) == ([], True)
