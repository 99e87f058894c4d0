"""An account's reputation figures, read from its hourly sending figures."""

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abusedesk.core.errors import NotFound
from abusedesk.reputation.rates import (
    BOUNCE_RATE,
    COMPLAINT_RATE,
    MAX_DAYS,
    AccountFigures,
    HourFigures,
    representative_rate,
)
from abusedesk.storage.tables import Account, SendingStat


def account_figures(session: Session, account_id: int, now: datetime) -> AccountFigures:
    """Return account *account_id*'s complaint and bounce rates at *now*.

    Reads the account-wide rows (all destination groups) of the last 90 days; the window
    never starts before the account's fresh start (``accounts.metrics_since``, set when
    it was reinstated).
    """
    row = session.execute(
        select(Account.id, Account.metrics_since).where(Account.id == account_id)
    ).first()
    if row is None:
        raise NotFound(f"no account {account_id}")
    floor: datetime | None = row.metrics_since
    start = now - timedelta(days=MAX_DAYS + 1)
    stats = session.execute(
        select(
            SendingStat.hour,
            func.sum(SendingStat.sent),
            func.sum(SendingStat.hard_bounces_non_verified),
            func.sum(SendingStat.fbl_sent),
            func.sum(SendingStat.complaints),
        )
        .where(
            SendingStat.account_id == account_id,
            SendingStat.resource_key == "",
            SendingStat.hour >= start,
            SendingStat.hour <= now,
        )
        .group_by(SendingStat.hour)
    ).all()
    hours = [
        HourFigures(
            hour=hour,
            sent=int(sent or 0),
            hard_bounces_non_verified=int(bounces or 0),
            fbl_sent=int(fbl or 0),
            complaints=int(complaints or 0),
        )
        for hour, sent, bounces, fbl, complaints in stats
    ]
    return AccountFigures(
        account_id=account_id,
        at=now,
        complaint=representative_rate(COMPLAINT_RATE, hours, now, floor=floor),
        bounce=representative_rate(BOUNCE_RATE, hours, now, floor=floor),
        metrics_since=floor,
    )
