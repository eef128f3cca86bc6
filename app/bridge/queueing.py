"""Telling the workers that a conversation has a message to deliver.

Workers find pending messages themselves (`app.bridge.dispatch` claims conversations whose
oldest pending message is due), so nothing has to be queued for a message to be delivered:
storing it is enough. What is left here is waking them at once instead of at their next look:
a `NOTIFY` on `PENDING_CHANNEL`, sent by the same statement or transaction that stored the
message, so Postgres delivers it at the commit, when the message is visible. A notification
that is lost (no worker listening, a reconnect) costs latency, never a message.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.bridge.messages import NewConversation, NewMessage
from app.crypto import SecretBox
from app.db import sealed

# The channel the workers LISTEN on; the payload is empty (they look for themselves).
PENDING_CHANNEL = "switchboard_pending"

_NOTIFY = text(f"SELECT pg_notify('{PENDING_CHANNEL}', '')")


async def wake_delivery(session: AsyncSession) -> None:
    """Wake the workers when this session's transaction commits (it stored or re-opened
    something to deliver)."""
    await session.execute(_NOTIFY)


# --- The ingest hot path: one prepared asyncpg statement per message ----------------------
#
# Each statement is its own transaction (`app.db.session.on_driver`), and does in one round
# trip what ingest needs: check that the tenant is still at the version the web's cache read
# (`app.tenants.cache`; nothing is stored for a stale one), upsert the conversation (or, for
# a plain thread reply, only touch it if it is live), insert the message unless a unique
# constraint says it is a duplicate, and wake the workers if it stored one (see the module's
# docstring).

_NAMED = re.compile(r"(?<!:):([a-z_]+)")


@dataclass(frozen=True)
class Prepared:
    """SQL written with `:name` parameters, numbered once for asyncpg (`$1`...)."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, sql: str) -> Prepared:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        return cls(_NAMED.sub(number, sql), tuple(names))

    def args(self, values: dict[str, Any]) -> list[Any]:
        return [values[name] for name in self.names]


_CURRENT_TENANT = "SELECT id FROM tenant WHERE id = CAST(:tenant_id AS uuid) AND version = :version"

# How stale `conversation.last_activity_at` may get before a message writes it again. Its
# readers work in hours (the live-thread window, conversation-end polling, retention), and not
# rewriting the row for every message saves a row version and its WAL per message.
TOUCH_AFTER = "interval '1 minute'"

# The conversation's CTEs for a message that may start one: upsert, but leave an existing row
# alone unless it is stale or an agent message names a new Genesys conversation; `conv` then
# reads it instead. That read sees the statement's snapshot, so a conversation created by a
# concurrent message that committed after this statement began is not found:
# `store_message` runs the statement once more in that case.
_UPSERT_CONVERSATION = f"""
    upserted AS (
        INSERT INTO conversation (id, tenant_id, conversation_key, kind, slack_channel_id,
                                  slack_thread_ts, slack_user_id, genesys_integration_id,
                                  genesys_conversation_id)
        SELECT CAST(:new_conversation_id AS uuid), ok.id, :conversation_key, :conversation_kind,
               :slack_channel_id, :slack_thread_ts, :slack_user_id, :genesys_integration_id,
               CAST(:genesys_conversation_id AS text)
        FROM ok
        ON CONFLICT (tenant_id, conversation_key) DO UPDATE SET
            last_activity_at = now(),
            -- An agent message names its Genesys conversation; a redelivery changes nothing.
            genesys_conversation_id = CASE
                WHEN EXCLUDED.genesys_conversation_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM bridge_message b
                    WHERE b.tenant_id = EXCLUDED.tenant_id AND b.direction = :direction
                      AND b.dedupe_key = :dedupe_key)
                THEN EXCLUDED.genesys_conversation_id
                ELSE conversation.genesys_conversation_id
            END
        WHERE conversation.last_activity_at < now() - {TOUCH_AFTER}
           OR EXCLUDED.genesys_conversation_id IS DISTINCT FROM conversation.genesys_conversation_id
              AND EXCLUDED.genesys_conversation_id IS NOT NULL
        RETURNING id
    ), conv AS (
        SELECT id FROM upserted
        UNION ALL
        SELECT c.id FROM conversation c
        WHERE c.tenant_id = (SELECT id FROM ok) AND c.conversation_key = :conversation_key
          AND NOT EXISTS (SELECT 1 FROM upserted)
    )
"""

# A plain reply in a thread is forwarded only while its thread is live (`LIVE_THREAD_WINDOW`).
_TOUCH_LIVE_CONVERSATION = f"""
    live AS (
        SELECT c.id, c.last_activity_at FROM conversation c
        WHERE c.tenant_id = (SELECT id FROM ok) AND c.conversation_key = :conversation_key
          AND c.last_activity_at > now() - make_interval(hours => :live_hours)
    ), touched AS (
        UPDATE conversation SET last_activity_at = now()
        WHERE id IN (SELECT id FROM live WHERE last_activity_at < now() - {TOUCH_AFTER})
        RETURNING id
    ), conv AS (
        SELECT id FROM live
    )
"""

