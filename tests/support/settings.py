"""Settings for tests: one database, and every file the app writes kept in a private folder."""

from pathlib import Path
from typing import Any

from abusedesk.config import Settings


def private_settings(database_url: str, directory: Path, **sections: Any) -> Settings:
    """Return settings for *database_url* with the SMTP intake off and the evidence, the
    notice keys and the notice outbox under *directory* (never in the working folder).

    *sections* add to or override the defaults, section by section.
    """
    storage = {"evidence_dir": directory / "evidence", **sections.pop("storage", {})}
    notices = {
        "keys_file": directory / "keys.json",
        "outbox_dir": directory / "outbox",
        **sections.pop("notices", {}),
    }
    smtp = {"enabled": False, **sections.pop("smtp", {})}
    return Settings(
        database={"url": database_url}, storage=storage, smtp=smtp, notices=notices, **sections
    )
