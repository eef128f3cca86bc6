"""The worker's common path in SQL: what one flush reads and what one delivery writes.

Each statement is prepared once per connection and runs on the pooled connection's asyncpg
driver (`app.db.session.on_driver`), so it is its own transaction and costs one round trip,
with no ORM unit of work, statement compilation or cache key in between:

- `read_flush`: the conversation, the tenant's version, whether it can be delivered to, the
  integration the tenant has chosen now for that kind of conversation, and the next batch of
  pending messages, oldest first;
- `write_delivered`: the message delivered, the conversation moved (only when the outcome
  changed it) and the agent's Delivered receipt queued (only for an agent's message);
- `write_settled`, `write_progress`, `write_dead`: a retry's attempt, a part Genesys took, the
  messages of a tenant that can no longer be delivered to.

Rows are sealed at rest (`app.db.sealed`): a message is opened here with the flush's box, and
a receipt sealed with it. What is the same for every message of a tenant (its row, its
installation, the decrypted bot token, its routing rules) is kept per process by
`TenantEntries`, keyed by the tenant's `version` that `read_flush` returns: a change on the
settings page bumps it (triggers, migrations c2a1_tenant_version and e1a1_worker_core), so the
next flush reads the tenant again. The rare paths (a dead letter, a refusal, a notice and its
retraction) stay on the ORM in `app.bridge.outcomes`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import rules, store
from app.bridge.messages import NewMessage, Status
from app.bridge.queueing import Prepared
from app.crypto import SecretBox
from app.db import sealed
from app.db.models import BridgeMessage, Conversation, SlackInstallation, Tenant, TenantStatus
from app.tenants.purposes import SLACK_BOT_TOKEN

# Past it the oldest entries go first. An entry (two detached ORM rows, the token, the rules)
# takes about 3.4 kB, so the cap bounds the cache at about 34 MB of a worker's memory.
MAX_TENANTS = 10_000


def _columns(model: Any) -> tuple[tuple[str, str], ...]:
    """(attribute, column) of every column of a mapped class, so a new column is read too."""
    return tuple((attr.key, attr.columns[0].name) for attr in inspect(model).column_attrs)


_CONVERSATION = _columns(Conversation)
_MESSAGE = _columns(BridgeMessage)
# Legacy rows keep their JSON in these plaintext columns (`app.db.sealed`).
_PLAIN_JSON = ("payload_plain", "normalized_plain")

READ_FLUSH = Prepared.of(
    f"""
    WITH ctx AS MATERIALIZED (
        SELECT t.version AS t_version,
               t.status = '{TenantStatus.ACTIVE.value}' AND i.bot_token_enc IS NOT NULL
                   AS t_deliverable,
               (SELECT g.genesys_integration_id FROM genesys_integration g
                WHERE g.tenant_id = t.id
                  AND CASE WHEN c.kind = 'dm' THEN g.for_dms ELSE g.for_mentions END
                ORDER BY g.genesys_integration_id LIMIT 1) AS t_chosen,
               {", ".join(f"c.{column} AS c_{column}" for _, column in _CONVERSATION)}
        FROM tenant t
        JOIN slack_installation i ON i.tenant_id = t.id
        JOIN conversation c ON c.tenant_id = t.id AND c.id = CAST(:conversation_id AS uuid)
        WHERE t.id = CAST(:tenant_id AS uuid)
    )
    SELECT ctx.*, m.* FROM (SELECT 1) AS one
    LEFT JOIN ctx ON TRUE
    LEFT JOIN LATERAL (
        SELECT {", ".join(f"{column} AS m_{column}" for _, column in _MESSAGE)}
        FROM bridge_message
        WHERE conversation_id = CAST(:conversation_id AS uuid)
          AND status = '{Status.PENDING.value}'
        ORDER BY source_ts, id
        LIMIT :limit
    ) AS m ON TRUE
    ORDER BY m.m_source_ts, m.m_id
    """
)

WRITE_SETTLED = Prepared.of(
    """
    UPDATE bridge_message
    SET status = :status, last_error = :error, next_attempt_at = :next_attempt_at,
        rate_limited = COALESCE(CAST(:rate_limited AS integer), rate_limited),
        attempts = COALESCE(CAST(:attempts AS integer), attempts)
    WHERE id = :message_id
    """
)

WRITE_PROGRESS = Prepared.of(
    """
    UPDATE bridge_message
    SET parts_sent = :parts_sent,
        genesys_message_id = COALESCE(CAST(:genesys_message_id AS text), genesys_message_id)
    WHERE id = :message_id
    """
)

WRITE_DEAD = Prepared.of(
    f"""
    UPDATE bridge_message
    SET status = '{Status.DEAD.value}', last_error = :error, next_attempt_at = NULL
    WHERE id = ANY(CAST(:message_ids AS bigint[]))
    """
)


@dataclass
class FlushBatch:
    """What `read_flush` found. `version` is None when the tenant, its installation or the
    conversation is gone; `deliverable` False when the tenant is not active or has no token."""

    rows: list[BridgeMessage]
    version: int | None = None
    deliverable: bool = False
    conversation: Conversation | None = None
    integration_id: str | None = None


def _message(record: asyncpg.Record, box: SecretBox) -> BridgeMessage:
    values = {key: record[f"m_{column}"] for key, column in _MESSAGE}
    for key in _PLAIN_JSON:
        if isinstance(values[key], str | bytes):
            values[key] = orjson.loads(values[key])
    row = BridgeMessage(**values)
    sealed.open_loaded(row, {sealed.BOX: box})
    return row


async def read_flush(
    connection: asyncpg.Connection[Any],
    *,
    box: SecretBox,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    limit: int,
) -> FlushBatch:
    """One round trip: the flush's context and up to `limit` pending rows in delivery order."""
    records = await connection.fetch(
        READ_FLUSH.sql,
        *READ_FLUSH.args(
            {"tenant_id": tenant_id, "conversation_id": conversation_id, "limit": limit}
        ),
    )
    rows = [_message(record, box) for record in records if record["m_id"] is not None]
    first = records[0]
    if first["t_version"] is None:
        return FlushBatch(rows)
    conversation = Conversation(**{key: first[f"c_{column}"] for key, column in _CONVERSATION})
    return FlushBatch(
        rows,
        version=first["t_version"],
        deliverable=first["t_deliverable"],
        conversation=conversation,
        integration_id=first["t_chosen"],
    )


