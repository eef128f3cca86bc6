"""Putting delivery work on the queue inside the same transaction that stored the message.

procrastinate's own deferring runs on its psycopg connection, which cannot join our
SQLAlchemy/asyncpg transaction. Its schema exposes the SQL function it uses to insert jobs,
so we call that function on our connection: the message row and its job commit together or
not at all. The relay in `app.jobs` is the safety net for anything this ever misses.

A conversation gets a job only when it has none waiting ("todo"): one job drains every
message pending when it runs (`Delivery.flush`), so a second waiting job would only fetch,
find nothing and finish. The waiting job is locked `FOR KEY SHARE` until our transaction
commits; procrastinate's fetch takes jobs `FOR UPDATE … SKIP LOCKED`, so it cannot start that
job before our message is visible to it. A running ("doing") job does not count: it may have
read the queue already, so a message arriving during a flush queues the next one. Two
transactions racing on a conversation with no waiting job may both queue one; the second
then finds little or nothing to do, which costs a fetch, never a message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.bridge.messages import NewConversation, NewMessage

QUEUE = "bridge"
# The task name as procrastinate registers it: blueprint namespace + task name (app.jobs).
FLUSH_TASK = "switchboard:flush_conversation"

_DEFER = text(
    """
    WITH waiting AS (
        SELECT id FROM procrastinate_jobs
        WHERE lock = :lock AND status = 'todo'
        LIMIT 1
        FOR KEY SHARE
    )
    SELECT procrastinate_defer_jobs_v1(ARRAY[
        ROW(:queue, :task, 0, :lock, NULL, CAST(:args AS jsonb), NULL)
        ::procrastinate_job_to_defer_v1
    ])
    WHERE NOT EXISTS (SELECT 1 FROM waiting)
    """
)


def conversation_lock(conversation_id: uuid.UUID) -> str:
    """procrastinate runs at most one job per lock, in queue order: FIFO per conversation."""
    return f"conversation:{conversation_id}"


def flush_args(tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> dict[str, str]:
    return {"tenant_id": str(tenant_id), "conversation_id": str(conversation_id)}


async def defer_flush(
    session: AsyncSession, *, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> None:
    await session.execute(
        _DEFER,
        {
            "queue": QUEUE,
            "task": FLUSH_TASK,
            "lock": conversation_lock(conversation_id),
            "args": json.dumps(flush_args(tenant_id, conversation_id)),
        },
    )


async def locks_with_jobs(session: AsyncSession, locks: Sequence[str]) -> set[str]:
    """Which of these conversations already have a queued or running job."""
    if not locks:
        return set()
    rows = await session.execute(
        text(
            "SELECT DISTINCT lock FROM procrastinate_jobs "
            "WHERE lock = ANY(:locks) AND status IN ('todo', 'doing')"
        ),
        {"locks": list(locks)},
    )
    return {lock for (lock,) in rows}


# The hot path of ingest in one round trip: upsert the conversation, insert the message
# unless a unique constraint says it is a duplicate, and queue the conversation's flush job
# only if the message is new and no job of the conversation is waiting (see above). One row
# comes back for a new message, none for a duplicate.
_STORE_AND_DEFER = text(
    """
    WITH conv AS (
        INSERT INTO conversation (id, tenant_id, conversation_key, kind, slack_channel_id,
                                  slack_thread_ts, slack_user_id, genesys_integration_id)
        VALUES (:new_conversation_id, :tenant_id, :conversation_key, :conversation_kind,
                :slack_channel_id, :slack_thread_ts, :slack_user_id, :genesys_integration_id)
        ON CONFLICT (tenant_id, conversation_key) DO UPDATE SET last_activity_at = now()
        RETURNING id
    ), msg AS (
        INSERT INTO bridge_message (tenant_id, conversation_id, direction, kind, dedupe_key,
                                    slack_event_id, slack_client_msg_id, status, payload,
                                    normalized, source_ts, trace_id)
        SELECT :tenant_id, conv.id, :direction, :kind, :dedupe_key, :slack_event_id,
               :slack_client_msg_id, 'pending', CAST(:payload AS jsonb),
               CAST(:normalized AS jsonb), :source_ts, :trace_id
        FROM conv
        ON CONFLICT DO NOTHING
        RETURNING conversation_id
    ), waiting AS (
        SELECT jobs.id FROM procrastinate_jobs AS jobs, msg
        WHERE jobs.lock = 'conversation:' || msg.conversation_id::text
          AND jobs.status = 'todo'
        LIMIT 1
        FOR KEY SHARE OF jobs
    ), deferred AS (
        SELECT procrastinate_defer_jobs_v1(ARRAY[
            ROW(:queue, :task, 0, 'conversation:' || msg.conversation_id::text, NULL,
                jsonb_build_object('tenant_id', CAST(:tenant_id AS text),
                                   'conversation_id', msg.conversation_id::text),
                NULL)::procrastinate_job_to_defer_v1
        ]) FROM msg
        WHERE NOT EXISTS (SELECT 1 FROM waiting)
    )
    SELECT msg.conversation_id, (SELECT count(*) FROM deferred) FROM msg
    """
)


async def store_and_defer(
    session: AsyncSession, *, conversation: NewConversation, message: NewMessage
) -> bool:
    """True if the message was new (and is now queued), False for a duplicate.

    The message's `conversation_id` is not known yet (None): the statement upserts the
    conversation and files the message under it.
    """
    params: dict[str, object] = {
        "new_conversation_id": uuid.uuid4(),
        "tenant_id": message.tenant_id,
        "queue": QUEUE,
        "task": FLUSH_TASK,
        "conversation_key": conversation.conversation_key,
        "conversation_kind": conversation.kind,
        "slack_channel_id": conversation.slack_channel_id,
        "slack_thread_ts": conversation.slack_thread_ts,
        "slack_user_id": conversation.slack_user_id,
        "genesys_integration_id": conversation.genesys_integration_id,
        "direction": message.direction.value,
        "kind": message.kind.value,
        "dedupe_key": message.dedupe_key,
        "slack_event_id": message.slack_event_id,
        "slack_client_msg_id": message.slack_client_msg_id,
        "payload": json.dumps(message.payload),
        "normalized": None if message.normalized is None else json.dumps(message.normalized),
        "source_ts": message.source_ts,
        "trace_id": message.trace_id,
    }
    row = (await session.execute(_STORE_AND_DEFER, params)).first()
    return row is not None
