"""The provider's inventory as attribution reads it.

The statements are built once and run with bound values: attribution asks the same few
questions for every event of every report.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from abusedesk.attribution.model import Holder, IpHolding, SentMessage
from abusedesk.storage.tables import IpAllocation, IpPool, Resource, SendLogEntry

IDENTITY_KINDS = ("identity_domain",)

_SENT_COLUMNS = (
    SendLogEntry.account_id,
    SendLogEntry.resource_id,
    SendLogEntry.provider_message_id,
    SendLogEntry.message_id_header,
    SendLogEntry.sent_at,
)
_SENT_BY_PROVIDER_MESSAGE_ID = (
    select(*_SENT_COLUMNS).where(SendLogEntry.provider_message_id == bindparam("value")).limit(1)
)
_SENT_BY_MESSAGE_ID = (
    select(*_SENT_COLUMNS).where(SendLogEntry.message_id_header == bindparam("value")).limit(1)
)
_IDENTITY_HOLDERS = select(Resource.account_id, Resource.id).where(
    Resource.kind.in_(IDENTITY_KINDS),
    Resource.value == bindparam("domain"),
    Resource.deleted_at.is_(None),
)
_IP_HOLDING = (
    select(IpAllocation.account_id, IpPool.name, IpPool.kind)
    .outerjoin(IpPool, IpPool.id == IpAllocation.pool_id)
    .where(
        IpAllocation.ip == bindparam("ip"),
        IpAllocation.valid_from <= bindparam("at"),
        or_(IpAllocation.valid_to.is_(None), IpAllocation.valid_to > bindparam("at")),
    )
    .order_by(IpAllocation.valid_from.desc())
    .limit(1)
)


class SqlInventoryLookup:
    """Answer attribution's inventory questions from SQL, within one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def sent_by_provider_message_id(self, value: str) -> SentMessage | None:
        """Return the send-log entry with this provider message id."""
        return self._sent(_SENT_BY_PROVIDER_MESSAGE_ID, value)

    def sent_by_message_id(self, value: str) -> SentMessage | None:
        """Return the send-log entry whose Message-ID header is *value*."""
        return self._sent(_SENT_BY_MESSAGE_ID, value)

    def _sent(self, statement: Any, value: str) -> SentMessage | None:
        row = self.session.execute(statement, {"value": value}).first()
        return None if row is None else SentMessage(*row)

    def identity_holders(self, domain: str) -> list[Holder]:
        """Return the accounts with *domain* as a live verified identity."""
        rows = self.session.execute(_IDENTITY_HOLDERS, {"domain": domain.lower()})
        return [Holder(account_id, resource_id) for account_id, resource_id in rows]

    def ip_holding_at(self, ip: str, at: datetime) -> IpHolding | None:
        """Return who held *ip* at *at*, from the allocation history."""
        row = self.session.execute(_IP_HOLDING, {"ip": ip, "at": at}).first()
        if row is None:
            return None
        account_id, pool_name, pool_kind = row
        return IpHolding(ip, account_id, pool_name, shared=pool_kind == "shared")
