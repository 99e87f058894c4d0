"""Blocklist answers: every documented return code, the error codes, and the query names."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abusedesk.blocklists.answers import (
    CATALOGUE,
    AnswerError,
    Blocklist,
    InvalidQueryTarget,
    ListKind,
    Outcome,
    UnknownBlocklist,
    blocklist,
    domain_query_name,
    ip_query_name,
    normalise_domain,
    query_name,
    read_answers,
    registrable_domain,
)


@pytest.mark.parametrize(
    ("name", "answer", "meaning"),
    [
        ("spamhaus-zen", "127.0.0.2", "SBL"),
        ("spamhaus-zen", "127.0.0.3", "CSS"),
        ("spamhaus-zen", "127.0.0.4", "XBL"),
        ("spamhaus-zen", "127.0.0.9", "DROP"),
        ("spamhaus-zen", "127.0.0.10", "PBL (ISP)"),
        ("spamhaus-zen", "127.0.0.11", "PBL (Spamhaus)"),
        ("spamhaus-zen", "127.0.0.30", "BCL"),
        ("spamhaus-sbl", "127.0.0.2", "SBL"),
        ("spamhaus-sbl", "127.0.0.3", "CSS"),
        ("spamhaus-sbl", "127.0.0.9", "DROP"),
        ("spamhaus-sbl", "127.0.0.30", "BCL"),
        ("spamhaus-xbl", "127.0.0.4", "XBL"),
        ("spamhaus-pbl", "127.0.0.10", "PBL (ISP)"),
        ("spamhaus-pbl", "127.0.0.11", "PBL (Spamhaus)"),
        ("spamhaus-authbl", "127.0.0.20", "AuthBL"),
        ("spamhaus-dbl", "127.0.1.2", "DBL low reputation"),
        ("spamhaus-dbl", "127.0.1.4", "DBL phishing"),
        ("spamhaus-dbl", "127.0.1.5", "DBL malware"),
        ("spamhaus-dbl", "127.0.1.6", "DBL botnet C&C"),
        ("spamhaus-dbl", "127.0.1.102", "DBL abused legit"),
        ("spamhaus-dbl", "127.0.1.103", "DBL abused redirector"),
        ("spamhaus-dbl", "127.0.1.104", "DBL abused legit phishing"),
        ("spamhaus-dbl", "127.0.1.105", "DBL abused legit malware"),
        ("spamhaus-dbl", "127.0.1.106", "DBL abused legit C&C"),
        ("spamhaus-zrd", "127.0.2.2", "ZRD (first seen 0-2h ago)"),
        ("spamhaus-zrd", "127.0.2.3", "ZRD (first seen 2-3h ago)"),
        ("spamhaus-zrd", "127.0.2.12", "ZRD (first seen 11-12h ago)"),
        ("spamhaus-zrd", "127.0.2.24", "ZRD (first seen 23-24h ago)"),
        ("spamcop", "127.0.0.2", "SpamCop"),
        ("barracuda", "127.0.0.2", "BRBL"),
        ("uribl-black", "127.0.0.2", "URIBL black"),
    ],
)
def test_each_documented_code_is_a_listing_with_its_meaning(
    name: str, answer: str, meaning: str
) -> None:
    """A documented return code is a listing named as the list's documentation names it."""
    result = read_answers(blocklist(name), [answer])
    assert (result.outcome, result.meanings, result.answers) == (
        Outcome.LISTED,
        (meaning,),
        (answer,),
    )
    assert result.listed is True


