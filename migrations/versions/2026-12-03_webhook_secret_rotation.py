"""Webhook secrets: the previous secret during a rotation, last verified/refused webhook
times, and when an integration was replaced by another (kept until retired).

Revision ID: c0b1_secrets
Revises: c0a1_convo
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0b1_secrets"
down_revision: str | None = "c0a1_convo"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("previous_webhook_secret_enc", sa.Text()),
    ("previous_secret_expires_at", sa.DateTime(timezone=True)),
    ("last_verified_at", sa.DateTime(timezone=True)),
    ("last_refused_at", sa.DateTime(timezone=True)),
    ("replaced_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("genesys_integration", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # Previous integrations (no flag set) would look chosen to nothing and never retirable.
    op.execute("DELETE FROM genesys_integration WHERE NOT for_mentions AND NOT for_dms")
    for name, _ in reversed(_COLUMNS):
        op.drop_column("genesys_integration", name)
