from __future__ import annotations

import asyncio
import re

import httpx

from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    SANDBOX_OTHER_ORG_CLIENT_SECRET,
    SANDBOX_PENDING_INTEGRATION_ID,
    GenesysWorld,
)
from tests.sandbox.simulators import genesys_session

INBOUND = f"/api/v2/conversations/messages/{SANDBOX_DMS_INTEGRATION_ID}/inbound/open"


async def customer_says(http: httpx.AsyncClient, auth: dict[str, str], text: str) -> str:
    response = await http.post(
        f"{INBOUND}/message",
        headers=auth,
        json={
            "channel": {
                "messageId": "m-1",
                "from": {"id": "T1:U1", "idType": "Opaque", "nickname": "Jane Doe"},
                "metadata": {"customAttributes": {"slackChannel": "D042"}},
            },
            "text": text,
        },
    )
    conversation_id: str = response.json()["conversationId"]
    return conversation_id


async def test_console_lists_credentials_and_integrations() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, _):
        page = await http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert SANDBOX_ORG_CLIENT_ID in page.text
    assert SANDBOX_ORG_CLIENT_SECRET in page.text
    assert SANDBOX_OTHER_ORG_CLIENT_SECRET in page.text
    assert SANDBOX_PENDING_INTEGRATION_ID in page.text
    assert "Slack mentions" in page.text and "Slack DMs" in page.text
    assert "Initiated" in page.text


async def test_console_shows_conversation_messages_and_custom_attributes() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        conversation_id = await customer_says(http, auth, "My order <b>is late</b>")
        page = (await http.get("/")).text
    assert f'id="conversation-{conversation_id}"' in page
    assert "My order &lt;b&gt;is late&lt;/b&gt;" in page
    assert "slackChannel" in page and "D042" in page
    assert "Jane Doe" in page


async def test_every_form_control_has_a_label() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        await customer_says(http, auth, "hello")
        page = (await http.get("/")).text
    control_ids = re.findall(
        r'<(?:select|textarea|input type="(?:text|checkbox)")[^>]* id="([^"]+)"', page
    )
    labelled = set(re.findall(r'<label for="([^"]+)"', page))
    assert control_ids
    assert set(control_ids) <= labelled


async def test_console_reply_is_delivered_and_reported() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        conversation_id = await customer_says(http, auth, "hello")
        response = await http.post(
            "/console/reply",
            data={
                "conversation_id": conversation_id,
                "kind": "quick_replies",
                "text": "Shall I refund it?",
                "quick_replies": "Yes, No, Later",
            },
        )
        for _ in range(100):
            if world.deliveries and world.deliveries[0].outcome != "pending":
                break
            await asyncio.sleep(0.01)
        page = (await http.get("/")).text
    assert response.status_code == 303
    assert response.headers["location"].startswith("/?sent=")
    assert world.deliveries[0].outcome == "not_configured"
    messages = world.conversations[conversation_id].messages
    assert messages[-1].type == "Structured"
    assert [c["quickReply"]["text"] for c in messages[-1].detail["content"]] == [
        "Yes",
        "No",
        "Later",
    ]
    assert "Shall I refund it?" in page
    assert "Quick reply: Later" in page
    assert "not_configured" in page


async def test_console_shows_receipts_on_agent_messages() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        conversation_id = await customer_says(http, auth, "hello")
        sent = await http.post(
            "/_sandbox/agent/reply", json={"conversation_id": conversation_id, "text": "On it"}
        )
        await http.post(
            f"{INBOUND}/receipt",
            headers=auth,
            json={
                "id": sent.json()["message_id"],
                "channel": {"to": {"id": "T1:U1", "idType": "Opaque"}},
                "status": "Failed",
                "reasons": [{"code": "RecipientOptedOut", "message": "user left"}],
                "isFinalReceipt": True,
            },
        )
        page = (await http.get("/")).text
    assert "Receipt: Failed — RecipientOptedOut" in page


async def test_console_reply_to_unknown_conversation_says_so() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, _):
        response = await http.post(
            "/console/reply", data={"conversation_id": "nope", "kind": "text", "text": "x"}
        )
        page = await http.get(response.headers["location"])
    assert response.status_code == 303
    assert 'role="alert"' in page.text
