"""Build provider inventory rows for tests: accounts with identities, IPs and sent mail."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from abusedesk.core.clock import utcnow
from abusedesk.storage.tables import Account, IpAllocation, IpPool, Resource, SendLogEntry


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
    """Insert an account with one verified domain identity; return (account id, resource id)."""
    now = utcnow()
    account = Account(
        external_id=external_id, name=f"Customer {external_id}", created_at=now, attributes={}
    )
    session.add(account)
    session.flush()
    identity = Resource(
        account_id=account.id,
        kind="identity_domain",
        value=domain,
        attributes={"dkim_selectors": ["s1"]},
        created_at=now,
    )
    session.add(identity)
    session.flush()
    return account.id, identity.id


def make_sent_mail(
    session: Session, account_id: int, resource_id: int, n: int, *, domain: str
) -> SentMail:
    """Insert send-log entry number *n* for the account and return what a report would quote."""
    sent_at = utcnow() - timedelta(hours=2)
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
            recipient_domain="mail.example.net",
            sent_at=sent_at,
        )
    )
    return mail


def make_dedicated_ip(session: Session, account_id: int, ip: str, *, since: datetime) -> None:
    """Allocate *ip* in a dedicated pool of the account from *since* on."""
    pool = IpPool(name=f"dedicated-{account_id}-{ip}", kind="dedicated", account_id=account_id)
    session.add(pool)
    session.flush()
    session.add(IpAllocation(ip=ip, pool_id=pool.id, account_id=account_id, valid_from=since))
