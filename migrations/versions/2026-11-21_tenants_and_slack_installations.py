"""Tenants, their Slack installations, install-flow state and the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("actor_slack_user_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index(
        "ix_audit_event_tenant_id_created_at",
        "audit_event",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "slack_oauth_state",
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("expire_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_slack_oauth_state")),
    )
    op.create_index(
        "ix_slack_oauth_state_expire_at", "slack_oauth_state", ["expire_at"], unique=False
    )
    op.create_table(
        "tenant",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("slack_enterprise_id", sa.String(length=32), nullable=True),
        sa.Column("slack_team_id", sa.String(length=32), nullable=True),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("uninstalled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant")),
    )
    op.create_index(
        "uq_tenant_slack_enterprise_id",
        "tenant",
        ["slack_enterprise_id"],
        unique=True,
        postgresql_where=sa.text("is_enterprise_install"),
    )
    op.create_index(
        "uq_tenant_slack_team_id",
        "tenant",
        ["slack_team_id"],
        unique=True,
        postgresql_where=sa.text("NOT is_enterprise_install"),
    )
    op.create_table(
        "slack_installation",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("slack_app_id", sa.String(length=32), nullable=False),
        sa.Column("slack_enterprise_id", sa.String(length=32), nullable=True),
        sa.Column("slack_enterprise_name", sa.String(length=200), nullable=True),
        sa.Column("slack_enterprise_url", sa.String(length=200), nullable=True),
        sa.Column("slack_team_id", sa.String(length=32), nullable=True),
        sa.Column("slack_team_name", sa.String(length=200), nullable=True),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("bot_token_enc", sa.Text(), nullable=True),
        sa.Column("bot_refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("bot_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slack_bot_id", sa.String(length=32), nullable=True),
        sa.Column("slack_bot_user_id", sa.String(length=32), nullable=True),
        sa.Column("bot_scopes", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("installer_slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("token_type", sa.String(length=32), nullable=True),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_slack_installation_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_slack_installation")),
    )


def downgrade() -> None:
    op.drop_table("slack_installation")
    op.drop_index(
        "uq_tenant_slack_team_id",
        table_name="tenant",
        postgresql_where=sa.text("NOT is_enterprise_install"),
    )
    op.drop_index(
        "uq_tenant_slack_enterprise_id",
        table_name="tenant",
        postgresql_where=sa.text("is_enterprise_install"),
    )
    op.drop_table("tenant")
    op.drop_index("ix_slack_oauth_state_expire_at", table_name="slack_oauth_state")
    op.drop_table("slack_oauth_state")
    op.drop_index("ix_audit_event_tenant_id_created_at", table_name="audit_event")
    op.drop_table("audit_event")