@pytest.mark.parametrize(
    ("name", "answer", "meanings"),
    [
        ("uribl", "127.0.0.2", ("URIBL black",)),
        ("uribl", "127.0.0.4", ("URIBL grey",)),
        ("uribl", "127.0.0.8", ("URIBL red",)),
        ("uribl", "127.0.0.6", ("URIBL black", "URIBL grey")),
        ("uribl", "127.0.0.14", ("URIBL black", "URIBL grey", "URIBL red")),
        ("surbl", "127.0.0.4", ("SURBL DM (disposable email)",)),
        ("surbl", "127.0.0.8", ("SURBL PH (phishing)",)),
        ("surbl", "127.0.0.16", ("SURBL MW (malware)",)),
        ("surbl", "127.0.0.32", ("SURBL CT (click-tracker)",)),
        ("surbl", "127.0.0.64", ("SURBL ABUSE",)),
        ("surbl", "127.0.0.128", ("SURBL CR (cracked site)",)),
        ("surbl", "127.0.0.80", ("SURBL MW (malware)", "SURBL ABUSE")),
        (
            "surbl",
            "127.0.0.252",
            (
                "SURBL DM (disposable email)",
                "SURBL PH (phishing)",
                "SURBL MW (malware)",
                "SURBL CT (click-tracker)",
                "SURBL ABUSE",
                "SURBL CR (cracked site)",
            ),
        ),
    ],
)
def test_bitmask_lists_give_every_list_whose_bit_is_set(
    name: str, answer: str, meanings: tuple[str, ...]
) -> None:
    """URIBL and SURBL answers add their lists' bits; each set bit names one list."""
    result = read_answers(blocklist(name), [answer])
    assert (result.outcome, result.meanings) == (Outcome.LISTED, meanings)


def test_several_answers_give_every_meaning_once() -> None:
    """ZEN answering SBL and DROP (and SBL twice) is listed as both, each named once."""
    result = read_answers(blocklist("spamhaus-zen"), ["127.0.0.2", "127.0.0.9", "127.0.0.2"])
    assert (result.outcome, result.meanings) == (Outcome.LISTED, ("SBL", "DROP"))


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda entry: entry.name)
def test_nxdomain_is_not_listed_on_every_list(entry: Blocklist) -> None:
    """No A record (NXDOMAIN) is not listed, with nothing else to say."""
    result = read_answers(entry, [])
    assert (result.outcome, result.meanings, result.error, result.listed) == (
        Outcome.NOT_LISTED,
        (),
        None,
        False,
    )


@pytest.mark.parametrize(
    ("name", "answer", "error"),
    [
        ("spamhaus-zen", "127.255.255.252", AnswerError.ZONE_TYPO),
        ("spamhaus-zen", "127.255.255.254", AnswerError.PUBLIC_RESOLVER),
        ("spamhaus-zen", "127.255.255.255", AnswerError.EXCESSIVE_VOLUME),
        ("spamhaus-zen", "127.255.255.250", AnswerError.LIST_ERROR),
        ("spamhaus-sbl", "127.255.255.254", AnswerError.PUBLIC_RESOLVER),
        ("spamhaus-xbl", "127.255.255.255", AnswerError.EXCESSIVE_VOLUME),
        ("spamhaus-pbl", "127.255.255.252", AnswerError.ZONE_TYPO),
        ("spamhaus-authbl", "127.255.255.254", AnswerError.PUBLIC_RESOLVER),
        ("spamhaus-dbl", "127.255.255.254", AnswerError.PUBLIC_RESOLVER),
        ("spamhaus-dbl", "127.0.1.255", AnswerError.IP_SENT_TO_DOMAIN_LIST),
        ("spamhaus-zrd", "127.255.255.255", AnswerError.EXCESSIVE_VOLUME),
        ("uribl", "127.0.0.1", AnswerError.QUERY_REFUSED),
        ("uribl-black", "127.0.0.1", AnswerError.QUERY_REFUSED),
        ("surbl", "127.0.0.1", AnswerError.QUERY_REFUSED),
    ],
)
def test_error_codes_are_never_a_listing(name: str, answer: str, error: AnswerError) -> None:
    """A refused query, a public resolver, excessive volume or a wrong-kind query is an error."""
    result = read_answers(blocklist(name), [answer])
    assert (result.outcome, result.error, result.meanings, result.listed) == (
        Outcome.ERROR,
        error,
        (),
        False,
    )
    assert answer in result.detail


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("spamhaus-zen", "127.0.0.5"),
        ("spamhaus-zen", "127.0.0.7"),
        ("spamhaus-zen", "127.0.0.1"),
        ("spamhaus-zen", "127.0.0.20"),
        ("spamhaus-xbl", "127.0.0.2"),
        ("spamhaus-pbl", "127.0.0.2"),
        ("spamhaus-dbl", "127.0.0.2"),
        ("spamhaus-dbl", "127.0.1.3"),
        ("spamhaus-zrd", "127.0.2.1"),
        ("spamhaus-zrd", "127.0.2.25"),
        ("spamcop", "127.0.0.1"),
        ("spamcop", "127.0.0.3"),
        ("barracuda", "127.0.0.4"),
        ("uribl-black", "127.0.0.4"),
        ("uribl", "127.0.0.16"),
        ("uribl", "127.0.0.3"),
        ("uribl", "127.0.0.0"),
        ("uribl", "127.0.1.2"),
        ("surbl", "127.0.0.2"),
        ("surbl", "127.0.0.66"),
        ("surbl", "127.1.0.8"),
    ],
)
def test_an_undocumented_code_is_an_error_not_a_listing(name: str, answer: str) -> None:
    """A code the list does not document (an unused or retired one) fails the check."""
    result = read_answers(blocklist(name), [answer])
    assert (result.outcome, result.error) == (Outcome.ERROR, AnswerError.UNKNOWN_CODE)


