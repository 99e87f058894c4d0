"""Roles and permissions: what each kind of user may see and do, in one table.

A permission is the right to one kind of page or call. A role is a fixed set of
permissions; every user holds exactly one role. Service API tokens hold scopes, and each
scope stands for one permission of the ``service`` role, so that people and services are
judged by the same table. ``docs/access.md`` shows the table; a test keeps the two equal.
"""

from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class Permission:
    """One right: its name (``area.verb``), what it allows, and whether it only reads."""

    name: str
    description: str
    read_only: bool


def _permission(name: str, description: str, *, read_only: bool = False) -> str:
    PERMISSIONS[name] = Permission(name, description, read_only)
    return name


PERMISSIONS: dict[str, Permission] = {}

# People's access to the browser workbench at all: the service role has none.
WEB_SIGN_IN: Final = _permission(
    "web.sign_in", "sign in to the browser workbench and see one's own account", read_only=True
)
CASE_VIEW: Final = _permission(
    "case.view",
    "see queues, cases, their events, attribution and sanitised evidence",
    read_only=True,
)
CASE_WORK: Final = _permission(
    "case.work", "pull, triage, note, transition and resolve cases in basic queues"
)
CASE_WORK_ADVANCED: Final = _permission(
    "case.work_advanced", "work cases in advanced queues (rings, linked accounts, appeals)"
)
CASE_ASSIGN: Final = _permission(
    "case.assign", "assign cases to others, take over a case someone holds, bulk close cases"
)
EVIDENCE_VIEW_RAW: Final = _permission(
    "evidence.view_raw", "see and download raw evidence (every view is audited)", read_only=True
)
EVENT_VIEW: Final = _permission(
    "event.view", "see events and the unattributed inbox", read_only=True
)
EVENT_ATTRIBUTE: Final = _permission(
    "event.attribute", "attribute unattributed events to accounts by hand, or dismiss them"
)
ESCALATION_CREATE: Final = _permission(
    "escalation.create", "escalate a case to a department or a manager"
)
ESCALATION_HANDLE: Final = _permission("escalation.handle", "own, answer and resolve escalations")
ACTION_PROPOSE: Final = _permission(
    "action.propose", "propose an enforcement action (warn, throttle, pause, suspend, ...)"
)
ACTION_APPROVE: Final = _permission(
    "action.approve", "approve or reject proposed enforcement actions"
)
APPEAL_REVIEW: Final = _permission("appeal.review", "review customers' appeals as second analyst")
QA_REVIEW: Final = _permission("qa.review", "score closed cases for quality assurance")
INSIGHT_VIEW: Final = _permission(
    "insight.view", "see analyst metrics, QA results and trend reports", read_only=True
)
INSIGHT_WRITE: Final = _permission(
    "insight.write",
    "write the weekly report's summary, open and edit incident reviews, record others' shifts",
)
QA_ADMIN: Final = _permission(
    "qa.admin", "change QA scorecards and sampling rates, open calibrations, settle disputes"
)
SQL_QUERY: Final = _permission(
    "sql.query", "run read-only SQL over the documented analytics views", read_only=True
)
QUEUE_ADMIN: Final = _permission(
    "queue.admin", "create and change queues, their members, SLAs and calendars"
)
ROUTING_ADMIN: Final = _permission("routing.admin", "edit and reorder routing rules")
POLICY_ADMIN: Final = _permission(
    "policy.admin", "edit the enforcement policy: thresholds, repeat offences, approvals"
)
NOTICE_ADMIN: Final = _permission(
    "notice.admin", "write and change the templates of the notices customers receive"
)
REPLY_ADMIN: Final = _permission(
    "reply.admin", "write, change and retire the saved replies analysts use in notes"
)
USER_ADMIN: Final = _permission("user.admin", "create, disable and unlock users; change roles")
AUDIT_VIEW: Final = _permission("audit.view", "read the audit log", read_only=True)
REPORT_VIEW: Final = _permission(
    "report.view", "see reports as received and their processing status", read_only=True
)
REPORT_SUBMIT: Final = _permission("report.submit", "submit reports through the API")
INVENTORY_VIEW: Final = _permission(
    "inventory.view", "see accounts, their resources and IPs in the inventory", read_only=True
)
INVENTORY_WRITE: Final = _permission(
    "inventory.write", "upsert inventory rows (the provider's change feed)"
)
METRICS_VIEW: Final = _permission(
    "metrics.view", "read service metrics (report counts, parser health)", read_only=True
)

ANALYST_BASIC: Final = "analyst_basic"
ANALYST_ADVANCED: Final = "analyst_advanced"
LEAD: Final = "lead"
QA: Final = "qa"
ADMIN: Final = "admin"
AUDITOR: Final = "auditor"
SERVICE: Final = "service"

ROLE_DESCRIPTIONS: Final = MappingProxyType(
    {
        ANALYST_BASIC: "tier-1 analyst: basic queues, SOP decisions",
        ANALYST_ADVANCED: "tier-2 analyst: advanced queues, rings of bad actors, appeals",
        LEAD: "lead or manager: escalations, approvals, QA, metrics",
        QA: "quality assurance: reviews closed cases",
        ADMIN: "administrator: users, queues, routing rules, calendars",
        AUDITOR: "auditor: reads everything a case holds, changes nothing",
        SERVICE: "service: API tokens only, never signs in to the browser",
    }
)

