"""Blocklist settings: switched off by default, and refusing what cannot be asked."""

import pytest
from pydantic import ValidationError

from abusedesk.config import BlocklistSettings, Settings


def test_the_checks_are_off_and_ask_the_default_lists_when_switched_on() -> None:
    """Off by default; the default lists are IP and domain lists from the catalogue."""
    settings = BlocklistSettings()
    assert (settings.enabled, [b.name for b in settings.blocklists()]) == (
        False,
        ["spamhaus-zen", "spamcop", "barracuda", "spamhaus-dbl", "uribl", "surbl"],
    )


def test_a_configured_zone_replaces_the_catalogues() -> None:
    """A DQS zone for ZEN is asked instead of the public mirror; the rest is unchanged."""
    settings = BlocklistSettings(
        lists=["spamhaus-zen", "spamcop"], zones={"spamhaus-zen": "KEY.zen.dq.spamhaus.net."}
    )
    assert [(b.name, b.zone) for b in settings.blocklists()] == [
        ("spamhaus-zen", "key.zen.dq.spamhaus.net"),
        ("spamcop", "bl.spamcop.net"),
    ]


def test_the_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested variables switch the checks on and name our resolver and its port."""
    monkeypatch.setenv("ABUSEDESK_BLOCKLISTS__ENABLED", "true")
    monkeypatch.setenv("ABUSEDESK_BLOCKLISTS__NAMESERVERS", '["10.0.0.53", "2001:db8::53"]')
    monkeypatch.setenv("ABUSEDESK_BLOCKLISTS__PORT", "5353")
    settings = Settings().blocklists
    assert (settings.enabled, settings.nameservers, settings.port) == (
        True,
        ["10.0.0.53", "2001:db8::53"],
        5353,
    )


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"lists": ["spamhaus-zen", "nosuchlist"]}, "unknown blocklist 'nosuchlist'"),
        ({"zones": {"nosuchlist": "x.example"}}, "unknown blocklist"),
        ({"zones": {"spamhaus-zen": "not a zone"}}, "is not a blocklist zone"),
        ({"nameservers": ["resolver.example"]}, "a nameserver is an IP address"),
        ({"ranges": ["198.51.100.0/33"]}, "a range is a network"),
        ({"ranges": ["10.0.0.0/16"]}, "65536 addresses"),
        ({"ranges": ["2001:db8::/64"]}, "a range holds at most 4096"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"queries_per_second": 0}, "greater than 0"),
    ],
)
def test_settings_that_cannot_be_used_are_refused_saying_why(
    values: dict[str, object], words: str
) -> None:
    """Each mistake is refused at start, with a message naming it."""
    with pytest.raises(ValidationError, match=words):
        BlocklistSettings(**values)


def test_a_small_range_is_accepted() -> None:
    """A /24 of IPv4 and a /120 of IPv6 are small enough to check whole."""
    settings = BlocklistSettings(ranges=["198.51.100.0/24", "2001:db8::/120"])
    assert settings.ranges == ["198.51.100.0/24", "2001:db8::/120"]
