"""Clusters of linked accounts: the list, one cluster's members and links, acting on many.

``/clusters`` lists the clusters the latest linking run found, those holding a suspended
or terminated account first, with what the run read and left out as too common.
``/clusters/{id}`` shows each member with its standing and every link with the values
it rests on. From there an analyst who works advanced queues selects members, chooses
one action and writes one reason: each selected account gets its own proposal through
the enforcement policy (``storage.enforcement.propose``), so repeat rules, the ladder and
second-analyst approvals hold exactly as on a case. Proposals the policy lets run
without a second analyst run at once through the connector; the page then says, member
by member, which ran and which wait for approval. All the proposals are made in one
transaction: one refused (the ladder allows no such step for that account) makes none.
"""

import re
from collections.abc import Sequence
from typing import Any, Final

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.errors import PermissionDenied
from abusedesk.access.model import ACTION_PROPOSE, CASE_VIEW, CASE_WORK_ADVANCED
from abusedesk.connectors import retry_policy
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.enforcement.ladder import AccountAction
from abusedesk.pipeline.enforcement import notify_customer
from abusedesk.storage import enforcement
from abusedesk.storage import linking as store
from abusedesk.storage.db import read_only
from abusedesk.storage.enforcement import ActionRecord
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.errors import http_error_for
from abusedesk.web.ui.actions import Turn, outcome
from abusedesk.web.ui.rendering import private_page
from abusedesk.web.ui.steps import run_step

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**63 - 1
MAX_REASON: Final = 2000
MAX_SELECTED: Final = 200
ClusterId = Path(ge=1, le=MAX_ID)
# What one may do to many accounts at once from a cluster: account steps up the ladder.
CLUSTER_ACTIONS: Final = (
    AccountAction.WARN,
    AccountAction.REVIEW,
    AccountAction.THROTTLE,
    AccountAction.PAUSE,
    AccountAction.SUSPEND,
    AccountAction.TERMINATE,
)
CAUSES: Final = ("linked_accounts", "fraud", "spam", "phishing", "other")
OUTCOME_WORDS: Final = {
    "proposed": "proposed",
    "approved": "approved, not yet run",
    "executed": "executed",
    "failed": "the connector failed; it will be tried again",
    "dead": "the connector gave up: see the dead letters",
    "rejected": "rejected",
}
_ACTION_IDS = re.compile(r"^[1-9][0-9]{0,18}(,[1-9][0-9]{0,18}){0,199}$")


class ClusterActionRefused(AbuseDeskError):
    """Raise when acting on a cluster's members cannot be done as asked (nothing is made)."""


@router.get("/clusters")
def clusters_page(
    request: Request, principal: Principal = Depends(require_permission(CASE_VIEW))
) -> Response:
    """List the clusters standing now, and what the latest linking run read."""
    with read_only(container_of(request).sessions) as session:
        clusters = store.cluster_lines(session)
        run = store.last_run(session)
    return private_page(request, "workbench/clusters.html", {"clusters": clusters, "run": run})


