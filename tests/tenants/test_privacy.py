"""Retention in batches: old delivered, recorded and dead rows go, pending rows never do, and
the audit holds counts only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import sealed
from app.db.models import AuditEvent, BridgeMessage, Conversation
from app.tenants import privacy
from tests.factories import make_tenant

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


async def seed(sessions: Sessions) -> tuple[uuid.UUID, dict[str, int]]:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        box = sealed.box_of(session.info)
        conversation = uuid.uuid4()
        await session.execute(
            insert(Conversation).values(
                id=conversation,
                tenant_id=tenant.id,
                conversation_key=f"{tenant.slack_team_id}:U1",
                kind="dm",
                slack_user_id="U1",
                last_activity_at=NOW - timedelta(days=40),
            )
        )
        ids: dict[str, int] = {}
        for name, status, age in (
            ("old-1", "delivered", 40),
            ("old-2", "delivered", 35),
            ("old-3", "delivered", 31),
            ("old-receipt", "recorded", 31),
            ("old-dead", "dead", 31),
            ("old-pending", "pending", 60),
            ("young", "delivered", 2),
            ("young-dead", "dead", 29),
        ):
            ids[name] = (
                await session.execute(
                    insert(BridgeMessage)
                    .values(
                        tenant_id=tenant.id,
                        conversation_id=None if status == "recorded" else conversation,
                        direction="to_genesys",
                        kind="message",
                        dedupe_key=name,
                        status=status,
                        payload_enc=sealed.seal(
                            box, {"n": name}, tenant_id=tenant.id, purpose=sealed.PAYLOAD
                        ),
                        source_ts=NOW,
                        created_at=NOW - timedelta(days=age),
                    )
                    .returning(BridgeMessage.id)
                )
            ).scalar_one()
    return tenant.id, ids


async def test_retention_deletes_in_batches_and_never_pending(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privacy, "BATCH", 2)
    tenant_id, _ = await seed(sessions)

    deleted = await privacy.apply_retention(sessions, now=NOW)

    async with sessions() as session:
        left = set(
            (
                await session.execute(
                    select(BridgeMessage.dedupe_key).where(BridgeMessage.tenant_id == tenant_id)
                )
            ).scalars()
        )
        conversations = (
            await session.execute(
                select(Conversation.id).where(Conversation.tenant_id == tenant_id)
            )
        ).all()
        audits = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.fields).where(
                    AuditEvent.tenant_id == tenant_id
                )
            )
        ).all()
    assert left == {"old-pending", "young", "young-dead"}
    assert deleted.messages == 5 and deleted.conversations == 0  # it still has messages
    assert len(conversations) == 1
    assert [(a, list(f)) for a, f in audits] == [
        ("privacy.retention_applied", ["messages:5", "conversations:0"])
    ]
    # A second run finds nothing and records nothing.
    again = await privacy.apply_retention(sessions, now=NOW)
    assert (again.messages, again.conversations) == (0, 0)


def test_retention_days_are_parsed_strictly() -> None:
    assert privacy.parse_retention_days(" 30 ") == 30
    for bad in ("2", "3651", "-5", "abc", "", "3.5", None):
        with pytest.raises(privacy.InvalidRetention):
            privacy.parse_retention_days(bad)
