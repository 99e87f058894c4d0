"""insights: analyst activity, shifts, QA, weekly reports, incident reviews, saved queries

Handle time is read from the stretches an analyst spends on a case (page focus and
actions), utilisation from shifts and availability. QA samples closed cases and actions,
scores them on versioned scorecards and calibrates reviewers. Weekly reports keep their
figures and the lead's summary; incident reviews keep their findings and follow-ups.
Users gain a team, and events an index by time for reviews of every account.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("team", sa.String(80), nullable=False, server_default=""))
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"])
    op.create_table(
        "analyst_activity",
        _id(),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("case_id", _BIG_ID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.Column("pings", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_analyst_activity_username_started_at", "analyst_activity", ["username", "started_at"]
    )
    op.create_index("ix_analyst_activity_case_id", "analyst_activity", ["case_id"])
    op.create_table(
        "analyst_shifts",
        _id(),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("starts_at", _TIME, nullable=False),
        sa.Column("ends_at", _TIME, nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_index(
        "ix_analyst_shifts_username_starts_at", "analyst_shifts", ["username", "starts_at"]
    )
    op.create_table(
        "qa_scorecards",
        _id(),
        sa.Column("case_type", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.UniqueConstraint("case_type", "version", name="uq_qa_scorecards_case_type_version"),
    )
    op.create_table(
        "qa_calibrations",
        _id(),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("reviewers", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("closed_at", _TIME, nullable=True),
    )
    op.create_table(
        "qa_samples",
        _id(),
        sa.Column("case_id", _BIG_ID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("action_id", _BIG_ID, sa.ForeignKey("enforcement_actions.id"), nullable=True),
        sa.Column("analyst", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("sampled_at", _TIME, nullable=False),
        sa.Column("sampled_by", sa.String(200), nullable=False),
        sa.Column("calibration_id", _BIG_ID, sa.ForeignKey("qa_calibrations.id"), nullable=True),
    )
    op.create_index("ix_qa_samples_state_sampled_at", "qa_samples", ["state", "sampled_at"])
    op.create_index("ix_qa_samples_analyst", "qa_samples", ["analyst"])
    op.create_index("ix_qa_samples_case_id", "qa_samples", ["case_id"])
    op.create_table(
        "qa_reviews",
        _id(),
        sa.Column("sample_id", _BIG_ID, sa.ForeignKey("qa_samples.id"), nullable=False),
        sa.Column("analyst", sa.String(200), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("scorecard_id", _BIG_ID, sa.ForeignKey("qa_scorecards.id"), nullable=False),
        sa.Column("ratings", sa.JSON(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("critical_failure", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("scored_at", _TIME, nullable=False),
        sa.Column("feedback", sa.String(20), nullable=False),
        sa.Column("acknowledged_at", _TIME, nullable=True),
        sa.Column("dispute_reason", sa.Text(), nullable=True),
        sa.Column("disputed_at", _TIME, nullable=True),
        sa.Column("settled_by", sa.String(200), nullable=True),
        sa.Column("settled_at", _TIME, nullable=True),
        sa.Column("settlement", sa.Text(), nullable=True),
        sa.UniqueConstraint("sample_id", "reviewer", name="uq_qa_reviews_sample_id_reviewer"),
    )
    op.create_index("ix_qa_reviews_analyst_scored_at", "qa_reviews", ["analyst", "scored_at"])
    op.create_table(
        "weekly_reports",
        _id(),
        sa.Column("week_start", _TIME, nullable=False),
        sa.Column("generated_at", _TIME, nullable=False),
        sa.Column("generated_by", sa.String(200), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("summary_by", sa.String(200), nullable=True),
        sa.Column("summary_at", _TIME, nullable=True),
        sa.UniqueConstraint("week_start", name="uq_weekly_reports_week_start"),
    )
    op.create_table(
        "incident_reviews",
        _id(),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("origin_id", sa.BigInteger(), nullable=True),
        sa.Column("account_ids", sa.JSON(), nullable=False),
        sa.Column("starts_at", _TIME, nullable=False),
        sa.Column("ends_at", _TIME, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("impact", sa.Text(), nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=False),
        sa.Column("went_well", sa.Text(), nullable=False),
        sa.Column("went_badly", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("closed_at", _TIME, nullable=True),
    )
    op.create_table(
        "review_followups",
        _id(),
        sa.Column("review_id", _BIG_ID, sa.ForeignKey("incident_reviews.id"), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("due_at", _TIME, nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.String(200), nullable=True),
        sa.Column("closed_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_index("ix_review_followups_review_id", "review_followups", ["review_id"])
    op.create_table(
        "saved_queries",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.UniqueConstraint("name", name="uq_saved_queries_name"),
    )


def downgrade() -> None:
    """Revert this revision."""
    for table in (
        "saved_queries",
        "review_followups",
        "incident_reviews",
        "weekly_reports",
        "qa_reviews",
        "qa_samples",
        "qa_calibrations",
        "qa_scorecards",
        "analyst_shifts",
        "analyst_activity",
    ):
        op.drop_table(table)
    op.drop_index("ix_events_occurred_at", "events")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("team")
