"""Who may open requests, and the DM alert when messages start failing (issue 15).

Revision ID: d1f1_access_policy
Revises: d1d1_convo_end
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d1f1_access_policy"
down_revision: str | None = "d1d1_convo_end"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IDS = postgresql.ARRAY(sa.String())


def upgrade() -> None:
    op.add_column(
        "tenant",
        sa.Column(
            "request_policy", sa.String(16), nullable=False, server_default=sa.text("'everyone'")
        ),
    )
    op.add_column(
        "tenant",
        sa.Column("request_channel_ids", _IDS, nullable=False, server_default=sa.text("'{}'")),
    )
    op.add_column(
        "tenant",
        sa.Column("request_usergroup_ids", _IDS, nullable=False, server_default=sa.text("'{}'")),
    )
    op.add_column(
        "tenant",
        sa.Column("failure_alert", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    op.add_column(
        "tenant",
        sa.Column("failure_alert_user_ids", _IDS, nullable=False, server_default=sa.text("'{}'")),
    )
    op.add_column("tenant", sa.Column("failure_alert_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("tenant", "failure_alert_at")
    op.drop_column("tenant", "failure_alert_user_ids")
    op.drop_column("tenant", "failure_alert")
    op.drop_column("tenant", "request_usergroup_ids")
    op.drop_column("tenant", "request_channel_ids")
    op.drop_column("tenant", "request_policy")
