"""A conversation's waiting flush job, found by its lock.

Ingest queues a flush job only when the conversation has none waiting
(`app.bridge.queueing`), which looks procrastinate's jobs up by `lock` among those in
`todo`; procrastinate's own indexes cover `lock` only for running jobs. Without this index
that lookup would scan every queued job, and a backlog would slow every ingest.

Revision ID: c2b1_worker
Revises: c1b1_parse_once
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c2b1_worker"
down_revision: str | None = "c1b1_parse_once"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_procrastinate_jobs_waiting_lock "
        "ON procrastinate_jobs (lock) WHERE status = 'todo'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_procrastinate_jobs_waiting_lock")
