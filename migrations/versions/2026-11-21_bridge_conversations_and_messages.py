"""Conversations and the durable message inbox/outbox of the bridge; tenant behaviour flags.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("conversation_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("slack_channel_id", sa.String(length=32), nullable=True),
        sa.Column("slack_thread_ts", sa.String(length=32), nullable=True),
        sa.Column("slack_user_id", sa.String(length=32), nullable=True),
        sa.Column("genesys_integration_id", sa.String(length=64), nullable=True),
        sa.Column("genesys_conversation_id", sa.String(length=64), nullable=True),
        sa.Column("slack_permalink", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_activity_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_conversation_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation")),
        sa.UniqueConstraint(
            "tenant_id", "conversation_key", name=op.f("uq_conversation_tenant_id_conversation_key")
        ),
    )
    op.create_table(
        "bridge_message",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=True),
        sa.Column("direction", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("slack_event_id", sa.String(length=64), nullable=True),
        sa.Column("slack_client_msg_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("genesys_message_id", sa.String(length=64), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_bridge_message_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_bridge_message_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bridge_message")),
        sa.UniqueConstraint(
            "tenant_id",
            "direction",
            "dedupe_key",
            name=op.f("uq_bridge_message_tenant_id_direction_dedupe_key"),
        ),
    )
    op.create_index(
        "ix_bridge_message_dead",
        "bridge_message",
        ["tenant_id"],
        unique=False,
        postgresql_where=sa.text("status = 'dead'"),
    )
    op.create_index(
        "ix_bridge_message_pending",
        "bridge_message",
        ["conversation_id", "source_ts", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "uq_bridge_message_slack_client_msg_id",
        "bridge_message",
        ["tenant_id", "slack_client_msg_id"],
        unique=True,
        postgresql_where=sa.text("slack_client_msg_id IS NOT NULL"),
    )
    op.create_index(
        "uq_bridge_message_slack_event_id",
        "bridge_message",
        ["tenant_id", "slack_event_id"],
        unique=True,
        postgresql_where=sa.text("slack_event_id IS NOT NULL"),
    )
    op.add_column(
        "tenant",
        sa.Column("ack_reaction", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.add_column(
        "tenant",
        sa.Column(
            "forward_other_bots", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_column("tenant", "forward_other_bots")
    op.drop_column("tenant", "ack_reaction")
    op.drop_index(
        "uq_bridge_message_slack_event_id",
        table_name="bridge_message",
        postgresql_where=sa.text("slack_event_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_bridge_message_slack_client_msg_id",
        table_name="bridge_message",
        postgresql_where=sa.text("slack_client_msg_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_bridge_message_pending",
        table_name="bridge_message",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "ix_bridge_message_dead",
        table_name="bridge_message",
        postgresql_where=sa.text("status = 'dead'"),
    )
    op.drop_table("bridge_message")
    op.drop_table("conversation")
