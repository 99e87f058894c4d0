"""Redaction of evidence shown to customers: no recipient address or number leaks."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abusedesk.notices.redaction import (
    RedactionKeyTooShort,
    Redactor,
    ReporterPolicy,
)

KEY = b"r" * 32
REDACTOR = Redactor(KEY)
TAG = re.compile(r"\[recipient [0-9a-f]{8}\]")

# Address spellings a complaint may quote, each with the part that must not survive.
TRICKY = [
    ("jane.doe@example.org", "jane.doe"),
    ("JANE.DOE@EXAMPLE.ORG", "JANE.DOE"),
    ("<jane.doe@example.org>", "jane.doe"),
    ("To: Jane <jane+news@example.org>", "jane+news"),
    ('"jane doe"@example.org', "jane doe"),
    ('"j\\"d"@example.org', 'j\\"d'),
    ("mailto:jane@example.org?subject=x", "jane@"),
    ("user@[192.0.2.7]", "user@"),
    ("müller@bücher.example", "müller"),
    ("x!#$%&'*/=?^_`{|}~-@example.org", "x!#$%"),
    ("(jane@example.org)", "jane@"),
    ("jane@example.org.", "jane@"),
    ("a@b", "a@b"),
    ("jane\u0301doe@example.org", "jane"),
    ("o'brien@example.org", "o'brien"),
    ("'jane@example.org'", "jane"),
]


@pytest.mark.parametrize(("text", "secret"), TRICKY)
def test_tricky_address_forms_never_leak(text: str, secret: str) -> None:
    """Each spelling loses its local part and gains a recipient tag."""
    redacted = REDACTOR.text(text)
    assert secret not in redacted
    assert "@" not in redacted
    assert TAG.search(redacted)


def test_same_address_same_tag_under_one_key() -> None:
    """Case and angle brackets do not change the tag; another address gets another tag."""
    spellings = (
        "jane@example.org",
        "JANE@Example.org",
        "<jane@example.org>",
        "to: <Jane@EXAMPLE.org>",
    )
    tags = {tag for s in spellings for tag in TAG.findall(REDACTOR.text(s))}
    assert len(tags) == 1
    assert TAG.findall(REDACTOR.text("john@example.org"))[0] not in tags


def test_another_key_gives_another_tag() -> None:
    """Tags are keyed: a different key gives unlinkable tags."""
    assert Redactor(b"s" * 32).text("jane@example.org") != REDACTOR.text("jane@example.org")


def test_own_addresses_stay_visible() -> None:
    """The customer's own sending address is not hidden from the customer."""
    redactor = REDACTOR.with_own(["News@Shop.example"])
    out = redactor.text("From news@shop.example to jane@example.org")
    assert "news@shop.example" in out
    assert "jane@example.org" not in out


def test_phone_numbers_are_masked_but_dates_and_ips_stay() -> None:
    """Numbers keep only their last two digits; dates, IPs and short counts stay."""
    out = REDACTOR.text(
        "Call +44 7700 900123 or (020) 7946-0958 on 2026-11-02 from 192.0.2.77, 12400 msgs"
    )
    assert "+•• •••• ••••23" in out
    assert "(•••) ••••-••58" in out
    assert "2026-11-02" in out
    assert "192.0.2.77" in out
    assert "12400" in out


def test_reporter_policy_organisation_keeps_the_isp_and_hides_a_person() -> None:
    """A role mailbox becomes its domain; a person's address becomes a tag."""
    redactor = Redactor(KEY, ReporterPolicy.ORGANISATION)
    assert redactor.reporter("Example ISP <abuse@isp.example>") == "Example ISP <isp.example>"
    hidden = redactor.reporter("jane@mail.example")
    assert "jane" not in hidden
    assert hidden.startswith("[reporter ")
    named = redactor.reporter("Jane Doe <jane@mail.example>")
    assert named == hidden, "a person's display name goes with their address"


def test_reporter_policy_show_and_hide() -> None:
    """SHOW leaves the reporter as is; HIDE removes it whole."""
    assert Redactor(KEY, ReporterPolicy.SHOW).reporter("jane@mail.example") == "jane@mail.example"
    assert Redactor(KEY, ReporterPolicy.HIDE).reporter("Example ISP") == "[reporter]"


def test_event_fields_follow_the_privacy_tables() -> None:
    """Recipient hashes are re-keyed, kept kinds stay, details are redacted at any depth."""
    indicators = {
        "from_address": ("news@shop.example",),
        "source_ip": ("192.0.2.1",),
        "recipient_hash": ("ab" * 32,),
        "complainant_hash": ("cd" * 32,),
    }
    details = {
        "complainant": "jane@mail.example",
        "report_email": "abuse@isp.example",
        "message_text": "Stop mailing jane@mail.example, says JANE@MAIL.EXAMPLE",
        "diagnostic_code": "550 5.1.1 <bob@example.net>: user unknown",
        "header_from": "news@shop.example",
        "failure_details": [{"rcpt": "bob@example.net"}],
        "count": 3,
    }
    shown_indicators, shown_details = REDACTOR.event(indicators, details)
    assert shown_indicators["from_address"] == ("news@shop.example",)
    assert shown_indicators["source_ip"] == ("192.0.2.1",)
    assert shown_indicators["recipient_hash"][0] == REDACTOR.tag("ab" * 32)
    assert "cd" * 32 not in str(shown_indicators)
    assert shown_details["report_email"] == "isp.example"
    assert shown_details["header_from"] == "news@shop.example"
    assert shown_details["count"] == 3
    flat = str(shown_details)
    for leaked in ("jane", "JANE", "bob@"):
        assert leaked not in flat
    tags = TAG.findall(shown_details["message_text"])
    assert len(tags) == 2
    assert tags[0] == tags[1]


def test_short_key_is_refused() -> None:
    """A key under 32 bytes would make tags guessable: refused."""
    with pytest.raises(RedactionKeyTooShort):
        Redactor(b"short")


_LOCAL = st.text(
    alphabet=st.characters(
        codec="utf-8",
        categories=("L", "M", "N", "Pd", "Pc", "So", "Sm"),
        include_characters="._+!#$%&*/=?^`{|}~'",
        exclude_characters="<>()[],;:@",
    ),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip(".'") == s and ".." not in s)
_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
_FILLER = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="@"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    local=_LOCAL,
    labels=st.lists(_LABEL, min_size=1, max_size=3),
    before=_FILLER,
    after=_FILLER,
    wrap=st.sampled_from(["{}", "<{}>", "mailto:{}", "({})", "{},", "'{}'", "{}\n"]),
)
def test_no_generated_address_survives(
    local: str, labels: list[str], before: str, after: str, wrap: str
) -> None:
    """Any address, in any surrounding text, leaves no '@' and no local part behind."""
    address = f"{local}@{'.'.join(labels)}"
    out = REDACTOR.text(before + " " + wrap.format(address) + " " + after)
    assert "@" not in out
    # No trace of the local part either, when it is long enough not to occur by chance.
    if len(local) > 8 and local not in before + after + wrap + "[recipient ]":
        assert local not in out
