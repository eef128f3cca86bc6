"""The worker's statements on the driver (`app.bridge.flush_store`), on real Postgres: what a
flush reads in one round trip, what a delivered message writes in one, and the per-process
tenant entries that follow the tenant's version (routing rules included)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import flush_store
from app.bridge.delivery import Delivery
from app.bridge.end_chat import END_CHAT_ACTION
from app.bridge.file_links import FileLinks
from app.bridge.ingest import Ingest
from app.bridge.messages import Direction, IngestOutcomeKind, Kind, NewMessage, Status
from app.crypto import SecretBox
from app.db.models import BridgeMessage, Conversation, RoutingRule, Tenant, TenantStatus
from app.db.session import on_driver
from tests.bridge.conftest import WEBHOOK_SECRET, Onboarded
from tests.bridge.test_ingest import ROOT_TS, agent_text, envelope, mention, reply, webhook
from tests.factories import make_installation, make_integration, make_tenant
from tests.fakes import FakeGenesys, FakeSlack

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def genesys() -> FakeGenesys:
    return FakeGenesys()


@pytest.fixture
def delivery(sessions: Sessions, box: SecretBox, genesys: FakeGenesys) -> Delivery:
    return Delivery(
        sessions=sessions,
        box=box,
        slack=FakeSlack(),
        genesys=genesys,
        file_links=FileLinks.from_keys(box, base_url="https://sb.test"),
    )


async def ingest(sessions: Sessions, box: SecretBox, event: dict[str, Any]) -> BridgeMessage:
    outcome = await Ingest(sessions=sessions, box=box).slack_event(envelope(event))
    assert outcome.kind == IngestOutcomeKind.ACCEPTED
    async with sessions() as session:
        query = select(BridgeMessage).order_by(BridgeMessage.id.desc()).limit(1)
        return (await session.execute(query)).scalar_one()


async def read(
    sessions: Sessions, box: SecretBox, row: BridgeMessage, *, limit: int = 50
) -> flush_store.FlushBatch:
    assert row.conversation_id is not None
    return await on_driver(
        sessions,
        partial(
            flush_store.read_flush,
            box=box,
            tenant_id=row.tenant_id,
            conversation_id=row.conversation_id,
            limit=limit,
        ),
    )


async def version_of(sessions: Sessions, tenant_id: uuid.UUID) -> int:
    async with sessions() as session:
        found = await session.scalar(select(Tenant.version).where(Tenant.id == tenant_id))
    assert found is not None
    return found


async def test_one_read_gives_the_context_and_the_pending_rows_in_order_opened(
    sessions: Sessions, box: SecretBox, onboarded: Onboarded
) -> None:
    first = await ingest(sessions, box, mention())
    second = await ingest(sessions, box, reply())

    batch = await read(sessions, box, first)

    assert [row.id for row in batch.rows] == [first.id, second.id]
    assert [row.normalized["text"] for row in batch.rows if row.normalized] == [
        "my order never arrived",
        "any news?",
    ]
    assert batch.rows[0].payload == first.payload
    assert batch.version == await version_of(sessions, onboarded.tenant.id)
    assert batch.deliverable
    assert batch.integration_id == onboarded.integration.genesys_integration_id
    assert batch.conversation is not None
    assert batch.conversation.id == first.conversation_id
    assert batch.conversation.kind == "thread"
    # The limit applies to the rows, oldest first.
    assert [row.id for row in (await read(sessions, box, first, limit=1)).rows] == [first.id]


async def test_a_row_from_before_sealing_is_read_from_its_plaintext(
    sessions: Sessions, box: SecretBox, onboarded: Onboarded
) -> None:
    row = await ingest(sessions, box, mention())
    async with sessions.begin() as session:
        await session.execute(
            update(BridgeMessage)
            .where(BridgeMessage.id == row.id)
            .values(
                payload_plain=row.payload,
                normalized_plain=row.normalized,
                payload_enc=None,
                normalized_enc=None,
            )
        )

    [legacy] = (await read(sessions, box, row)).rows

    assert (legacy.payload, legacy.normalized) == (row.payload, row.normalized)


async def test_a_delivered_write_queues_the_receipt_moves_the_conversation_and_says_what_is_left(
    sessions: Sessions, box: SecretBox, onboarded: Onboarded
) -> None:
    first = await ingest(sessions, box, mention())
    second = await ingest(sessions, box, reply())
    assert first.conversation_id is not None
    receipt = NewMessage(
        tenant_id=first.tenant_id,
        conversation_id=first.conversation_id,
        direction=Direction.TO_GENESYS,
        kind=Kind.RECEIPT,
        dedupe_key="receipt:gm-test",
        payload={"body": {"id": "gm-test"}},
        source_ts=datetime.now(UTC),
    )

    async def delivered(row: BridgeMessage, **kwargs: Any) -> flush_store.Delivered:
        assert row.conversation_id is not None
        values: dict[str, Any] = {"moved": {}, "receipt": None} | kwargs
        return await on_driver(
            sessions,
            partial(
                flush_store.write_delivered,
                box=box,
                message_id=row.id,
                conversation_id=row.conversation_id,
                delivered_at=datetime.now(UTC),
                attempts=1,
                parts_sent=1,
                genesys_message_id="gm-1",
                slack_ts=None,
                **values,
            ),
        )

    # The reply is still pending after the first.
    assert await delivered(first, moved={"genesys_conversation_id": "gc-1"}) == (
        flush_store.Delivered(others=True)
    )
    # Only the receipt it queued is pending after the second: it comes back as the next row.
    after_second = await delivered(second, receipt=receipt)
    assert not after_second.others
    given = after_second.receipt
    assert given is not None
    batch = await read(sessions, box, first)
    [queued] = batch.rows
    assert (queued.kind, queued.dedupe_key, queued.payload) == (
        Kind.RECEIPT,
        "receipt:gm-test",
        {"body": {"id": "gm-test"}},
    )
    assert (given.id, given.kind, given.payload, given.attempts, given.created_at) == (
        queued.id,
        queued.kind,
        queued.payload,
        queued.attempts,
        queued.created_at,
    )
    assert batch.conversation is not None
    assert batch.conversation.genesys_conversation_id == "gc-1"
    # Nothing is left once the receipt is delivered; the same receipt is not queued twice.
    assert await delivered(queued, receipt=receipt) == flush_store.Delivered(others=False)
    async with sessions() as session:
        rows = (
            await session.execute(
                select(BridgeMessage.status, BridgeMessage.attempts, BridgeMessage.parts_sent)
                .where(BridgeMessage.conversation_id == first.conversation_id)
                .order_by(BridgeMessage.id)
            )
        ).all()
    assert rows == [(Status.DELIVERED, 1, 1)] * 3


async def test_routing_rules_bump_the_tenant_version_and_the_next_flush_follows_them(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    genesys: FakeGenesys,
) -> None:
    async with sessions.begin() as session:
        billing = await make_integration(
            session,
            box,
            tenant=onboarded.tenant,
            webhook_secret=WEBHOOK_SECRET,
            mentions=False,
            dms=False,
        )
    first = await ingest(sessions, box, mention())
    assert first.conversation_id is not None
    await delivery.flush(tenant_id=first.tenant_id, conversation_id=first.conversation_id)
    before = await version_of(sessions, onboarded.tenant.id)

    async with sessions.begin() as session:
        session.add(
            RoutingRule(
                tenant_id=onboarded.tenant.id,
                match_kind="channel",
                match_id="C0SUPPORT",
                genesys_integration_id=billing.genesys_integration_id,
                hours_days=[],
            )
        )
    assert await version_of(sessions, onboarded.tenant.id) > before
    second = await ingest(sessions, box, reply())
    await delivery.flush(tenant_id=second.tenant_id, conversation_id=first.conversation_id)

    assert [sent.integration_id for sent in genesys.sent] == [
        onboarded.integration.genesys_integration_id,
        billing.genesys_integration_id,
    ]


async def test_a_tenant_is_read_once_per_version(
    sessions: Sessions, box: SecretBox, onboarded: Onboarded
) -> None:
    tenants = flush_store.TenantEntries(sessions=sessions, box=box)
    version = await version_of(sessions, onboarded.tenant.id)

    entry = await tenants.get(onboarded.tenant.id, version=version)
    assert entry is not None
    assert await tenants.get(onboarded.tenant.id, version=version) is entry
    assert entry.token is not None and entry.rules == []

    async with sessions.begin() as session:
        await session.execute(
            update(Tenant).where(Tenant.id == onboarded.tenant.id).values(ack_reaction=False)
        )
    changed = await tenants.get(
        onboarded.tenant.id, version=await version_of(sessions, onboarded.tenant.id)
    )
    assert changed is not None and changed is not entry
    assert not changed.tenant.ack_reaction


async def test_an_uninstalled_tenants_messages_are_dead_letters(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    genesys: FakeGenesys,
) -> None:
    first = await ingest(sessions, box, mention())
    second = await ingest(sessions, box, reply())
    assert first.conversation_id is not None
    async with sessions.begin() as session:
        await session.execute(
            update(Tenant)
            .where(Tenant.id == onboarded.tenant.id)
            .values(status=TenantStatus.UNINSTALLED.value)
        )

    settled = await delivery.flush(tenant_id=first.tenant_id, conversation_id=first.conversation_id)

    assert settled == 2
    assert genesys.sent == []
    async with sessions() as session:
        rows = (
            await session.execute(
                select(BridgeMessage.status, BridgeMessage.last_error).where(
                    BridgeMessage.id.in_([first.id, second.id])
                )
            )
        ).all()
    assert rows == [(Status.DEAD, "tenant_not_installed")] * 2


async def test_past_its_cap_the_oldest_tenant_is_read_again(
    sessions: Sessions, box: SecretBox, onboarded: Onboarded
) -> None:
    async with sessions.begin() as session:
        other = await make_tenant(session)
        await make_installation(session, box, tenant=other)
    tenants = flush_store.TenantEntries(sessions=sessions, box=box, max_entries=1)
    first_version = await version_of(sessions, onboarded.tenant.id)

    first = await tenants.get(onboarded.tenant.id, version=first_version)
    assert await tenants.get(other.id, version=await version_of(sessions, other.id)) is not None

    again = await tenants.get(onboarded.tenant.id, version=first_version)
    assert again is not None and again is not first
    assert again.version == first_version


async def test_what_a_delivery_learns_about_its_conversation_is_written_with_the_outcome(
    sessions: Sessions, box: SecretBox, onboarded: Onboarded, genesys: FakeGenesys
) -> None:
    genesys.may_end = True
    slack = FakeSlack()
    delivery = Delivery(
        sessions=sessions,
        box=box,
        slack=slack,
        genesys=genesys,
        file_links=FileLinks.from_keys(box, base_url="https://sb.test"),
    )
    ingest_ = Ingest(sessions=sessions, box=box)
    row = await ingest(sessions, box, mention())
    assert row.conversation_id is not None
    await delivery.flush(tenant_id=row.tenant_id, conversation_id=row.conversation_id)
    integration_id = onboarded.integration.genesys_integration_id
    key = f"T0ACME:C0SUPPORT:{ROOT_TS}"
    for genesys_message_id in ("gm-1", "gm-2"):
        await webhook(ingest_, agent_text(integration_id, key, id=genesys_message_id))
        await delivery.flush(tenant_id=row.tenant_id, conversation_id=row.conversation_id)

    async with sessions() as session:
        conversation = await session.get(Conversation, row.conversation_id)
    assert conversation is not None
    # The thread's permalink, fetched for the agent's first message, and End chat offered
    # under the agent's first reply only.
    assert conversation.slack_permalink == (
        f"https://acme.slack.test/archives/C0SUPPORT/p{ROOT_TS.replace('.', '')}"
    )
    assert conversation.end_chat_offered_for == "gc-1"
    offered = [
        any(END_CHAT_ACTION in str(block) for block in (post.blocks or [])) for post in slack.posted
    ]
    assert offered == [True, False]
    # Both receipts went back, each sent straight after its message.
    assert [sent.endpoint for sent in genesys.sent] == ["message", "receipt", "receipt"]
