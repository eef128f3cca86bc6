"""Parse once: the normalised message ingest made, stored beside the raw payload.

Delivery reads it instead of parsing the envelope or webhook again; rows from before this
revision have none and are parsed as before.

Revision ID: c1b1_parse_once
Revises: c0b1_secrets
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c1b1_parse_once"
down_revision: str | None = "c0b1_secrets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bridge_message", sa.Column("normalized", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    # Nothing is lost: every row keeps its raw payload, which delivery can parse.
    op.drop_column("bridge_message", "normalized")
