"""The flush loop with fakes at the ports: what is sent, in what order, what is recorded.

Rows get in through the real `Ingest` (so they carry what ingest parsed), on real Postgres;
Slack and Genesys are `tests.fakes`, which record sends and fail on request.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge.delivery import Delivery
from app.bridge.end_chat import END_CHAT_ACTION
from app.bridge.file_links import FileLinks
from app.bridge.ingest import Ingest
from app.bridge.messages import Direction, IngestOutcomeKind, Kind, Status
from app.bridge.notices import (
    CLOSED_NOTICE,
    END_CHAT_REFUSED_NOTICE,
    SETUP_ALERT_HEADLINE,
    SETUP_PROBLEM_NOTICE,
)
from app.bridge.reactions import ACK_REACTION
from app.bridge.retries import RetryLater
from app.crypto import SecretBox
from app.db import sealed
from app.db.models import BridgeMessage
from app.genesys.errors import GenesysPermissionError, GenesysUnavailable
from app.genesys.messages import InboundAccepted
from app.slack.directory import ThreadMessage
from app.slack.errors import SlackRejected
from app.tenants.genesys_access import GenesysNotConnected
from tests.bridge.conftest import Onboarded
from tests.bridge.test_ingest import REPLY_TS, ROOT_TS, agent_text, envelope, mention, webhook
from tests.fakes import FakeGenesys, FakeSlack, FakeTokens

Sessions = async_sessionmaker[AsyncSession]
THREAD_KEY = f"T0ACME:C0SUPPORT:{ROOT_TS}"


@pytest.fixture
def slack() -> FakeSlack:
    return FakeSlack()


@pytest.fixture
def genesys() -> FakeGenesys:
    return FakeGenesys()


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def delivery(
    sessions: Sessions, box: SecretBox, slack: FakeSlack, genesys: FakeGenesys, tokens: FakeTokens
) -> Delivery:
    return Delivery(
        sessions=sessions,
        box=box,
        slack=slack,
        genesys=genesys,
        tokens=tokens,
        setup_url="https://sb.test/onboarding",
        file_links=FileLinks.from_keys(box, base_url="https://sb.test"),
    )


async def latest(sessions: Sessions) -> BridgeMessage:
    """The row ingest stored last."""
    async with sessions() as session:
        found = await session.execute(
            select(BridgeMessage).order_by(BridgeMessage.id.desc()).limit(1)
        )
        return found.scalar_one()


async def reread(sessions: Sessions, message_id: int) -> BridgeMessage:
    async with sessions() as session:
        row = await session.get(BridgeMessage, message_id, populate_existing=True)
        assert row is not None
        return row


async def a_mention(sessions: Sessions, box: SecretBox) -> BridgeMessage:
    outcome = await Ingest(sessions=sessions, box=box).slack_event(envelope(mention()))
    assert outcome.kind == IngestOutcomeKind.ACCEPTED
    return await latest(sessions)


async def flush(delivery: Delivery, row: BridgeMessage) -> int:
    assert row.conversation_id is not None
    return await delivery.flush(tenant_id=row.tenant_id, conversation_id=row.conversation_id)


async def test_a_customer_message_is_sent_from_what_ingest_parsed(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    genesys: FakeGenesys,
    slack: FakeSlack,
) -> None:
    row = await a_mention(sessions, box)
    # The raw envelope is not read again: delivery works from the parsed form alone.
    async with sessions.begin() as session:
        await session.execute(
            update(BridgeMessage)
            .where(BridgeMessage.id == row.id)
            .values(
                payload_enc=sealed.seal(box, {}, tenant_id=row.tenant_id, purpose=sealed.PAYLOAD)
            )
        )

    assert await flush(delivery, row) == 1

    [sent] = genesys.sent
    assert (sent.endpoint, sent.integration_id) == (
        "message",
        onboarded.integration.genesys_integration_id,
    )
    assert sent.body["text"] == "my order never arrived"
    assert sent.body["channel"]["from"]["id"] == THREAD_KEY
    done = await reread(sessions, row.id)
    assert (done.status, done.genesys_message_id) == (Status.DELIVERED, "gm-1")
    await delivery.reactions.wait_idle()
    assert slack.reactions == [("C0SUPPORT", ROOT_TS, ACK_REACTION)]


async def test_a_row_from_before_parse_once_is_parsed_from_its_envelope(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    genesys: FakeGenesys,
) -> None:
    row = await a_mention(sessions, box)
    async with sessions.begin() as session:
        await session.execute(
            update(BridgeMessage).where(BridgeMessage.id == row.id).values(normalized_enc=None)
        )

    await flush(delivery, row)

    assert [s.body["text"] for s in genesys.sent] == ["my order never arrived"]
    assert (await reread(sessions, row.id)).status == Status.DELIVERED


async def test_a_passing_failure_waits_and_the_next_flush_delivers(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    genesys: FakeGenesys,
) -> None:
    row = await a_mention(sessions, box)
    genesys.failures.append(GenesysUnavailable("503 from Genesys", status=503))

    with pytest.raises(RetryLater) as caught:
        await flush(delivery, row)

    assert caught.value.reason == "GenesysUnavailable"
    waiting = await reread(sessions, row.id)
    assert (waiting.status, waiting.attempts, waiting.last_error) == (
        Status.PENDING,
        1,
        "GenesysUnavailable",
    )
    assert await flush(delivery, row) == 1
    assert len(genesys.sent) == 1
    assert (await reread(sessions, row.id)).status == Status.DELIVERED


async def test_no_genesys_org_dead_letters_tells_the_thread_and_alerts_the_admin(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    genesys: FakeGenesys,
    slack: FakeSlack,
) -> None:
    row = await a_mention(sessions, box)
    genesys.failures.append(GenesysNotConnected(str(onboarded.tenant.id)))

    # The message dies, then the notice queued behind it is posted in the same flush.
    assert await flush(delivery, row) == 2

    dead = await reread(sessions, row.id)
    assert (dead.status, dead.last_error) == (Status.DEAD, "genesys_not_connected")
    assert [(p.channel, p.text, p.thread_ts) for p in slack.posted] == [
        ("C0SUPPORT", SETUP_PROBLEM_NOTICE, ROOT_TS)
    ]
    async with sessions() as session:
        alert = (
            await session.execute(
                select(BridgeMessage).where(BridgeMessage.dedupe_key.startswith("setup_alert:"))
            )
        ).scalar_one()
    assert (alert.direction, alert.kind, alert.status) == (
        Direction.TO_SLACK,
        Kind.NOTICE,
        Status.PENDING,
    )
    assert str(alert.payload["text"]).startswith(SETUP_ALERT_HEADLINE)
    assert alert.conversation_id != row.conversation_id  # the admin's own DM


async def test_an_agent_reply_lands_in_its_thread_and_the_agent_gets_a_receipt(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    genesys: FakeGenesys,
    slack: FakeSlack,
    tokens: FakeTokens,
) -> None:
    ingest = Ingest(sessions=sessions, box=box)
    integration_id = onboarded.integration.genesys_integration_id
    outcome = await webhook(ingest, agent_text(integration_id, THREAD_KEY))
    assert outcome.kind == IngestOutcomeKind.ACCEPTED
    row = await latest(sessions)
    tokens.fresh = "xoxb-rotated"

    assert await flush(delivery, row) == 2  # the reply, then its receipt

    assert [(p.channel, p.thread_ts) for p in slack.posted] == [("C0SUPPORT", ROOT_TS)]
    assert "We are on it" in slack.posted[0].text
    assert slack.tokens_used == ["xoxb-rotated"]
    [receipt] = genesys.sent
    assert (receipt.endpoint, receipt.integration_id) == ("receipt", integration_id)
    assert (receipt.body["id"], receipt.body["status"]) == ("gm-0001", "Delivered")


async def test_slack_refusing_a_reply_sends_the_agent_a_failed_receipt(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    genesys: FakeGenesys,
    slack: FakeSlack,
) -> None:
    ingest = Ingest(sessions=sessions, box=box)
    integration_id = onboarded.integration.genesys_integration_id
    outcome = await webhook(ingest, agent_text(integration_id, THREAD_KEY, id=str(uuid.uuid4())))
    assert outcome.kind == IngestOutcomeKind.ACCEPTED
    row = await latest(sessions)
    slack.failures.append(SlackRejected("channel_not_found"))

    await flush(delivery, row)

    dead = await reread(sessions, row.id)
    assert (dead.status, dead.last_error) == (Status.DEAD, "slack:channel_not_found")
    [receipt] = genesys.sent
    assert receipt.body["status"] == "Failed"
    assert receipt.body["reasons"][0]["code"] == "InvalidDestination"


class FailsSecondSend(FakeGenesys):
    """Takes the first inbound message, refuses the next one once (a passing failure)."""

    refused = False

    async def send_inbound_message(
        self, tenant_id: uuid.UUID, integration_id: str, body: dict[str, Any]
    ) -> InboundAccepted:
        if self.sent and not self.refused:
            self.refused = True
            raise GenesysUnavailable("503 from Genesys", status=503)
        return await super().send_inbound_message(tenant_id, integration_id, body)


async def test_thread_context_goes_first_and_once_across_a_retry(
    sessions: Sessions, box: SecretBox, onboarded: Onboarded, slack: FakeSlack
) -> None:
    genesys = FailsSecondSend()
    delivery = Delivery(
        sessions=sessions,
        box=box,
        slack=slack,
        genesys=genesys,
        file_links=FileLinks.from_keys(box, base_url="https://sb.test"),
    )
    slack.threads[("C0SUPPORT", ROOT_TS)] = [
        ThreadMessage(ts=ROOT_TS, text="the printer is on fire", slack_user_id="U0ADA0001"),
        ThreadMessage(ts="1718053402.000100", text="still burning", slack_user_id="U0BOB0001"),
    ]
    in_thread = {**mention("<@U0BOT> can support help?"), "ts": REPLY_TS, "thread_ts": ROOT_TS}
    outcome = await Ingest(sessions=sessions, box=box).slack_event(envelope(in_thread))
    assert outcome.kind == IngestOutcomeKind.ACCEPTED
    row = await latest(sessions)

    with pytest.raises(RetryLater):
        await flush(delivery, row)
    assert await flush(delivery, row) == 1

    assert [s.body["text"] for s in genesys.sent] == [
        "Earlier in this Slack thread:\njane: the printer is on fire\njane: still burning",
        "can support help?",
    ]
    assert genesys.sent[0].body["channel"]["messageId"].endswith(":context")
    assert (await reread(sessions, row.id)).status == Status.DELIVERED


async def test_end_chat_ends_the_conversation_or_explains_a_refusal_privately(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    genesys: FakeGenesys,
    slack: FakeSlack,
) -> None:
    ingest = Ingest(sessions=sessions, box=box)
    integration_id = onboarded.integration.genesys_integration_id
    assert (await ingest.slack_event(envelope(mention()))).kind == IngestOutcomeKind.ACCEPTED
    await webhook(ingest, agent_text(integration_id, THREAD_KEY))
    row = await latest(sessions)
    await flush(delivery, row)
    click = {"action_id": END_CHAT_ACTION, "value": "gc-1", "action_ts": REPLY_TS}
    body = {
        "type": "block_actions",
        "team": {"id": "T0ACME"},
        "user": {"id": "U0JANE"},
        "channel": {"id": "C0SUPPORT"},
        "actions": [click],
    }

    # Refused: Genesys says the client may not end it; only the clicker is told.
    genesys.failures.append(
        GenesysPermissionError(
            "missing", status=403, missing_permissions=["conversation:communication:disconnect"]
        )
    )
    assert [str(o) for o in await ingest.slack_actions(body)] == ["accepted"]
    await flush(delivery, row)
    assert slack.ephemeral == [("C0SUPPORT", "U0JANE", END_CHAT_REFUSED_NOTICE)]
    assert genesys.disconnected == []
    assert CLOSED_NOTICE not in [p.text for p in slack.posted]

    # Allowed now (the admin fixed the role), a later click: ended and told, once.
    later = {**click, "action_ts": "1718053999.000100"}
    assert [str(o) for o in await ingest.slack_actions({**body, "actions": [later]})] == [
        "accepted"
    ]
    await flush(delivery, row)
    assert genesys.disconnected == ["gc-1"]
    assert [p.text for p in slack.posted].count(CLOSED_NOTICE) == 1
