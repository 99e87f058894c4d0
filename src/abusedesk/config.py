"""Settings, read once at start from the environment (prefix ``ABUSEDESK_``).

Nested groups use a double underscore: ``ABUSEDESK_SMTP__PORT=2525``.
Defaults are safe and offline: SQLite under ``./var/``, mail to an outbox folder.
"""

import ipaddress
import re
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from abusedesk.blocklists.answers import Blocklist, UnknownBlocklist, blocklist, ip_query_name
from abusedesk.cases.policy import CaseGroups
from abusedesk.insights.voice import Theme, ThemeInvalid, themes_from_settings
from abusedesk.privacy.model import EvidenceClass, RetentionPolicy


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
    # Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (comma-separated
    # addresses or networks, "*" for any): the client address that sign-in throttling and
    # the report form's rate limit count is the one such a proxy saw.
    forwarded_allow_ips: str = "127.0.0.1"


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


class FormSettings(BaseModel):
    """The public report form at ``/report``, for people who are not feedback-loop operators."""

    enabled: bool = True
    # Reports one peer address may send: a burst, refilled at this rate (a token bucket).
    # People send one report now and then; scripts that post in a loop should meet it.
    per_second: float = Field(default=0.05, gt=0)
    burst: int = Field(default=5, ge=1)
    # The typed fields together, and the attached message; larger posts are answered 413.
    max_message_bytes: int = Field(default=100 * 1024, ge=1)
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=0)
    # A rendered form may be sent within this time; older or unsigned posts are refused.
    token_max_age_seconds: int = Field(default=3600, ge=60)
    # Signs the form's token. Unset, each process makes its own key at start; processes
    # behind one balancer need the same secret, or a form one renders the next refuses.
    token_secret: SecretStr | None = None


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


class SnsSettings(BaseModel):
    """The SNS endpoint: which signing certificates, CA and topics are trusted."""

    # Signing certificates are fetched only over HTTPS from hosts matching these; ``*``
    # stands for one DNS label (``sns.*.amazonaws.com`` covers every region).
    certificate_hosts: list[str] = Field(default_factory=lambda: ["sns.*.amazonaws.com"])
    # Trusted PEM files named like the last part of the SigningCertURL path, read before
    # any fetch: for offline operation and tests.
    certificate_dir: Path | None = None
    # When set, a signing certificate must be issued by this CA and valid now.
    ca_file: Path | None = None
    # Topics whose messages are accepted; empty accepts any topic.
    topic_arns: list[str] = Field(default_factory=list)
    # Visit the SubscribeURL of a verified subscription confirmation on our own.
    auto_confirm: bool = False
    fetch_timeout_seconds: float = Field(default=5.0, gt=0)
    # SNS messages are at most 256 KiB; JSON escaping in the envelope can about double that.
    max_envelope_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Messages one peer address may post: a burst, refilled at this rate (a token bucket);
    # more are answered 429 and SNS delivers them again later. SES bursts are large, so
    # only a flood (or someone posting forged messages in a loop) should meet it.
    per_second: float = Field(default=50.0, gt=0)
    burst: int = Field(default=2000, ge=1)


class ImapSettings(BaseModel):
    """The IMAP poller: a mailbox that reports are pulled from (FBL or DMARC accounts elsewhere)."""

    # Only `abusedesk serve` looks at this; `abusedesk imap poll` runs whenever a host is set.
    enabled: bool = False
    host: str = ""
    port: int = Field(default=993, ge=1, le=65535)
    # ``none`` sends the password in the clear; it is allowed for a server on this machine only.
    security: Literal["tls", "starttls", "none"] = "tls"
    # A PEM file of the CA that signed the server's certificate, when it is not a public one.
    ca_file: Path | None = None
    username: str = ""
    password: SecretStr = SecretStr("")
    folder: str = "INBOX"
    # After a report is committed: ``mark`` flags it \Seen and $AbusedeskStored in place,
    # ``move`` moves it to processed_folder.
    after_store: Literal["mark", "move"] = "mark"
    processed_folder: str = "Processed"
    poll_interval_seconds: float = Field(default=60.0, gt=0)
    # Messages looked at per FETCH; a batch is stored in one commit, then marked.
    batch_size: int = Field(default=50, ge=1, le=1000)
    timeout_seconds: float = Field(default=60.0, gt=0)


class CaseSettings(BaseModel):
    """How events fold into cases."""

    # A case resolved or closed this many days ago or less reopens on new events.
    reopen_grace_days: int = Field(default=7, ge=0, le=365)
    # Changes to the default category groups: event category -> group, or null for no
    # casework. JSON, e.g. ``{"fraud": "fraud", "auth_failure": null}``.
    category_groups: dict[str, str | None] = Field(default_factory=dict)

    def groups(self) -> CaseGroups:
        """Return the case groups these settings describe."""
        return CaseGroups(self.category_groups)


