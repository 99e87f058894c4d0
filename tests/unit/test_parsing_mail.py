"""Email helpers shared by the parsers: domains, typed fields, embedded messages, hops, URLs."""

import email
import encodings.aliases
import ipaddress
from email.message import Message
from email.policy import compat32

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def message(text: str) -> Message:
    """Return *text* parsed as an email message with the compat32 policy."""
    return email.message_from_string(text, policy=compat32)


def test_received_walk_skips_internal_hops_and_takes_the_first_external() -> None:
    """Hops from private relays are the receiving side's; the first public one is the source."""
    received = message(
        "Received: from store (store [10.0.0.5]) by inbox; Mon, 3 Mar 2025 10:00:02 +0000\n"
        "Received: from mx.example.net (mx.example.net [172.16.4.1]) by store; x\n"
        "Received: from sender.example.com (sender.example.com [203.0.113.9])\n"
        "\tby mx.example.net with ESMTP; Mon, 3 Mar 2025 10:00:00 +0000\n"
        "Received: from laptop (laptop [198.51.100.200]) by sender.example.com; x\n\n"
    )
    assert mail.first_external_hop(received) == "203.0.113.9"


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        ("from mx.example.com (mx.example.com [IPv6:2001:db8::25]) by in", "2001:db8::25"),
        ("from mx.example.com (mx.example.com [IPv6: 2001:DB8::26]) by in", "2001:db8::26"),
        ("from mx.example.com ([192.0.2.7]) by in", "192.0.2.7"),
        ("from [192.0.2.8] (helo=mx) by in", "192.0.2.8"),
        ("from unknown (HELO mx.example.com) (192.0.2.9) by in", "192.0.2.9"),
        ("from 192.0.2.11 by in", "192.0.2.11"),
        ("from mx.example.com by in.example.net ([192.0.2.12])", None),
        ("by in.example.net (Postfix, from userid 1002) id 42", None),
    ],
)
def test_received_from_clause_forms_give_the_connecting_address(
    received: str, expected: str | None
) -> None:
    """The address comes from the from clause in any common form, never from the by clause."""
    assert mail.first_external_hop(message(f"Received: {received}\n\n")) == expected


def test_received_walk_skips_the_receiving_sides_own_networks() -> None:
    """Hops from networks the receiving side names as its own are passed over."""
    received = message(
        "Received: from edge (edge [192.0.2.1]) by inbox; x\n"
        "Received: from out.example.com (out.example.com [198.51.100.3]) by edge; x\n\n"
    )
    own = [ipaddress.ip_network("192.0.2.0/24")]
    assert mail.first_external_hop(received, own) == "198.51.100.3"


def test_received_walk_reads_a_bounded_number_of_headers() -> None:
    """Received headers past MAX_RECEIVED are not read, however many there are."""
    internal = "Received: from relay (relay [10.0.0.1]) by in; x\n" * mail.MAX_RECEIVED
    outside = "Received: from far (far [203.0.113.1]) by relay; x\n"
    assert mail.first_external_hop(message(internal + outside + "\n")) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("go to https://shop.example.com/a?b=1.", ["https://shop.example.com/a?b=1"]),
        ("hxxp://evil[.]example/login", ["http://evil.example/login"]),
        ("hXXps[:]//evil(.)example(dot)com/x", ["https://evil.example.com/x"]),
        ("h**p[://]evil[dot]example/", ["http://evil.example/"]),
        ("see evil[.]example/path, please", ["http://evil.example/path"]),
        ("(http://plain.example/p)", ["http://plain.example/p"]),
        ("http://[Site Host Removed]/wp-login.php", []),
        ("a file named report.pdf and example.com", []),
    ],
)
def test_urls_are_found_plain_and_defanged_and_refanged(text: str, expected: list[str]) -> None:
    """Defanged URLs are re-fanged; hostless ones and bare plain host names are not URLs."""
    assert mail.text_urls(text) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://evil.example/a.b", "hxxps://evil[.]example/a.b"),
        ("http://user@evil.example:8080/", "hxxp://user@evil[.]example:8080/"),
        ("hxxp://evil[.]example/x", "hxxp://evil[.]example/x"),
        ("ftp://files.example.net", "fxp://files[.]example[.]net"),
    ],
)
def test_defang_brackets_the_host_and_breaks_the_scheme(url: str, expected: str) -> None:
    """Defanged URLs are not clickable; their path is left as written."""
    assert mail.defang(url) == expected


