"""Data retention and privacy: sealed message payloads and a retention period per tenant.

`bridge_message.payload_enc` / `normalized_enc` hold the JSON sealed with the secrets' keys
(`app.db.sealed`); the plaintext `payload` / `normalized` columns become nullable and are kept
only for rows written before this revision. Those are sealed lazily: readers open either form,
and `python -m app keys rotate` seals what is left (the marker is `payload_enc IS NULL`); no
key is available to a migration, so it does not seal them itself.

`tenant.retention_days` (default 30) is how long delivered messages and dead letters are kept.

Revision ID: d1g1_retention
Revises: c2a1_tenant_version
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d1g1_retention"
down_revision: str | None = "d1a1_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bridge_message", sa.Column("payload_enc", sa.Text(), nullable=True))
    op.add_column("bridge_message", sa.Column("normalized_enc", sa.Text(), nullable=True))
    op.alter_column("bridge_message", "payload", nullable=True)
    op.create_check_constraint(
        "ck_bridge_message_payload",
        "bridge_message",
        "payload IS NOT NULL OR payload_enc IS NOT NULL",
    )
    op.create_index(
        "ix_bridge_message_tenant_created", "bridge_message", ["tenant_id", "created_at"]
    )
    op.add_column(
        "tenant",
        sa.Column("retention_days", sa.Integer(), nullable=False, server_default=sa.text("30")),
    )


def downgrade() -> None:
    op.drop_column("tenant", "retention_days")
    op.drop_index("ix_bridge_message_tenant_created", table_name="bridge_message")
    op.drop_constraint("ck_bridge_message_payload", "bridge_message", type_="check")
    # Sealed rows cannot be opened here (no keys): they are dropped rather than left unreadable.
    op.execute("DELETE FROM bridge_message WHERE payload IS NULL")
    op.alter_column("bridge_message", "payload", nullable=False)
    op.drop_column("bridge_message", "normalized_enc")
    op.drop_column("bridge_message", "payload_enc")