class InventorySettings(BaseModel):
    """Keeping the provider's inventory: the upsert API's bounds and send-log retention."""

    # Send-log rows older than this many days are deleted by `abusedesk inventory
    # prune-send-log` and by the running service's sweep; 0 keeps them for ever.
    send_log_retention_days: int = Field(default=90, ge=0)
    # One PUT /api/v1/inventory/{table} takes at most this many rows and bytes (413 beyond).
    api_max_rows: int = Field(default=5000, ge=1)
    api_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Each process keeps an in-memory copy of the inventory for attribution. After the
    # inventory changes, it asks SQL for up to this many seconds before reading the copy
    # again (reading 100,000 accounts' inventory costs about 4 s of CPU).
    cache_min_reload_seconds: float = Field(default=120.0, ge=0)


class AccessSettings(BaseModel):
    """Signing in to the workbench: sessions, cookies, passwords and login throttling."""

    # A session ends after this long without a request, and this long after sign-in.
    session_idle_minutes: int = Field(default=30, ge=1)
    session_lifetime_hours: int = Field(default=12, ge=1)
    # The session cookie is Secure (sent over HTTPS only). Allow plain HTTP only for a
    # workbench on this machine, such as `make run` on http://127.0.0.1.
    allow_plain_http: bool = False
    password_min_length: int = Field(default=12, ge=8)
    # argon2id cost; hashes made under other values are redone at the next sign-in.
    password_time_cost: int = Field(default=3, ge=1)
    password_memory_kib: int = Field(default=64 * 1024, ge=8)
    password_parallelism: int = Field(default=4, ge=1)
    # An account locks after this many failures within the window, for lock_minutes,
    # doubling with each lock in a row up to max_lock_minutes.
    max_failures: int = Field(default=5, ge=1)
    failure_window_minutes: int = Field(default=15, ge=1)
    lock_minutes: int = Field(default=15, ge=1)
    max_lock_minutes: int = Field(default=24 * 60, ge=1)
    # One client address is refused for a while after this many failures within the window,
    # whichever usernames it tried.
    address_max_failures: int = Field(default=20, ge=1)


class AuditSettings(BaseModel):
    """The audit log's hash chains (docs/audit.md)."""

    # Rows are chained per partition (subject hash modulo this): writers on different
    # partitions never wait for each other. Changing it later is safe: rows keep their
    # partition, only subjects written afterwards may move to another chain.
    partitions: int = Field(default=16, ge=1, le=65536)


class RetentionSettings(BaseModel):
    """How long each evidence class is kept, and erasure (docs/privacy.md)."""

    # Days after a report arrived; 0 keeps that class for ever.
    raw_report_days: int = Field(default=180, ge=0)
    message_body_days: int = Field(default=90, ge=0)
    recipient_address_days: int = Field(default=30, ge=0)
    reporter_contact_days: int = Field(default=365, ge=0)
    # Items each periodic sweep purges per class; the next sweep takes the rest.
    purge_batch_size: int = Field(default=500, ge=1, le=100_000)
    # Keys the hash an erasure request keeps instead of the address; `privacy erase`
    # refuses to run without it. Keep it as long as the requests must be checkable.
    erasure_key: SecretStr | None = None

    def policy(self) -> RetentionPolicy:
        """Return the retention policy these settings describe."""
        return RetentionPolicy(
            days={
                EvidenceClass.RAW_REPORT: self.raw_report_days,
                EvidenceClass.MESSAGE_BODY: self.message_body_days,
                EvidenceClass.RECIPIENT_ADDRESS: self.recipient_address_days,
                EvidenceClass.REPORTER_CONTACT: self.reporter_contact_days,
            }
        )


class ConnectorSettings(BaseModel):
    """How enforcement reaches the provider's control plane (docs/connector.md)."""

    # ``local`` writes the account's standing in our inventory only (the embedded
    # default); ``webhook`` also POSTs each action and suppression list, signed, to ``url``.
    kind: Literal["local", "webhook"] = "local"
    url: str = ""
    # Shared HMAC secrets, newest first; two while rotating. Each at least 32 characters.
    secrets: list[SecretStr] = Field(default_factory=list)
    timeout_seconds: float = Field(default=10.0, gt=0)
    # Retries with exponential backoff and jitter; after max_attempts the call is
    # dead-lettered (never marked executed).
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base_seconds: float = Field(default=30.0, gt=0)
    backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    # Addresses (as hashes) per suppression-list call.
    suppression_batch_size: int = Field(default=500, ge=1, le=10_000)


