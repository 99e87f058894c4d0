"""The provider's inventory as attribution reads it."""

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from abusedesk.attribution.model import Holder, IpHolding, SentMessage
from abusedesk.storage.tables import IpAllocation, IpPool, Resource, SendLogEntry

IDENTITY_KINDS = ("identity_domain",)


class SqlInventoryLookup:
    """Answer attribution's inventory questions from SQL, within one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def sent_by_provider_message_id(self, value: str) -> SentMessage | None:
        """Return the send-log entry with this provider message id."""
        return self._sent(SendLogEntry.provider_message_id == value)

    def sent_by_message_id(self, value: str) -> SentMessage | None:
        """Return the send-log entry whose Message-ID header is *value*."""
        return self._sent(SendLogEntry.message_id_header == value)

    def _sent(self, condition: object) -> SentMessage | None:
        row = self.session.scalars(select(SendLogEntry).where(condition).limit(1)).first()  # type: ignore[arg-type]  # a SQL expression
        if row is None:
            return None
        return SentMessage(
            row.account_id,
            row.resource_id,
            row.provider_message_id,
            row.message_id_header,
            row.sent_at,
        )

    def identity_holders(self, domain: str) -> list[Holder]:
        """Return the accounts with *domain* as a live verified identity."""
        rows = self.session.execute(
            select(Resource.account_id, Resource.id).where(
                Resource.kind.in_(IDENTITY_KINDS),
                Resource.value == domain.lower(),
                Resource.deleted_at.is_(None),
            )
        )
        return [Holder(account_id, resource_id) for account_id, resource_id in rows]

    def ip_holding_at(self, ip: str, at: datetime) -> IpHolding | None:
        """Return who held *ip* at *at*, from the allocation history."""
        row = self.session.execute(
            select(IpAllocation.account_id, IpPool.name, IpPool.kind)
            .outerjoin(IpPool, IpPool.id == IpAllocation.pool_id)
            .where(
                IpAllocation.ip == ip,
                IpAllocation.valid_from <= at,
                or_(IpAllocation.valid_to.is_(None), IpAllocation.valid_to > at),
            )
            .order_by(IpAllocation.valid_from.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        account_id, pool_name, pool_kind = row
        return IpHolding(ip, account_id, pool_name, shared=pool_kind == "shared")
