"""``/monitoring/blocklists``: what of ours is listed now, each target's history, the last run.

The page lists the open listings (our IPs, with the account or shared pool holding each
when it was first seen, and customers' domains with their accounts), draws the listing
intervals of the last days on a timeline, and shows the latest run's summary and the
checks that failed (refused, public resolver, excessive volume, timeouts): those are
errors, never listings. ``?target=`` narrows the history to one IP address or domain.
"""

from datetime import timedelta
from typing import Final

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from abusedesk.access.model import CASE_VIEW
from abusedesk.blocklists.answers import InvalidQueryTarget
from abusedesk.blocklists.model import Listing, parse_target
from abusedesk.blocklists.watch import list_title
from abusedesk.core.clock import utcnow
from abusedesk.storage import blocklists as store
from abusedesk.storage.db import read_only
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.charts import Interval, timeline
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

PAGE: Final = "/monitoring/blocklists"
HISTORY_DAYS: Final = 90
MAX_SHOWN: Final = 500
MAX_TARGET: Final = 300


@router.get(PAGE)
def blocklists_page(
    request: Request,
    target: str = Query("", max_length=MAX_TARGET),
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show the open listings, the listing history (of one target when asked), the last run."""
    now = utcnow()
    since = now - timedelta(days=HISTORY_DAYS)
    problem: str | None = None
    wanted: tuple[str, str] | None = None
    if target.strip():
        try:
            kind, value = parse_target(target)
            wanted = (str(kind), value)
        except InvalidQueryTarget as exc:
            problem = str(exc)
    with read_only(container_of(request).sessions) as session:
        current = store.listings(session, open_only=True, limit=MAX_SHOWN)
        if wanted is not None:
            history = store.listings(
                session, target_kind=wanted[0], target=wanted[1], limit=MAX_SHOWN
            )
        else:
            history = store.listings(session, since=since, limit=MAX_SHOWN)
        run = store.last_run(session)
    start = min([since, *(listing.first_seen_at for listing in history)])
    title = f"Listings of {wanted[1]}" if wanted else f"Listings of the last {HISTORY_DAYS} days"
    chart = timeline(
        [_interval(listing, one_target=wanted is not None) for listing in history],
        start=start,
        end=now,
        title=title,
    )
    return private_page(
        request,
        "workbench/blocklists.html",
        {
            "current": current,
            "history": history,
            "chart": chart,
            "target": wanted[1] if wanted else "",
            "typed": target,
            "run": run,
            "titles": {
                listing.blocklist: list_title(listing.blocklist) for listing in [*current, *history]
            },
            "problem": problem,
            "history_days": HISTORY_DAYS,
            "now": now,
        },
    )


def _interval(listing: Listing, *, one_target: bool) -> Interval:
    """Return a listing as one bar of the timeline."""
    title = list_title(listing.blocklist)
    label = title if one_target else f"{listing.target} · {title}"
    return Interval(
        label=label,
        start=listing.first_seen_at,
        end=listing.delisted_at,
        note=", ".join(listing.meanings),
    )
