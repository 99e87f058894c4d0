"""The routing admin page: the rules in force, their history, an editor, and a "try it" form.

Rules are never edited in place: every change posts the next version, with a note saying
why. The forms carry the version they were made from, so an edit made while someone else
saved a newer version is refused with a clear message instead of overwriting it.
"""

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import ROUTING_ADMIN
from abusedesk.cases.errors import InvalidRuleSet
from abusedesk.cases.routing import FIELDS, OPERATORS, CaseFacts, RoutingDecision, RuleSet, route
from abusedesk.core.clock import utcnow
from abusedesk.storage import queues
from abusedesk.storage.db import read_only
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.admin_common import (
    admin_pages,
    editor_json,
    next_version,
    refusal_status,
    save_next_version,
    transact,
)
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_RULES_TEXT = 200_000
MAX_NOTE = 2000
MAX_FACT = 200
HISTORY = 50
DONE = {
    "saved": "The new routing version is in force.",
    "queue": "The rule sends its cases to the new queue from now on.",
}
STALE = "version: the rules changed meanwhile"
_EXPECTED = '{"default_queue": ..., "rules": [...]}'


@dataclass(frozen=True)
class TryForm:
    """The facts typed into the "try it" form, as typed."""

    category_group: str = "spam"
    service: str = ""
    priority: str = "0"
    account_tier: str = ""
    tags: str = ""
    reporter: str = ""
    source: str = "report"


def editable_json(rules: RuleSet) -> str:
    """Return the part of *rules* an admin edits (default queue and rules) as pretty JSON."""
    document = rules.to_dict()
    return editor_json({"default_queue": document["default_queue"], "rules": document["rules"]})


@router.get("/admin/routing")
def routing_page(
    request: Request,
    done: str | None = None,
    principal: Principal = Depends(require_permission(ROUTING_ADMIN)),
) -> Response:
    """Show the rules in force, the default queue, the history, the editor and "try it"."""
    return _show(request, principal, notice=DONE.get(done or ""))


@router.get("/admin/routing/try")
def try_routing(
    request: Request,
    *,
    category_group: str = "",
    service: str = "",
    priority: str = "0",
    account_tier: str = "",
    tags: str = "",
    reporter: str = "",
    source: str = "report",
    principal: Principal = Depends(require_permission(ROUTING_ADMIN)),
) -> Response:
    """Show which queue the rules in force choose for the facts typed in, and why."""
    typed = TryForm(
        category_group=category_group[:MAX_FACT],
        service=service[:MAX_FACT],
        priority=priority[:MAX_FACT],
        account_tier=account_tier[:MAX_FACT],
        tags=tags[: MAX_FACT * 5],
        reporter=reporter[:MAX_FACT],
        source=source[:MAX_FACT],
    )
    facts, problem = _facts(typed)
    status = 200 if problem is None else 422
    return _show(
        request, principal, tried=typed, facts=facts, try_problem=problem, status_code=status
    )


def _facts(typed: TryForm) -> tuple[CaseFacts | None, str | None]:
    """Return the case facts typed in, or why they are not facts."""
    if not typed.category_group.strip():
        return None, "category group: give one, e.g. spam or phishing"
    try:
        priority = int(typed.priority.strip() or "0")
    except ValueError:
        return None, f"priority: {typed.priority!r} is not a whole number"
    tags = frozenset(tag.strip() for tag in typed.tags.split(",") if tag.strip())
    return CaseFacts(
        category_group=typed.category_group.strip(),
        service=typed.service.strip() or None,
        priority=priority,
        account_tier=typed.account_tier.strip() or None,
        account_tags=tags,
        reporter=typed.reporter.strip() or None,
        source=typed.source.strip() or "report",
    ), None


@router.post("/admin/routing")
async def save_routing(
    request: Request,
    *,
    rules_json: str = Form(max_length=MAX_RULES_TEXT),
    note: str = Form("", max_length=MAX_NOTE),
    base_version: int = Form(ge=1),
    principal: Principal = Depends(require_permission(ROUTING_ADMIN)),
) -> Response:
    """Save the edited rules as the next version; list every problem if they are refused."""
    actor = principal.user.username

    def save(session: Session, data: dict[str, Any]) -> None:
        queues.save_rules(session, data, actor=actor, now=utcnow())

    problems = await save_next_version(
        container_of(request),
        rules_json,
        note=note,
        base_version=base_version,
        invalid=InvalidRuleSet,
        expected=_EXPECTED,
        save=save,
    )
    if not problems:
        return RedirectResponse("/admin/routing?done=saved", status_code=303)
    return _refused(
        request, principal, problems, draft=rules_json, note=note, base_version=base_version
    )


@router.post("/admin/routing/rules/{position}/queue")
async def send_rule_to_queue(
    request: Request,
    *,
    position: int = Path(ge=1, le=10_000),
    queue: str = Form(max_length=80),
    note: str = Form("", max_length=MAX_NOTE),
    base_version: int = Form(ge=1),
    principal: Principal = Depends(require_permission(ROUTING_ADMIN)),
) -> Response:
    """Save the next version with rule *position* (from 1) sending its cases to *queue*."""
    actor = principal.user.username

    def change(session: Session) -> None:
        current = queues.current_rules(session)
        if current.version != base_version:
            raise InvalidRuleSet([_stale(current.version)])
        data = current.to_dict()
        if position > len(data["rules"]):
            raise InvalidRuleSet([f"rules: there is no rule {position}; reload the page"])
        data["rules"][position - 1]["queue"] = queue
        data = next_version(data, note=note, base_version=base_version)
        queues.save_rules(session, data, actor=actor, now=utcnow())

    problems = await transact(container_of(request), change)
    if not problems:
        return RedirectResponse("/admin/routing?done=queue", status_code=303)
    return _refused(request, principal, problems)


def _stale(current: int) -> str:
    return f"{STALE} (now version {current}); reload the page and make your change again"


def _refused(
    request: Request,
    principal: Principal,
    problems: list[str],
    *,
    draft: str | None = None,
    note: str = "",
    base_version: int | None = None,
) -> Response:
    return _show(
        request,
        principal,
        problems=problems,
        draft=draft,
        note=note,
        base_version=base_version,
        status_code=refusal_status(problems, STALE),
    )


def _show(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problems: list[str] | None = None,
    draft: str | None = None,
    note: str = "",
    base_version: int | None = None,
    tried: TryForm | None = None,
    facts: CaseFacts | None = None,
    try_problem: str | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        rules = queues.current_rules(session)
        queue_names = [queue.name for queue in queues.queues(session)]
        history = queues.rule_versions(session, limit=HISTORY)
    decision: RoutingDecision | None = route(facts, rules) if facts is not None else None
    return private_page(
        request,
        "workbench/admin/routing.html",
        {
            "admin_pages": admin_pages(principal.user),
            "rules": rules,
            "lines": [
                (position, rule, [c.describe() for c in rule.conditions])
                for position, rule in enumerate(rules.rules, start=1)
            ],
            "queue_names": queue_names,
            "history": history,
            "draft": draft if draft is not None else editable_json(rules),
            "note": note,
            # A draft keeps the version it was made from: saving it again stays refused
            # while it is stale, so a newer version is never overwritten unseen.
            "base_version": base_version or rules.version,
            "notice": notice,
            "problems": problems or [],
            "tried": tried or TryForm(),
            "decision": decision,
            "try_problem": try_problem,
            "fields": {name: OPERATORS[kind] for name, kind in FIELDS.items()},
        },
        status_code=status_code,
    )