_REPLY_MAILBOX = re.compile(r"[a-z0-9-]{1,32}")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class NoticeSettings(BaseModel):
    """Customer notices, reply addresses and the customer portal (docs/notices.md)."""

    from_address: str = "Abuse Desk <abuse-desk@abusedesk.localhost>"
    # Replies come back to <reply_mailbox>+<case>.<key id>.<mac>@<reply_domain>; the SMTP
    # intake takes every address of that shape, and a reply is one at reply_domain. Both
    # are lowercased (mail may fold case); other characters are refused at start.
    reply_mailbox: str = "case"
    reply_domain: str = "abusedesk.localhost"
    # Keys for portal links and reply addresses: key id -> secret (32+ characters); the
    # current key signs, the others still verify. When empty, development mode keeps a
    # generated keyring in ``keys_file``; production refuses to start.
    link_keys: dict[str, SecretStr] = Field(default_factory=dict)
    link_key_id: str = ""
    keys_file: Path = Path("var/keys/notices.json")
    # Keys the hash that stands in for complainant addresses in what customers see.
    redaction_key: SecretStr | None = None
    # How reporters appear to customers: in full, their organisation only, or not at all.
    reporter_policy: Literal["show", "organisation", "hide"] = "organisation"
    # Send reporters an acknowledgement when their report opens a case.
    acknowledge_reporters: bool = False
    portal_base_url: str = "http://127.0.0.1:8000"
    portal_link_days: int = Field(default=30, ge=1, le=365)
    # ``outbox`` writes each message as an .eml file in outbox_dir (embedded mode);
    # ``smtp`` hands it to the relay at smtp_host:smtp_port.
    delivery: Literal["outbox", "smtp"] = "outbox"
    outbox_dir: Path = Path("var/outbox")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base_seconds: float = Field(default=60.0, gt=0)
    backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    # Appeals: the form's attachment limits.
    appeal_max_attachments: int = Field(default=5, ge=0, le=20)
    appeal_max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    appeal_attachment_types: list[str] = Field(
        default_factory=lambda: [
            "application/pdf",
            "image/png",
            "image/jpeg",
            "text/plain",
            "text/csv",
        ]
    )

    @field_validator("reply_mailbox")
    @classmethod
    def _reply_mailbox(cls, value: str) -> str:
        """Lowercase the reply mailbox; refuse one a reply address cannot carry."""
        mailbox = value.strip().lower()
        if not _REPLY_MAILBOX.fullmatch(mailbox):
            raise ValueError(
                f"{value[:70]!r}: a reply mailbox is 1-32 letters, digits or hyphens (e.g. case)"
            )
        return mailbox

    @field_validator("reply_domain")
    @classmethod
    def _reply_domain(cls, value: str) -> str:
        """Lowercase the reply domain; refuse anything but a plain domain name."""
        domain = value.strip().lower().removesuffix(".")
        if len(domain) > 253 or not all(_DOMAIN_LABEL.fullmatch(p) for p in domain.split(".")):
            raise ValueError(
                f"{value[:70]!r}: a reply domain is a domain name such as desk.example.com"
                " (letters, digits, hyphens and dots)"
            )
        return domain


# --- monitoring settings: rates ---


class RateSettings(BaseModel):
    """Reputation rates per subject and spam-trap hits (docs/rates.md).

    Thresholds come from the enforcement policy; these say how far back a rate reads
    and when trap hits count.
    """

    enabled: bool = True
    # A rate reads the last base_days days, extended one day at a time up to max_days
    # until it holds min_messages eligible messages; below min_messages_to_act it is
    # shown but never acted on.
    base_days: int = Field(default=7, ge=1, le=90)
    max_days: int = Field(default=90, ge=1, le=400)
    min_messages: int = Field(default=10_000, ge=1)
    min_messages_to_act: int = Field(default=1_000, ge=1)
    # Spam-trap hits over the last trap_days days: at least trap_review_hits opens a
    # review, at least trap_pause_hits proposes a pause.
    trap_days: int = Field(default=21, ge=1, le=400)
    trap_review_hits: int = Field(default=1, ge=1)
    trap_pause_hits: int = Field(default=25, ge=1)
    # The subjects read: account, identity, configuration_set, ip_pool, feedback_id,
    # destination_group.
    subjects: list[str] = Field(
        default_factory=lambda: [
            "account",
            "identity",
            "configuration_set",
            "ip_pool",
            "feedback_id",
            "destination_group",
        ]
    )
    # The daily sums are read whole this often; in between, only yesterday's and today's.
    reload_hours: float = Field(default=24.0, gt=0)

    def model_post_init(self, context: object, /) -> None:
        """Refuse a longest window shorter than the first, or a pause at fewer hits than a review."""
        if self.max_days < self.base_days:
            raise ValueError(
                f"rates: max_days ({self.max_days}) must be at least base_days ({self.base_days})"
            )
        if self.trap_pause_hits < self.trap_review_hits:
            raise ValueError(
                f"rates: trap_pause_hits ({self.trap_pause_hits}) must be at least"
                f" trap_review_hits ({self.trap_review_hits})"
            )

    @field_validator("subjects")
    @classmethod
    def _subjects(cls, value: list[str]) -> list[str]:
        """Refuse a subject the rate monitor does not know, naming the known ones."""
        known = (
            "account",
            "identity",
            "configuration_set",
            "ip_pool",
            "feedback_id",
            "destination_group",
        )
        for name in value:
            if name not in known:
                raise ValueError(f"{name!r} is not a rate subject; known: {', '.join(known)}")
        return list(dict.fromkeys(value))


