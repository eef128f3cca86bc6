"""Ingest on real Postgres: what is stored (with its parsed form), what is queued, and the
typed outcome the web layer turns into an HTTP answer. No network: ingest never calls out."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import normalized
from app.bridge.end_chat import END_CHAT_ACTION
from app.bridge.ingest import Ingest
from app.bridge.messages import Direction, IngestOutcome, IngestOutcomeKind, Kind, Status
from app.bridge.outbound import AgentMessage
from app.bridge.rendering import encode_button_value
from app.crypto import SecretBox
from app.db.models import BridgeMessage, Tenant, TenantStatus
from app.signing import genesys_signature
from tests.bridge.conftest import WEBHOOK_SECRET, Onboarded

Sessions = async_sessionmaker[AsyncSession]
ROOT_TS = "1718053401.000200"
REPLY_TS = "1718053466.000300"


def envelope(event: dict[str, Any], *, team: str = "T0ACME") -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": team,
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": 1718053401,
        "authorizations": [{"team_id": team, "is_enterprise_install": False}],
        "event": event,
    }


def mention(text: str = "<@U0BOT> my order never arrived") -> dict[str, Any]:
    return {
        "type": "app_mention",
        "channel": "C0SUPPORT",
        "user": "U0JANE",
        "text": text,
        "ts": ROOT_TS,
        "event_ts": ROOT_TS,
        "client_msg_id": str(uuid.uuid4()),
    }


def reply(text: str = "any news?") -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "channel",
        "channel": "C0SUPPORT",
        "user": "U0JANE",
        "text": text,
        "ts": REPLY_TS,
        "thread_ts": ROOT_TS,
        "event_ts": REPLY_TS,
        "client_msg_id": str(uuid.uuid4()),
    }


def agent_text(integration_id: str, to_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "gm-0001",
        "channel": {
            "id": integration_id,
            "platform": "Open",
            "type": "Private",
            "to": {"id": to_id},
            "from": {"nickname": "Ana"},
            "time": "2026-12-03T10:00:00.000Z",
        },
        "type": "Text",
        "text": "We are on it",
        "direction": "Outbound",
        "conversationId": "gc-1",
        **fields,
    }


async def webhook(
    ingest: Ingest, payload: dict[str, Any], secret: str = WEBHOOK_SECRET
) -> IngestOutcome:
    raw = json.dumps(payload).encode()
    return await ingest.genesys_webhook(raw, genesys_signature(secret, raw))


async def rows(sessions: Sessions) -> list[BridgeMessage]:
    async with sessions() as session:
        found = await session.execute(select(BridgeMessage).order_by(BridgeMessage.id))
        return list(found.scalars())


async def deliverable(sessions: Sessions) -> list[uuid.UUID]:
    """Conversations a worker would claim now (`app.bridge.dispatch`)."""
    async with sessions() as session:
        found = await session.execute(
            text(
                "SELECT DISTINCT conversation_id FROM bridge_message WHERE status = 'pending' "
                "AND conversation_id IS NOT NULL AND next_attempt_at IS NULL"
            )
        )
        return [conversation_id for (conversation_id,) in found]


@pytest.fixture
def ingest(sessions: Sessions, box: SecretBox) -> Ingest:
    return Ingest(sessions=sessions, box=box)


async def test_a_mention_is_stored_parsed_and_queued_and_its_retry_is_a_duplicate(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    event = envelope(mention())

    first = await ingest.slack_event(event)
    again = await ingest.slack_event(event)

    assert (first.kind, again.kind) == (IngestOutcomeKind.ACCEPTED, IngestOutcomeKind.DUPLICATE)
    [row] = await rows(sessions)
    assert (row.direction, row.kind, row.status) == (Direction.TO_GENESYS, Kind.MESSAGE, "pending")
    assert row.payload == {"envelope": event}
    parsed = normalized.to_slack_message(row.normalized)
    assert parsed is not None and parsed.text == "my order never arrived"
    assert parsed.conversation.external_user_id == f"T0ACME:C0SUPPORT:{ROOT_TS}"
    assert await deliverable(sessions) == [row.conversation_id]


async def test_a_reply_is_forwarded_only_in_a_live_linked_thread(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    early = await ingest.slack_event(envelope(reply()))
    assert (early.kind, early.detail) == (IngestOutcomeKind.IGNORED, "not_linked")
    assert str(early) == "ignored:not_linked"

    await ingest.slack_event(envelope(mention()))
    linked = await ingest.slack_event(envelope(reply()))

    assert linked.kind == IngestOutcomeKind.ACCEPTED
    root, answer = await rows(sessions)
    assert answer.conversation_id == root.conversation_id
    parsed = normalized.to_slack_message(answer.normalized)
    assert parsed is not None and parsed.text == "any news?"


async def test_events_of_unknown_or_disabled_workspaces_store_nothing(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    stranger = await ingest.slack_event(envelope(mention(), team="T0NOBODY"))
    async with sessions.begin() as session:
        await session.execute(
            update(Tenant)
            .where(Tenant.id == onboarded.tenant.id)
            .values(status=TenantStatus.DISABLED)
        )
    disabled = await ingest.slack_event(envelope(mention()))

    assert stranger.kind == disabled.kind == IngestOutcomeKind.UNKNOWN_TENANT
    assert await rows(sessions) == []


async def test_an_agent_reply_is_stored_parsed_and_queued_for_its_thread(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    integration_id = onboarded.integration.genesys_integration_id
    payload = agent_text(integration_id, f"T0ACME:C0SUPPORT:{ROOT_TS}")

    first = await webhook(ingest, payload)
    again = await webhook(ingest, payload)

    assert (first.kind, again.kind) == (IngestOutcomeKind.ACCEPTED, IngestOutcomeKind.DUPLICATE)
    [row] = await rows(sessions)
    assert (row.direction, row.kind) == (Direction.TO_SLACK, Kind.AGENT_TEXT)
    assert row.genesys_message_id == "gm-0001"
    parsed = normalized.to_agent_message(row.normalized, structured=False)
    assert isinstance(parsed, AgentMessage)
    assert (parsed.text, parsed.sender_name) == ("We are on it", "Ana")
    assert await deliverable(sessions) == [row.conversation_id]


async def test_typing_is_recorded_and_never_queued(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    integration_id = onboarded.integration.genesys_integration_id
    payload = agent_text(
        integration_id,
        f"T0ACME:C0SUPPORT:{ROOT_TS}",
        type="Event",
        events=[{"eventType": "Typing", "typing": {"type": "On"}}],
    )
    del payload["text"]

    outcome = await webhook(ingest, payload)

    assert outcome.kind == IngestOutcomeKind.RECORDED
    [row] = await rows(sessions)
    assert (row.kind, row.status, row.normalized) == (Kind.AGENT_TYPING, Status.RECORDED, None)
    assert await deliverable(sessions) == []


async def test_bad_webhooks_get_the_outcome_the_web_layer_refuses(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    integration_id = onboarded.integration.genesys_integration_id
    to_id = f"T0ACME:C0SUPPORT:{ROOT_TS}"

    forged = await webhook(ingest, agent_text(integration_id, to_id), secret="not-the-secret")
    unknown = await webhook(ingest, agent_text(str(uuid.uuid4()), to_id))
    no_channel = await webhook(ingest, {"id": "gm-2", "type": "Text", "text": "hi"})
    empty = await webhook(ingest, agent_text(integration_id, to_id, text=""))

    assert forged.kind == unknown.kind == IngestOutcomeKind.UNSIGNED
    assert (no_channel.kind, no_channel.detail) == (
        IngestOutcomeKind.MALFORMED,
        "channel.id is missing",
    )
    assert empty.kind == IngestOutcomeKind.MALFORMED
    assert "Text message needs text" in empty.detail
    assert await rows(sessions) == []


def block_actions(*actions: dict[str, Any], team: str = "T0ACME") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": "U0JANE"},
        "actions": list(actions),
    }


def click(value: str, *, action_id: str = "sb_qr_0", action_ts: str = REPLY_TS) -> dict[str, Any]:
    return {"action_id": action_id, "value": value, "action_ts": action_ts}


async def test_a_button_click_is_queued_once_as_the_answer_to_its_agent_message(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    integration_id = onboarded.integration.genesys_integration_id
    assert (await ingest.slack_event(envelope(mention()))).kind == IngestOutcomeKind.ACCEPTED
    await webhook(ingest, agent_text(integration_id, f"T0ACME:C0SUPPORT:{ROOT_TS}"))
    async with sessions.begin() as session:
        await session.execute(
            update(BridgeMessage)
            .where(BridgeMessage.dedupe_key == "gm-0001")
            .values(slack_ts="1718053500.000100", status=Status.DELIVERED)
        )
    value = encode_button_value(
        genesys_message_id="gm-0001", kind="QuickReply", payload="yes", text="Yes"
    )
    assert value is not None
    stranger = encode_button_value(
        genesys_message_id="gm-none", kind="QuickReply", payload="no", text="No"
    )
    assert stranger is not None

    outcomes = await ingest.slack_actions(
        block_actions(
            click(value),
            click(value, action_ts="1718053600.000100"),
            click(value, action_id="someone_elses_button"),
            click("{not ours"),
            click(stranger),
        )
    )
    bystander = await ingest.slack_actions({**block_actions(click(value)), "user": {"id": "U0BOB"}})

    assert [str(outcome) for outcome in outcomes] == [
        "accepted",
        "duplicate",
        "ignored:not_ours",
        "ignored:invalid_button_value",
        "ignored:unknown_message",
    ]
    assert [str(outcome) for outcome in bystander] == ["ignored:not_a_participant"]
    _, agent_reply, *answers = await rows(sessions)
    by_kind = {row.kind: row for row in answers}
    assert sorted(by_kind) == ["answer_update", "ephemeral_note", "structured_response"]
    answer = by_kind[Kind.STRUCTURED_RESPONSE]
    assert answer.direction == Direction.TO_GENESYS
    assert answer.conversation_id == agent_reply.conversation_id
    assert answer.payload["click"] == {
        "genesys_message_id": "gm-0001",
        "kind": "QuickReply",
        "payload": "yes",
        "text": "Yes",
    }
    updated = by_kind[Kind.ANSWER_UPDATE]
    assert updated.source_ts > answer.source_ts, "Genesys hears the answer first"
    assert updated.payload["slack_ts"] == "1718053500.000100"
    assert "<@U0JANE> chose *Yes*" in json.dumps(updated.payload["blocks"])
    blocks: Any = updated.payload["blocks"]
    assert "actions" not in [block["type"] for block in blocks]
    note = by_kind[Kind.EPHEMERAL_NOTE]
    assert note.payload["slack_user_id"] == "U0BOB"
    unknown = await ingest.slack_actions(block_actions(click(value), team="T0NOBODY"))
    assert [outcome.kind for outcome in unknown] == [IngestOutcomeKind.UNKNOWN_TENANT]


async def test_an_end_chat_click_is_queued_once_and_only_from_its_own_channel(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    integration_id = onboarded.integration.genesys_integration_id
    assert (await ingest.slack_event(envelope(mention()))).kind == IngestOutcomeKind.ACCEPTED
    await webhook(ingest, agent_text(integration_id, f"T0ACME:C0SUPPORT:{ROOT_TS}"))

    def end_chat(
        genesys_conversation_id: str, channel: str, user: str = "U0JANE"
    ) -> dict[str, Any]:
        body = block_actions(click(genesys_conversation_id, action_id=END_CHAT_ACTION))
        return {**body, "channel": {"id": channel}, "user": {"id": user}}

    outcomes = [
        outcome
        for body in (
            end_chat("gc-1", "C0ELSEWHERE"),
            end_chat("gc-unknown", "C0SUPPORT"),
            end_chat("gc-1", "C0SUPPORT", user="U0STRANGER"),
            end_chat("gc-1", "C0SUPPORT"),
            end_chat("gc-1", "C0SUPPORT"),
        )
        for outcome in await ingest.slack_actions(body)
    ]

    assert [str(outcome) for outcome in outcomes] == [
        "ignored:unknown_conversation",
        "ignored:unknown_conversation",
        "ignored:not_a_participant",
        "accepted",
        "duplicate",
    ]
    by_kind = {row.kind: row for row in await rows(sessions)}
    note, ended = by_kind[Kind.EPHEMERAL_NOTE], by_kind[Kind.END_CHAT]
    assert note.payload["slack_user_id"] == "U0STRANGER"
    assert ended.direction == Direction.TO_GENESYS
    assert ended.conversation_id == note.conversation_id
    assert ended.payload == {"genesys_conversation_id": "gc-1", "slack_user_id": "U0JANE"}
