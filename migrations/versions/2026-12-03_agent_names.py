"""A tenant switch: agent replies posted under the agent's name (on by default).

Revision ID: c4a1_names
Revises: c2b1_worker
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4a1_names"
down_revision: str | None = "c2b1_worker"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenant",
        sa.Column("agent_names", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("tenant", "agent_names")
