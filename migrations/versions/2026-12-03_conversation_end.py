"""The end of a Genesys conversation, as the worker learns it from the Conversations API.

Open Messaging sends no end event, so the worker reads each open conversation's participants
now and then (`end_checked_at` spreads the reads); when the customer's side is disconnected the
conversation is marked ended (`ended_at`, `ended_genesys_conversation_id`) and the thread or DM
is told. The partial index serves the watcher's scan of conversations still open;
`end_chat_offered_for` keeps the customer's End chat button to one offer per Genesys
conversation.

Revision ID: d1d1_convo_end
Revises: d1e1_routing_rules
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d1d1_convo_end"
down_revision: str | None = "d1e1_routing_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversation", sa.Column("ended_at", sa.DateTime(timezone=True)))
    op.add_column("conversation", sa.Column("ended_genesys_conversation_id", sa.String(64)))
    op.add_column("conversation", sa.Column("end_checked_at", sa.DateTime(timezone=True)))
    op.add_column("conversation", sa.Column("end_chat_offered_for", sa.String(64)))
    op.create_index(
        "ix_conversation_open_genesys",
        "conversation",
        ["end_checked_at"],
        postgresql_where=sa.text("genesys_conversation_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_open_genesys", table_name="conversation")
    op.drop_column("conversation", "end_chat_offered_for")
    op.drop_column("conversation", "end_checked_at")
    op.drop_column("conversation", "ended_genesys_conversation_id")
    op.drop_column("conversation", "ended_at")
