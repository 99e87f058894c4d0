"""Build provider inventory rows for tests: accounts with identities, IPs and sent mail."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from abusedesk.attribution.keys import resource_keys
from abusedesk.core.clock import utcnow
from abusedesk.core.hashing import sha256_hex
from abusedesk.storage.tables import (
    Account,
    IpAllocation,
    IpPool,
    Resource,
    ResourceKey,
    SendLogEntry,
)

# When the factory's accounts and identities came into being.
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SentMail:
    """A message in the send log, as a report would quote it."""

    account_id: int
    resource_id: int
    message_id: str
    provider_message_id: str
    domain: str
    sent_at: datetime


def make_account(
    session: Session, external_id: str = "4411", *, domain: str = "news.example.com"
) -> tuple[int, int]:
    """Insert an account with one verified domain identity; return (account id, resource id).

    Both date from 2020, before any mail the tests' reports quote (some are dated 2025).
    """
    now = LONG_AGO
    account = Account(
        external_id=external_id, name=f"Customer {external_id}", created_at=now, attributes={}
    )
    session.add(account)
    session.flush()
    identity = make_resource(
        session, account.id, "identity_domain", domain, {"dkim_selectors": ["s1"]}, since=now
    )
    return account.id, identity


def make_resource(
    session: Session,
    account_id: int,
    kind: str,
    value: str,
    attributes: dict[str, object] | None = None,
    *,
    since: datetime,
    until: datetime | None = None,
) -> int:
    """Insert a resource with its lookup keys, held during [since, until); return its id."""
    resource = Resource(
        account_id=account_id,
        kind=kind,
        value=value,
        attributes=attributes or {},
        created_at=since,
        deleted_at=until,
    )
    session.add(resource)
    session.flush()
    for key_kind, key_value in resource_keys(kind, value, attributes or {}):
        session.add(
            ResourceKey(
                resource_id=resource.id, account_id=account_id, kind=key_kind, value=key_value
            )
        )
    session.flush()
    return resource.id


def make_sent_mail(
    session: Session,
    account_id: int,
    resource_id: int,
    n: int,
    *,
    domain: str,
    source_ip: str | None = None,
    recipient: str = "someone@mail.example.net",
    sent_at: datetime | None = None,
) -> SentMail:
    """Insert send-log entry number *n* for the account and return what a report would quote."""
    sent_at = sent_at or utcnow() - timedelta(hours=2)
    mail = SentMail(
        account_id=account_id,
        resource_id=resource_id,
        message_id=f"msg-{account_id}-{n}@mail.{domain}",
        provider_message_id=f"0100-{account_id:06d}-{n:08d}",
        domain=domain,
        sent_at=sent_at,
    )
    session.add(
        SendLogEntry(
            provider_message_id=mail.provider_message_id,
            message_id_header=mail.message_id,
            account_id=account_id,
            resource_id=resource_id,
            mail_from=f"bounces@{domain}",
            source_ip=source_ip,
            recipient_domain=recipient.rpartition("@")[2],
            recipient_hash=sha256_hex(recipient.lower().encode()),
            sent_at=sent_at,
        )
    )
    return mail


def make_dedicated_ip(
    session: Session, account_id: int, ip: str, *, since: datetime, until: datetime | None = None
) -> None:
    """Allocate *ip* in a dedicated pool of the account during [since, until)."""
    pool = IpPool(
        name=f"dedicated-{account_id}-{ip}-{since:%Y%m%d%H%M}",
        kind="dedicated",
        account_id=account_id,
    )
    session.add(pool)
    session.flush()
    session.add(
        IpAllocation(
            ip=ip, pool_id=pool.id, account_id=account_id, valid_from=since, valid_to=until
        )
    )
    session.flush()


def make_shared_pool(
    session: Session, name: str, ips: list[str], members: list[int], *, since: datetime
) -> None:
    """Create a shared pool of *ips* whose members are the accounts *members*, from *since*."""
    pool = IpPool(name=name, kind="shared")
    session.add(pool)
    session.flush()
    session.add_all(IpAllocation(ip=ip, pool_id=pool.id, valid_from=since) for ip in ips)
    for account_id in members:
        make_resource(session, account_id, "ip_pool", name, since=since)
