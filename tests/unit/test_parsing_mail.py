"""Email helpers shared by the parsers: domains, typed fields, embedded messages."""

import email
from email.policy import compat32

import pytest

from abusedesk.parsing import mail


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("News <News@Example.COM.>", "example.com"),
        ("no address here", None),
        (f"a@{'x' * 250}.example", None),
    ],
)
def test_address_domain_is_lowercased_and_bounded(value: str, expected: str | None) -> None:
    """The domain of an address is lowercased; no domain, or one past 253 characters, is None."""
    assert mail.address_domain(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("rfc822; someone@example.net", "someone@example.net"),
        ("smtp; 550 5.1.1 no; really", "550 5.1.1 no; really"),
        ("550 user unknown; see above", "550 user unknown; see above"),
        ("  ", None),
    ],
)
def test_typed_value_drops_only_a_leading_type(value: str, expected: str | None) -> None:
    """A ``type;`` prefix is removed; text without one is kept whole."""
    assert mail.typed_value(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("dns; MX.Example.NET.", "mx.example.net"),
        ("dns;relay.example.com (Postfix)", "relay.example.com"),
        ("mx.example.org", "mx.example.org"),
        (None, None),
    ],
)
def test_mta_name_is_the_host_of_an_mta_field(value: str | None, expected: str | None) -> None:
    """An MTA field gives its host, lowercased, without the type or comments."""
    assert mail.mta_name(value) == expected


def test_headers_part_nested_too_deeply_gives_no_message() -> None:
    """A text/rfc822-headers part deep enough to exhaust the email package yields None."""
    nested = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\n\n--b{n}\n' for n in range(5000)
    )
    part = email.message_from_string(
        "Content-Type: text/rfc822-headers\n\n" + nested, policy=compat32
    )
    assert mail.embedded_message(part) is None
