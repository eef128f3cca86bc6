"""Job queue schema (procrastinate 3.10.0).

The worker's queue lives in Postgres beside our tables, so alembic owns it too: the release
phase creates it, never the worker at startup. The SQL is read from the installed, pinned
procrastinate package; upgrading procrastinate means a new migration that applies its
`sql/migrations/*.sql` files (see docs/decisions.md).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence
from importlib import resources

from alembic import op
from sqlalchemy.util import await_

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROCRASTINATE_VERSION = "3.10.0"


def upgrade() -> None:
    schema = resources.files("procrastinate").joinpath("sql/schema.sql").read_text("utf-8")
    # A multi-statement script needs asyncpg's simple-query path, not a prepared statement.
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_(driver.execute(schema))


def downgrade() -> None:
    op.execute(
        """
        DO $$
        DECLARE r record;
        BEGIN
            FOR r IN SELECT tablename FROM pg_tables
                     WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate_%'
            LOOP EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename); END LOOP;
            FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                     JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate_%'
            LOOP EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', r.sig); END LOOP;
            FOR r IN SELECT t.typname FROM pg_type t
                     JOIN pg_namespace n ON n.oid = t.typnamespace
                     WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate_%'
                       AND t.typtype IN ('e', 'c')
            LOOP EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname); END LOOP;
        END $$;
        """
    )