@pytest.mark.parametrize("answer", ["192.0.2.1", "10.0.0.2", "0.0.0.0", "128.0.0.2"])
@pytest.mark.parametrize("name", ["spamhaus-zen", "spamhaus-dbl", "uribl", "surbl", "spamcop"])
def test_an_answer_outside_loopback_means_the_list_is_broken(name: str, answer: str) -> None:
    """A wildcard to a real address (a hijacked or expired zone) is never a listing."""
    result = read_answers(blocklist(name), [answer])
    assert (result.outcome, result.error) == (Outcome.ERROR, AnswerError.OUTSIDE_LOOPBACK)
    assert "list is broken" in result.detail


def test_one_error_among_listings_makes_the_whole_answer_an_error() -> None:
    """A listing code beside a refusal code cannot be trusted: the check failed."""
    result = read_answers(blocklist("spamhaus-zen"), ["127.0.0.2", "127.255.255.254"])
    assert (result.outcome, result.error, result.meanings) == (
        Outcome.ERROR,
        AnswerError.PUBLIC_RESOLVER,
        (),
    )


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "127.0.0",
        "127.0.0.2.1",
        "127.0.0.02",
        " 127.0.0.2",
        "127.0.0.256",
        "::1",
        "::ffff:7f00:2",
        "localhost",
        "127.0.0.2\x00",
        "1" * 10_000,
    ],
)
def test_a_malformed_answer_is_an_error(answer: str) -> None:
    """Text that is not a plain IPv4 address is an error, never a listing or a crash."""
    result = read_answers(blocklist("spamhaus-zen"), [answer])
    assert (result.outcome, result.error) == (Outcome.ERROR, AnswerError.MALFORMED_ANSWER)
    assert len(result.detail) < 200


def test_a_non_text_answer_is_an_error() -> None:
    """An answer that is not text at all (bytes, None) is malformed."""
    answers: list[object] = [b"127.0.0.2", None]
    result = read_answers(blocklist("spamhaus-zen"), answers)  # type: ignore[arg-type]  # hostile input on purpose
    assert (result.outcome, result.error) == (Outcome.ERROR, AnswerError.MALFORMED_ANSWER)


def test_one_answer_string_instead_of_a_list_is_refused() -> None:
    """A bare string would read as one answer per character; it is refused outright."""
    with pytest.raises(TypeError, match="not one string"):
        read_answers(blocklist("spamhaus-zen"), "127.0.0.2")