@given(
    st.sampled_from(["http", "https", "ftp"]),
    st.from_regex(r"[a-z]{1,8}(\.[a-z]{2,5}){1,3}", fullmatch=True),
    st.from_regex(r"(/[a-z0-9.]{0,8}[a-z0-9]){0,3}/?", fullmatch=True),
)
@settings(max_examples=100, deadline=None, database=None)
def test_defang_is_idempotent_and_refang_undoes_it(scheme: str, host: str, path: str) -> None:
    """Defanging twice equals once, and re-fanging a defanged URL gives the URL back."""
    url = f"{scheme}://{host}{path}"
    once = mail.defang(url)
    assert (mail.defang(once), mail.refang(once)) == (once, url)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +1 (202) 555-0147 now", ["+12025550147"]),
        ("or 0044 20 7946 0958.", ["+442079460958"]),
        ("tel:+4915112345678", ["+4915112345678"]),
        ("dated 2025-03-14 10:00", []),
        ("order 0123456789 or 555-0147", []),
        ("+1 2", []),
        ("+12345678901234567", []),
        ("+1 -- -- 2025550147", []),
    ],
)
def test_phone_numbers_need_the_international_form(text: str, expected: list[str]) -> None:
    """Only +/00-prefixed numbers of 8-15 digits count; dates, ids and local numbers do not."""
    assert mail.phone_numbers(text) == expected


def test_ip_addresses_in_text_leave_out_prefixes_times_and_loopback() -> None:
    """Addresses are normalised; prefixes, clock times, loopback and version strings are not."""
    text = (
        "Host 198.51.100.7 attacked 192.0.2.0/24 at 22:14:33 from fd00:0:0:0::1 "
        "and 127.0.0.1; Linux 2.6.32.431.el6; again 198.51.100.7"
    )
    assert mail.ip_addresses(text) == ["198.51.100.7", "fd00::1"]


def test_evidence_indicators_add_source_ip_and_phone_numbers() -> None:
    """Evidence indicators are the message's own plus the Received source and phone numbers."""
    spam = message(
        "Received: from out.example.com (out.example.com [203.0.113.5]) by mx; x\n"
        "From: Offers <o@example.com>\nMessage-ID: <m1@example.com>\n\n"
        "Call +44 20 7946 0958 or visit hxxp://offers[.]example.com/now\n"
    )
    assert mail.evidence_indicators(spam) == {
        "source_ip": ("203.0.113.5",),
        "message_id": ("m1@example.com",),
        "from_address": ("o@example.com",),
        "from_domain": ("example.com",),
        "url": ("http://offers.example.com/now",),
        "phone_number": ("+442079460958",),
    }


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("www.watchtower.example", "watchtower.example"),
        ("mail.shop.co.uk", "shop.co.uk"),
        ("example.com", "example.com"),
    ],
)
def test_site_of_is_the_registrable_part_of_a_host(domain: str, expected: str) -> None:
    """A host's site is its last two labels, three under a country's second level."""
    assert mail.site_of(domain) == expected


@given(st.text(alphabet=st.sampled_from("hxtp:/[](.)dot.ae-1 +0\n"), max_size=300))
@settings(max_examples=200, deadline=None, database=None)
def test_found_urls_are_already_refanged(text: str) -> None:
    """Every URL found in any text is a fixed point of refang: normalising twice is once."""
    assert all(mail.refang(url) == url for url in mail.text_urls(text))


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None, database=None)
def test_found_addresses_and_numbers_are_normalised(text: str) -> None:
    """IP addresses come back in their normal form and phone numbers as ``+digits``."""
    addresses = mail.ip_addresses(text)
    numbers = mail.phone_numbers(text)
    assert (
        [mail.host_address(a) for a in addresses],
        [n for n in numbers if n[0] == "+" and n[1:].isdigit()],
    ) == (addresses, numbers)


@pytest.mark.parametrize("text", ["http://[Site/x.example", "javascript://evil.example"])
def test_defang_of_what_is_no_url_still_breaks_every_dot_and_separator(text: str) -> None:
    """Text that does not read as a URL is defanged anyway, and defanging it again is stable."""
    once = mail.defang(text)
    assert (once.count("[.]"), "[://]" in once, mail.defang(once)) == (1, True, once)


@pytest.mark.parametrize(
    ("payload", "charset", "expected"),
    [
        (b"plain words", "undefined", "plain words"),
        (b"xn--abc-", "idna", "xn--abc-"),
        (b"caf\xc3\xa9", "no-such-charset", "caf\u00e9"),
        (b"caf\xe9", "utf-8", "caf\u00e9"),
        (b"lone +2AA- surrogate", "utf-7", "lone ? surrogate"),
        (b"escaped \\ud800 surrogate", "unicode_escape", "escaped ? surrogate"),
    ],
)
def test_decode_text_survives_any_charset_a_reporter_names(
    payload: bytes, charset: str, expected: str
) -> None:
    """A charset that fails, refuses to decode or yields lone surrogates still gives UTF-8 text."""
    assert mail.decode_text(payload, charset) == expected


