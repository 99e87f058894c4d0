"""Portal tokens and reply addresses: round trips, rotation and every refusal."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abusedesk.notices.links import (
    ExpiredLink,
    InvalidKeyring,
    Keyring,
    LinkRefused,
    MalformedLink,
    PortalLink,
    TamperedLink,
    UnknownLinkKey,
    portal_token,
    read_portal_token,
    read_reply_address,
    reply_address,
)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=14)
OLD = Keyring({"k1": b"1" * 32}, "k1")
ROTATED = Keyring({"k1": b"1" * 32, "k2": b"2" * 32}, "k2")
NEW_ONLY = Keyring({"k2": b"2" * 32}, "k2")


def test_portal_token_round_trip() -> None:
    """A token reads back as the notice, account and expiry it was made for."""
    token = portal_token(OLD, "notice-42", "acct_7", LATER)
    assert read_portal_token(OLD, token, NOW) == PortalLink("notice-42", "acct_7", LATER)


def test_portal_token_is_url_safe() -> None:
    """Only URL-safe characters, so it fits a path segment unescaped."""
    token = portal_token(OLD, "n1", "a1", LATER)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_portal_token_expires() -> None:
    """At or after the expiry the token is refused as expired."""
    token = portal_token(OLD, "n1", "a1", LATER)
    with pytest.raises(ExpiredLink):
        read_portal_token(OLD, token, LATER)


def test_rotation_old_tokens_verify_until_the_key_is_removed() -> None:
    """After rotation old tokens still open; once the old key goes they are unknown."""
    old_token = portal_token(OLD, "n1", "a1", LATER)
    new_token = portal_token(ROTATED, "n1", "a1", LATER)
    assert new_token.split(".")[1] == "k2"
    assert read_portal_token(ROTATED, old_token, NOW).notice_id == "n1"
    assert read_portal_token(NEW_ONLY, new_token, NOW).notice_id == "n1"
    with pytest.raises(UnknownLinkKey):
        read_portal_token(NEW_ONLY, old_token, NOW)


def test_same_key_id_with_another_secret_is_tampered() -> None:
    """A token under a key id we hold but a different secret fails its signature."""
    forged = portal_token(Keyring({"k1": b"x" * 32}, "k1"), "n1", "a1", LATER)
    with pytest.raises(TamperedLink):
        read_portal_token(OLD, forged, NOW)


def test_extending_the_expiry_is_tampering() -> None:
    """Rewriting the payload to a later expiry breaks the signature."""
    token = portal_token(OLD, "n1", "a1", NOW + timedelta(minutes=1))
    longer = portal_token(Keyring({"k1": b"x" * 32}, "k1"), "n1", "a1", LATER)
    parts = token.split(".")
    parts[2] = longer.split(".")[2]
    with pytest.raises(TamperedLink):
        read_portal_token(OLD, ".".join(parts), NOW)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "p1.k1.abc",
        "p2.k1.abc.def",
        "p1.K1.abc.def",
        "p1.k1.a b.def",
        "p1.k1.abc.d$f",
        "é" * 5,
        "x" * 500,
    ],
)
def test_malformed_portal_tokens_are_refused(token: str) -> None:
    """Wrong shapes, versions, characters or lengths raise MalformedLink."""
    with pytest.raises(MalformedLink):
        read_portal_token(OLD, token, NOW)


def test_portal_token_refuses_odd_ids() -> None:
    """Ids with separators or other characters cannot be put in a token."""
    for notice_id, account_id in (("n\n1", "a"), ("n", "a.b"), ("", "a"), ("n", "x" * 65)):
        with pytest.raises(MalformedLink):
            portal_token(OLD, notice_id, account_id, LATER)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), char=st.sampled_from("ABCabc019-_.xyzQ"))
def test_any_change_to_a_portal_token_is_caught(position: int, char: str) -> None:
    """Changing any one character of a token never yields a valid link."""
    token = portal_token(OLD, "notice-42", "acct_7", LATER)
    i = position % len(token)
    changed = token[:i] + char + token[i + 1 :]
    if changed == token:
        return
    with pytest.raises(LinkRefused):
        read_portal_token(OLD, changed, NOW)


def test_reply_address_round_trip_and_case_folding() -> None:
    """The address names its case, read back in any case and with angle brackets."""
    address = reply_address(OLD, "c-1234", "reply.abuse.example")
    assert address.startswith("case+c-1234.k1.")
    assert address.endswith("@reply.abuse.example")
    assert address == address.lower()
    assert read_reply_address(OLD, address) == "c-1234"
    assert read_reply_address(OLD, f" <{address.upper()}> ") == "c-1234"


def test_reply_address_for_another_case_is_tampered() -> None:
    """Moving a token's mac onto another case id is caught."""
    address = reply_address(OLD, "c-1234", "reply.example")
    with pytest.raises(TamperedLink):
        read_reply_address(OLD, address.replace("c-1234", "c-1235"))


def test_reply_address_survives_rotation() -> None:
    """Old reply addresses still land while their key is in the keyring."""
    address = reply_address(OLD, "c-9", "reply.example")
    assert read_reply_address(ROTATED, address) == "c-9"
    with pytest.raises(UnknownLinkKey):
        read_reply_address(NEW_ONLY, address)


@pytest.mark.parametrize(
    "address",
    [
        "case@reply.example",
        "other+c-1.k1.abc@reply.example",
        "case+c-1.k1@reply.example",
        "case+c_1.k1.abc@reply.example",
        "case+c-1.k1.abc",
        "cäse+c-1.k1.abc@reply.example",
    ],
)
def test_malformed_reply_addresses_are_refused(address: str) -> None:
    """Addresses of another mailbox or shape raise MalformedLink."""
    with pytest.raises(MalformedLink):
        read_reply_address(OLD, address)


def test_reply_address_refuses_odd_case_ids() -> None:
    """Upper case or separators cannot be put in a case id of a reply address."""
    for case_id in ("C-1", "c.1", "", "c+1"):
        with pytest.raises(MalformedLink):
            reply_address(OLD, case_id, "reply.example")


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), char=st.sampled_from("abcz0279-."))
def test_any_change_to_a_reply_token_is_caught(position: int, char: str) -> None:
    """Changing any one character of the token part never yields a valid case."""
    address = reply_address(OLD, "c-1234", "reply.example")
    local = address.split("@")[0]
    start = len("case+")
    i = start + position % (len(local) - start)
    changed = address[:i] + char + address[i + 1 :]
    if changed == address:
        return
    with pytest.raises(LinkRefused):
        read_reply_address(OLD, changed)


def test_keyring_refuses_bad_keys() -> None:
    """Short keys, bad key ids or a missing current key are refused."""
    with pytest.raises(InvalidKeyring):
        Keyring({"k1": b"short"}, "k1")
    with pytest.raises(InvalidKeyring):
        Keyring({"K.1": b"1" * 32}, "K.1")
    with pytest.raises(InvalidKeyring):
        Keyring({"k1": b"1" * 32}, "k2")


def test_second_spelling_of_the_mac_is_refused() -> None:
    """Setting the spare bits of the mac's last base64 character is not accepted."""
    token = portal_token(OLD, "n1", "a1", LATER)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    respelled = token[:-1] + alphabet[last ^ 1]
    with pytest.raises(MalformedLink):
        read_portal_token(OLD, respelled, NOW)
