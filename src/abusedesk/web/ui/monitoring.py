"""The monitoring pages: the dashboard of rates, listings, spikes, clusters and signals, and
each account's page with its standing, rate history, signals, listings, cluster and cases.

Charts are SVG drawn on the server (`web.ui.charts`). The dashboard's signal list takes
filters from the query string (state, monitor, severity, account). An analyst who works
cases may end an open signal by hand with a reason (a false alarm, or handled).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import CASE_VIEW, CASE_WORK, User
from abusedesk.blocklists.model import Listing
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.monitoring.signals import Severity, SignalKind
from abusedesk.reputation.rates import BOUNCE_RATE, COMPLAINT_RATE
from abusedesk.reputation.status import Status
from abusedesk.storage import action_views, blocklists, linking, monitoring, rate_monitor
from abusedesk.storage.db import read_only
from abusedesk.storage.enforcement import current_policy
from abusedesk.storage.inventory import external_ids
from abusedesk.storage.rate_monitor import SPAM_TRAPS, RatePoint
from abusedesk.storage.reputation import account_figures
from abusedesk.storage.signals import OPEN, RESOLVED, count_open_by_kind, find_signals
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.charts import Interval, Series, Threshold, bar_chart, line_chart, timeline
from abusedesk.web.ui.rendering import private_page
from abusedesk.web.ui.steps import run_step

router = APIRouter(include_in_schema=False)

MONITORS: Final = ("rates", "blocklists", "spikes", "linking", "activity")
# The first part of each kind of signal, by monitor (the linking monitor raises link.*).
KIND_PREFIX: Final = {
    "rates": "rate",
    "blocklists": "blocklist",
    "spikes": "spike",
    "linking": "link",
    "activity": "activity",
    "monitors": "monitor",
}
STATES: Final = (OPEN, RESOLVED, "all")
MAX_ID: Final = 2**63 - 1
DONE: Final = {"ended": "The signal is ended."}
# Why ending a signal was refused, by code: the page shows only these sentences.
REFUSED: Final = {
    "already": "The signal had already ended.",
    "reason": "Say why the signal ends.",
    "missing": "There is no such signal.",
}
# Where the end-a-signal form may send the analyst back to.
BACK_TO: Final = ("/monitoring", "/accounts/", "/cases/")
HISTORY_DAYS: Final = 30
SHOWN: Final = 200
# Signals listed on the dashboard at once: the newest; the filters narrow the rest.
SIGNALS_SHOWN: Final = 50
SPIKE_KINDS: Final = (SignalKind.SPIKE, SignalKind.SENDING_BURST, SignalKind.REPORTER_COLLAPSE)
# The statuses accounts are counted by on the dashboard (healthy ones are not stored).
NOT_HEALTHY: Final = (
    Status.ALMOST_HEALED,
    Status.UNDER_REVIEW,
    Status.PENDING_PAUSE,
    Status.PAUSED,
)
# The statuses the "worst rates" list shows.
WORST: Final = (Status.UNDER_REVIEW, Status.PENDING_PAUSE, Status.PAUSED)
# At most this many account statuses are counted for the dashboard.
MAX_COUNTED: Final = 20_000


@dataclass(frozen=True)
class SignalFilters:
    """The dashboard's signal filters as the query string gave them."""

    state: str = OPEN
    monitor: str = ""
    severity: str = ""
    account: str = ""

    @property
    def active(self) -> bool:
        """Tell whether any filter differs from the default (open signals of every kind)."""
        return self != SignalFilters()


