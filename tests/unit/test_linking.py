"""Linking accounts through shared values: weights, rarity, corroboration, clusters, MinHash."""

import pytest

from abusedesk.linking.content import alike_pairs, shingles, signature, similarity
from abusedesk.linking.graph import clusters_of, common_limit, link_accounts, rarity
from abusedesk.linking.indicators import (
    account_indicators,
    event_indicator,
    resource_indicators,
)
from abusedesk.linking.model import Indicator, IndicatorKind, Link, LinkPolicy, Text

K = IndicatorKind
POLICY = LinkPolicy()


def _held(kind: str, value: str, *accounts: int) -> list[Indicator]:
    return [Indicator(a, kind, value, f"account:{a}") for a in accounts]


def _pairs(links: tuple[Link, ...]) -> list[tuple[int, int]]:
    return [(link.low, link.high) for link in links]


def test_a_shared_card_links_two_accounts_on_its_own() -> None:
    """A payment fingerprint two accounts share is strong enough alone."""
    found = link_accounts(_held(K.PAYMENT_FINGERPRINT, "pf_1", 1, 2), population=100)

    assert _pairs(found.links) == [(1, 2)]
    assert [s.kind for s in found.links[0].evidence] == [K.PAYMENT_FINGERPRINT]


def test_a_shared_url_domain_alone_links_nobody() -> None:
    """A URL domain needs another kind beside it."""
    found = link_accounts(_held(K.URL_DOMAIN, "trk.test", 1, 2), population=100)

    assert found.links == ()


def test_a_url_domain_with_a_sign_up_ip_links_two_accounts() -> None:
    """Two weak kinds together pass the threshold."""
    indicators = _held(K.URL_DOMAIN, "trk.test", 1, 2) + _held(K.SIGNUP_IP, "192.0.2.9", 1, 2)

    found = link_accounts(indicators, population=100)

    assert _pairs(found.links) == [(1, 2)]
    assert found.links[0].score == pytest.approx(
        POLICY.weight(K.URL_DOMAIN) + POLICY.weight(K.SIGNUP_IP)
    )


def test_many_values_of_one_kind_count_as_the_strongest_of_them() -> None:
    """Three shared URL domains are still one weak kind, not a link."""
    indicators = [
        *_held(K.URL_DOMAIN, "a.test", 1, 2),
        *_held(K.URL_DOMAIN, "b.test", 1, 2),
        *_held(K.URL_DOMAIN, "c.test", 1, 2),
    ]

    assert link_accounts(indicators, population=100).links == ()


def test_a_value_held_by_very_many_accounts_links_nobody() -> None:
    """Past the common limit a card placeholder is left out and named as common."""
    holders = range(1, common_limit(100, POLICY) + 2)

    found = link_accounts(_held(K.PAYMENT_FINGERPRINT, "pf_0", *holders), population=100)

    assert (found.links, [(c.kind, c.value) for c in found.common]) == (
        (),
        [(K.PAYMENT_FINGERPRINT, "pf_0")],
    )


def test_rarity_is_one_for_two_holders_and_falls_as_more_hold_a_value() -> None:
    """The weight of a value falls with the number of accounts holding it."""
    values = [rarity(n, 1000, POLICY) for n in (2, 5, 20, 200, 1000)]

    assert values[0] == 1.0
    assert values == sorted(values, reverse=True)
    assert values[-1] == 0.0


def test_a_card_shared_by_a_few_more_accounts_weighs_less_but_still_links() -> None:
    """Six accounts on one card are all linked, each link weighing less than a pair's."""
    found = link_accounts(_held(K.PAYMENT_FINGERPRINT, "pf_r", *range(1, 7)), population=300)

    assert len(found.links) == 15
    assert found.links[0].evidence[0].weight < POLICY.weight(K.PAYMENT_FINGERPRINT)


