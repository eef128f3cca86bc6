"""Delivery no longer goes through queue jobs: workers claim conversations (issue 12).

Workers now find pending `bridge_message` rows themselves (`app.bridge.dispatch`), so the
per-conversation flush jobs and the index that found a conversation's waiting job are no longer
used. Jobs left from before are deleted: their messages are still pending and are claimed like
any other. A downgrade queues one flush job per conversation that has pending messages, so the
old worker picks them up.

Revision ID: e1d1_claim_delivery
Revises: e1a1_worker_core
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e1d1_claim_delivery"
down_revision: str | None = "e1a1_worker_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLUSH_TASK = "switchboard:flush_conversation"
# The periodic net that re-queued conversations left without a job; nothing can be left now.
RELAY_TASK = "switchboard:relay_stranded_work"


def upgrade() -> None:
    op.execute(f"DELETE FROM procrastinate_periodic_defers WHERE task_name = '{RELAY_TASK}'")
    op.execute(
        f"DELETE FROM procrastinate_jobs WHERE task_name IN ('{FLUSH_TASK}', '{RELAY_TASK}')"
    )
    op.execute("DROP INDEX IF EXISTS ix_procrastinate_jobs_waiting_lock")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_procrastinate_jobs_waiting_lock "
        "ON procrastinate_jobs (lock) WHERE status = 'todo'"
    )
    op.execute(
        f"""
        SELECT procrastinate_defer_jobs_v1(ARRAY(
            SELECT ROW('bridge', '{FLUSH_TASK}', 0,
                       'conversation:' || conversation_id::text, NULL,
                       jsonb_build_object('tenant_id', tenant_id::text,
                                          'conversation_id', conversation_id::text),
                       NULL)::procrastinate_job_to_defer_v1
            FROM (SELECT DISTINCT tenant_id, conversation_id FROM bridge_message
                  WHERE status = 'pending' AND conversation_id IS NOT NULL) AS pending
        ))
        """
    )