# --- monitoring settings: blocklists ---


# Addresses one configured range may hold: a range is checked address by address.
MAX_RANGE_ADDRESSES = 4096


def _known_blocklist(name: str) -> Blocklist:
    """Return the catalogue's list *name*; an unknown name is a ValueError naming the known."""
    try:
        return blocklist(name)
    except UnknownBlocklist as exc:
        raise ValueError(str(exc)) from None


class BlocklistSettings(BaseModel):
    """Blocklist checks of our own IP space and customers' domains (docs/blocklists.md)."""

    # Off unless configured: the checks send DNS queries to the lists, whose public
    # mirrors refuse big public resolvers and commercial use (our own resolver, or DQS).
    enabled: bool = False
    # Catalogue names (abusedesk.blocklists.answers.CATALOGUE) of the lists asked.
    lists: list[str] = Field(
        default_factory=lambda: [
            "spamhaus-zen",
            "spamcop",
            "barracuda",
            "spamhaus-dbl",
            "uribl",
            "surbl",
        ]
    )
    # A zone per list name instead of the catalogue's: a DQS zone (<key>.zen.dq.spamhaus.net)
    # or a local mirror. JSON, e.g. {"spamhaus-zen": "KEY.zen.dq.spamhaus.net"}.
    zones: dict[str, str] = Field(default_factory=dict)
    # The resolvers asked (IP addresses); empty asks the system's (/etc/resolv.conf).
    nameservers: list[str] = Field(default_factory=list)
    port: int = Field(default=53, ge=1, le=65535)
    timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Queries one list is sent per second at most, and lookups one run makes at most;
    # the targets a run did not reach are checked first by the next.
    queries_per_second: float = Field(default=5.0, gt=0)
    max_queries_per_run: int = Field(default=20_000, ge=1)
    # Answers are kept for their TTL, and never longer than this.
    max_cache_seconds: int = Field(default=3600, ge=0)
    # Ask each list about its test points first, and skip it for the run if it fails.
    health_check: bool = True
    check_ips: bool = True
    check_domains: bool = True
    # Ranges of our own space (CIDR) checked whole besides the allocated IPs, each at most
    # MAX_RANGE_ADDRESSES addresses (an IPv6 /116 or an IPv4 /20).
    ranges: list[str] = Field(default_factory=list)

    @field_validator("lists")
    @classmethod
    def _lists(cls, value: list[str]) -> list[str]:
        """Refuse a list name the catalogue does not have, naming the known ones."""
        for name in value:
            _known_blocklist(name)
        return list(dict.fromkeys(value))

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: dict[str, str]) -> dict[str, str]:
        """Refuse a zone for an unknown list, or a zone that is not a DNS name."""
        for name, zone in value.items():
            _known_blocklist(name)
            ip_query_name("127.0.0.2", zone)
        return {name: zone.strip().rstrip(".").lower() for name, zone in value.items()}

    @field_validator("nameservers")
    @classmethod
    def _nameservers(cls, value: list[str]) -> list[str]:
        """Refuse a nameserver that is not an IP address."""
        for server in value:
            try:
                ipaddress.ip_address(server)
            except ValueError:
                raise ValueError(f"{server[:60]!r}: a nameserver is an IP address") from None
        return value

    @field_validator("ranges")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        """Refuse a range that is not a network, or holds too many addresses to check."""
        for text in value:
            try:
                network = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(
                    f"{text[:60]!r}: a range is a network such as 192.0.2.0/24"
                ) from None
            if network.num_addresses > MAX_RANGE_ADDRESSES:
                raise ValueError(
                    f"{text}: {network.num_addresses} addresses; a range holds at most"
                    f" {MAX_RANGE_ADDRESSES} (check allocated IPs, or split the range)"
                )
        return value

    def blocklists(self) -> list[Blocklist]:
        """Return the lists to ask, each with its configured zone."""
        return [
            replace(blocklist(name), zone=self.zones[name])
            if name in self.zones
            else blocklist(name)
            for name in self.lists
        ]


