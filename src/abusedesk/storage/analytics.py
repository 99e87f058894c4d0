"""The analytics views: a documented, stable schema over events, cases, actions and the rest.

One definition per view serves both databases. On PostgreSQL the views live in the schema
``analytics`` (the console's login role has ``search_path = analytics``); on SQLite in the
main schema. Either way a query names them ``analytics_<thing>`` and gets the same columns
with the same meaning. The views carry no indicator values, addresses, secrets, raw
evidence or free text (notes, reasons, appeal texts): what a column holds is written in
docs/analytics.md, and a test keeps that page and these definitions equal.

Migrations create the views from a frozen copy of the SQL below (0021 and any later revision
that replaces a view): a change here needs a new revision carrying the new text, and
tests/unit/test_analytics_migration.py fails until there is one.

Flags are integers (1 or 0, NULL where the question does not apply) on both databases;
times are UTC (``timestamp with time zone`` on PostgreSQL, ISO text on SQLite).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

SCHEMA: Final = "analytics"

# What a column holds, as the data dictionary and the Parquet export type it.
Kind = Literal["int", "float", "text", "time", "flag"]


@dataclass(frozen=True)
class Dialect:
    """The few spellings that differ between SQLite and PostgreSQL in the view definitions."""

    name: str

    @property
    def postgres(self) -> bool:
        """Tell whether this is PostgreSQL."""
        return self.name == "postgresql"

    def position(self, needle: str, haystack: str) -> str:
        """Return the expression giving the 1-based place of *needle* in *haystack* (0: absent)."""
        if self.postgres:
            return f"strpos({haystack}, {needle})"
        return f"instr({haystack}, {needle})"

    def now(self) -> str:
        """Return the expression for the current time, comparable with stored times."""
        if self.postgres:
            return "now()"
        return "strftime('%Y-%m-%d %H:%M:%f', 'now')"

    def flag(self, column: str) -> str:
        """Return a stored boolean as 1 or 0."""
        return f"CAST({column} AS INTEGER)"


@dataclass(frozen=True)
class Column:
    """One column of a view: its name, kind and meaning (the data dictionary's row)."""

    name: str
    kind: Kind
    meaning: str


@dataclass(frozen=True)
class View:
    """One analytics view: its name, what one row is, its columns, and its query."""

    name: str
    row: str
    # The table each row comes from: one row of the view per row of this table (per
    # criterion of a review in analytics_qa_ratings).
    table: str
    columns: tuple[Column, ...]
    # The select list and FROM clause, given the dialect; columns in the order above.
    body: Callable[[Dialect], str]
    # Other tables the query joins (for names, tiers, scorecards).
    joined: tuple[str, ...] = ()

    def select(self, dialect: Dialect) -> str:
        """Return the view's defining query for *dialect*."""
        return self.body(dialect)

    @property
    def column_names(self) -> tuple[str, ...]:
        """Return the names of the view's columns, in order."""
        return tuple(column.name for column in self.columns)


def _c(name: str, kind: Kind, meaning: str) -> Column:
    return Column(name, kind, meaning)


def _met(done: str, due: str, d: Dialect) -> str:
    """1 when *done* happened by *due*, 0 when it happened late or not yet; NULL without a due time."""
    return (
        f"CASE WHEN {due} IS NULL THEN NULL "
        f"WHEN {done} IS NOT NULL AND {done} <= {due} THEN 1 ELSE 0 END"
    )


def _breached(done: str, due: str, d: Dialect) -> str:
    """1 when *done* came after *due*, or has not come and *due* has passed; NULL without one."""
    return (
        f"CASE WHEN {due} IS NULL THEN NULL "
        f"WHEN {done} IS NOT NULL AND {done} > {due} THEN 1 "
        f"WHEN {done} IS NULL AND {due} < {d.now()} THEN 1 ELSE 0 END"
    )


def _events(d: Dialect) -> str:
    at = d.position("'@'", "e.reporter")
    return (
        "SELECT e.id AS event_id, e.report_id AS report_id, e.category AS category,"  # noqa: S608  # our view names and definitions
        " e.service AS service, e.report_format AS report_format,"
        f" lower(CASE WHEN {at} > 0 THEN substr(e.reporter, {at} + 1) ELSE e.reporter END)"
        " AS reporter_domain,"
        " e.account_id AS account_id, e.case_id AS case_id,"
        " e.attribution_state AS attribution_state,"
        " e.attribution_method AS attribution_method,"
        " e.attribution_confidence AS attribution_confidence,"
        " e.occurred_at AS occurred_at, e.reported_at AS reported_at,"
        " e.created_at AS created_at, e.aggregated_at AS aggregated_at"
        " FROM events AS e"
    )


def _reports(d: Dialect) -> str:
    return (
        "SELECT r.id AS report_id, r.channel AS channel, r.report_format AS report_format,"
        " r.report_kind AS report_kind, r.status AS status, r.stage AS stage,"
        " r.size AS size, r.attempts AS attempts, r.error_class AS error_class,"
        " r.received_at AS received_at, r.processed_at AS processed_at,"
        " r.raw_purged_at AS raw_purged_at"
        " FROM reports AS r"
    )


def _cases(d: Dialect) -> str:
    return (
        "SELECT c.id AS case_id, c.account_id AS account_id,"
        " c.category_group AS category_group, c.status AS status, c.priority AS priority,"
        " c.event_count AS event_count, c.reporter_count AS reporter_count,"
        " q.name AS queue, q.tier AS tier, q.department AS department,"
        " u.username AS assignee, c.first_seen_at AS first_seen_at,"
        " c.last_seen_at AS last_seen_at, c.opened_at AS opened_at,"
        " c.closed_at AS closed_at, c.close_reason AS close_reason,"
        " c.first_response_at AS first_response_at, c.resolved_at AS resolved_at,"
        " c.reopen_count AS reopen_count, c.merged_into_id AS merged_into_id,"
        " c.sla_state AS sla_state"
        " FROM cases AS c"
        " LEFT JOIN queues AS q ON q.id = c.queue_id"
        " LEFT JOIN users AS u ON u.id = c.assignee_id"
    )


def _case_history(d: Dialect) -> str:
    return (
        "SELECT h.id AS entry_id, h.case_id AS case_id, h.at AS at, h.actor AS actor,"
        " h.kind AS kind, h.from_value AS from_value, h.to_value AS to_value"
        " FROM case_history AS h"
    )


def _sla_clocks(d: Dialect) -> str:
    return (
        "SELECT c.id AS case_id, q.name AS queue, q.tier AS tier,"  # noqa: S608  # our view names and definitions
        " q.department AS department, c.opened_at AS opened_at,"
        " c.response_due_at AS response_due_at, c.first_response_at AS first_response_at,"
        f" {_met('c.first_response_at', 'c.response_due_at', d)} AS response_met,"
        f" {_breached('c.first_response_at', 'c.response_due_at', d)} AS response_breached,"
        " c.resolution_due_at AS resolution_due_at, c.resolved_at AS resolved_at,"
        f" {_met('c.resolved_at', 'c.resolution_due_at', d)} AS resolution_met,"
        f" {_breached('c.resolved_at', 'c.resolution_due_at', d)} AS resolution_breached,"
        " c.sla_state AS sla_state"
        " FROM cases AS c"
        " LEFT JOIN queues AS q ON q.id = c.queue_id"
    )


def _actions(d: Dialect) -> str:
    return (
        "SELECT a.id AS action_id, a.account_id AS account_id, a.resource_id AS resource_id,"  # noqa: S608  # our view names and definitions
        " a.case_id AS case_id, a.action AS action, a.proposed_action AS proposed_action,"
        " a.cause AS cause, a.state AS state, a.policy_version AS policy_version,"
        f" {d.flag('a.needs_approval')} AS needs_approval,"
        " a.proposed_by AS proposed_by, a.proposed_at AS proposed_at,"
        " a.approved_by AS approved_by, a.approved_at AS approved_at,"
        " a.rejected_by AS rejected_by, a.rejected_at AS rejected_at,"
        " a.executed_by AS executed_by, a.executed_at AS executed_at,"
        " a.attempts AS attempts, a.reverses_action_id AS reverses_action_id,"
        " a.dead_at AS dead_at"
        " FROM enforcement_actions AS a"
    )


def _appeals(d: Dialect) -> str:
    return (
        "SELECT p.id AS appeal_id, p.action_id AS action_id, p.case_id AS case_id,"
        " p.account_id AS account_id, p.state AS state, p.submitted_at AS submitted_at,"
        " p.due_at AS due_at, p.reviewer AS reviewer, p.decided_at AS decided_at"
        " FROM appeals AS p"
    )


def _escalations(d: Dialect) -> str:
    return (
        "SELECT x.id AS escalation_id, x.case_id AS case_id, x.target_kind AS target_kind,"
        " x.target AS target, x.state AS state, x.owner AS owner,"
        " x.raised_by AS raised_by, x.raised_at AS raised_at, x.due_at AS due_at,"
        " x.acknowledged_at AS acknowledged_at, x.closed_at AS closed_at"
        " FROM escalations AS x"
    )


def _signals(d: Dialect) -> str:
    return (
        "SELECT s.id AS signal_id, s.kind AS kind, s.subject_type AS subject_type,"
        " s.account_id AS account_id, s.case_id AS case_id, s.action_id AS action_id,"
        " s.severity AS severity, s.step AS step, s.state AS state,"
        " s.raised_at AS raised_at, s.resolved_at AS resolved_at,"
        " s.resolved_by AS resolved_by"
        " FROM signals AS s"
    )


def _analyst_activity(d: Dialect) -> str:
    return (
        "SELECT t.id AS activity_id, t.username AS username, t.case_id AS case_id,"
        " t.source AS source, t.started_at AS started_at,"
        " t.last_seen_at AS last_seen_at, t.pings AS pings"
        " FROM analyst_activity AS t"
    )


def _shifts(d: Dialect) -> str:
    return (
        "SELECT f.id AS shift_id, f.username AS username, f.kind AS kind,"
        " f.starts_at AS starts_at, f.ends_at AS ends_at, f.source AS source,"
        " f.recorded_by AS recorded_by, f.created_at AS created_at"
        " FROM analyst_shifts AS f"
    )


def _qa_reviews(d: Dialect) -> str:
    return (
        "SELECT r.id AS review_id, r.sample_id AS sample_id, s.case_id AS case_id,"  # noqa: S608  # our view names and definitions
        " s.action_id AS action_id, r.analyst AS analyst, r.reviewer AS reviewer,"
        " s.reason AS sample_reason, s.tier AS tier, s.calibration_id AS calibration_id,"
        " r.scorecard_id AS scorecard_id, k.case_type AS case_type,"
        " k.version AS scorecard_version, r.score AS score,"
        f" {d.flag('r.critical_failure')} AS critical_failure,"
        " r.scored_at AS scored_at, r.feedback AS feedback,"
        " r.acknowledged_at AS acknowledged_at, r.disputed_at AS disputed_at,"
        " r.settled_by AS settled_by, r.settled_at AS settled_at"
        " FROM qa_reviews AS r"
        " JOIN qa_samples AS s ON s.id = r.sample_id"
        " JOIN qa_scorecards AS k ON k.id = r.scorecard_id"
    )


def _qa_ratings(d: Dialect) -> str:
    if d.postgres:
        rating, source = "j.value ->> 'rating'", "CROSS JOIN LATERAL json_each(r.ratings) AS j"
    else:
        rating, source = "json_extract(j.value, '$.rating')", ", json_each(r.ratings) AS j"
    return (
        "SELECT r.id AS review_id, r.analyst AS analyst, r.reviewer AS reviewer,"  # noqa: S608  # our view definitions
        f" j.key AS criterion, {rating} AS rating, r.scored_at AS scored_at"
        f" FROM qa_reviews AS r {source}"
    )


def _users(d: Dialect) -> str:
    return (
        "SELECT u.username AS username, u.role AS role, u.team AS team,"
        " u.created_at AS created_at, u.disabled_at AS disabled_at"
        " FROM users AS u"
    )


_ID = "the row's id"

VIEWS: Final[tuple[View, ...]] = (
    View(
        "analytics_events",
        "one event: one observation a report made about one sender",
        "events",
        (
            _c("event_id", "int", "the event's id"),
            _c("report_id", "int", "the report it came from (`analytics_reports`)"),
            _c("category", "text", "abuse category: `spam`, `phishing`, `bounce`, ..."),
            _c("service", "text", "the provider's service it concerns: `email`, `sms`, ..."),
            _c("report_format", "text", "the report format it was parsed from: `arf`, ..."),
            _c(
                "reporter_domain",
                "text",
                "who reported it: the domain of the reporter, lowercased (never an address)",
            ),
            _c("account_id", "int", "the account it was attributed to; empty: unattributed"),
            _c("case_id", "int", "the case it was folded into, if any"),
            _c(
                "attribution_state",
                "text",
                "`attributed`, `unattributed` (waits in the inbox) or `dismissed`",
            ),
            _c("attribution_method", "text", "how it was attributed: `send_log`, `dkim`, ..."),
            _c("attribution_confidence", "text", "`high`, `medium` or `low`"),
            _c("occurred_at", "time", "when the reported thing happened"),
            _c("reported_at", "time", "when the reporter says it reported it"),
            _c("created_at", "time", "when abusedesk made the event"),
            _c("aggregated_at", "time", "when aggregation saw it; empty: not yet"),
        ),
        _events,
    ),
    View(
        "analytics_reports",
        "one report as received, with where it is in the pipeline",
        "reports",
        (
            _c("report_id", "int", "the report's id"),
            _c("channel", "text", "how it arrived: `smtp`, `imap`, `api`, `sns`, `form`, ..."),
            _c("report_format", "text", "the detected format; empty: not parsed yet"),
            _c("report_kind", "text", "what it is within its format (`Delivery`, ...)"),
            _c("status", "text", "`pending`, `done`, `quarantined`, ..."),
            _c("stage", "text", "the pipeline stage it is at or failed in"),
            _c("size", "int", "its size in bytes"),
            _c("attempts", "int", "processing attempts so far"),
            _c("error_class", "text", "the kind of error that quarantined it, if any"),
            _c("received_at", "time", "when it arrived"),
            _c("processed_at", "time", "when processing finished"),
            _c("raw_purged_at", "time", "when its raw bytes were removed (retention, erasure)"),
        ),
        _reports,
    ),
    View(
        "analytics_cases",
        "one case: events about one account and category group, and the work on them",
        "cases",
        (
            _c("case_id", "int", "the case's id"),
            _c("account_id", "int", "the account the case is about"),
            _c("category_group", "text", "the category group: `spam`, `phishing`, ..."),
            _c("status", "text", "`new`, `open`, `waiting`, `closed`, ..."),
            _c("priority", "int", "its priority (higher: sooner)"),
            _c("event_count", "int", "events folded into it"),
            _c("reporter_count", "int", "distinct reporters among them"),
            _c("queue", "text", "the queue it waits in (name)"),
            _c("tier", "text", "the queue's tier: `basic` or `advanced`"),
            _c("department", "text", "the queue's department"),
            _c("assignee", "text", "the username holding it; empty: nobody"),
            _c("first_seen_at", "time", "its earliest event"),
            _c("last_seen_at", "time", "its latest event"),
            _c("opened_at", "time", "when it was opened"),
            _c("closed_at", "time", "when it was closed; empty: still open"),
            _c("close_reason", "text", "why it was closed: `resolved`, `no_action`, ..."),
            _c("first_response_at", "time", "the first analyst response"),
            _c("resolved_at", "time", "when it was resolved"),
            _c("reopen_count", "int", "times it was reopened"),
            _c("merged_into_id", "int", "the case it was merged into, if any"),
            _c("sla_state", "text", "`ok`, `warning` or `breached`, as last computed"),
        ),
        _cases,
        ("queues", "users"),
    ),
    View(
        "analytics_case_history",
        "one step in a case's life: a transition, assignment, transfer, snooze, merge ...",
        "case_history",
        (
            _c("entry_id", "int", _ID),
            _c("case_id", "int", "the case"),
            _c("at", "time", "when the step was taken"),
            _c("actor", "text", "who took it: a username, or `system:<part>`"),
            _c("kind", "text", "the step: `status`, `assign`, `transfer`, `snooze`, ..."),
            _c("from_value", "text", "the value before (a status, queue, username ...)"),
            _c("to_value", "text", "the value after"),
        ),
        _case_history,
    ),
    View(
        "analytics_sla_clocks",
        "one case's SLA clocks: response and resolution, due, done, met or breached",
        "cases",
        (
            _c("case_id", "int", "the case"),
            _c("queue", "text", "its queue (name)"),
            _c("tier", "text", "the queue's tier"),
            _c("department", "text", "the queue's department"),
            _c("opened_at", "time", "when the case was opened"),
            _c("response_due_at", "time", "when the first response is due"),
            _c("first_response_at", "time", "when it came"),
            _c(
                "response_met",
                "flag",
                "1: responded by the due time; 0: late or not yet; empty: no due time",
            ),
            _c(
                "response_breached",
                "flag",
                "1: responded late, or no response and the due time has passed",
            ),
            _c("resolution_due_at", "time", "when resolution is due"),
            _c("resolved_at", "time", "when the case was resolved"),
            _c("resolution_met", "flag", "1: resolved by the due time; 0: late or not yet"),
            _c(
                "resolution_breached",
                "flag",
                "1: resolved late, or unresolved and the due time has passed",
            ),
            _c("sla_state", "text", "`ok`, `warning` or `breached`, as the workbench shows it"),
        ),
        _sla_clocks,
        ("queues",),
    ),
    View(
        "analytics_actions",
        "one enforcement action on an account or resource, from proposal to execution",
        "enforcement_actions",
        (
            _c("action_id", "int", "the action's id"),
            _c("account_id", "int", "the account acted on"),
            _c("resource_id", "int", "the resource acted on; empty: the whole account"),
            _c("case_id", "int", "the case it was taken on, if any"),
            _c("action", "text", "the step: `warn`, `throttle`, `pause`, `suspend`, ..."),
            _c("proposed_action", "text", "the step first proposed (before any change)"),
            _c("cause", "text", "why, as a cause: `spam`, `phishing`, ..."),
            _c(
                "state",
                "text",
                "`proposed`, `approved`, `executed`, `failed`, `rejected` or `reversed`",
            ),
            _c("policy_version", "int", "the enforcement policy version it cites"),
            _c("needs_approval", "flag", "1: a second analyst had to approve it"),
            _c("proposed_by", "text", "who proposed it (username or `system:<part>`)"),
            _c("proposed_at", "time", "when"),
            _c("approved_by", "text", "who approved it"),
            _c("approved_at", "time", "when"),
            _c("rejected_by", "text", "who rejected it"),
            _c("rejected_at", "time", "when"),
            _c("executed_by", "text", "who executed it"),
            _c("executed_at", "time", "when the connector carried it out"),
            _c("attempts", "int", "connector attempts"),
            _c("reverses_action_id", "int", "the action this one reverses, if any"),
            _c("dead_at", "time", "when retries ran out, if they did"),
        ),
        _actions,
    ),
    View(
        "analytics_appeals",
        "one customer appeal of one executed action, and its decision",
        "appeals",
        (
            _c("appeal_id", "int", "the appeal's id"),
            _c("action_id", "int", "the action appealed (`analytics_actions`)"),
            _c("case_id", "int", "the case, if any"),
            _c("account_id", "int", "the appealing account"),
            _c("state", "text", "`open`, `upheld`, `overturned` or `partial`"),
            _c("submitted_at", "time", "when the customer appealed"),
            _c("due_at", "time", "when a decision is due"),
            _c("reviewer", "text", "the second analyst who decided it"),
            _c("decided_at", "time", "when it was decided"),
        ),
        _appeals,
    ),
    View(
        "analytics_escalations",
        "one escalation of a case to a department or a manager",
        "escalations",
        (
            _c("escalation_id", "int", "the escalation's id"),
            _c("case_id", "int", "the case escalated"),
            _c("target_kind", "text", "`department` or `user`"),
            _c("target", "text", "the department or username escalated to"),
            _c("state", "text", "`open`, `acknowledged`, `closed`, ..."),
            _c("owner", "text", "who owns it now"),
            _c("raised_by", "text", "who raised it"),
            _c("raised_at", "time", "when"),
            _c("due_at", "time", "when an answer is due"),
            _c("acknowledged_at", "time", "when it was acknowledged"),
            _c("closed_at", "time", "when it was closed"),
        ),
        _escalations,
    ),
    View(
        "analytics_signals",
        "one signal a monitor raised (rates, blocklists, spikes, links, activity)",
        "signals",
        (
            _c("signal_id", "int", "the signal's id"),
            _c("kind", "text", "`<monitor>.<what>`, e.g. `rate.under_review`, `spike.jump`"),
            _c("subject_type", "text", "what it is about: `account`, `ip`, `domain`, ..."),
            _c("account_id", "int", "the account it concerns, if any"),
            _c("case_id", "int", "the case it opened or joined, if any"),
            _c("action_id", "int", "the action it proposed, if any"),
            _c("severity", "text", "`low`, `medium` or `high`"),
            _c("step", "text", "the ladder step it asked for: `none`, `review`, ..."),
            _c("state", "text", "`open`, `resolved`, ..."),
            _c("raised_at", "time", "when it was raised"),
            _c("resolved_at", "time", "when it ended"),
            _c("resolved_by", "text", "who or what ended it"),
        ),
        _signals,
    ),
    View(
        "analytics_analyst_activity",
        "one stretch of an analyst's time on a case: the page in focus, or an action",
        "analyst_activity",
        (
            _c("activity_id", "int", _ID),
            _c("username", "text", "the analyst"),
            _c("case_id", "int", "the case"),
            _c("source", "text", "`focus` (the case page in focus) or `action`"),
            _c("started_at", "time", "when the stretch began"),
            _c("last_seen_at", "time", "when it was last seen going on"),
            _c("pings", "int", "heartbeats received in it"),
        ),
        _analyst_activity,
    ),
    View(
        "analytics_shifts",
        "one period of an analyst's availability: shift, break, training, meeting, off",
        "analyst_shifts",
        (
            _c("shift_id", "int", _ID),
            _c("username", "text", "the analyst"),
            _c("kind", "text", "`shift`, `break`, `training`, `meeting` or `off`"),
            _c("starts_at", "time", "when it starts"),
            _c("ends_at", "time", "when it ends; empty: the analyst's current status"),
            _c("source", "text", "`recorded` in the workbench or `imported` from a rota"),
            _c("recorded_by", "text", "who recorded it"),
            _c("created_at", "time", "when it was recorded"),
        ),
        _shifts,
    ),
    View(
        "analytics_qa_reviews",
        "one reviewer's QA scorecard for one sampled case or action",
        "qa_reviews",
        (
            _c("review_id", "int", "the review's id"),
            _c("sample_id", "int", "the QA sample scored"),
            _c("case_id", "int", "the case sampled"),
            _c("action_id", "int", "the action sampled, if it was an action"),
            _c("analyst", "text", "the analyst whose work was scored"),
            _c("reviewer", "text", "who scored it"),
            _c(
                "sample_reason",
                "text",
                "why it was sampled: `random`, `new_analyst`, `overturned_appeal`, `targeted`",
            ),
            _c("tier", "text", "the tier of the work sampled"),
            _c("calibration_id", "int", "the calibration round, if it was one"),
            _c("scorecard_id", "int", "the scorecard version used"),
            _c("case_type", "text", "the scorecard's case type (empty: any)"),
            _c("scorecard_version", "int", "the scorecard's version number"),
            _c("score", "float", "the score, 0 to 100"),
            _c("critical_failure", "flag", "1: a critical criterion failed"),
            _c("scored_at", "time", "when it was scored"),
            _c("feedback", "text", "`sent`, `acknowledged`, `disputed`, `upheld`, `amended`"),
            _c("acknowledged_at", "time", "when the analyst acknowledged it"),
            _c("disputed_at", "time", "when the analyst disputed it"),
            _c("settled_by", "text", "who settled the dispute"),
            _c("settled_at", "time", "when"),
        ),
        _qa_reviews,
        ("qa_samples", "qa_scorecards"),
    ),
    View(
        "analytics_qa_ratings",
        "one criterion's rating in one QA review (several rows per review)",
        "qa_reviews",
        (
            _c("review_id", "int", "the review (`analytics_qa_reviews`)"),
            _c("analyst", "text", "the analyst whose work was scored"),
            _c("reviewer", "text", "who scored it"),
            _c("criterion", "text", "the scorecard criterion's key"),
            _c("rating", "text", "`met`, `not_met` or `na` (not applicable)"),
            _c("scored_at", "time", "when the review was scored"),
        ),
        _qa_ratings,
        ("json_each",),
    ),
    View(
        "analytics_users",
        "one workbench user: username, role and team (never an address or password hash)",
        "users",
        (
            _c("username", "text", "the username, as other views name people"),
            _c("role", "text", "`analyst_basic`, `analyst_advanced`, `lead`, `qa`, ..."),
            _c("team", "text", "the team the user's figures roll up to (empty: none)"),
            _c("created_at", "time", "when the user was created"),
            _c("disabled_at", "time", "when the user was disabled, if so"),
        ),
        _users,
    ),
)

VIEW_NAMES: Final = tuple(view.name for view in VIEWS)
# The tables that give the views their rows: one view row per table row, none hidden, so
# that the number of rows in one of them tells nothing the views do not.
ROW_TABLES: Final = frozenset(view.table for view in VIEWS)
# Every table a view reads: SQLite may name any of them with no column when it folds a
# view into a count(*), and the console answers that count (see docs/analytics.md).
READ_TABLES: Final = ROW_TABLES | frozenset(name for view in VIEWS for name in view.joined)


def view_named(name: str) -> View:
    """Return the view called *name*; raise KeyError when there is none."""
    for view in VIEWS:
        if view.name == name:
            return view
    raise KeyError(name)


def qualified(view: View, dialect_name: str) -> str:
    """Return the view's name as the application's own connection reaches it."""
    if dialect_name == "postgresql":
        return f"{SCHEMA}.{view.name}"
    return view.name
