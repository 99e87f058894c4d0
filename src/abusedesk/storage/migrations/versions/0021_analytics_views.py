"""insights: the analytics views

The documented views analysts query from the SQL console, the Parquet export and DuckDB:
``analytics_events``, ``analytics_cases``, ``analytics_actions`` and the rest (see
docs/analytics.md). On PostgreSQL they live in the schema ``analytics``; on SQLite in the
main schema.

The SQL each database runs is written out below, frozen: this revision creates these views
whatever ``abusedesk.storage.analytics`` says later. A change to a view there needs a new
revision that replaces the view with the new text (and whose downgrade restores this one);
tests/unit/test_analytics_migration.py fails until the newest revision's text equals the
module's. A later revision that rebuilds a table beneath a view on SQLite (batch mode copies
and renames it) drops the views first and creates them after.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 13:00:00.000000
"""

from collections.abc import Sequence
from typing import Final

from alembic import op
from sqlalchemy import text

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA: Final = "analytics"

# The defining query of each view, by database, in the order they are created.
SQLITE: Final[dict[str, str]] = {
    "analytics_events": (
        "SELECT e.id AS event_id, e.report_id AS report_id, e.category AS category, "
        "e.service AS service, e.report_format AS report_format, lower(CASE WHEN "
        "instr(e.reporter, '@') > 0 THEN substr(e.reporter, instr(e.reporter, '@') + 1) "
        "ELSE e.reporter END) AS reporter_domain, e.account_id AS account_id, e.case_id "
        "AS case_id, e.attribution_state AS attribution_state, e.attribution_method AS "
        "attribution_method, e.attribution_confidence AS attribution_confidence, "
        "e.occurred_at AS occurred_at, e.reported_at AS reported_at, e.created_at AS "
        "created_at, e.aggregated_at AS aggregated_at FROM events AS e"
    ),
    "analytics_reports": (
        "SELECT r.id AS report_id, r.channel AS channel, r.report_format AS "
        "report_format, r.report_kind AS report_kind, r.status AS status, r.stage AS "
        "stage, r.size AS size, r.attempts AS attempts, r.error_class AS error_class, "
        "r.received_at AS received_at, r.processed_at AS processed_at, r.raw_purged_at AS"
        " raw_purged_at FROM reports AS r"
    ),
    "analytics_cases": (
        "SELECT c.id AS case_id, c.account_id AS account_id, c.category_group AS "
        "category_group, c.status AS status, c.priority AS priority, c.event_count AS "
        "event_count, c.reporter_count AS reporter_count, q.name AS queue, q.tier AS "
        "tier, q.department AS department, u.username AS assignee, c.first_seen_at AS "
        "first_seen_at, c.last_seen_at AS last_seen_at, c.opened_at AS opened_at, "
        "c.closed_at AS closed_at, c.close_reason AS close_reason, c.first_response_at AS"
        " first_response_at, c.resolved_at AS resolved_at, c.reopen_count AS "
        "reopen_count, c.merged_into_id AS merged_into_id, c.sla_state AS sla_state FROM "
        "cases AS c LEFT JOIN queues AS q ON q.id = c.queue_id LEFT JOIN users AS u ON "
        "u.id = c.assignee_id"
    ),
    "analytics_case_history": (
        "SELECT h.id AS entry_id, h.case_id AS case_id, h.at AS at, h.actor AS actor, "
        "h.kind AS kind, h.from_value AS from_value, h.to_value AS to_value FROM "
        "case_history AS h"
    ),
    "analytics_sla_clocks": (
        "SELECT c.id AS case_id, q.name AS queue, q.tier AS tier, q.department AS "
        "department, c.opened_at AS opened_at, c.response_due_at AS response_due_at, "
        "c.first_response_at AS first_response_at, CASE WHEN c.response_due_at IS NULL "
        "THEN NULL WHEN c.first_response_at IS NOT NULL AND c.first_response_at <= "
        "c.response_due_at THEN 1 ELSE 0 END AS response_met, CASE WHEN c.response_due_at"
        " IS NULL THEN NULL WHEN c.first_response_at IS NOT NULL AND c.first_response_at "
        "> c.response_due_at THEN 1 WHEN c.first_response_at IS NULL AND "
        "c.response_due_at < strftime('%Y-%m-%d %H:%M:%f', 'now') THEN 1 ELSE 0 END AS "
        "response_breached, c.resolution_due_at AS resolution_due_at, c.resolved_at AS "
        "resolved_at, CASE WHEN c.resolution_due_at IS NULL THEN NULL WHEN c.resolved_at "
        "IS NOT NULL AND c.resolved_at <= c.resolution_due_at THEN 1 ELSE 0 END AS "
        "resolution_met, CASE WHEN c.resolution_due_at IS NULL THEN NULL WHEN "
        "c.resolved_at IS NOT NULL AND c.resolved_at > c.resolution_due_at THEN 1 WHEN "
        "c.resolved_at IS NULL AND c.resolution_due_at < strftime('%Y-%m-%d %H:%M:%f', "
        "'now') THEN 1 ELSE 0 END AS resolution_breached, c.sla_state AS sla_state FROM "
        "cases AS c LEFT JOIN queues AS q ON q.id = c.queue_id"
    ),
    "analytics_actions": (
        "SELECT a.id AS action_id, a.account_id AS account_id, a.resource_id AS "
        "resource_id, a.case_id AS case_id, a.action AS action, a.proposed_action AS "
        "proposed_action, a.cause AS cause, a.state AS state, a.policy_version AS "
        "policy_version, CAST(a.needs_approval AS INTEGER) AS needs_approval, "
        "a.proposed_by AS proposed_by, a.proposed_at AS proposed_at, a.approved_by AS "
        "approved_by, a.approved_at AS approved_at, a.rejected_by AS rejected_by, "
        "a.rejected_at AS rejected_at, a.executed_by AS executed_by, a.executed_at AS "
        "executed_at, a.attempts AS attempts, a.reverses_action_id AS reverses_action_id,"
        " a.dead_at AS dead_at FROM enforcement_actions AS a"
    ),
    "analytics_appeals": (
        "SELECT p.id AS appeal_id, p.action_id AS action_id, p.case_id AS case_id, "
        "p.account_id AS account_id, p.state AS state, p.submitted_at AS submitted_at, "
        "p.due_at AS due_at, p.reviewer AS reviewer, p.decided_at AS decided_at FROM "
        "appeals AS p"
    ),
    "analytics_escalations": (
        "SELECT x.id AS escalation_id, x.case_id AS case_id, x.target_kind AS "
        "target_kind, x.target AS target, x.state AS state, x.owner AS owner, x.raised_by"
        " AS raised_by, x.raised_at AS raised_at, x.due_at AS due_at, x.acknowledged_at "
        "AS acknowledged_at, x.closed_at AS closed_at FROM escalations AS x"
    ),
    "analytics_signals": (
        "SELECT s.id AS signal_id, s.kind AS kind, s.subject_type AS subject_type, "
        "s.account_id AS account_id, s.case_id AS case_id, s.action_id AS action_id, "
        "s.severity AS severity, s.step AS step, s.state AS state, s.raised_at AS "
        "raised_at, s.resolved_at AS resolved_at, s.resolved_by AS resolved_by FROM "
        "signals AS s"
    ),
    "analytics_analyst_activity": (
        "SELECT t.id AS activity_id, t.username AS username, t.case_id AS case_id, "
        "t.source AS source, t.started_at AS started_at, t.last_seen_at AS last_seen_at, "
        "t.pings AS pings FROM analyst_activity AS t"
    ),
    "analytics_shifts": (
        "SELECT f.id AS shift_id, f.username AS username, f.kind AS kind, f.starts_at AS "
        "starts_at, f.ends_at AS ends_at, f.source AS source, f.recorded_by AS "
        "recorded_by, f.created_at AS created_at FROM analyst_shifts AS f"
    ),
    "analytics_qa_reviews": (
        "SELECT r.id AS review_id, r.sample_id AS sample_id, s.case_id AS case_id, "
        "s.action_id AS action_id, r.analyst AS analyst, r.reviewer AS reviewer, s.reason"
        " AS sample_reason, s.tier AS tier, s.calibration_id AS calibration_id, "
        "r.scorecard_id AS scorecard_id, k.case_type AS case_type, k.version AS "
        "scorecard_version, r.score AS score, CAST(r.critical_failure AS INTEGER) AS "
        "critical_failure, r.scored_at AS scored_at, r.feedback AS feedback, "
        "r.acknowledged_at AS acknowledged_at, r.disputed_at AS disputed_at, r.settled_by"
        " AS settled_by, r.settled_at AS settled_at FROM qa_reviews AS r JOIN qa_samples "
        "AS s ON s.id = r.sample_id JOIN qa_scorecards AS k ON k.id = r.scorecard_id"
    ),
    "analytics_qa_ratings": (
        "SELECT r.id AS review_id, r.analyst AS analyst, r.reviewer AS reviewer, j.key AS"
        " criterion, json_extract(j.value, '$.rating') AS rating, r.scored_at AS "
        "scored_at FROM qa_reviews AS r , json_each(r.ratings) AS j"
    ),
    "analytics_users": (
        "SELECT u.username AS username, u.role AS role, u.team AS team, u.created_at AS "
        "created_at, u.disabled_at AS disabled_at FROM users AS u"
    ),
}
POSTGRESQL: Final[dict[str, str]] = {
    "analytics_events": (
        "SELECT e.id AS event_id, e.report_id AS report_id, e.category AS category, "
        "e.service AS service, e.report_format AS report_format, lower(CASE WHEN "
        "strpos(e.reporter, '@') > 0 THEN substr(e.reporter, strpos(e.reporter, '@') + 1)"
        " ELSE e.reporter END) AS reporter_domain, e.account_id AS account_id, e.case_id "
        "AS case_id, e.attribution_state AS attribution_state, e.attribution_method AS "
        "attribution_method, e.attribution_confidence AS attribution_confidence, "
        "e.occurred_at AS occurred_at, e.reported_at AS reported_at, e.created_at AS "
        "created_at, e.aggregated_at AS aggregated_at FROM events AS e"
    ),
    "analytics_reports": (
        "SELECT r.id AS report_id, r.channel AS channel, r.report_format AS "
        "report_format, r.report_kind AS report_kind, r.status AS status, r.stage AS "
        "stage, r.size AS size, r.attempts AS attempts, r.error_class AS error_class, "
        "r.received_at AS received_at, r.processed_at AS processed_at, r.raw_purged_at AS"
        " raw_purged_at FROM reports AS r"
    ),
    "analytics_cases": (
        "SELECT c.id AS case_id, c.account_id AS account_id, c.category_group AS "
        "category_group, c.status AS status, c.priority AS priority, c.event_count AS "
        "event_count, c.reporter_count AS reporter_count, q.name AS queue, q.tier AS "
        "tier, q.department AS department, u.username AS assignee, c.first_seen_at AS "
        "first_seen_at, c.last_seen_at AS last_seen_at, c.opened_at AS opened_at, "
        "c.closed_at AS closed_at, c.close_reason AS close_reason, c.first_response_at AS"
        " first_response_at, c.resolved_at AS resolved_at, c.reopen_count AS "
        "reopen_count, c.merged_into_id AS merged_into_id, c.sla_state AS sla_state FROM "
        "cases AS c LEFT JOIN queues AS q ON q.id = c.queue_id LEFT JOIN users AS u ON "
        "u.id = c.assignee_id"
    ),
    "analytics_case_history": (
        "SELECT h.id AS entry_id, h.case_id AS case_id, h.at AS at, h.actor AS actor, "
        "h.kind AS kind, h.from_value AS from_value, h.to_value AS to_value FROM "
        "case_history AS h"
    ),
    "analytics_sla_clocks": (
        "SELECT c.id AS case_id, q.name AS queue, q.tier AS tier, q.department AS "
        "department, c.opened_at AS opened_at, c.response_due_at AS response_due_at, "
        "c.first_response_at AS first_response_at, CASE WHEN c.response_due_at IS NULL "
        "THEN NULL WHEN c.first_response_at IS NOT NULL AND c.first_response_at <= "
        "c.response_due_at THEN 1 ELSE 0 END AS response_met, CASE WHEN c.response_due_at"
        " IS NULL THEN NULL WHEN c.first_response_at IS NOT NULL AND c.first_response_at "
        "> c.response_due_at THEN 1 WHEN c.first_response_at IS NULL AND "
        "c.response_due_at < now() THEN 1 ELSE 0 END AS response_breached, "
        "c.resolution_due_at AS resolution_due_at, c.resolved_at AS resolved_at, CASE "
        "WHEN c.resolution_due_at IS NULL THEN NULL WHEN c.resolved_at IS NOT NULL AND "
        "c.resolved_at <= c.resolution_due_at THEN 1 ELSE 0 END AS resolution_met, CASE "
        "WHEN c.resolution_due_at IS NULL THEN NULL WHEN c.resolved_at IS NOT NULL AND "
        "c.resolved_at > c.resolution_due_at THEN 1 WHEN c.resolved_at IS NULL AND "
        "c.resolution_due_at < now() THEN 1 ELSE 0 END AS resolution_breached, "
        "c.sla_state AS sla_state FROM cases AS c LEFT JOIN queues AS q ON q.id = "
        "c.queue_id"
    ),
    "analytics_actions": (
        "SELECT a.id AS action_id, a.account_id AS account_id, a.resource_id AS "
        "resource_id, a.case_id AS case_id, a.action AS action, a.proposed_action AS "
        "proposed_action, a.cause AS cause, a.state AS state, a.policy_version AS "
        "policy_version, CAST(a.needs_approval AS INTEGER) AS needs_approval, "
        "a.proposed_by AS proposed_by, a.proposed_at AS proposed_at, a.approved_by AS "
        "approved_by, a.approved_at AS approved_at, a.rejected_by AS rejected_by, "
        "a.rejected_at AS rejected_at, a.executed_by AS executed_by, a.executed_at AS "
        "executed_at, a.attempts AS attempts, a.reverses_action_id AS reverses_action_id,"
        " a.dead_at AS dead_at FROM enforcement_actions AS a"
    ),
    "analytics_appeals": (
        "SELECT p.id AS appeal_id, p.action_id AS action_id, p.case_id AS case_id, "
        "p.account_id AS account_id, p.state AS state, p.submitted_at AS submitted_at, "
        "p.due_at AS due_at, p.reviewer AS reviewer, p.decided_at AS decided_at FROM "
        "appeals AS p"
    ),
    "analytics_escalations": (
        "SELECT x.id AS escalation_id, x.case_id AS case_id, x.target_kind AS "
        "target_kind, x.target AS target, x.state AS state, x.owner AS owner, x.raised_by"
        " AS raised_by, x.raised_at AS raised_at, x.due_at AS due_at, x.acknowledged_at "
        "AS acknowledged_at, x.closed_at AS closed_at FROM escalations AS x"
    ),
    "analytics_signals": (
        "SELECT s.id AS signal_id, s.kind AS kind, s.subject_type AS subject_type, "
        "s.account_id AS account_id, s.case_id AS case_id, s.action_id AS action_id, "
        "s.severity AS severity, s.step AS step, s.state AS state, s.raised_at AS "
        "raised_at, s.resolved_at AS resolved_at, s.resolved_by AS resolved_by FROM "
        "signals AS s"
    ),
    "analytics_analyst_activity": (
        "SELECT t.id AS activity_id, t.username AS username, t.case_id AS case_id, "
        "t.source AS source, t.started_at AS started_at, t.last_seen_at AS last_seen_at, "
        "t.pings AS pings FROM analyst_activity AS t"
    ),
    "analytics_shifts": (
        "SELECT f.id AS shift_id, f.username AS username, f.kind AS kind, f.starts_at AS "
        "starts_at, f.ends_at AS ends_at, f.source AS source, f.recorded_by AS "
        "recorded_by, f.created_at AS created_at FROM analyst_shifts AS f"
    ),
    "analytics_qa_reviews": (
        "SELECT r.id AS review_id, r.sample_id AS sample_id, s.case_id AS case_id, "
        "s.action_id AS action_id, r.analyst AS analyst, r.reviewer AS reviewer, s.reason"
        " AS sample_reason, s.tier AS tier, s.calibration_id AS calibration_id, "
        "r.scorecard_id AS scorecard_id, k.case_type AS case_type, k.version AS "
        "scorecard_version, r.score AS score, CAST(r.critical_failure AS INTEGER) AS "
        "critical_failure, r.scored_at AS scored_at, r.feedback AS feedback, "
        "r.acknowledged_at AS acknowledged_at, r.disputed_at AS disputed_at, r.settled_by"
        " AS settled_by, r.settled_at AS settled_at FROM qa_reviews AS r JOIN qa_samples "
        "AS s ON s.id = r.sample_id JOIN qa_scorecards AS k ON k.id = r.scorecard_id"
    ),
    "analytics_qa_ratings": (
        "SELECT r.id AS review_id, r.analyst AS analyst, r.reviewer AS reviewer, j.key AS"
        " criterion, j.value ->> 'rating' AS rating, r.scored_at AS scored_at FROM "
        "qa_reviews AS r CROSS JOIN LATERAL json_each(r.ratings) AS j"
    ),
    "analytics_users": (
        "SELECT u.username AS username, u.role AS role, u.team AS team, u.created_at AS "
        "created_at, u.disabled_at AS disabled_at FROM users AS u"
    ),
}


# The views as this revision leaves them, by dialect name.
ANALYTICS_VIEWS: Final[dict[str, dict[str, str]]] = {"sqlite": SQLITE, "postgresql": POSTGRESQL}


def upgrade() -> None:
    """Apply this revision."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        for name, select in POSTGRESQL.items():
            bind.execute(text(f"CREATE OR REPLACE VIEW {SCHEMA}.{name} AS {select}"))
        return
    for name, select in SQLITE.items():
        bind.execute(text(f"DROP VIEW IF EXISTS {name}"))
        bind.execute(text(f"CREATE VIEW {name} AS {select}"))


def downgrade() -> None:
    """Revert this revision."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name in reversed(POSTGRESQL):
            bind.execute(text(f"DROP VIEW IF EXISTS {SCHEMA}.{name}"))
        bind.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA}"))
        return
    for name in reversed(SQLITE):
        bind.execute(text(f"DROP VIEW IF EXISTS {name}"))
