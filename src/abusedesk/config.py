"""Settings, read once at start from the environment (prefix ``ABUSEDESK_``).

Nested groups use a double underscore: ``ABUSEDESK_SMTP__PORT=2525``.
Defaults are safe and offline: SQLite under ``./var/``, mail to an outbox folder.
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    """Where the database lives and how connections behave."""

    url: str = "sqlite:///var/abusedesk.db"
    busy_timeout_ms: int = 30_000
    echo: bool = False


class StorageSettings(BaseModel):
    """Where raw evidence is kept."""

    evidence_dir: Path = Path("var/evidence")
    # Reports up to this size are stored in the database row; larger ones as blobs.
    inline_max_bytes: int = 256 * 1024
    max_report_bytes: int = 50 * 1024 * 1024


class WebSettings(BaseModel):
    """The HTTP listener."""

    host: str = "127.0.0.1"
    port: int = 8000


class SmtpSettings(BaseModel):
    """The SMTP intake listener."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    recipients: list[str] = Field(default_factory=lambda: ["abuse@", "fbl@", "dmarc@"])
    # The longest line buffered, in commands and in message data. RFC 5321 says 1000
    # octets, but quoted spam breaks it and is evidence. A mebibyte fits such lines, and
    # is about all one peer can make the server hold before it has sent a valid command.
    line_length_limit: int = Field(default=1024 * 1024, ge=1001)
    # Open connections at once, overall and from one peer address; more are answered 421.
    max_connections: int = Field(default=200, ge=1)
    max_connections_per_peer: int = Field(default=20, ge=1)


class SmtpRateLimitSettings(BaseModel):
    """How fast one peer address may send to the SMTP intake (a token bucket per peer)."""

    # Generous on purpose: feedback loops send in bursts; only a flood should meet it.
    per_second: float = Field(default=20.0, gt=0)
    burst: int = Field(default=500, ge=1)


class JobSettings(BaseModel):
    """How background work runs: threads in ``serve`` or procrastinate workers."""

    backend: Literal["embedded", "procrastinate"] = "embedded"
    embedded_workers: int = 2
    max_attempts: int = 5
    backoff_base_seconds: float = 2.0
    lease_seconds: int = 300
    sweep_interval_seconds: int = 30
    # Reports pending longer than this are handed to a worker again by the sweeper.
    stale_pending_seconds: int = 60
    # procrastinate workers prove they are alive this often; the jobs of one silent for
    # stalled_after_seconds are handed out again by the sweeper.
    heartbeat_seconds: float = 10
    stalled_after_seconds: float = 30


class Settings(BaseSettings):
    """Every setting abusedesk reads."""

    model_config = SettingsConfigDict(
        env_prefix="ABUSEDESK_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    log_level: str = "INFO"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    smtp_rate_limit: SmtpRateLimitSettings = Field(default_factory=SmtpRateLimitSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
