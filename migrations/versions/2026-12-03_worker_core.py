"""Routing rules bump their tenant's version, like its installation and integrations.

The worker keeps each tenant's routing rules per process with the tenant's row
(`app.bridge.flush_store.TenantEntries`) and reads them again when the version moved, so a
rule saved on the settings page applies to the very next flush in every worker.

Revision ID: e1a1_worker_core
Revises: d1f1_access_policy
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e1a1_worker_core"
down_revision: str | None = "d1f1_access_policy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The function from c2a1_tenant_version: bumps the old and the new owner.
    op.execute(
        """
        CREATE TRIGGER routing_rule_tenant_version AFTER INSERT OR UPDATE OR DELETE
        ON routing_rule FOR EACH ROW EXECUTE FUNCTION tenant_version_bump_owner()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER routing_rule_tenant_version ON routing_rule")