# --- monitoring settings: spikes ---


SPIKE_DIMENSIONS = ("account", "reporter", "provider", "category", "content")


class SpikeSettings(BaseModel):
    """Spikes, new accounts' sending bursts and collapsing reporters (docs/spikes.md)."""

    enabled: bool = True
    # The series judged for spikes, each counting distinct complaining recipients per hour.
    dimensions: list[str] = Field(default_factory=lambda: list(SPIKE_DIMENSIONS))
    # Baselines learn from this many days before the hours judged; each run judges the
    # last complete hours (more than one, so complaints arriving late are still seen).
    history_days: int = Field(default=28, ge=1, le=90)
    evaluate_hours: int = Field(default=3, ge=1, le=48)
    # An hour is a spike at min_count or more, min_ratio times the baseline, and a
    # chance below alpha of so many in an ordinary hour.
    alpha: float = Field(default=1e-5, gt=0, lt=1)
    min_count: int = Field(default=5, ge=1)
    min_ratio: float = Field(default=3.0, ge=1)
    # Events of these categories are not complaints and never make a spike.
    excluded_categories: list[str] = Field(
        default_factory=lambda: [
            "bounce",
            "dmarc_aggregate",
            "tls_report",
            "not_spam",
            "auto_reply",
        ]
    )
    # The indicators a content series is kept per (the links' host, a content fingerprint).
    content_keys: list[str] = Field(default_factory=lambda: ["content_fingerprint", "url_host"])
    # Recipient domains counted as one destination provider.
    provider_groups: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "gmail": ["gmail.com", "googlemail.com"],
            "microsoft": ["outlook.com", "hotmail.com", "live.com", "msn.com"],
            "yahoo": ["yahoo.com", "aol.com", "ymail.com"],
        }
    )
    # A reporter collapses when its last collapse_hours hours bring at most
    # collapse_max_ratio of the (at least collapse_min_expected) events expected.
    collapse_hours: int = Field(default=6, ge=1, le=72)
    collapse_min_expected: float = Field(default=30.0, gt=0)
    collapse_max_ratio: float = Field(default=0.2, ge=0, lt=1)
    collapse_alpha: float = Field(default=1e-4, gt=0, lt=1)
    # A new account (younger than burst_account_days) bursts when an hour's messages reach
    # burst_min_messages and burst_factor times its usual busy hour so far.
    burst_account_days: int = Field(default=14, ge=1, le=365)
    burst_min_messages: int = Field(default=2_000, ge=1)
    burst_factor: float = Field(default=10.0, ge=1)

    @field_validator("dimensions")
    @classmethod
    def _dimensions(cls, value: list[str]) -> list[str]:
        """Refuse a series dimension the spike monitor does not know, naming the known ones."""
        for name in value:
            if name not in SPIKE_DIMENSIONS:
                raise ValueError(
                    f"{name!r} is not a spike series; known: {', '.join(SPIKE_DIMENSIONS)}"
                )
        return list(dict.fromkeys(value))

    @field_validator("provider_groups")
    @classmethod
    def _provider_groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        """Lowercase the domains; refuse one domain in two providers."""
        seen: dict[str, str] = {}
        tidy: dict[str, list[str]] = {}
        for group, domains in value.items():
            tidy[group] = []
            for domain in domains:
                clean = domain.strip().lower().rstrip(".")
                if clean in seen and seen[clean] != group:
                    raise ValueError(f"{clean} is in both {seen[clean]} and {group}")
                seen[clean] = group
                tidy[group].append(clean)
        return tidy


# --- monitoring settings: linking ---


class LinkSettings(BaseModel):
    """Linked accounts: what the linking monitor reads and how shared values weigh.

    ``weights`` overrides the weight of any indicator kind (``payment_fingerprint``,
    ``url_domain`` ...; see docs/linking.md); kinds left out keep their defaults.
    """

    enabled: bool = True
    # Events attributed to an account within this many days give its URL domains,
    # phone numbers and texts.
    lookback_days: int = Field(default=90, ge=1, le=3650)
    threshold: float = Field(default=1.0, gt=0)
    min_population: int = Field(default=1000, ge=3)
    common_share: float = Field(default=0.01, gt=0, le=1)
    common_min_holders: int = Field(default=10, ge=2)
    max_holders: int = Field(default=200, ge=2)
    corroboration: float = Field(default=0.6, ge=0, le=1)
    content_similarity: float = Field(default=0.6, gt=0, le=1)
    weights: dict[str, float] = Field(default_factory=dict)
    # Indicators read per run, at most: a run past it says so and links what it read.
    max_event_indicators: int = Field(default=2_000_000, ge=1)


