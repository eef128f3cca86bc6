from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_OTHER_MENTIONS_INTEGRATION_ID,
    SANDBOX_PENDING_INTEGRATION_ID,
    GenesysWorld,
)
from tests.sandbox.simulators import genesys_session

HEX32 = re.compile(r"^[0-9a-f]{32}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BASE = "/api/v2/conversations/messages"


def path(endpoint: str, integration_id: str = SANDBOX_DMS_INTEGRATION_ID) -> str:
    return f"{BASE}/{integration_id}/inbound/open/{endpoint}"


def message(user: str = "T1:U1", message_id: str = "m-1", text: str = "hello") -> dict[str, Any]:
    return {
        "channel": {
            "messageId": message_id,
            "time": "2025-06-10T21:03:21.043Z",
            "from": {"id": user, "idType": "Opaque", "nickname": "Jane Doe"},
            "metadata": {"customAttributes": {"slackTeam": "T1", "slackChannel": "D1"}},
        },
        "text": text,
    }


def event() -> dict[str, Any]:
    return {
        "channel": {"from": {"id": "T1:U1", "idType": "Opaque"}, "time": "2025-06-10T21:03:19Z"},
        "events": [{"eventType": "Typing"}],
    }


def receipt(message_id: str, status: str = "Delivered") -> dict[str, Any]:
    return {
        "id": message_id,
        "channel": {"to": {"id": "T1:U1", "idType": "Opaque"}, "time": "2025-06-10T21:03:25.100Z"},
        "status": status,
        "direction": "Outbound",
        "isFinalReceipt": True,
    }


def structured(kind: str = "QuickReply") -> dict[str, Any]:
    return {
        "channel": {"messageId": "m-3", "from": {"id": "T1:U1", "idType": "Opaque"}},
        "buttonResponse": {"type": kind, "text": "Yes", "payload": "Yes"},
        "originatingMessageId": "d7d58935af65a45e5234ac77de017a0a",
    }


async def test_message_success_shape() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        response = await http.post(path("message"), headers=auth, json=message())
    body = response.json()
    assert response.status_code == 200
    assert HEX32.match(body["id"])
    assert body["type"] == "Text"
    assert body["text"] == "hello"
    assert UUID.match(body["conversationId"])
    channel = body["channel"]
    assert channel["id"] == SANDBOX_DMS_INTEGRATION_ID
    assert (channel["platform"], channel["type"]) == ("Open", "Private")
    assert channel["messageId"] == "m-1"
    assert channel["from"]["id"] == "T1:U1"
    assert channel["time"] == "2025-06-10T21:03:21.043Z"
    assert channel["metadata"] == {"customAttributes": {"slackTeam": "T1", "slackChannel": "D1"}}


async def test_custom_attributes_become_participant_data() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        response = await http.post(path("message"), headers=auth, json=message())
    conversation = world.conversations[response.json()["conversationId"]]
    assert conversation.participant_data == {"slackTeam": "T1", "slackChannel": "D1"}


async def test_messages_from_one_user_share_a_conversation_per_integration() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        first = await http.post(path("message"), headers=auth, json=message("T1:U1", "m-1"))
        again = await http.post(path("message"), headers=auth, json=message("T1:U1", "m-2"))
        other_user = await http.post(path("message"), headers=auth, json=message("T1:U2", "m-3"))
        other_integration = await http.post(
            path("message", SANDBOX_MENTIONS_INTEGRATION_ID), headers=auth, json=message()
        )
    ids = [r.json()["conversationId"] for r in (first, again, other_user, other_integration)]
    assert ids[0] == ids[1]
    assert len(set(ids)) == 3
    assert [m.text for m in world.conversations[ids[0]].messages] == ["hello", "hello"]


async def test_event_success_shape() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        response = await http.post(path("event"), headers=auth, json=event())
    body = response.json()
    assert response.status_code == 200
    assert body["type"] == "Event"
    assert body["events"] == [{"eventType": "Typing"}]
    assert body["channel"]["id"] == SANDBOX_DMS_INTEGRATION_ID


async def test_receipt_for_an_agent_message_is_recorded_on_it() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        await http.post(path("message"), headers=auth, json=message())
        conversation_id = next(iter(world.conversations))
        sent = await http.post(
            "/_sandbox/agent/reply", json={"conversation_id": conversation_id, "text": "Hi"}
        )
        agent_message_id = sent.json()["message_id"]
        response = await http.post(path("receipt"), headers=auth, json=receipt(agent_message_id))
    body = response.json()
    assert response.status_code == 200
    assert (body["id"], body["type"], body["status"]) == (agent_message_id, "Receipt", "Delivered")
    assert body["isFinalReceipt"] is True
    agent_message = world.conversations[conversation_id].find(agent_message_id)
    assert agent_message is not None
    assert [r["status"] for r in agent_message.receipts] == ["Delivered"]


async def test_receipt_for_an_unknown_message_answers_failed_in_the_body() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        response = await http.post(
            path("receipt"), headers=auth, json=receipt("0" * 32, status="Failed")
        )
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "Failed"
    assert body["reasons"][0]["code"] == "UnknownMessage"


async def test_structured_response_success_shape() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        response = await http.post(path("structured/response"), headers=auth, json=structured())
    body = response.json()
    assert response.status_code == 200
    assert body["type"] == "Structured"
    assert body["content"][0]["buttonResponse"]["type"] == "QuickReply"
    assert body["originatingMessageId"] == "d7d58935af65a45e5234ac77de017a0a"
    assert UUID.match(body["conversationId"])


def _without(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return changed


def _with(body: dict[str, Any], value: Any, *keys: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return changed


ATTACHMENT = [
    {
        "contentType": "Attachment",
        "attachment": {"mediaType": "Image", "url": "u", "mime": "image/png"},
    }
]

BAD_BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    ("no text, no content", "message", _without(message(), "text"), "anyOf"),
    ("nested metadata", "message", _with(message(), {"a": {"b": "c"}}, "metadata"), "malformed"),
    ("bad idType", "message", _with(message(), "Slack", "channel", "from", "idType"), "idType"),
    (
        "bad mediaType",
        "message",
        _with(message(), [{"attachment": {"mediaType": "Gif", "url": "u"}}], "content"),
        "mediaType",
    ),
    ("missing from.id", "message", _without(message(), "channel", "from", "id"), "'id'"),
    ("missing channel", "message", _without(message(), "channel"), "'channel'"),
    ("bad eventType", "event", _with(event(), [{"eventType": "Presence"}], "events"), "eventType"),
    ("event without from.id", "event", _without(event(), "channel", "from", "id"), "'id'"),
    ("receipt status Read", "receipt", receipt("a" * 32, "Read"), "status"),
    ("receipt status Sent", "receipt", receipt("a" * 32, "Sent"), "status"),
    (
        "receipt reason code",
        "receipt",
        _with(receipt("a" * 32, "Failed"), [{"code": "Oops"}], "reasons"),
        "code",
    ),
    (
        "bad buttonResponse.type",
        "structured/response",
        _with(structured(), "Dropdown", "buttonResponse", "type"),
        "buttonResponse.type",
    ),
    (
        "structured without from.id",
        "structured/response",
        _without(structured(), "channel", "from", "id"),
        "'id'",
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "body", "fragment"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
async def test_invalid_bodies_get_400_bad_request(
    endpoint: str, body: dict[str, Any], fragment: str
) -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        response = await http.post(path(endpoint), headers=auth, json=body)
    error = response.json()
    assert response.status_code == 400
    assert error["code"] == "bad.request"
    assert fragment in error["message"] or fragment in str(error["details"])
    assert world.inbound[-1].status == 400


async def test_missing_text_and_content_has_genesys_anyof_message() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        response = await http.post(path("message"), headers=auth, json=_without(message(), "text"))
    assert response.json()["message"] == (
        "should have required property 'content', should have required property '.text', "
        "should match some schema in anyOf"
    )


async def test_nested_metadata_is_malformed_syntax() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        response = await http.post(
            path("message"), headers=auth, json=_with(message(), {"a": {"b": "c"}}, "metadata")
        )
    assert response.json()["message"] == (
        "The request could not be understood by the server due to malformed syntax."
    )


async def test_content_without_text_and_lowercase_email_are_accepted() -> None:
    body = _with(_without(message(), "text"), ATTACHMENT, "content")
    body["channel"]["from"]["idType"] = "email"
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        response = await http.post(path("message"), headers=auth, json=body)
    assert response.status_code == 200
    assert response.json()["content"] == ATTACHMENT


async def test_malformed_json_is_400() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        response = await http.post(
            path("message"), headers={**auth, "Content-Type": "application/json"}, content=b"{"
        )
    assert response.status_code == 400
    assert response.json()["code"] == "bad.request"


@pytest.mark.parametrize(
    "integration_id",
    ["00000000-0000-4000-8000-000000000000", SANDBOX_OTHER_MENTIONS_INTEGRATION_ID],
    ids=["unknown", "other org"],
)
async def test_unknown_or_foreign_integration_is_404(integration_id: str) -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        response = await http.post(path("message", integration_id), headers=auth, json=message())
    assert response.status_code == 404
    assert response.json()["code"] == "not.found"


@pytest.mark.parametrize("status", [404, 400])
async def test_initiated_integration_refuses_messages(status: int) -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(initiated_integration_status=status))
    async with genesys_session(world) as (http, auth):
        response = await http.post(
            path("message", SANDBOX_PENDING_INTEGRATION_ID), headers=auth, json=message()
        )
    assert response.status_code == status
    assert "Initiated" in response.json()["message"]


async def test_status_202_and_prefetch_only_conversation_id_are_switches() -> None:
    config = GenesysConfig(inbound_status=202, conversation_id_only_when_prefetch=True)
    async with genesys_session(GenesysWorld.seeded(config=config)) as (http, auth):
        plain = await http.post(path("message"), headers=auth, json=message())
        prefetched = await http.post(
            path("message") + "?prefetchConversationId=true", headers=auth, json=message()
        )
    assert (plain.status_code, prefetched.status_code) == (202, 202)
    assert "conversationId" not in plain.json()
    assert UUID.match(prefetched.json()["conversationId"])


async def test_duplicate_message_ids_are_kept_unless_dedupe_is_switched_on() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        first = await http.post(path("message"), headers=auth, json=message())
        second = await http.post(path("message"), headers=auth, json=message())
        assert first.json()["id"] != second.json()["id"]
        await http.patch("/_sandbox/config", json={"dedupe_inbound_message_id": True})
        third = await http.post(path("message"), headers=auth, json=message())
    assert third.json()["id"] == first.json()["id"]
    messages = [r.body["channel"]["messageId"] for r in world.inbound]
    assert messages == ["m-1", "m-1", "m-1"]


async def test_every_call_is_recorded_in_order_with_its_endpoint() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        await http.post(path("message"), headers=auth, json=message(message_id="a"))
        await http.post(path("event"), headers=auth, json=event())
        await http.post(path("message"), headers=auth, json=_without(message(), "text"))
        await http.post(path("structured/response"), headers=auth, json=structured())
        recorded = (await http.get("/_sandbox/inbound")).json()["inbound"]
        only_events = (await http.get("/_sandbox/inbound?endpoint=event")).json()["inbound"]
    assert [(r["seq"], r["endpoint"], r["status"]) for r in recorded] == [
        (1, "message", 200),
        (2, "event", 200),
        (3, "message", 400),
        (4, "structured", 200),
    ]
    assert all(r["client_id"] == SANDBOX_ORG_CLIENT_ID for r in recorded)
    assert len(only_events) == 1
    assert not any(r["deprecated"] for r in recorded)


async def test_legacy_endpoint_is_accepted_but_flagged() -> None:
    world = GenesysWorld.seeded()
    legacy = message()
    legacy["channel"]["to"] = {"id": SANDBOX_DMS_INTEGRATION_ID}
    legacy["channel"]["platform"] = "Open"
    legacy["channel"]["type"] = "Private"
    legacy.update({"type": "Text", "direction": "Inbound"})
    async with genesys_session(world) as (http, auth):
        response = await http.post(f"{BASE}/inbound/open", headers=auth, json=legacy)
    assert response.status_code == 200
    assert response.json()["direction"] == "Inbound"
    assert world.inbound[-1].endpoint == "legacy"
    assert world.inbound[-1].deprecated is True
    assert world.inbound[-1].integration_id == SANDBOX_DMS_INTEGRATION_ID


@pytest.mark.parametrize("limit", [4000, None])
async def test_inbound_text_limit_counts_utf16_units_and_answers_400(limit: int | None) -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(inbound_text_limit=limit))
    async with genesys_session(world) as (http, auth):
        fits = await http.post(path("message"), headers=auth, json=message(text="a" * 4000))
        emoji = message(message_id="m-2", text="\U0001f600" * 2001)
        over = await http.post(path("message"), headers=auth, json=emoji)
    assert fits.status_code == 200
    if limit is None:
        assert over.status_code == 200
        return
    assert over.status_code == 400
    body = over.json()
    assert (body["code"], body["status"]) == ("bad.request", 400)
    assert body["message"] == "text should NOT be longer than 4000 characters"
    assert body["details"] == [{"errorCode": "bad.request", "fieldName": "text"}]


@pytest.mark.parametrize("without_id", [False, True])
async def test_inbound_answer_can_leave_out_the_id(without_id: bool) -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(inbound_answer_without_id=without_id))
    async with genesys_session(world) as (http, auth):
        response = await http.post(path("message"), headers=auth, json=message())
    assert response.status_code == 200
    assert ("id" in response.json()) is not without_id
    assert response.json()["conversationId"]
