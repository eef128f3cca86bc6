"""Genesys connections per tenant and the Open Messaging integrations they route through.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "genesys_connection",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("client_secret_enc", sa.Text(), nullable=False),
        sa.Column("credentials_version", sa.Integer(), nullable=False),
        sa.Column(
            "credentials_updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_genesys_connection_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_genesys_connection")),
    )
    op.create_table(
        "genesys_integration",
        sa.Column("genesys_integration_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("for_mentions", sa.Boolean(), nullable=False),
        sa.Column("for_dms", sa.Boolean(), nullable=False),
        sa.Column("webhook_secret_enc", sa.Text(), nullable=False),
        sa.Column(
            "webhook_secret_set_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("webhook_wiring", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_genesys_integration_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("genesys_integration_id", name=op.f("pk_genesys_integration")),
    )
    op.create_index(
        op.f("ix_genesys_integration_tenant_id"), "genesys_integration", ["tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_genesys_integration_tenant_id"), table_name="genesys_integration")
    op.drop_table("genesys_integration")
    op.drop_table("genesys_connection")