@router.get("/clusters/{cluster_id}")
def cluster_page(
    request: Request,
    *,
    cluster_id: int = ClusterId,
    actions: str = Query("", max_length=4000),
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show one cluster: its members with their standing, every link with its evidence."""
    return _show(request, principal, cluster_id, acted=_action_ids(actions))


def _action_ids(text: str) -> list[int]:
    return [int(part) for part in text.split(",")] if _ACTION_IDS.match(text) else []


def _show(
    request: Request,
    principal: Principal,
    cluster_id: int,
    *,
    acted: Sequence[int] = (),
    problem: str | None = None,
    status: int = 200,
) -> Response:
    user = principal.user
    with read_only(container_of(request).sessions) as session:
        view = store.cluster_view(session, cluster_id)
        results = _results(session, view, acted)
    names = {m.account_id: m.external_id for m in view.line.members}
    return private_page(
        request,
        "workbench/cluster.html",
        {
            "view": view,
            "cluster": view.line,
            "names": {m.account_id: m for m in view.line.members},
            "evidence": {
                link.id: [_shown(item, names) for item in link.evidence] for link in view.links
            },
            "may_act": user.may(ACTION_PROPOSE) and user.may(CASE_WORK_ADVANCED),
            "choices": CLUSTER_ACTIONS,
            "causes": CAUSES,
            "results": results,
            "problem": problem,
        },
        status_code=status,
    )


# Kinds whose values are domains: shown defanged, so that no page offers them as links.
_DOMAIN_KINDS: Final = frozenset({"url_domain", "sending_domain", "contact_domain"})


def _shown(item: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
    """Return one stored piece of evidence as the page shows it (domains defanged)."""
    kind = str(item.get("kind", ""))
    value = str(item.get("value", ""))
    sources = [str(s) for s in item.get("sources") or ()]
    return {
        "kind": kind.replace("_", " "),
        "value": value.replace(".", "[.]") if kind in _DOMAIN_KINDS else value,
        "holders": item.get("holders"),
        "weight": item.get("weight"),
        "similarity": item.get("similarity"),
        "counted": bool(item.get("counted", True)),
        "corroborates": bool(item.get("corroborates", True)),
        "events": [int(s[6:]) for s in sources if s.startswith("event:") and s[6:].isdigit()],
        "others": [_source(s, names) for s in sources if not s.startswith("event:")],
    }


def _source(source: str, names: dict[int, str]) -> str:
    """Say where a value was found: an account's sign-up facts or one of its resources."""
    what, _, number = source.partition(":")
    if what == "account" and number.isdigit():
        return f"sign-up of {names.get(int(number), 'account ' + number)}"
    return f"{what} {number}" if number else source


def _results(
    session: Session, view: store.ClusterView, acted: Sequence[int]
) -> list[dict[str, Any]]:
    """Return, for each action just proposed on members of *view*, what became of it."""
    lines = []
    for action_id in acted:
        try:
            record = enforcement.action_record(session, action_id)
        except NotFound:
            continue
        member = view.member(record.account_id)
        if member is None:
            continue
        said = outcome(record)
        lines.append(
            {
                "record": record,
                "member": member,
                "outcome": said,
                "words": OUTCOME_WORDS.get(said, said),
                "waits": record.state == "proposed" and record.needs_approval,
            }
        )
    return lines


@router.post("/clusters/{cluster_id}/actions")
async def act_on_members(
    request: Request,
    *,
    cluster_id: int = ClusterId,
    account: list[int] = Form(default_factory=list),
    action: str = Form(max_length=40),
    cause: str = Form("linked_accounts", max_length=80),
    reason: str = Form("", max_length=MAX_REASON),
    # Rings are advanced-tier work: acting on many accounts at once is too.
    principal: Principal = Depends(require_permission(CASE_WORK_ADVANCED)),
) -> Response:
    """Propose one action with one reason on each selected member, through the policy."""
    user = principal.user
    container = container_of(request)
    notify = notify_customer(container.notices)
    retry = retry_policy(container.settings.connector)
    chosen = action.strip()

    def step(session: Session) -> list[ActionRecord]:
        turn = Turn(session, user.username, utcnow(), container.connector, notify, retry)
        view = store.cluster_view(session, cluster_id)
        if not user.may(ACTION_PROPOSE):
            raise PermissionDenied(ACTION_PROPOSE)
        if view.line.dissolved_at is not None:
            raise ClusterActionRefused("the cluster no longer stands; nothing was proposed")
        if chosen not in CLUSTER_ACTIONS:
            raise ClusterActionRefused(
                f"choose one of {', '.join(CLUSTER_ACTIONS)}, not {chosen[:40]!r}"
            )
        selected = list(dict.fromkeys(account))
        if not selected:
            raise ClusterActionRefused("select at least one member; nothing was proposed")
        if len(selected) > MAX_SELECTED:
            raise ClusterActionRefused(f"select at most {MAX_SELECTED} members at once")
        records = []
        for account_id in selected:
            member = view.member(account_id)
            if member is None:
                raise ClusterActionRefused(
                    f"account {account_id} is not a member of cluster {cluster_id}"
                )
            try:
                record = enforcement.propose(
                    session,
                    account_id,
                    chosen,
                    cause=cause,
                    reason=reason,
                    evidence={"figures": _figures(view, account_id)},
                    actor=turn.actor,
                    now=turn.now,
                )
            except AbuseDeskError as problem:
                raise ClusterActionRefused(
                    f"account {member.external_id}: {problem}; nothing was proposed"
                ) from problem
            records.append(record)
        return [turn.run_unless_waiting(record) for record in records]

    result = await run_step(container.sessions, step)
    if not isinstance(result, AbuseDeskError):
        ids = ",".join(str(record.id) for record in result)
        return RedirectResponse(f"/clusters/{cluster_id}?actions={ids}", status_code=303)
    mapped = http_error_for(result)
    status = 409 if mapped is None or mapped.status >= 500 else mapped.status
    return await run_in_threadpool(
        lambda: _show(request, principal, cluster_id, problem=str(result), status=status)
    )


def _figures(view: store.ClusterView, account_id: int) -> dict[str, float | str]:
    """Return the figures a member's proposal cites: the cluster and its strongest link."""
    mine = [link for link in view.links if account_id in (link.account_id, link.other_account_id)]
    figures: dict[str, float | str] = {
        "cluster_id": view.line.id,
        "cluster_size": view.line.size,
        "cluster_sanctioned": view.line.sanctioned,
    }
    if mine:
        best = mine[0]
        other = best.other_account_id if best.account_id == account_id else best.account_id
        linked = view.member(other)
        figures["link_score"] = best.score
        figures["linked_by"] = ", ".join(k.replace("_", " ") for k in best.kinds)
        figures["linked_account"] = linked.external_id if linked else str(other)
    return figures
