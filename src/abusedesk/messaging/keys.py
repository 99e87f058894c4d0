"""The secrets behind notices: the link keyring and the redaction key, from settings.

In production both come from settings (``notices.link_keys`` with ``link_key_id``, and
``notices.redaction_key``); without them abusedesk refuses to start rather than sign
with a key an attacker might know. In development, a missing key is generated once and
kept in ``notices.keys_file`` (readable by its owner only), so links and tags stay
valid across restarts.
"""

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from abusedesk.config import NoticeSettings, Settings
from abusedesk.core.errors import AbuseDeskError
from abusedesk.notices.links import Keyring
from abusedesk.notices.redaction import Redactor, ReporterPolicy

DEVELOPMENT_KEY_ID: Final = "dev1"


class NoticeKeysMissing(AbuseDeskError):
    """Raise when production settings lack the keys that sign links or key redaction tags."""


@dataclass(frozen=True)
class NoticeContext:
    """What writing a notice needs: the notice settings, the link keyring, the redactor.

    Built once at start-up (`notice_context`) and passed to every notice function.
    """

    settings: NoticeSettings
    keyring: Keyring
    redactor: Redactor


def notice_context(settings: Settings) -> NoticeContext:
    """Return the notice context for *settings* (see the module's note on keys)."""
    return NoticeContext(
        settings=settings.notices,
        keyring=notice_keyring(settings),
        redactor=notice_redactor(settings),
    )


def notice_keyring(settings: Settings) -> Keyring:
    """Return the keyring that signs portal links and reply addresses.

    ``notices.link_keys`` when set (``link_key_id`` names the signing key; it may be
    left empty when there is one key); otherwise, in development only, a generated key
    kept in ``notices.keys_file``.
    """
    notices = settings.notices
    if notices.link_keys:
        keys = {
            key_id: secret.get_secret_value().encode("utf-8")
            for key_id, secret in notices.link_keys.items()
        }
        current = notices.link_key_id or (next(iter(keys)) if len(keys) == 1 else "")
        if not current:
            raise NoticeKeysMissing(
                "notices.link_key_id: name which of the notices.link_keys signs new links"
            )
        return Keyring(keys, current)
    if settings.environment == "production":
        raise NoticeKeysMissing(
            "notices.link_keys: production needs a key (32+ characters) to sign portal"
            " links and reply addresses"
        )
    stored = _development_keys(notices.keys_file)
    return Keyring({DEVELOPMENT_KEY_ID: bytes.fromhex(stored["link_key"])}, DEVELOPMENT_KEY_ID)


def notice_redactor(settings: Settings) -> Redactor:
    """Return the redactor for customer-facing evidence, under the reporter policy set."""
    notices = settings.notices
    policy = ReporterPolicy(notices.reporter_policy)
    if notices.redaction_key is not None:
        return Redactor(notices.redaction_key.get_secret_value().encode("utf-8"), policy)
    if settings.environment == "production":
        raise NoticeKeysMissing(
            "notices.redaction_key: production needs a key (32+ characters) for the tags"
            " that stand in for recipients' addresses"
        )
    stored = _development_keys(notices.keys_file)
    return Redactor(bytes.fromhex(stored["redaction_key"]), policy)


def _development_keys(path: Path) -> dict[str, Any]:
    """Read the generated development keys, creating the file (mode 0600) if absent."""
    if path.exists():
        data = json.loads(path.read_text("utf-8"))
        if isinstance(data, dict) and {"link_key", "redaction_key"} <= data.keys():
            return data
        raise NoticeKeysMissing(f"{path}: not a keys file this version wrote; remove it")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"link_key": secrets.token_hex(32), "redaction_key": secrets.token_hex(32)}
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first: use theirs
        return _development_keys(path)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return data