@router.get("/monitoring")
def dashboard(
    request: Request,
    *,
    state: str = Query(OPEN, max_length=10),
    monitor: str = Query("", max_length=20),
    severity: str = Query("", max_length=10),
    account: str = Query("", max_length=64),
    done: str = Query("", max_length=20),
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show rates by status, the worst rates, listings, spikes, clusters and signals."""
    filters = SignalFilters(
        state=state if state in STATES else OPEN,
        monitor=monitor if monitor in KIND_PREFIX else "",
        severity=severity if severity in Severity.ALL else "",
        account=account.strip(),
    )
    now = utcnow()
    container = container_of(request)
    with read_only(container.sessions) as session:
        context = _dashboard(session, filters, now=now)
    return private_page(
        request,
        "workbench/monitoring.html",
        {**context, **_signal_forms(request, principal.user), "notice": DONE.get(done)},
    )


def _dashboard(session: Session, filters: SignalFilters, *, now: datetime) -> dict[str, Any]:
    since = now - timedelta(days=HISTORY_DAYS)
    account_id = None
    unknown_account = False
    if filters.account:
        try:
            account_id = monitoring.account_facts(session, filters.account).account_id
        except NotFound:
            unknown_account = True
    signals = (
        []
        if unknown_account
        else find_signals(
            session,
            state=None if filters.state == "all" else filters.state,
            monitor=KIND_PREFIX.get(filters.monitor),
            severity=filters.severity or None,
            account_id=account_id,
            limit=SIGNALS_SHOWN,
        )
    )
    open_by_kind = count_open_by_kind(session)
    by_monitor: dict[str, int] = {}
    for kind, count in open_by_kind.items():
        prefix = kind.split(".", 1)[0]
        by_monitor[prefix] = by_monitor.get(prefix, 0) + count
    counted = rate_monitor.current_statuses(
        session, subject_type="account", statuses=NOT_HEALTHY, limit=MAX_COUNTED
    )
    accounts_by_status = {
        status: len({c.account_id for c in counted if c.status == status}) for status in NOT_HEALTHY
    }
    open_listings = blocklists.listings(session, open_only=True, limit=SHOWN)
    recent_listings = blocklists.listings(session, since=since, limit=SHOWN)
    spikes = find_signals(session, kinds=SPIKE_KINDS, since=now - timedelta(days=7), limit=50)
    clusters = linking.cluster_lines(session, limit=20)
    per_day = monitoring.signals_per_day(session, since=since)
    return {
        "filters": filters,
        "filtered": filters.active,
        "unknown_account": unknown_account,
        "states": STATES,
        "monitors": list(KIND_PREFIX),
        "severities": Severity.ALL,
        "signals": signals,
        "shown": SIGNALS_SHOWN,
        "open_total": sum(open_by_kind.values()),
        "status_counts": [(s.replace("_", " "), n) for s, n in accounts_by_status.items()],
        "status_chart": bar_chart(
            [(s.replace("_", " "), float(n)) for s, n in accounts_by_status.items()],
            title="Accounts by reputation status (healthy ones not counted)",
        ),
        "monitor_chart": bar_chart(
            sorted(((p, float(c)) for p, c in by_monitor.items()), key=lambda bar: -bar[1]),
            title="Open signals by monitor",
        ),
        "daily_chart": line_chart(
            _daily_series(per_day, since=since, now=now),
            title=f"Signals raised per day, last {HISTORY_DAYS} days",
        ),
        "worst_rates": rate_monitor.current_statuses(session, statuses=WORST, limit=20),
        "external_ids": external_ids(
            session, (c.account_id for c in counted if c.account_id is not None)
        ),
        "listings": open_listings,
        "listing_chart": _listing_timeline(recent_listings, since=since, now=now),
        "spikes": spikes,
        "clusters": clusters,
        "marks": monitoring.monitor_marks(session, MONITORS),
    }


def _listing_timeline(listings: Sequence[Listing], *, since: datetime, now: datetime) -> Markup:
    """Return the listings as a timeline of the last HISTORY_DAYS days, one bar each."""
    return timeline(
        [
            Interval(f"{item.target} on {item.blocklist}", item.first_seen_at, item.delisted_at)
            for item in listings
        ],
        start=since,
        end=now,
        title=f"Listings in the last {HISTORY_DAYS} days",
    )


def _daily_series(
    per_day: dict[str, dict[date, int]], *, since: datetime, now: datetime
) -> list[Series]:
    days = [(since + timedelta(days=n)).date() for n in range((now - since).days + 1)]
    return [
        Series(
            prefix,
            [
                (datetime.combine(day, time(), tzinfo=UTC), float(counts.get(day, 0)))
                for day in days
            ],
        )
        for prefix, counts in sorted(per_day.items())
    ]


# Any external id: a provider's ids may hold "/", "#" or "?"; links quote them.
@router.get("/accounts/{external_id:path}")
def account_page(
    request: Request,
    external_id: str = Path(min_length=1, max_length=64),
    done: str = Query("", max_length=20),
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show one account: standing, rates and their history, signals, listings, cluster, cases."""
    now = utcnow()
    container = container_of(request)
    with read_only(container.sessions) as session:
        context = _account(session, external_id, now=now)
    return private_page(
        request,
        "workbench/account.html",
        {**context, **_signal_forms(request, principal.user), "notice": DONE.get(done)},
    )


@router.post("/signals/{signal_id}/end")
async def end_signal(
    request: Request,
    *,
    signal_id: int = Path(ge=1, le=MAX_ID),
    reason: str = Form("", max_length=monitoring.MAX_REASON),
    back: str = Form("", max_length=400),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """End an open signal by hand with a reason; go back to the page it was ended from."""

    def step(session: Session) -> int | None:
        return monitoring.dismiss_signal(
            session, signal_id, actor=principal.user.username, reason=reason, now=utcnow()
        )

    outcome = await run_step(container_of(request).sessions, step)
    target = safe_back(back)
    joiner = "&" if "?" in target else "?"
    if isinstance(outcome, AbuseDeskError):
        code = (
            "already"
            if isinstance(outcome, monitoring.SignalEnded)
            else "missing"
            if isinstance(outcome, NotFound)
            else "reason"
        )
        return RedirectResponse(f"{target}{joiner}refused={code}", status_code=303)
    return RedirectResponse(f"{target}{joiner}done=ended", status_code=303)


def safe_back(back: str) -> str:
    """Return *back* if it is one of our monitoring, account or case pages, else /monitoring."""
    parts = urlsplit(back)
    if parts.scheme or parts.netloc or not parts.path.startswith(BACK_TO):
        return "/monitoring"
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("done", "refused")]
    return parts.path + (f"?{urlencode(kept)}" if kept else "")


def _signal_forms(request: Request, user: User) -> dict[str, Any]:
    """Return what the signal lists need for their end-a-signal forms."""
    return {
        "may_end_signals": user.may(CASE_WORK),
        "back": safe_back(str(request.url.path) + "?" + str(request.url.query)),
        "problem": REFUSED.get(request.query_params.get("refused", "")),
    }


def _account(session: Session, external_id: str, *, now: datetime) -> dict[str, Any]:
    account = monitoring.account_facts(session, external_id)
    since = now - timedelta(days=HISTORY_DAYS)
    policy = current_policy(session)
    figures = account_figures(session, account.account_id, now)
    signals = find_signals(session, account_id=account.account_id, limit=SHOWN)
    listings = blocklists.listings(session, account_id=account.account_id, limit=SHOWN)
    return {
        "account": account,
        "policy": policy,
        "figures": figures,
        "rates": [figures.rate(metric) for metric in (COMPLAINT_RATE, BOUNCE_RATE)],
        "rate_charts": _rate_charts(
            rate_monitor.rate_history(session, account.account_id, days=HISTORY_DAYS, now=now),
            policy.to_dict()["thresholds"],
        ),
        "signals": signals,
        "open_signals": sum(1 for s in signals if s.state == OPEN),
        "listings": listings,
        "listing_chart": _listing_timeline(listings, since=since, now=now),
        "statuses": rate_monitor.current_statuses(session, account_id=account.account_id),
        "cluster": linking.cluster_of_account(session, account.account_id),
        "links": _links(session, account.account_id),
        "cases": monitoring.account_cases(session, account.account_id),
        "actions": action_views.account_action_lines(session, account.account_id),
    }


@dataclass(frozen=True)
class LinkedAccount:
    """Another account this one is linked to, with what they share."""

    external_id: str
    standing: str
    kinds: tuple[str, ...]
    score: float


def _links(session: Session, account_id: int, *, limit: int = 20) -> list[LinkedAccount]:
    links = sorted(linking.links_of_account(session, account_id), key=lambda link: -link.score)
    others = {
        link.other_account_id if link.account_id == account_id else link.account_id: link
        for link in links[:limit]
    }
    members = linking.members_of(session, others)
    return [
        LinkedAccount(member.external_id, member.standing, link.kinds, link.score)
        for other, link in others.items()
        if (member := members.get(other)) is not None
    ]


def _rate_charts(
    history: dict[str, list[RatePoint]], thresholds: dict[str, dict[str, float]]
) -> list[Markup]:
    """Return one chart per rate (with the policy's thresholds) and one of spam-trap hits.

    Each day's point is the representative rate as it stood at the day's end, the figure
    the policy judges; days with nothing eligible have no point.
    """
    charts = []
    for metric in (COMPLAINT_RATE, BOUNCE_RATE):
        name = metric.replace("_", " ")
        points = history.get(metric, [])
        limits = thresholds.get(metric, {})
        charts.append(
            line_chart(
                [Series(name, [(p.day, p.value) for p in points if p.value is not None])],
                title=f"{name.capitalize()}, last {HISTORY_DAYS} days",
                thresholds=[Threshold(level, value) for level, value in sorted(limits.items())],
                percent=True,
            )
        )
    traps = history.get(SPAM_TRAPS, [])
    charts.append(
        line_chart(
            [Series("spam-trap hits", [(p.day, float(p.count)) for p in traps])],
            title=f"Spam-trap hits per day, last {HISTORY_DAYS} days",
        )
    )
    return charts