async def write_settled(
    connection: asyncpg.Connection[Any],
    *,
    message_id: int,
    status: Status,
    error: str | None,
    next_attempt_at: datetime | None,
    rate_limited: int | None,
    attempts: int | None,
) -> None:
    await connection.execute(
        WRITE_SETTLED.sql,
        *WRITE_SETTLED.args(
            {
                "message_id": message_id,
                "status": status.value,
                "error": error,
                "next_attempt_at": next_attempt_at,
                "rate_limited": rate_limited,
                "attempts": attempts,
            }
        ),
    )


async def write_progress(
    connection: asyncpg.Connection[Any],
    *,
    message_id: int,
    parts_sent: int,
    genesys_message_id: str | None,
) -> None:
    await connection.execute(
        WRITE_PROGRESS.sql,
        *WRITE_PROGRESS.args(
            {
                "message_id": message_id,
                "parts_sent": parts_sent,
                "genesys_message_id": genesys_message_id,
            }
        ),
    )


async def write_dead(
    connection: asyncpg.Connection[Any], *, message_ids: Sequence[int], error: str
) -> None:
    await connection.execute(
        WRITE_DEAD.sql, *WRITE_DEAD.args({"message_ids": list(message_ids), "error": error})
    )


# --- The outcome of a delivered message, in one statement ---------------------------------

_DELIVERED: dict[tuple[tuple[str, ...], tuple[str, ...]], Prepared] = {}


def _delivered_statement(moved: tuple[str, ...], receipt: tuple[str, ...]) -> Prepared:
    """The statement for this shape of outcome, built once. The conversation is updated
    first, as ingest does (it upserts the conversation before inserting a message): the
    message's UPDATE reads the conversation's CTE in an InitPlan, which runs before it."""
    key = (moved, receipt)
    found = _DELIVERED.get(key)
    if found is not None:
        return found
    ctes = []
    if moved:
        sets = ", ".join(f"{column} = :c_{column}" for column in moved)
        ctes.append(
            f"conv AS (UPDATE conversation SET {sets} "
            "WHERE id = CAST(:conversation_id AS uuid) RETURNING id)"
        )
    if receipt:
        columns = ", ".join(receipt)
        values = ", ".join(f":r_{column}" for column in receipt)
        ctes.append(
            f"receipt AS (INSERT INTO bridge_message ({columns}) VALUES ({values}) "
            "ON CONFLICT DO NOTHING RETURNING id, created_at)"
        )
    first = " AND (SELECT count(*) FROM conv) >= 0" if moved else ""
    # The statement's snapshot still shows this message pending, and not the receipt.
    others = f"""EXISTS (
            SELECT 1 FROM bridge_message AS other
            WHERE other.conversation_id = CAST(:conversation_id AS uuid)
              AND other.status = '{Status.PENDING.value}' AND other.id <> :message_id)"""
    queued = (
        "(SELECT id FROM receipt), (SELECT created_at FROM receipt)"
        if receipt
        else "CAST(NULL AS bigint), CAST(NULL AS timestamptz)"
    )
    sql = f"""
        {"WITH " + ", ".join(ctes) if ctes else ""}
        UPDATE bridge_message
        SET status = '{Status.DELIVERED.value}', delivered_at = :delivered_at,
            last_error = NULL, next_attempt_at = NULL, attempts = :attempts,
            parts_sent = :parts_sent,
            genesys_message_id = COALESCE(CAST(:genesys_message_id AS text), genesys_message_id),
            slack_ts = COALESCE(CAST(:slack_ts AS text), slack_ts)
        WHERE id = :message_id{first}
        RETURNING {others} AS others, {queued}
    """
    found = _DELIVERED[key] = Prepared.of(sql)
    return found