def test_a_dkim_key_on_the_domain_both_verified_counts_as_that_domain_only() -> None:
    """An agency that verified its client's domain shares its keys too: one fact, no link."""
    indicators = [
        *resource_indicators(1, 10, "identity_domain", "client.example", {"dkim_selectors": ["k" * 32]}),
        *resource_indicators(2, 20, "identity_domain", "client.example", {"dkim_selectors": ["k" * 32]}),
    ]  # fmt: skip

    found = link_accounts(indicators, population=100)

    assert found.links == ()


def test_one_dkim_key_on_two_different_domains_links_the_accounts() -> None:
    """A signing key reused across two accounts' own domains is strong evidence."""
    indicators = [
        *resource_indicators(1, 10, "identity_domain", "one.example", {"dkim_public_key": "MIIB" * 40}),
        *resource_indicators(2, 20, "identity_domain", "two.example", {"dkim_public_key": "MIIB" * 40}),
    ]  # fmt: skip

    found = link_accounts(indicators, population=100)

    assert [link.kinds for link in found.links] == [(K.DKIM_KEY,)]


def test_one_domain_sent_from_and_linked_to_counts_once() -> None:
    """The same value under two kinds is one fact: no corroboration from itself."""
    indicators = _held(K.SENDING_DOMAIN, "shop.test", 1, 2) + _held(K.URL_DOMAIN, "shop.test", 1, 2)

    assert link_accounts(indicators, population=100).links == ()


def test_clusters_are_connected_components_named_by_their_lowest_account() -> None:
    """Links 1-2, 2-3 and 7-9 make two clusters, largest first."""
    indicators = [
        *_held(K.PAYMENT_FINGERPRINT, "pf_a", 1, 2),
        *_held(K.DEVICE_FINGERPRINT, "dev_b", 2, 3),
        *_held(K.PAYMENT_FINGERPRINT, "pf_c", 7, 9),
    ]

    found = link_accounts(indicators, population=100)

    assert [(c.key, c.members) for c in found.clusters] == [("c1", (1, 2, 3)), ("c7", (7, 9))]


def test_clusters_of_no_links_is_empty() -> None:
    """Without links there is no cluster."""
    assert clusters_of([]) == []


def test_shingles_read_numbers_as_one_word() -> None:
    """One template with different codes gives the same shingles."""
    assert shingles("Your code is 123456 now", 3) == shingles("Your code is 998877 now", 3)


def test_minhash_estimates_near_one_for_alike_texts_and_low_for_others() -> None:
    """A changed word keeps texts alike; unrelated texts are far apart."""
    base = "winner you have won a gift card claim it now at the link below before midnight"
    near = base.replace("midnight", "noon")
    other = "your parcel is held at customs pay the release fee to get it delivered today"
    one, two, three = (signature(shingles(t, 3), 64) for t in (base, near, other))

    assert one is not None
    assert two is not None
    assert three is not None
    assert similarity(one, two) >= 0.6
    assert similarity(one, three) < 0.2


def test_alike_texts_from_two_accounts_make_a_content_pair() -> None:
    """Two accounts sending one spam text are an alike pair; a third sending another is not."""
    spam = "URGENT your bank account is locked verify your details at the page below now"
    texts = [
        Text(1, spam, "event:1"),
        Text(2, spam.replace("now", "today"), "event:2"),
        Text(
            3, "Your appointment is confirmed for tomorrow at ten reply stop to opt out", "event:3"
        ),
    ]

    pairs = alike_pairs(texts, POLICY, common=10)

    assert [(p.low, p.high) for p in pairs] == [(1, 2)]
    assert pairs[0].sources == ("event:1", "event:2")


def test_content_with_a_shared_url_domain_links_two_accounts() -> None:
    """Alike texts corroborate a shared URL domain."""
    spam = "you have an unclaimed tax refund submit your details at the form below today"
    texts = [Text(1, spam, "event:1"), Text(2, spam, "event:2")]

    found = link_accounts(_held(K.URL_DOMAIN, "refund.test", 1, 2), texts, population=100)

    assert [set(link.kinds) for link in found.links] == [{K.URL_DOMAIN, K.CONTENT}]