# --- monitoring settings: activity ---


class ActivitySettings(BaseModel):
    """Compromised hosted mailboxes and SMS pumping: windows and thresholds.

    Each run compares the last ``window_hours`` with the ``baseline_days`` before them;
    an episode stays open (one signal) until ``quiet_hours`` pass without a flag. The
    thresholds are explained in docs/activity.md.
    """

    enabled: bool = True
    window_hours: int = Field(default=24, ge=1, le=24 * 7)
    baseline_days: int = Field(default=28, ge=1, le=365)
    quiet_hours: int = Field(default=72, ge=1)
    mailbox_volume_factor: float = Field(default=5.0, gt=1)
    mailbox_min_sent: int = Field(default=150, ge=1)
    mailbox_min_fingerprint_hits: int = Field(default=5, ge=1)
    mailbox_min_reasons: int = Field(default=2, ge=1, le=6)
    sms_min_sent: int = Field(default=100, ge=1)
    sms_rate_factor: float = Field(default=4.0, gt=1)
    sms_max_conversion: float = Field(default=0.1, ge=0, le=1)
    sms_max_delivery: float = Field(default=0.6, ge=0, le=1)
    sms_high_risk_ranges: list[str] = Field(
        default_factory=lambda: ["+870", "+881", "+882", "+883", "+979"]
    )

    @field_validator("sms_high_risk_ranges")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        """Refuse a number range that is not + and digits."""
        for prefix in value:
            if not prefix.startswith("+") or not prefix[1:].isdigit():
                raise ValueError(f"{prefix[:20]!r}: a number range is + and digits, e.g. +882")
        return value


# --- monitoring settings: signals ---


class MonitoringSettings(BaseModel):
    """Running the monitors and turning their signals into casework (docs/monitoring.md)."""

    # Off: no monitor runs in the sweep (signals already raised stay).
    enabled: bool = True
    # Seconds between two runs of a monitor, by its name (rates, blocklists, spikes,
    # linking, activity); a monitor not named here runs every default_interval_seconds.
    default_interval_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    intervals: dict[str, int] = Field(
        default_factory=lambda: {
            "rates": 3600,
            "spikes": 3600,
            "activity": 3600,
            "blocklists": 6 * 3600,
            "linking": 24 * 3600,
        }
    )
    # Changes to what each kind of signal does (abusedesk.monitoring.rules), JSON, e.g.
    # ``{"spike.jump": {"case_group": "spam", "higher_tier_at": "medium"}}``; checked at start.
    rules: dict[str, dict[str, str | bool | None]] = Field(default_factory=dict)
    # The advanced-tier queue a case goes to when a signal's severity asks for a higher
    # tier; empty: the first advanced-tier trust and safety queue, if there is one.
    advanced_queue: str = ""
    # A monitor's signals are applied this many to a transaction.
    batch_size: int = Field(default=500, ge=1, le=100_000)
    # Signals of these kinds end by themselves this many hours after they were raised
    # by the sweep: a spike or a burst counts toward its case's priority while recent.
    expire_after_hours: dict[str, int] = Field(
        default_factory=lambda: {"spike.jump": 24, "spike.new_account_burst": 24}
    )

    @field_validator("expire_after_hours")
    @classmethod
    def _expiries(cls, value: dict[str, int]) -> dict[str, int]:
        """Refuse expiries under an hour or over a year."""
        bad = sorted(kind for kind, hours in value.items() if not 1 <= hours <= 366 * 24)
        if bad:
            raise ValueError(f"expire_after_hours of {', '.join(bad)}: give 1 to 8784 hours")
        return value

    @field_validator("intervals")
    @classmethod
    def _intervals(cls, value: dict[str, int]) -> dict[str, int]:
        """Refuse intervals under a minute or over a week."""
        bad = sorted(name for name, seconds in value.items() if not 60 <= seconds <= 7 * 86400)
        if bad:
            raise ValueError(f"intervals of {', '.join(bad)}: give 60 to 604800 seconds")
        return value

    def interval_of(self, monitor: str) -> int:
        """Return the seconds between two runs of *monitor*."""
        return self.intervals.get(monitor, self.default_interval_seconds)


# --- insights settings: metrics ---