def test_embedded_message_survives_a_charset_the_email_package_cannot_decode() -> None:
    """An 8-bit headers part whose charset always fails is read as UTF-8, not raised on."""
    raw = (
        b"From: a@example.org\nContent-Type: text/rfc822-headers; charset=undefined\n\n"
        b"From: spammer@sp\xc3\xa4m.example\nMessage-ID: <m1@spam.example>\n"
    )
    part = email.message_from_bytes(raw, policy=compat32)
    inner = mail.embedded_message(part)
    found = mail.message_id(inner) if inner is not None else None
    assert found == "m1@spam.example"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="report.xml.gz"', "report.xml.gz"),
        ("attachment; filename*=undefined''r%41port.xml", ""),
        ("attachment; filename*=unicode_escape''%5Cud800.xml", "?.xml"),
        ("attachment; filename*=utf-8''%00nul.csv", "\x00nul.csv"),
    ],
)
def test_filename_never_raises_and_always_encodes(disposition: str, expected: str) -> None:
    """A file name in a charset that fails is '', and lone surrogates become '?'."""
    raw = f"Content-Type: application/octet-stream\nContent-Disposition: {disposition}\n\nx"
    part = email.message_from_string(raw, policy=compat32)
    assert mail.filename(part) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-01T04:10:00Z", "2025-03-01T04:10:00+00:00"),
        ("2025-03-01t04:10:00z", "2025-03-01T04:10:00+00:00"),
        ("2025-03-01 06:10:00+02:00", "2025-03-01T04:10:00+00:00"),
        ("2025-03-01 04:10", "2025-03-01T04:10:00+00:00"),
        ("0001-01-01T00:00:00+01:00", None),
        ("9999-12-31T23:59:59-01:00", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_iso_time_gives_utc_or_none(value: str, expected: str | None) -> None:
    """An ISO 8601 time is UTC; an unreadable one, or one past the calendar in UTC, is None."""
    found = mail.parse_iso_time(value)
    assert (found.isoformat() if found else None) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  a\x00b \n c ", "ab c"),
        ("lone \ud800 surrogate", "lone ? sur"),
        ("x" * 50, "x" * 10),
        (" \x00 ", None),
    ],
)
def test_clean_text_is_fit_to_store(value: str, expected: str | None) -> None:
    """Text is collapsed, cut, and rid of NULs and lone surrogates; nothing left is None."""
    assert mail.clean_text(value, 10) == expected


CODEC_NAMES = sorted({*encodings.aliases.aliases, *encodings.aliases.aliases.values()})


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=64), st.sampled_from(CODEC_NAMES) | st.text(max_size=12))
def test_decode_text_gives_utf8_text_for_any_bytes_and_charset(
    payload: bytes, charset: str
) -> None:
    """Whatever the bytes and whatever codec the charset names, the text encodes as UTF-8."""
    assert isinstance(mail.decode_text(payload, charset).encode("utf-8"), bytes)


def test_parse_address_of_deeply_nested_comments_is_no_address() -> None:
    """Comments nested deeper than the stack allows give no address instead of RecursionError."""
    assert mail.parse_address("(" * 50_000 + "a@example.org") == ("", "")


def test_parse_address_reads_the_first_address_of_a_long_field() -> None:
    """Only the start of a long field is read: its first address is still found."""
    field = "Spammer <s@spam.example>, " + "a@b.example, " * 50_000
    assert mail.parse_address(field) == ("Spammer", "s@spam.example")


def test_envelope_sender_is_the_return_path_lowercased_without_brackets() -> None:
    """Return-Path gives envelope_sender (the whole address) beside envelope_domain."""
    found = mail.message_indicators(
        message(
            "Return-Path: <0100019A-Verp@Bounce.Shop.Example.com>\nFrom: a@shop.example.com\n\n"
        )
    )
    assert (found["envelope_sender"], found["envelope_domain"]) == (
        ("0100019a-verp@bounce.shop.example.com",),
        ("bounce.shop.example.com",),
    )


def test_null_return_path_gives_no_envelope_sender() -> None:
    """A bounce's null sender ``<>`` names nobody."""
    found = mail.message_indicators(message("Return-Path: <>\nFrom: a@shop.example.com\n\n"))
    assert ("envelope_sender" in found, "envelope_domain" in found) == (False, False)