def test_a_text_many_accounts_send_links_nobody() -> None:
    """A common template (a passcode text) is left out as common."""
    texts = [Text(n, f"Your verification code is {n}00000. Do not share it.", f"event:{n}") for n in range(1, 14)]  # fmt: skip

    assert alike_pairs(texts, POLICY, common=10) == []


def test_account_indicators_skip_values_of_the_wrong_shape() -> None:
    """Attributes that are no object, and fingerprints that are no text, give nothing."""
    broken = list(
        account_indicators(
            1,
            payment_fingerprint=None,
            contact_email="no-at-sign",
            attributes=["device"],  # type: ignore[arg-type]  # bad data on purpose
        )
    )
    good = list(
        account_indicators(
            2,
            payment_fingerprint=" pf_9 ",
            contact_email="ops@Mail.Shop.example",
            attributes={"device_fingerprint": ["d1", 7], "signup_ip": "192.0.2.4"},
        )
    )

    assert broken == []
    assert [(i.kind, i.value) for i in good] == [
        (K.PAYMENT_FINGERPRINT, "pf_9"),
        (K.DEVICE_FINGERPRINT, "d1"),
        (K.SIGNUP_IP, "192.0.2.4"),
        (K.CONTACT_DOMAIN, "shop.example"),
    ]


def test_event_indicators_give_registrable_url_domains_and_phone_numbers() -> None:
    """A URL host becomes its registrable domain; an IP host and other keys give nothing."""
    found = [
        event_indicator(1, 5, "url_host", "trk.offers.example.co.uk"),
        event_indicator(1, 5, "url_host", "203.0.113.7"),
        event_indicator(1, 5, "phone_number", "+12025550123"),
        event_indicator(1, 5, "from_domain", "news.example"),
    ]

    assert [(i.kind, i.value, i.source) if i else None for i in found] == [
        (K.URL_DOMAIN, "example.co.uk", "event:5"),
        None,
        (K.PHONE_NUMBER, "+12025550123", "event:5"),
        None,
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weights", {"horoscope": 1.0}),
        ("threshold", 0.0),
        ("common_share", 1.5),
        ("minhash_bands", 5),
        ("content_similarity", 0.0),
    ],
)
def test_a_policy_refuses_values_that_make_no_sense(field: str, value: object) -> None:
    """Unknown kinds, a zero threshold, shares above one, bands not dividing are refused."""
    with pytest.raises(ValueError):  # noqa: PT011  # each case has its own message
        LinkPolicy(**{field: value})  # type: ignore[arg-type]  # each field gets its own type


def test_weak_values_held_mostly_by_different_accounts_do_not_corroborate() -> None:
    """A popular link among six accounts and a busy sign-up IP among six others meet on two
    accounts by chance: no link, and the evidence says why."""
    indicators = [
        *_held(K.URL_DOMAIN, "garden.test", 1, 2, 3, 4, 5, 6),
        *_held(K.SIGNUP_IP, "192.0.2.7", 1, 2, 7, 8, 9, 10),
    ]

    assert link_accounts(indicators, population=100).links == ()


def test_weak_values_held_by_one_group_corroborate_each_other() -> None:
    """Six accounts on one sign-up IP, four of which link to one domain: those four link."""
    indicators = [
        *_held(K.URL_DOMAIN, "trk.test", 1, 2, 3, 4),
        *_held(K.SIGNUP_IP, "192.0.2.250", 1, 2, 3, 4, 5, 6),
    ]

    found = link_accounts(indicators, population=100)

    assert [c.members for c in found.clusters] == [(1, 2, 3, 4)]


def test_a_value_past_the_most_holders_any_value_may_have_is_common() -> None:
    """However large the provider, a value held by more than max_holders links nobody."""
    policy = LinkPolicy(max_holders=20)
    holders = range(1, 22)

    found = link_accounts(
        _held(K.PAYMENT_FINGERPRINT, "pf_x", *holders), population=100_000, policy=policy
    )

    assert (found.links, len(found.common)) == ((), 1)
