"""Routing rules per channel, Slack Connect organisation, DMs or default; business hours.

Revision ID: d1e1_routing_rules
Revises: d1a1_files
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d1e1_routing_rules"
down_revision: str | None = "d1g1_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenant", sa.Column("away_message", sa.Text(), nullable=True))
    op.add_column(
        "conversation",
        sa.Column("away_notice_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "routing_rule",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column(
            "tenant_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("tenant.id", ondelete="CASCADE", name="fk_routing_rule_tenant_id_tenant"),
            nullable=False,
        ),
        sa.Column("match_kind", sa.String(16), nullable=False),
        sa.Column("match_id", sa.String(32), nullable=False),
        sa.Column("match_name", sa.String(200), nullable=True),
        sa.Column(
            "genesys_integration_id",
            sa.String(64),
            sa.ForeignKey(
                "genesys_integration.genesys_integration_id",
                ondelete="SET NULL",
                name="fk_routing_rule_genesys_integration_id_genesys_integration",
            ),
            nullable=True,
        ),
        sa.Column("queue", sa.String(200), nullable=True),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("skills", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("hours_days", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("hours_from", sa.Time(), nullable=True),
        sa.Column("hours_to", sa.Time(), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_routing_rule"),
        sa.UniqueConstraint(
            "tenant_id",
            "match_kind",
            "match_id",
            name="uq_routing_rule_tenant_id_match_kind_match_id",
        ),
        sa.CheckConstraint(
            "match_kind IN ('channel', 'connect_org', 'dms', 'default')",
            name="ck_routing_rule_match_kind",
        ),
        sa.CheckConstraint(
            "(match_kind IN ('dms', 'default')) = (match_id = '')",
            name="ck_routing_rule_match_id",
        ),
    )


def downgrade() -> None:
    op.drop_table("routing_rule")
    op.drop_column("conversation", "away_notice_until")
    op.drop_column("tenant", "away_message")
