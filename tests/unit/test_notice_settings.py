"""Notice settings: the reply mailbox and domain are checked and lowercased at start."""

import pytest
from pydantic import ValidationError

from abusedesk.config import NoticeSettings, Settings
from abusedesk.notices.links import Keyring, read_reply_address, reply_address

KEYRING = Keyring({"k1": b"k" * 32}, "k1")


def test_reply_mailbox_and_domain_are_lowercased_so_every_notice_gets_a_reply_address() -> None:
    """Capitals, spaces or a trailing dot in the settings no longer break every notice."""
    settings = NoticeSettings(reply_mailbox=" Case ", reply_domain="Desk.Example.COM.")
    assert (settings.reply_mailbox, settings.reply_domain) == ("case", "desk.example.com")
    address = reply_address(KEYRING, "12", settings.reply_domain, settings.reply_mailbox)
    assert address.startswith("case+12.k1.")
    assert address.endswith("@desk.example.com")
    assert read_reply_address(KEYRING, address, settings.reply_mailbox) == "12"


def test_the_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """ABUSEDESK_NOTICES__REPLY_DOMAIN goes through the same check."""
    monkeypatch.setenv("ABUSEDESK_NOTICES__REPLY_DOMAIN", "Replies.Desk.Example")
    monkeypatch.setenv("ABUSEDESK_NOTICES__REPLY_MAILBOX", "Abuse-Replies")
    notices = Settings().notices
    assert (notices.reply_mailbox, notices.reply_domain) == (
        "abuse-replies",
        "replies.desk.example",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reply_mailbox", ""),
        ("reply_mailbox", "case+x"),
        ("reply_mailbox", "case.box"),
        ("reply_mailbox", "c" * 33),
        ("reply_mailbox", "cäse"),
        ("reply_domain", ""),
        ("reply_domain", "desk example"),
        ("reply_domain", "desk..example"),
        ("reply_domain", "-desk.example"),
        ("reply_domain", "desk_example.com"),
        ("reply_domain", "user@desk.example"),
        ("reply_domain", "dësk.example"),
    ],
)
def test_unusable_reply_mailboxes_and_domains_are_refused_with_words(
    field: str, value: str
) -> None:
    """A value a reply address cannot carry stops the start, saying what is expected."""
    with pytest.raises(ValidationError, match=r"a reply (mailbox|domain) is"):
        NoticeSettings.model_validate({field: value})
