"""How many parts of a customer's message Genesys has accepted.

A Slack message with files becomes several Open Messaging messages (its text, then one per
file), sent one at a time. `parts_sent` is written after each accepted part, in its own short
transaction, so a retry after a partial failure resumes at the first part not yet accepted and
never sends an accepted one twice.

Revision ID: d1a1_files
Revises: c2a1_tenant_version
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d1a1_files"
down_revision: str | None = "c2a1_tenant_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "bridge_message",
        sa.Column("parts_sent", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    op.drop_column("bridge_message", "parts_sent")
