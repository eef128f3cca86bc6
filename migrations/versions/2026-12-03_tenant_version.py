"""A version on each tenant, bumped by triggers whenever what ingest reads about it changes.

The web keeps tenants, installations and integrations in a per-process cache
(`app.tenants.cache`) and checks the cached version inside the very statement that stores an
event, so a change made by any process (an uninstall, a secret rotation, an integration
switched) takes effect for the next event. Triggers rather than application code do the
bumping, so no write path can forget it. Only `last_verified_at` / `last_refused_at` (written
about once a minute by the webhook) and `setup_alert_at` leave the version alone.

Revision ID: c2a1_tenant_version
Revises: c4a1_names
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c2a1_tenant_version"
down_revision: str | None = "c4a1_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Statements that do not change what a cache holds: the version stays.
_TENANT_QUIET = "setup_alert_at"
_INTEGRATION_QUIET = ("last_verified_at", "last_refused_at")

_FUNCTIONS = [
    """
    CREATE FUNCTION tenant_version_bump_self() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.version = OLD.version THEN
            NEW.version := OLD.version + 1;
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE FUNCTION tenant_version_bump_owner() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE tenant SET version = version + 1 WHERE id = OLD.tenant_id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.tenant_id <> OLD.tenant_id)
        THEN
            UPDATE tenant SET version = version + 1 WHERE id = NEW.tenant_id;
        END IF;
        RETURN NULL;
    END $$
    """,
]


def _changed(quiet: Sequence[str]) -> str:
    """True when a column other than the quiet ones changed; as JSON, so columns added by
    later migrations count too."""
    minus = "".join(f" - '{name}'" for name in quiet)
    return f"(to_jsonb(OLD){minus}) IS DISTINCT FROM (to_jsonb(NEW){minus})"


def upgrade() -> None:
    op.add_column(
        "tenant",
        sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("1")),
    )
    for statement in _FUNCTIONS:
        op.execute(statement)
    op.execute(
        f"""
        CREATE TRIGGER tenant_version_self BEFORE UPDATE ON tenant FOR EACH ROW
        WHEN ({_changed((_TENANT_QUIET, "version"))})
        EXECUTE FUNCTION tenant_version_bump_self()
        """
    )
    for table in ("slack_installation", "genesys_connection"):
        op.execute(
            f"""
            CREATE TRIGGER {table}_tenant_version AFTER INSERT OR UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION tenant_version_bump_owner()
            """
        )
    op.execute(
        """
        CREATE TRIGGER genesys_integration_tenant_version AFTER INSERT OR DELETE
        ON genesys_integration FOR EACH ROW EXECUTE FUNCTION tenant_version_bump_owner()
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER genesys_integration_tenant_version_update AFTER UPDATE
        ON genesys_integration FOR EACH ROW
        WHEN ({_changed(_INTEGRATION_QUIET)})
        EXECUTE FUNCTION tenant_version_bump_owner()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER genesys_integration_tenant_version_update ON genesys_integration")
    op.execute("DROP TRIGGER genesys_integration_tenant_version ON genesys_integration")
    for table in ("slack_installation", "genesys_connection"):
        op.execute(f"DROP TRIGGER {table}_tenant_version ON {table}")
    op.execute("DROP TRIGGER tenant_version_self ON tenant")
    op.execute("DROP FUNCTION tenant_version_bump_owner()")
    op.execute("DROP FUNCTION tenant_version_bump_self()")
    op.drop_column("tenant", "version")