class MetricsSettings(BaseModel):
    """Analyst metrics: the workbench's focus heartbeat and how active time is read from it.

    The case page pings every ``heartbeat_seconds`` while it is visible and in focus; a
    gap longer than ``idle_gap_seconds`` (at least two heartbeats) between two pings
    starts a new stretch. Each step an analyst takes on a case counts
    ``action_span_seconds`` before it as active time. An analyst whose figure is more
    than ``outlier_factor`` median absolute deviations from the team's median is listed
    as an outlier (docs/metrics.md).
    """

    heartbeat_seconds: int = Field(default=30, ge=5, le=300)
    idle_gap_seconds: int = Field(default=90, ge=10, le=3600)
    action_span_seconds: int = Field(default=120, ge=0, le=3600)
    outlier_factor: float = Field(default=3.0, gt=0, le=20)
    # Weeks of trend the insights pages show.
    weeks_shown: int = Field(default=8, ge=1, le=104)

    def gap(self) -> int:
        """Return the idle gap in seconds: never shorter than two heartbeats."""
        return max(self.idle_gap_seconds, 2 * self.heartbeat_seconds)


# --- insights settings: qa ---


class QaSettings(BaseModel):
    """Quality assurance: how closed cases and executed actions are sampled (docs/qa.md)."""

    # Off: the sweep samples nothing (targeted picks and `abusedesk qa sample` still work).
    enabled: bool = True
    # Seconds between two sampling sweeps.
    interval_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    # The share (0 to 1) of closed cases and executed actions sampled, by queue tier;
    # work in a queue of another tier (or none) is sampled at default_rate.
    tier_rates: dict[str, float] = Field(default_factory=lambda: {"basic": 0.05, "advanced": 0.1})
    default_rate: float = Field(default=0.05, ge=0, le=1)
    # An analyst whose account is younger than new_analyst_days is sampled at this rate
    # (when it is higher than their tier's).
    new_analyst_rate: float = Field(default=0.25, ge=0, le=1)
    new_analyst_days: int = Field(default=30, ge=0, le=3650)
    # Appeals decided in these states put the appealed action in the queue, every time.
    overturn_states: list[str] = Field(default_factory=lambda: ["overturned", "partial"])
    # The first sweep looks this many days back; later ones start where the last ended.
    first_lookback_days: int = Field(default=7, ge=0, le=366)
    # Each closed case and executed action is drawn or not by a hash of this seed and the
    # work, so the same seed always draws the same work (tests, audits, a repeated window).
    # Set a private number so that nobody can foretell which of their cases are drawn.
    seed: int = 0

    @field_validator("tier_rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        """Refuse a rate below 0 or above 1."""
        bad = sorted(tier for tier, rate in value.items() if not 0 <= rate <= 1)
        if bad:
            raise ValueError(f"tier_rates of {', '.join(bad)}: give a fraction from 0 to 1")
        return value


# --- insights settings: reports ---


class ReportSettings(BaseModel):
    """The weekly leadership report: when it is generated and how its trends are counted."""

    # Generate last week's report on its own, this many hours after the week ended
    # (reports arriving late are counted by then).
    enabled: bool = True
    generate_after_hours: int = Field(default=6, ge=0, le=72)
    # The events roll-up runs at most this often, counts an event id once it has been
    # the newest one for settle_seconds, and counts at most rollup_batch ids per step.
    rollup_interval_seconds: int = Field(default=60, ge=1, le=86_400)
    rollup_settle_seconds: int = Field(default=120, ge=0, le=3_600)
    rollup_batch: int = Field(default=200_000, ge=1_000, le=5_000_000)
    # Weeks the trend chart shows, the week itself included.
    trend_weeks: int = Field(default=8, ge=2, le=52)
    # A day of customer contacts is a spike at contact_spike_factor times the usual day
    # (the mean of the four weeks before) and at least contact_spike_minimum messages.
    contact_spike_factor: float = Field(default=2.0, ge=1.0, le=100.0)
    contact_spike_minimum: int = Field(default=5, ge=1, le=100_000)


# --- insights settings: reviews ---


class ReviewSettings(BaseModel):
    """Incident and problem reviews: their windows and timelines (docs/reviews.md)."""

    # A review opened from a spike or a case looks this many hours before it ...
    lead_hours: int = Field(default=24, ge=0, le=31 * 24)
    # ... and this many hours after the spike's hour or the case's close (or opening).
    follow_hours: int = Field(default=72, ge=1, le=31 * 24)
    # The longest window a review may cover.
    max_days: int = Field(default=92, ge=1, le=366)
    # The longest window of a review that names no account (it reads every event of it).
    every_account_max_hours: int = Field(default=7 * 24, ge=97, le=92 * 24)
    # Each source of the timeline shows at most this many entries, the earliest first.
    timeline_limit: int = Field(default=500, ge=10, le=20_000)


# --- insights settings: analytics ---
class AnalyticsSettings(BaseModel):
    """The SQL console over the analytics views, and the login role it uses on PostgreSQL."""

    # Rows the console shows and rows a CSV download holds, at most; a query that has
    # more says so and stops there.
    row_limit: int = Field(default=1000, ge=1, le=100_000)
    csv_row_limit: int = Field(default=50_000, ge=1, le=1_000_000)
    # Seconds one query may run; the database cancels it, and a watchdog in abusedesk
    # cancels it too should the database not.
    time_limit_seconds: float = Field(default=10.0, gt=0, le=600)
    # The longest query text accepted, in characters.
    max_query_chars: int = Field(default=20_000, ge=100, le=1_000_000)
    # PostgreSQL: the login role the console connects as (``abusedesk analytics grant``
    # creates it), its password, and how many connections it may hold at once.
    role: str = Field(default="abusedesk_analytics", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    password: SecretStr | None = None
    connection_limit: int = Field(default=5, ge=1, le=1000)
    # PostgreSQL: the console's whole connection URL, when it is not the application's
    # database URL with the role and password above.
    url: SecretStr | None = None


# --- insights settings: voice ---


class VoiceTheme(BaseModel):
    """One theme of the voice of the customer: a stable key, a label, its keywords."""

    key: str
    label: str
    keywords: list[str]


class VoiceSettings(BaseModel):
    """The voice of the customer: its themes and what /insights/voice shows (docs/voice.md)."""

    # Themes replacing the defaults of insights/voice.py when given, e.g.
    # ABUSEDESK_VOICE__THEMES='[{"key": "pricing", "label": "Pricing", "keywords": ["price*"]}]'.
    themes: list[VoiceTheme] = Field(default_factory=list)
    # Weeks the page shows by default, the current one included.
    weeks: int = Field(default=12, ge=1, le=104)
    # Example quotes shown per theme, and about how many characters each keeps.
    quotes_per_theme: int = Field(default=3, ge=0, le=20)
    quote_chars: int = Field(default=240, ge=40, le=2_000)

    @field_validator("themes")
    @classmethod
    def _themes_are_valid(cls, themes: list[VoiceTheme]) -> list[VoiceTheme]:
        try:
            themes_from_settings(theme.model_dump() for theme in themes)
        except ThemeInvalid as error:
            raise ValueError(f"voice themes: {error}") from error
        return themes

    def theme_list(self) -> tuple[Theme, ...]:
        """Return the themes to count with: the configured ones, or the defaults."""
        return themes_from_settings(theme.model_dump() for theme in self.themes)


class Settings(BaseSettings):
    """Every setting abusedesk reads."""

    model_config = SettingsConfigDict(
        env_prefix="ABUSEDESK_", env_nested_delimiter="__", extra="ignore"
    )

    access: AccessSettings = Field(default_factory=AccessSettings)

    environment: Literal["development", "production"] = "development"
    log_level: str = "INFO"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    smtp_rate_limit: SmtpRateLimitSettings = Field(default_factory=SmtpRateLimitSettings)
    form: FormSettings = Field(default_factory=FormSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    sns: SnsSettings = Field(default_factory=SnsSettings)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    inventory: InventorySettings = Field(default_factory=InventorySettings)
    cases: CaseSettings = Field(default_factory=CaseSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    connector: ConnectorSettings = Field(default_factory=ConnectorSettings)
    notices: NoticeSettings = Field(default_factory=NoticeSettings)
    # monitoring settings field: rates
    rates: RateSettings = Field(default_factory=RateSettings)
    # monitoring settings field: blocklists
    blocklists: BlocklistSettings = Field(default_factory=BlocklistSettings)
    # monitoring settings field: spikes
    spikes: SpikeSettings = Field(default_factory=SpikeSettings)
    # monitoring settings field: linking
    linking: LinkSettings = Field(default_factory=LinkSettings)
    # monitoring settings field: activity
    activity: ActivitySettings = Field(default_factory=ActivitySettings)
    # monitoring settings field: signals
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    # insights settings field: metrics
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    # insights settings field: qa
    qa: QaSettings = Field(default_factory=QaSettings)
    # insights settings field: reports
    reports: ReportSettings = Field(default_factory=ReportSettings)
    # insights settings field: reviews
    reviews: ReviewSettings = Field(default_factory=ReviewSettings)
    # insights settings field: analytics
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    # insights settings field: voice
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
