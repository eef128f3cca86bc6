"""Delivery with fakes at the ports, on real Postgres: the access check before the Genesys
send, and the failure DM on a streak of retryable failures (at most one an hour)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge.access import REFUSED_TEXT
from app.bridge.delivery import Delivery
from app.bridge.failure_alert import FAILURE_STREAK
from app.bridge.file_links import FileLinks
from app.bridge.messages import Kind, Status
from app.bridge.retries import RetryLater
from app.crypto import SecretBox
from app.db.models import BridgeMessage, Conversation, Tenant
from app.genesys.errors import GenesysUnavailable
from tests.bridge.conftest import Onboarded
from tests.bridge.test_delivery import a_mention, flush, reread
from tests.fakes import FakeGenesys, FakeSlack, FakeTokens

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def slack() -> FakeSlack:
    return FakeSlack()


@pytest.fixture
def genesys() -> FakeGenesys:
    return FakeGenesys()


@pytest.fixture
def delivery(
    sessions: Sessions, box: SecretBox, slack: FakeSlack, genesys: FakeGenesys
) -> Delivery:
    return Delivery(
        sessions=sessions,
        box=box,
        slack=slack,
        genesys=genesys,
        file_links=FileLinks.from_keys(box, base_url="https://sb.test"),
        tokens=FakeTokens(),
        setup_url="https://sb.test/onboarding",
    )


async def set_tenant(sessions: Sessions, onboarded: Onboarded, **values: object) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(Tenant).where(Tenant.id == onboarded.tenant.id).values(**values)
        )


async def test_a_guest_is_refused_before_genesys_and_answered_once(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    slack: FakeSlack,
    genesys: FakeGenesys,
) -> None:
    await set_tenant(sessions, onboarded, request_policy="members")
    slack.guests.add("U0JANE")
    row = await a_mention(sessions, box)

    assert await flush(delivery, row) == 1

    assert genesys.sent == []
    refused = await reread(sessions, row.id)
    assert (refused.status, refused.last_error) == (Status.REFUSED, "refused:guest")
    assert slack.ephemeral == [("C0SUPPORT", "U0JANE", REFUSED_TEXT)]


async def test_a_failure_streak_sends_one_dm_an_hour(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    genesys: FakeGenesys,
) -> None:
    await set_tenant(sessions, onboarded, failure_alert=True)
    row = await a_mention(sessions, box)
    for _ in range(FAILURE_STREAK + 2):
        genesys.failures.append(GenesysUnavailable("503 from Genesys", status=503))
        with pytest.raises(RetryLater):
            await flush(delivery, row)
        await set_tenant_next_attempt_now(sessions, row.id)

    async with sessions() as session:
        alerts = (
            await session.execute(
                select(BridgeMessage, Conversation)
                .join(Conversation, Conversation.id == BridgeMessage.conversation_id)
                .where(BridgeMessage.dedupe_key.like("failure_alert:%"))
            )
        ).all()
        stamped = await session.scalar(
            select(Tenant.failure_alert_at).where(Tenant.id == onboarded.tenant.id)
        )
    assert len(alerts) == 1
    [(alert, conversation)] = alerts
    assert alert.kind == Kind.NOTICE
    assert "https://sb.test/onboarding#failures" in str(alert.payload["text"])
    assert (conversation.kind, conversation.slack_user_id) == (
        "dm",
        onboarded.installation.installer_slack_user_id,
    )
    assert stamped is not None


async def set_tenant_next_attempt_now(sessions: Sessions, message_id: int) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(BridgeMessage).where(BridgeMessage.id == message_id).values(next_attempt_at=None)
        )
