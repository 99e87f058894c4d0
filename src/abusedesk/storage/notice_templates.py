"""Notice templates as admins edit them: versions per kind and category, and previews.

A kind is an enforcement action (``pause``, ``block_domain`` ...) or a message
(``appeal_received``, ``appeal_decision``, ``reporter_ack``); a category is a case's
category group, or ``""`` for any. The notice for a case uses the newest version saved
for its kind and category, else for its kind and any category, else the built-in
template (``messaging.defaults``). Versions are never changed or removed: a save writes
the next one, audited with its note, so that every message names the version it used.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from abusedesk.core.errors import NotFound
from abusedesk.messaging.defaults import default_template
from abusedesk.messaging.keys import NoticeContext
from abusedesk.messaging.templates import (
    APPEAL_DECISION,
    APPEAL_RECEIVED,
    REPORTER_ACK,
    TEMPLATE_KINDS,
    InvalidTemplate,
    RenderedNotice,
    check,
    example_context,
    render,
)
from abusedesk.storage import audit
from abusedesk.storage.enforcement import ActionRecord, account_actions
from abusedesk.storage.notices import (
    action_context,
    action_notice_context,
    base_context,
    reporter_context,
)
from abusedesk.storage.tables import Account, Case, NoticeTemplate, table_of

_CATEGORY: Final = re.compile(r"[a-z0-9_]{0,40}")


@dataclass(frozen=True)
class TemplateVersion:
    """One template: a saved version, or the built-in one (version None)."""

    kind: str
    category: str
    version: int | None
    subject: str
    body: str
    author: str
    note: str
    created_at: datetime | None

    @property
    def built_in(self) -> bool:
        """Tell whether this is the template that ships with abusedesk."""
        return self.version is None


def templates(session: Session) -> list[TemplateVersion]:
    """Return the template in force for every kind and saved category, by kind then category.

    Kinds nobody saved show their built-in template.
    """
    newest = (
        select(
            NoticeTemplate.kind,
            NoticeTemplate.category,
            func.max(NoticeTemplate.version).label("version"),
        )
        .group_by(NoticeTemplate.kind, NoticeTemplate.category)
        .subquery()
    )
    rows = session.execute(
        select(table_of(NoticeTemplate)).join(
            newest,
            (NoticeTemplate.kind == newest.c.kind)
            & (NoticeTemplate.category == newest.c.category)
            & (NoticeTemplate.version == newest.c.version),
        )
    ).all()
    found = {(row.kind, row.category): _version(row) for row in rows}
    for kind in TEMPLATE_KINDS:
        if (kind, "") not in found:
            found[(kind, "")] = built_in(kind)
    return [found[key] for key in sorted(found)]


def built_in(kind: str) -> TemplateVersion:
    """Return the built-in template of *kind*."""
    subject, body = default_template(kind)
    return TemplateVersion(
        kind=kind,
        category="",
        version=None,
        subject=subject,
        body=body,
        author="abusedesk",
        note="the built-in template",
        created_at=None,
    )


def template_versions(session: Session, kind: str, category: str) -> list[TemplateVersion]:
    """Return the saved versions for (*kind*, *category*), newest first."""
    rows = session.execute(
        select(table_of(NoticeTemplate))
        .where(NoticeTemplate.kind == kind, NoticeTemplate.category == category)
        .order_by(NoticeTemplate.version.desc())
    ).all()
    return [_version(row) for row in rows]


def save_template(
    session: Session,
    *,
    kind: str,
    category: str,
    subject: str,
    body: str,
    actor: str,
    note: str,
    now: datetime,
) -> TemplateVersion:
    """Check a template in the sandbox and save it as the next version; return it.

    Refuses (`InvalidTemplate`, with every problem in words) an unknown kind or
    category spelling, a missing note, a syntax error, a variable its kind does not
    have, and anything the sandbox forbids.
    """
    _check_target(kind, category)
    if not note.strip():
        raise InvalidTemplate(["note: say what this version changes"])
    check(kind, subject, body)
    current = session.scalar(
        select(func.max(NoticeTemplate.version)).where(
            NoticeTemplate.kind == kind, NoticeTemplate.category == category
        )
    )
    version = (current or 0) + 1
    session.execute(
        insert(table_of(NoticeTemplate)).values(
            kind=kind,
            category=category,
            version=version,
            subject=subject.strip(),
            body=body,
            author=actor,
            note=note.strip(),
            created_at=now,
        )
    )
    audit.record(
        session,
        actor=actor,
        tag="notices:template:save",
        subject_type="notice_template",
        subject_id=f"{kind}/{category or '*'}",
        at=now,
        after={"version": version, "subject": subject.strip(), "body": body},
        reason=note.strip(),
    )
    return template_versions(session, kind, category)[0]


def preview(
    session: Session,
    *,
    kind: str,
    category: str,
    subject: str,
    body: str,
    case_id: int,
    notices: NoticeContext,
    now: datetime,
) -> RenderedNotice:
    """Render a draft template with the real data of case *case_id*, sending nothing.

    An action notice uses the case's newest action of that kind (else its newest
    action, else the example action); the appeal messages use example appeal values;
    a reporter's acknowledgement uses the case's first report. Raises `InvalidTemplate`
    as saving would, and `NotFound` for an unknown case.
    """
    _check_target(kind, category)
    check(kind, subject, body)
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    account = session.get(Account, case.account_id)
    if account is None:
        raise NotFound(f"no account {case.account_id}")
    expires = now + timedelta(days=notices.settings.portal_link_days)
    portal_url = f"{notices.settings.portal_base_url.rstrip('/')}/portal/(signed link)"
    context = base_context(account, case, notices, portal_url=portal_url, expires=expires)
    action = _action_for_preview(session, case, kind)
    if kind == REPORTER_ACK:
        context.update(reporter_context(session, case.id, now))
    elif kind in (APPEAL_RECEIVED, APPEAL_DECISION):
        example = example_context(kind)
        context["appeal"] = example["appeal"]
        context["action"] = (
            example["action"] if action is None else action_context(session, action, notices)
        )
    elif action is not None:
        context.update(action_notice_context(session, action, case.id, notices, now))
    else:
        example = example_context(kind)
        context.update({k: example[k] for k in ("figures", "evidence", "evidence_count")})
        context["action"] = {**example["action"], "action": kind}
    return render(subject, body, context)


def _action_for_preview(session: Session, case: Case, kind: str) -> ActionRecord | None:
    actions = [a for a in account_actions(session, case.account_id) if a.case_id == case.id]
    for action in reversed(actions):
        if action.action == kind:
            return action
    return actions[-1] if actions else None


def _check_target(kind: str, category: str) -> None:
    problems = []
    if kind not in TEMPLATE_KINDS:
        problems.append(f"kind: {kind!r} is not an action or a message kind")
    if not _CATEGORY.fullmatch(category):
        problems.append("category: a category group (a-z, 0-9, _) or empty for any")
    if problems:
        raise InvalidTemplate(problems)


def _version(row: Any) -> TemplateVersion:
    return TemplateVersion(
        kind=row.kind,
        category=row.category,
        version=row.version,
        subject=row.subject,
        body=row.body,
        author=row.author,
        note=row.note,
        created_at=row.created_at,
    )