_STORE_MESSAGE = """
    WITH ok AS ({current}), {conversation}, msg AS (
        INSERT INTO bridge_message (tenant_id, conversation_id, direction, kind, dedupe_key,
                                    slack_event_id, slack_client_msg_id, genesys_message_id,
                                    status, payload_enc, normalized_enc, source_ts, trace_id)
        SELECT CAST(:tenant_id AS uuid), conv.id, :direction, :kind, :dedupe_key,
               :slack_event_id, :slack_client_msg_id, :genesys_message_id, 'pending',
               CAST(:payload AS text), CAST(:normalized AS text), :source_ts, :trace_id
        FROM conv
        ON CONFLICT DO NOTHING
        RETURNING conversation_id
    ), woken AS (
        SELECT pg_notify('{channel}', '') FROM msg
    )
    SELECT EXISTS (SELECT 1 FROM ok) AS current, EXISTS (SELECT 1 FROM conv) AS conversation,
           EXISTS (SELECT 1 FROM msg) AS stored, (SELECT count(*) FROM woken) AS woken
"""

STORE_IN_CONVERSATION = Prepared.of(
    _STORE_MESSAGE.format(
        current=_CURRENT_TENANT, conversation=_UPSERT_CONVERSATION, channel=PENDING_CHANNEL
    )
)
STORE_IN_LIVE_THREAD = Prepared.of(
    _STORE_MESSAGE.format(
        current=_CURRENT_TENANT, conversation=_TOUCH_LIVE_CONVERSATION, channel=PENDING_CHANNEL
    )
)

# What is kept but never delivered (typing, Genesys' own receipts): no conversation, no wake.
STORE_RECORDED = Prepared.of(
    f"""
    WITH ok AS ({_CURRENT_TENANT}), msg AS (
        INSERT INTO bridge_message (tenant_id, direction, kind, dedupe_key, status,
                                    payload_enc, source_ts)
        SELECT ok.id, :direction, :kind, :dedupe_key, 'recorded', CAST(:payload AS text),
               :source_ts
        FROM ok
        ON CONFLICT DO NOTHING
        RETURNING id
    )
    SELECT EXISTS (SELECT 1 FROM ok) AS current, TRUE AS conversation,
           EXISTS (SELECT 1 FROM msg) AS stored, 0 AS woken
    """
)


@dataclass(frozen=True)
class Stored:
    """What one ingest statement did. `current` False: the tenant changed since the cache
    read it, and nothing was written."""

    current: bool
    conversation: bool
    stored: bool


async def store_message(
    connection: asyncpg.Connection[Any],
    *,
    box: SecretBox,
    version: int,
    message: NewMessage,
    conversation: NewConversation | None,
    live_only: bool = False,
    live_hours: int = 72,
    genesys_conversation_id: str | None = None,
) -> Stored:
    """Store one inbound message for delivery, or record it (`conversation` None, the
    message's status is ignored: it is kept as "recorded"). Its payload is sealed with `box`.

    With `live_only` the conversation is not created, only touched if it was active within
    `live_hours`; `conversation` in the answer says whether it was.
    """
    values: dict[str, Any] = {
        "tenant_id": message.tenant_id,
        "version": version,
        "direction": message.direction.value,
        "kind": message.kind.value,
        "dedupe_key": message.dedupe_key,
        "payload": sealed.seal(
            box, message.payload, tenant_id=message.tenant_id, purpose=sealed.PAYLOAD
        ),
        "source_ts": message.source_ts,
    }
    if conversation is None:
        statement = STORE_RECORDED
    else:
        statement = STORE_IN_LIVE_THREAD if live_only else STORE_IN_CONVERSATION
        values |= {
            "new_conversation_id": uuid.uuid4(),
            "conversation_key": conversation.conversation_key,
            "conversation_kind": conversation.kind,
            "slack_channel_id": conversation.slack_channel_id,
            "slack_thread_ts": conversation.slack_thread_ts,
            "slack_user_id": conversation.slack_user_id,
            "genesys_integration_id": conversation.genesys_integration_id,
            "genesys_conversation_id": genesys_conversation_id,
            "live_hours": live_hours,
            "slack_event_id": message.slack_event_id,
            "slack_client_msg_id": message.slack_client_msg_id,
            "genesys_message_id": message.genesys_message_id,
            "normalized": sealed.seal(
                box, message.normalized, tenant_id=message.tenant_id, purpose=sealed.NORMALIZED
            ),
            "trace_id": message.trace_id,
        }
    row = await connection.fetchrow(statement.sql, *statement.args(values))
    assert row is not None  # the statement always answers one row
    if statement is STORE_IN_CONVERSATION and row["current"] and not row["conversation"]:
        # A concurrent message created the conversation after this statement's snapshot was
        # taken (see `_UPSERT_CONVERSATION`); a new statement sees it.
        row = await connection.fetchrow(statement.sql, *statement.args(values))
        assert row is not None
    return Stored(current=row["current"], conversation=row["conversation"], stored=row["stored"])
