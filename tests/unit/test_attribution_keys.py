"""Lookup keys: what each resource is known by, written as reports quote it."""

import pytest

from abusedesk.attribution.keys import KeyKind, ResourceKind, normal_key, resource_keys


def test_a_domain_identity_is_known_by_its_domain_dkim_keys_and_mail_from_domain() -> None:
    """Easy-DKIM selectors become selector._domainkey.domain, all lowercased."""
    keys = resource_keys(
        ResourceKind.IDENTITY_DOMAIN,
        "News.Example.COM.",
        {"dkim_selectors": ["abc", "DEF"], "mail_from_domain": "mail.news.example.com"},
    )
    assert keys == [
        ("domain", "news.example.com"),
        ("dkim", "abc._domainkey.news.example.com"),
        ("dkim", "def._domainkey.news.example.com"),
        ("mail_from_domain", "mail.news.example.com"),
    ]


def test_a_configuration_set_is_known_by_its_name_and_feedback_ids() -> None:
    """One Feedback-ID or a list of them, and CFBL-Feedback-IDs, kept as written."""
    keys = resource_keys(
        ResourceKind.CONFIGURATION_SET,
        "marketing",
        {"feedback_id": ["a:b:c:Sender", "x:y"], "cfbl_feedback_id": "Q2ZC"},
    )
    assert keys == [
        ("configuration_set", "marketing"),
        ("feedback_id", "a:b:c:Sender"),
        ("feedback_id", "x:y"),
        ("cfbl_feedback_id", "Q2ZC"),
    ]


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (
            ResourceKind.ORIGINATION_NUMBER,
            "+1 (415) 555-0100",
            [("origination_number", "+14155550100")],
        ),
        (ResourceKind.SENDER_ID, "AcmeBank", [("sender_id", "ACMEBANK")]),
        (ResourceKind.MAILBOX, "Pat@Corp.Example", [("mailbox", "pat@corp.example")]),
        (ResourceKind.IP_POOL, "shared-a", [("ip_pool", "shared-a")]),
        (ResourceKind.MAIL_ORGANIZATION, "m-1", [("mail_organization", "m-1")]),
        ("unknown_kind", "x", []),
    ],
)
def test_other_resources_are_known_by_their_normalised_value(
    kind: str, value: str, expected: list[tuple[str, str]]
) -> None:
    """Numbers in E.164, sender ids upper-case, addresses lowercase; unknown kinds nothing."""
    assert resource_keys(kind, value, {}) == expected


def test_a_mail_organisation_is_also_known_by_its_domain() -> None:
    """Mail from an organisation's mailboxes carries its domain."""
    assert ("domain", "corp.example") in resource_keys(
        ResourceKind.MAIL_ORGANIZATION, "m-1", {"domain": "Corp.Example"}
    )


def test_values_that_name_nothing_give_no_key() -> None:
    """Empty, over-long and unreadable values are skipped, and bad attributes ignored."""
    assert normal_key(KeyKind.DOMAIN, "  ") is None
    assert normal_key(KeyKind.FEEDBACK_ID, "x" * 321) is None
    assert normal_key(KeyKind.ORIGINATION_NUMBER, "call me") is None
    assert resource_keys(ResourceKind.IDENTITY_DOMAIN, "a.example", {"dkim_selectors": 5}) == [
        ("domain", "a.example")
    ]