def test_the_catalogue_names_each_list_once_with_its_kind() -> None:
    """Every list is in the catalogue once, an IP list or a domain list, as documented."""
    kinds = {entry.name: (entry.zone, entry.kind) for entry in CATALOGUE}
    assert len(kinds) == len(CATALOGUE)
    assert kinds == {
        "spamhaus-zen": ("zen.spamhaus.org", ListKind.IP),
        "spamhaus-sbl": ("sbl.spamhaus.org", ListKind.IP),
        "spamhaus-xbl": ("xbl.spamhaus.org", ListKind.IP),
        "spamhaus-pbl": ("pbl.spamhaus.org", ListKind.IP),
        "spamhaus-authbl": ("authbl.spamhaus.org", ListKind.IP),
        "spamhaus-dbl": ("dbl.spamhaus.org", ListKind.DOMAIN),
        "spamhaus-zrd": ("zrd.spamhaus.org", ListKind.DOMAIN),
        "spamcop": ("bl.spamcop.net", ListKind.IP),
        "barracuda": ("b.barracudacentral.org", ListKind.IP),
        "uribl": ("multi.uribl.com", ListKind.DOMAIN),
        "uribl-black": ("black.uribl.com", ListKind.DOMAIN),
        "surbl": ("multi.surbl.org", ListKind.DOMAIN),
    }


def test_an_unknown_list_name_is_refused_naming_the_known_ones() -> None:
    """Asking for a list the catalogue lacks is an error that lists the known names."""
    with pytest.raises(UnknownBlocklist, match=r"unknown blocklist 'spamhaus-xyz'.*spamhaus-zen"):
        blocklist("spamhaus-xyz")


def test_a_dqs_zone_keeps_the_codes() -> None:
    """A Data Query Service zone replaces the mirror's zone; the answers read the same."""
    zen = dataclasses.replace(blocklist("spamhaus-zen"), zone="abc123.zen.dq.spamhaus.net")
    assert query_name(zen, "192.0.2.99") == "99.2.0.192.abc123.zen.dq.spamhaus.net"
    assert read_answers(zen, ["127.0.0.4"]).meanings == ("XBL",)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.0.2.99", "99.2.0.192.zen.spamhaus.org"),
        ("127.0.0.2", "2.0.0.127.zen.spamhaus.org"),
        (" 198.51.100.7 ", "7.100.51.198.zen.spamhaus.org"),
        (
            "2001:db8::1",
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org",
        ),
        (
            "2001:DB8:0:0:0:0:0:1",
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org",
        ),
        (
            "::FFFF:7F00:2",
            "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.zen.spamhaus.org",
        ),
    ],
)
def test_ip_query_names_reverse_octets_or_nibbles(address: str, expected: str) -> None:
    """IPv4 octets and the 32 IPv6 nibbles are reversed under the zone (RFC 5782)."""
    assert ip_query_name(address, "zen.spamhaus.org") == expected


@pytest.mark.parametrize(
    "address",
    ["", "192.0.2", "192.0.2.256", "192.0.2.1/32", "fe80::1%eth0", "example.com", "::g", "1" * 500],
)
def test_a_bad_ip_address_is_refused_clearly(address: str) -> None:
    """Anything that is not one IP address gets a clear error, not a malformed query."""
    with pytest.raises(InvalidQueryTarget, match="is not an IP address"):
        ip_query_name(address, "zen.spamhaus.org")


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("example.com", "example.com.dbl.spamhaus.org"),
        ("WWW.Example.COM.", "example.com.dbl.spamhaus.org"),
        ("login.shop.example.co.uk", "example.co.uk.dbl.spamhaus.org"),
        ("Bücher.example", "xn--bcher-kva.example.dbl.spamhaus.org"),
        ("mail.bücher.example", "xn--bcher-kva.example.dbl.spamhaus.org"),
        ("example\u3002com", "example.com.dbl.spamhaus.org"),
        ("test", "test.dbl.spamhaus.org"),
    ],
)
def test_domain_query_names_ask_the_registrable_domain(domain: str, expected: str) -> None:
    """A host is asked by its registrable domain, lowercased, in IDNA form."""
    assert domain_query_name(domain, "dbl.spamhaus.org") == expected


def test_the_whole_host_can_be_asked() -> None:
    """With whole_host the host itself is asked, normalised the same way."""
    found = domain_query_name("Login.Shop.Example.com", "multi.uribl.com", whole_host=True)
    assert found == "login.shop.example.com.multi.uribl.com"


