"""An account's reputation figures, read from its hourly sending figures."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from abusedesk.core.errors import NotFound
from abusedesk.reputation.batch import day_number
from abusedesk.reputation.rates import (
    BOUNCE_RATE,
    COMPLAINT_RATE,
    DEFAULT_WINDOW,
    AccountFigures,
    HourFigures,
    RateWindow,
    representative_rate,
)
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.tables import Account, RateDaily, SendingStat, table_of


def account_figures(
    session: Session, account_id: int, now: datetime, *, window: RateWindow = DEFAULT_WINDOW
) -> AccountFigures:
    """Return account *account_id*'s complaint and bounce rates at *now*.

    Reads the account-wide rows (all destination groups) of the last 90 days (the
    *window*'s longest); the window never starts before the account's fresh start
    (``accounts.metrics_since``, set when it was reinstated).
    """
    row = session.execute(
        select(Account.id, Account.metrics_since).where(Account.id == account_id)
    ).first()
    if row is None:
        raise NotFound(f"no account {account_id}")
    floor: datetime | None = row.metrics_since
    start = now - timedelta(days=window.max_days + 1)
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
        complaint=representative_rate(COMPLAINT_RATE, hours, now, floor=floor, window=window),
        bounce=representative_rate(BOUNCE_RATE, hours, now, floor=floor, window=window),
        metrics_since=floor,
    )


# --- daily sums of the hourly figures (what the rate monitor reads) ---------------------

# The figures the daily sums keep, in the order arrays hold them.
DAILY_FIGURES: Final = (
    "sent",
    "hard_bounces_non_verified",
    "fbl_sent",
    "complaints",
    "trap_hits",
)
# Days since 1970-01-01 of sending_stats.hour, per dialect (as migration 0014 writes it).
_DAY_OF_HOUR: Final = {
    "sqlite": "CAST(julianday(date(hour)) - 2440587.5 AS INTEGER)",
    "postgresql": "(CAST(hour AT TIME ZONE 'UTC' AS date) - DATE '1970-01-01')",
}


@dataclass(frozen=True)
class HourChange:
    """What one write did to an hourly row: the figures it added (negative when lowered)."""

    account_id: int
    resource_key: str
    hour: datetime
    destination_group: str
    figures: tuple[int, int, int, int, int]


def add_to_daily(session: Session, changes: Sequence[HourChange]) -> None:
    """Add *changes* of hourly rows to their days' sums, in the caller's transaction."""
    sums: dict[tuple[int, str, int, str], list[int]] = {}
    for change in changes:
        key = (
            change.account_id,
            change.resource_key,
            day_number(change.hour),
            change.destination_group,
        )
        total = sums.setdefault(key, [0] * len(DAILY_FIGURES))
        for position, value in enumerate(change.figures):
            total[position] += value
    rows = [
        {
            "account_id": account_id,
            "resource_key": resource_key,
            "day": day,
            "destination_group": group,
            **dict(zip(DAILY_FIGURES, figures, strict=True)),
        }
        for (account_id, resource_key, day, group), figures in sums.items()
        if any(figures)
    ]
    if not rows:
        return
    statement = insert_for(session, RateDaily)
    table = table_of(RateDaily)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["account_id", "resource_key", "day", "destination_group"],
            set_={name: table.c[name] + statement.excluded[name] for name in DAILY_FIGURES},
        ),
        rows,
    )


def rebuild_daily(session: Session, *, from_day: int | None = None) -> int:
    """Recompute the daily sums from the hourly figures (from day *from_day* on); return rows.

    For a repair or after hourly rows were written around the inventory store.
    """
    day = _DAY_OF_HOUR[session.get_bind().dialect.name]
    table = table_of(RateDaily)
    condition = "" if from_day is None else f" WHERE {day} >= :from_day"
    deleted = delete(table)
    if from_day is not None:
        deleted = deleted.where(table.c.day >= from_day)
    session.execute(deleted)
    figures = ", ".join(DAILY_FIGURES)
    sums = ", ".join(f"SUM({name})" for name in DAILY_FIGURES)
    result = session.execute(
        text(
            "INSERT INTO rate_daily (account_id, resource_key, day, destination_group,"  # noqa: S608  # our names
            f" {figures}) SELECT account_id, resource_key, {day}, destination_group, {sums}"
            f" FROM sending_stats{condition}"
            f" GROUP BY account_id, resource_key, {day}, destination_group"
        ),
        {} if from_day is None else {"from_day": from_day},
    )
    return int(getattr(result, "rowcount", 0) or 0)