@dataclass(frozen=True)
class Delivered:
    """What `write_delivered` left behind: whether other messages of the conversation were
    pending then, and the receipt it queued (None if none, or one was already there)."""

    others: bool
    receipt: BridgeMessage | None = None


async def write_delivered(
    connection: asyncpg.Connection[Any],
    *,
    box: SecretBox,
    message_id: int,
    conversation_id: uuid.UUID,
    delivered_at: datetime,
    attempts: int,
    parts_sent: int,
    genesys_message_id: str | None,
    slack_ts: str | None,
    moved: dict[str, Any],
    receipt: NewMessage | None,
) -> Delivered:
    """The message delivered, its conversation moved and its receipt queued, or none of it.

    When nothing else was pending, the flush needs no other read: it sends the receipt it
    queued (the conversation's only pending message), or it is done, as anything stored
    later has a job of its own."""
    values: dict[str, Any] = {
        "message_id": message_id,
        "conversation_id": conversation_id,
        "delivered_at": delivered_at,
        "attempts": attempts,
        "parts_sent": parts_sent,
        "genesys_message_id": genesys_message_id,
        "slack_ts": slack_ts,
    }
    values |= {f"c_{column}": value for column, value in moved.items()}
    receipt_values: dict[str, Any] = {}
    if receipt is not None:
        receipt_values = store.sealed_values(box, receipt)
        values |= {f"r_{column}": value for column, value in receipt_values.items()}
    statement = _delivered_statement(tuple(sorted(moved)), tuple(sorted(receipt_values)))
    found = await connection.fetchrow(statement.sql, *statement.args(values))
    if found is None:
        # The message was no longer there (erased meanwhile): let the flush read again.
        return Delivered(others=True)
    others, receipt_id, created_at = found
    if receipt is None or receipt_id is None:
        return Delivered(others=others)
    row = BridgeMessage(
        **receipt_values,
        id=receipt_id,
        created_at=created_at,
        attempts=0,
        rate_limited=0,
        parts_sent=0,
    )
    row.__dict__[sealed.OPENED_PAYLOAD] = receipt.payload
    row.__dict__[sealed.OPENED_NORMALIZED] = receipt.normalized
    return Delivered(others=others, receipt=row)


# --- What is the same for every message of a tenant, kept per process ----------------------


@dataclass(frozen=True)
class TenantEntry:
    """A tenant as of `version`. Shared by every flush of the tenant: never changed."""

    version: int
    tenant: Tenant
    installation: SlackInstallation
    token: str | None
    rules: list[rules.Rule]


class TenantEntries:
    """Per process, read again whenever the tenant's version moved (`read_flush` says)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        max_entries: int = MAX_TENANTS,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._max_entries = max_entries
        self._entries: dict[uuid.UUID, TenantEntry] = {}

    async def get(self, tenant_id: uuid.UUID, *, version: int) -> TenantEntry | None:
        entry = self._entries.get(tenant_id)
        if entry is not None and entry.version == version:
            return entry
        entry = await self._read(tenant_id)
        self._entries.pop(tenant_id, None)
        if entry is None:
            return None
        self._entries[tenant_id] = entry
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]
        return entry

    async def _read(self, tenant_id: uuid.UUID) -> TenantEntry | None:
        """The rare path (once per change of the tenant), through the ORM: the rows come out
        detached, with every column loaded."""
        query = (
            select(Tenant, SlackInstallation)
            .join(SlackInstallation, SlackInstallation.tenant_id == Tenant.id)
            .where(Tenant.id == tenant_id)
        )
        async with self._sessions() as session:
            found = (await session.execute(query)).first()
            if found is None:
                return None
            tenant, installation = found
            tenant_rules = await store.routing_rules(session, tenant_id=tenant_id)
        token = (
            self._box.decrypt(
                installation.bot_token_enc, tenant_id=tenant_id, purpose=SLACK_BOT_TOKEN
            )
            if installation.bot_token_enc is not None
            else None
        )
        return TenantEntry(tenant.version, tenant, installation, token, tenant_rules)
