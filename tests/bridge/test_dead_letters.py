"""Dead letters and the workspace's health, as the settings page and the CLI read and change
them, on real Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import dead_letters, normalized, store
from app.bridge.health import get_health
from app.bridge.messages import Direction, Kind, NewConversation, NewMessage, Status
from app.bridge.routing import SlackConversationRef, SlackMessage
from app.db.models import AuditEvent, BridgeMessage
from tests.factories import make_tenant


async def dead_message(
    session: AsyncSession, *, tenant_id: uuid.UUID, text_: str, key: str, dead: bool = True
) -> int:
    conversation_id = await store.upsert_conversation(
        session,
        tenant_id=tenant_id,
        conversation=NewConversation(
            conversation_key=key, kind="thread", slack_channel_id="C0SUPPORT", slack_thread_ts="1.2"
        ),
    )
    stored = normalized.from_slack(
        SlackMessage(
            kind="message",
            conversation=SlackConversationRef.thread(
                slack_scope_id="T0ACME", slack_channel_id="C0SUPPORT", slack_thread_ts="1.2"
            ),
            slack_team_id="T0ACME",
            slack_enterprise_id=None,
            slack_channel_id="C0SUPPORT",
            slack_user_id="U0ALAN",
            text=text_,
            ts="1.2",
            thread_ts=None,
            occurred_ts="1.2",
        )
    )
    message_id = await store.insert_message(
        session,
        NewMessage(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            direction=Direction.TO_GENESYS,
            kind=Kind.MESSAGE,
            dedupe_key=key,
            payload={},
            normalized=stored,
            source_ts=datetime.now(UTC),
            status=Status.DEAD if dead else Status.PENDING,
        ),
    )
    assert message_id is not None
    await store.mark(session, message_id=message_id, values={"last_error": "GenesysRejected:400"})
    return message_id


async def test_a_preview_is_short_and_only_from_the_parsed_message(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        long_id = await dead_message(session, tenant_id=tenant.id, text_="word " * 40, key="k-long")
        short_id = await dead_message(session, tenant_id=tenant.id, text_="  two\nlines ", key="k2")
        listed = {d.id: d for d in await dead_letters.list_for_tenant(session, tenant_id=tenant.id)}
    assert len(listed[long_id].preview) == dead_letters.PREVIEW_CHARS
    assert listed[long_id].preview.endswith("…")
    assert listed[short_id].preview == "two lines"
    assert listed[short_id].reason == "GenesysRejected:400"
    assert listed[short_id].slack_channel_id == "C0SUPPORT"


async def test_replay_and_discard_touch_only_the_named_tenant_and_are_audited(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        acme = await make_tenant(session)
        globex = await make_tenant(session)
        acme_dead = await dead_message(session, tenant_id=acme.id, text_="a", key="acme-1")
        globex_dead = await dead_message(session, tenant_id=globex.id, text_="g", key="globex-1")

        refused = await dead_letters.replay(
            session, message_ids=[globex_dead], tenant_id=acme.id, actor_slack_user_id="U0ADA"
        )
        assert (refused.messages, refused.conversations) == (0, 0)
        assert (
            await dead_letters.discard(session, message_ids=[globex_dead], tenant_id=acme.id) == 0
        )

        replayed = await dead_letters.replay(
            session, message_ids=[acme_dead], tenant_id=acme.id, actor_slack_user_id="U0ADA"
        )
        assert (replayed.messages, replayed.conversations) == (1, 1)
        row = await session.get(BridgeMessage, acme_dead, populate_existing=True)
        assert row is not None and row.status == Status.PENDING and row.attempts == 0
        # Due now, so a worker claims its conversation at its next look.
        assert row.next_attempt_at is None

        # The CLI's purge with only ids: the owner's tenant is audited, with no Slack actor.
        assert await dead_letters.discard(session, message_ids=[globex_dead]) == 1
        audit = await session.execute(
            select(AuditEvent.tenant_id, AuditEvent.action, AuditEvent.actor_slack_user_id)
            .where(AuditEvent.tenant_id.in_([acme.id, globex.id]))
            .order_by(AuditEvent.action)
        )
        assert audit.all() == [
            (globex.id, "deadletter.discarded", None),
            (acme.id, "deadletter.replayed", "U0ADA"),
        ]


async def test_health_counts_what_waits_and_when_each_way_last_delivered(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        other = await make_tenant(session)
        empty = await get_health(session, tenant_id=tenant.id)
        assert (empty.last_to_genesys_at, empty.last_to_slack_at, empty.waiting) == (None, None, 0)
        first = await dead_message(session, tenant_id=tenant.id, text_="a", key="w1", dead=False)
        await dead_message(session, tenant_id=tenant.id, text_="b", key="w2", dead=False)
        await dead_message(session, tenant_id=tenant.id, text_="c", key="d1")
        await dead_message(session, tenant_id=other.id, text_="x", key="o1", dead=False)
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        await session.execute(
            update(BridgeMessage).where(BridgeMessage.id == first).values(created_at=an_hour_ago)
        )
        delivered = await dead_message(session, tenant_id=tenant.id, text_="d", key="s1")
        await store.mark(
            session,
            message_id=delivered,
            values={"status": Status.DELIVERED.value, "delivered_at": an_hour_ago},
        )
        health = await get_health(session, tenant_id=tenant.id)
    assert health.waiting == 2
    assert health.dead == 1
    assert health.oldest_waiting_since == an_hour_ago
    assert health.last_to_genesys_at == an_hour_ago
    assert health.last_to_slack_at is None
    assert health.refused == []