def test_query_name_follows_the_kind_of_list() -> None:
    """IP lists get reversed addresses, domain lists registrable domains."""
    assert query_name(blocklist("spamcop"), "192.0.2.1") == "1.2.0.192.bl.spamcop.net"
    assert query_name(blocklist("surbl"), "a.b.example.net") == "example.net.multi.surbl.org"


@pytest.mark.parametrize("address", ["192.0.2.1", "2001:db8::1", "[2001:db8::1]"])
def test_an_ip_is_never_sent_to_a_domain_list(address: str) -> None:
    """Domain lists are never asked about IP addresses (DBL would answer 127.0.1.255)."""
    with pytest.raises(InvalidQueryTarget, match="is an IP address"):
        query_name(blocklist("spamhaus-dbl"), address)


def test_a_domain_is_never_sent_to_an_ip_list() -> None:
    """IP lists are never asked about a domain."""
    with pytest.raises(InvalidQueryTarget, match="is not an IP address"):
        query_name(blocklist("spamhaus-zen"), "example.com")


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("", "no domain given"),
        ("   ", "no domain given"),
        (".", "no domain given"),
        ("a..example", "empty label"),
        (".example.com", "empty label"),
        ("http://evil.example/path", "not a host name"),
        ("user@example.com", "not a host name"),
        ("evil.example:8080", "not a host name"),
        ("ex ample.com", "not a host name"),
        ("evil\x00.example", "not a host name"),
        ("evil\n.example", "not a host name"),
        ("-evil.example", "not a host name"),
        ("evil-.example", "not a host name"),
        ("evil[.]example", "not a host name"),
        ("x" * 64 + ".example", "longer than 63"),
        (".".join(["a" * 60] * 5), "longer than a DNS name"),
        ("a" * 5000, "too long"),
        ("\u200b.example", "cannot be written in IDNA"),
    ],
)
def test_hostile_domains_are_refused_clearly(domain: str, message: str) -> None:
    """A value that is not a domain name is refused with the reason, never queried."""
    with pytest.raises(InvalidQueryTarget, match=message):
        normalise_domain(domain)


def test_a_query_name_too_long_for_dns_is_refused() -> None:
    """A domain that fits alone but not under the zone is refused."""
    domain = ".".join(["a" * 60] * 4)
    assert normalise_domain(domain) == domain
    with pytest.raises(InvalidQueryTarget, match="longer than a DNS name"):
        domain_query_name(domain, "dbl.spamhaus.org", whole_host=True)


@pytest.mark.parametrize("zone", ["", ".", "zen spamhaus.org", "zen..spamhaus.org", "zen/x.org"])
def test_a_bad_zone_is_refused(zone: str) -> None:
    """A zone that is not a DNS name is refused before any name is built."""
    with pytest.raises(InvalidQueryTarget, match="is not a blocklist zone"):
        ip_query_name("192.0.2.1", zone)


def test_registrable_domain_keeps_country_second_levels() -> None:
    """Under co.uk-like suffixes the registrable domain keeps three labels."""
    assert registrable_domain("a.b.example.co.uk") == "example.co.uk"
    assert registrable_domain("a.b.example.com") == "example.com"


@given(st.text(max_size=300))
def test_any_text_is_a_domain_or_a_clear_refusal(value: str) -> None:
    """Any text normalises to a domain (and again to the same one) or is refused clearly."""
    try:
        name = normalise_domain(value)
    except InvalidQueryTarget:
        return
    assert normalise_domain(name) == name
    assert name.isascii()
    assert name == name.lower()


@given(st.lists(st.text(max_size=20), max_size=5))
def test_any_answers_give_a_result(answers: list[str]) -> None:
    """Any answer text gives a result; a listing only when every answer is a listing code."""
    result = read_answers(blocklist("uribl"), answers)
    assert result.listed == (result.outcome is Outcome.LISTED)
    assert result.listed == (bool(answers) and result.error is None)