_BASIC = (
    WEB_SIGN_IN,
    CASE_VIEW,
    CASE_WORK,
    EVENT_VIEW,
    EVENT_ATTRIBUTE,
    REPORT_VIEW,
    INVENTORY_VIEW,
    ESCALATION_CREATE,
    ACTION_PROPOSE,
)
_ADVANCED = (*_BASIC, CASE_WORK_ADVANCED, EVIDENCE_VIEW_RAW, APPEAL_REVIEW, SQL_QUERY)

# THE table: role -> the permissions it holds. Nothing else grants a permission.
ROLE_PERMISSIONS: Final = MappingProxyType(
    {
        ANALYST_BASIC: frozenset(_BASIC),
        ANALYST_ADVANCED: frozenset(_ADVANCED),
        LEAD: frozenset(
            (
                *_ADVANCED,
                CASE_ASSIGN,
                REPLY_ADMIN,
                ESCALATION_HANDLE,
                ACTION_APPROVE,
                QA_REVIEW,
                QA_ADMIN,
                INSIGHT_VIEW,
                INSIGHT_WRITE,
                AUDIT_VIEW,
                METRICS_VIEW,
            )
        ),
        QA: frozenset(
            (
                WEB_SIGN_IN,
                CASE_VIEW,
                EVENT_VIEW,
                REPORT_VIEW,
                INVENTORY_VIEW,
                EVIDENCE_VIEW_RAW,
                QA_REVIEW,
                QA_ADMIN,
                INSIGHT_VIEW,
            )
        ),
        ADMIN: frozenset(
            (
                WEB_SIGN_IN,
                CASE_VIEW,
                EVENT_VIEW,
                REPORT_VIEW,
                INVENTORY_VIEW,
                USER_ADMIN,
                QUEUE_ADMIN,
                ROUTING_ADMIN,
                POLICY_ADMIN,
                NOTICE_ADMIN,
                REPLY_ADMIN,
                AUDIT_VIEW,
                METRICS_VIEW,
                INSIGHT_VIEW,
            )
        ),
        AUDITOR: frozenset(
            (
                WEB_SIGN_IN,
                CASE_VIEW,
                EVENT_VIEW,
                REPORT_VIEW,
                INVENTORY_VIEW,
                INSIGHT_VIEW,
                AUDIT_VIEW,
                METRICS_VIEW,
            )
        ),
        SERVICE: frozenset(
            (
                REPORT_SUBMIT,
                REPORT_VIEW,
                EVENT_VIEW,
                EVENT_ATTRIBUTE,
                INVENTORY_VIEW,
                INVENTORY_WRITE,
                METRICS_VIEW,
            )
        ),
    }
)

ROLES: Final = tuple(ROLE_PERMISSIONS)

# Token scope -> the permission of the service role it stands for.
SCOPE_PERMISSIONS: Final = MappingProxyType(
    {
        "events:attribute": EVENT_ATTRIBUTE,
        "events:read": EVENT_VIEW,
        "inventory:read": INVENTORY_VIEW,
        "inventory:write": INVENTORY_WRITE,
        "metrics:read": METRICS_VIEW,
        "reports:read": REPORT_VIEW,
        "reports:write": REPORT_SUBMIT,
    }
)


def permissions_of(role: str) -> frozenset[str]:
    """Return the permissions *role* holds; an unknown role holds none."""
    return ROLE_PERMISSIONS.get(role, frozenset())


def role_allows(role: str, permission: str) -> bool:
    """Tell whether *role* holds *permission*."""
    return permission in permissions_of(role)


def can_sign_in(role: str) -> bool:
    """Tell whether users of *role* may sign in to the browser workbench."""
    return role_allows(role, WEB_SIGN_IN)


def permission_of_scope(scope: str) -> str:
    """Return the permission a token *scope* grants; raise KeyError for an unmapped scope."""
    return SCOPE_PERMISSIONS[scope]


@dataclass(frozen=True)
class User:
    """A person who signs in to the workbench (or a service account), without secrets."""

    user_id: int
    username: str
    display_name: str
    email: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    locked_until: datetime | None
    failed_logins: int
    last_login_at: datetime | None
    password_changed_at: datetime | None

    @property
    def permissions(self) -> frozenset[str]:
        """Return what this user may do."""
        return permissions_of(self.role)

    def may(self, permission: str) -> bool:
        """Tell whether this user holds *permission*."""
        return permission in self.permissions

    def is_locked(self, now: datetime) -> bool:
        """Tell whether sign-in is locked at *now* after too many failures."""
        return self.locked_until is not None and now < self.locked_until


def role_table_markdown() -> str:
    """Return THE role/permission table as Markdown: a row per permission, a column per role."""
    header = "| permission | " + " | ".join(ROLES) + " | what it allows |"
    rule = "|---|" + "|".join(":-:" for _ in ROLES) + "|---|"
    rows = [
        f"| `{name}` | "
        + " | ".join("yes" if name in ROLE_PERMISSIONS[role] else "" for role in ROLES)
        + f" | {permission.description} |"
        for name, permission in PERMISSIONS.items()
    ]
    return "\n".join([header, rule, *rows]) + "\n"