def test_from_address_drops_the_display_name_and_lowercases() -> None:
    """from_address is the From header's address alone, lowercased."""
    found = mail.message_indicators(message('From: "Shop, News" <News@Shop.Example.com>\n\n'))
    assert found["from_address"] == ("news@shop.example.com",)


LIST_COPY = (
    "Received: from lists.example.net (lists.example.net [192.0.2.41]) by mx.example.org; x\n"
    "From: \"'Deal Hunter' via Club\" <club@lists.example.net>\n"
    "List-Id: <club.lists.example.net>\n"
    "{original}"
    "Message-ID: <w-1@hunter.example.com>\n\n"
)


def test_list_rewritten_from_gives_way_to_x_original_from() -> None:
    """A list's ``Name via List`` From is replaced by the X-Original-From it kept."""
    spam = message(LIST_COPY.format(original="X-Original-From: Deal <deals@hunter.example.com>\n"))
    found = mail.evidence_indicators(spam)
    assert (found["from_address"], found["from_domain"], "source_ip" in found) == (
        ("deals@hunter.example.com",),
        ("hunter.example.com",),
        False,
    )


def test_list_rewritten_from_without_the_original_names_no_sender() -> None:
    """Without X-Original-From, a list's own From names nobody: no from indicators."""
    found = mail.message_indicators(message(LIST_COPY.format(original="")))
    assert ("from_address" in found, "from_domain" in found) == (False, False)


def test_via_in_a_display_name_without_a_list_is_an_ordinary_from() -> None:
    """``via`` in a name is not enough: without List-Id the From stands."""
    found = mail.message_indicators(message('From: "Travel via Rail" <go@rail.example.com>\n\n'))
    assert found["from_address"] == ("go@rail.example.com",)


@pytest.mark.parametrize(
    "forwarded",
    [
        "Return-Path: <SRS0=ab12=XY=shop.example.com=news@forward.example.org>\n",
        "Resent-From: alumni@forward.example.org\n",
        "X-Forwarded-To: pat@final.example.net\n",
    ],
)
def test_forwarded_message_gives_no_source_ip(forwarded: str) -> None:
    """Through a forwarder, the newest outside hop is the forwarder's: no source IP."""
    spam = message(
        "Received: from fwd.example.org (fwd.example.org [198.51.100.7]) by mx.example.net; x\n"
        "Received: from out.shop.example.com ([203.0.113.5]) by fwd.example.org; x\n"
        f"{forwarded}From: news@shop.example.com\n\n"
    )
    assert "source_ip" not in mail.evidence_indicators(spam)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc-1@shop.example.com>", "abc-1@shop.example.com"),
        (
            "<0100019a-aaaa-bbbb- 000000@email.example.com>",
            "0100019a-aaaa-bbbb-000000@email.example.com",
        ),
        ("abc-2@shop.example.com", "abc-2@shop.example.com"),
        ("abc-3@shop.example.com (added by mx)", "abc-3@shop.example.com"),
        ("<first@a.example> <second@b.example>", "second@b.example"),
    ],
)
def test_bare_message_id_mends_what_mail_clients_break(value: str, expected: str) -> None:
    """Ids cut by a re-wrap, written without brackets or with a comment are read whole."""
    assert mail.bare_message_id(value) == expected


def test_message_id_cut_short_is_no_id() -> None:
    """An id that lost its closing bracket lost its tail: half an id is not kept."""
    assert mail.bare_message_id("<0100019a-aaaa-bbbb-") is None


RELAYED = (
    "Received: from lists.example.net (lists.example.net [192.0.2.85]) by mx.example.org; x\n"
    "Received: by lists.example.net with SMTP id a1; x\n"
    "DKIM-Signature: v=1; d=lists.example.net; s=l1; b=x\n"
    "Received: from out.shop.example.com (out.shop.example.com [203.0.113.5])"
    " by mx.lists.example.net; x\n"
    "From: {sender}\n\n"
)


def test_relay_that_took_the_message_in_and_re_signed_it_gives_no_source_ip() -> None:
    """A list that received the message from outside and signed it anew is not the source."""
    spam = message(RELAYED.format(sender='"Shop via Club" <club@lists.example.net>'))
    assert "source_ip" not in mail.evidence_indicators(spam)


def test_senders_own_relay_chain_keeps_the_newest_outside_hop() -> None:
    """Hops within the sender's own site (its DKIM, its From) are the sender's: IP kept."""
    spam = message(
        RELAYED.replace("lists.example.net", "shop.example.com").format(
            sender="news@shop.example.com"
        )
    )
    assert mail.evidence_indicators(spam)["source_ip"] == ("192.0.2.85",)
