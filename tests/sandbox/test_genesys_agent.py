"""The agent console's actions, as the product sees them: a name that the webhook does not carry
but the Conversations API does, a date picker, and ending a conversation (its state and
participants, and a new conversation for the next message). Reference §3.3, §3.3.6, §3.4.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_ORG_ID,
    SANDBOX_OTHER_ORG_CLIENT_ID,
    SANDBOX_OTHER_ORG_CLIENT_SECRET,
    SANDBOX_OTHER_ORG_DOMAIN,
    GenesysWorld,
    OAuthClient,
)
from sandbox.runner import ServerThread
from tests.sandbox.simulators import basic, genesys_session, login
from tests.sandbox.test_genesys_console import customer_says

CONVERSATIONS = "/api/v2/conversations/messages"
SECRET = "webhook-secret-0123456789"


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(json.loads(body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_the_agent_name_is_on_the_conversation_not_in_the_webhook() -> None:
    receiver = Receiver()
    with ServerThread(receiver) as target:
        world = GenesysWorld.seeded()
        integration = world.integrations[SANDBOX_DMS_INTEGRATION_ID]
        integration.webhook_url, integration.webhook_secret = target.url, SECRET
        async with genesys_session(world) as (http, auth):
            conversation_id = await customer_says(http, auth, "hello")
            form = {"conversation_id": conversation_id, "agent_name": "Grace Hopper"}
            sent = await http.post("/console/reply", data={**form, "kind": "text", "text": "Hi"})
            assert sent.status_code == 303 and "error" not in sent.headers["location"]
            assert sent.cookies.get("sandbox_agent_name") == "Grace%20Hopper"
            for _ in range(100):
                if receiver.bodies:
                    break
                await asyncio.sleep(0.05)
            conversation = await http.get(f"{CONVERSATIONS}/{conversation_id}", headers=auth)
            user_id = next(
                p["userId"] for p in conversation.json()["participants"] if p["purpose"] == "agent"
            )
            user = await http.get(f"/api/v2/users/{user_id}", headers=auth)
            page = await http.get("/")  # the client kept the cookie the reply set
    (payload,) = receiver.bodies
    assert payload["text"] == "Hi"
    assert payload["channel"]["from"]["nickname"] == integration.name  # never the agent's name
    assert "Grace Hopper" not in json.dumps(payload)
    assert conversation.status_code == 200
    purposes = {p["purpose"]: p for p in conversation.json()["participants"]}
    assert purposes["agent"]["name"] == "Grace Hopper"
    assert purposes["customer"]["state"] == purposes["agent"]["state"] == "connected"
    assert user.json()["name"] == "Grace Hopper"
    assert 'value="Grace Hopper"' in page.text


async def test_a_date_picker_offers_times_as_a_structured_message() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        await customer_says(http, auth, "when can you call?")
        reply = await http.post(
            "/_sandbox/agent/reply",
            json={
                "integration_id": SANDBOX_DMS_INTEGRATION_ID,
                "to_id": "T1:U1",
                "kind": "date_picker",
                "text": "Pick a slot",
            },
        )
    assert reply.status_code == 200, reply.text
    (conversation,) = world.conversations.values()
    content = conversation.messages[-1].detail["content"]
    assert content[0]["contentType"] == "DatePicker"
    picker = content[0]["datePicker"]
    assert picker["title"] == "Pick a slot"
    assert len(picker["availableTimes"]) == 3
    assert all(re.match(r"\d{4}-\d\d-\d\dT", t["dateTime"]) for t in picker["availableTimes"])


async def test_a_list_picker_offers_the_quick_replies_as_items() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        await customer_says(http, auth, "which plan?")
        reply = await http.post(
            "/_sandbox/agent/reply",
            json={
                "integration_id": SANDBOX_DMS_INTEGRATION_ID,
                "to_id": "T1:U1",
                "kind": "list_picker",
                "text": "Choose a plan",
                "quick_replies": ["Basic", "Pro"],
            },
        )
    assert reply.status_code == 200, reply.text
    (conversation,) = world.conversations.values()
    [content] = conversation.messages[-1].detail["content"]
    assert content["contentType"] == "ListPicker"
    picker = content["listPicker"]
    assert picker["title"] == "Choose a plan"
    [section] = picker["sections"]
    assert section["items"] == [
        {"id": "item-1", "title": "Basic"},
        {"id": "item-2", "title": "Pro"},
    ]


async def test_ending_a_conversation_disconnects_everyone_and_the_next_message_opens_another() -> (
    None
):
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        first = await customer_says(http, auth, "hello")
        await http.post(
            "/_sandbox/agent/reply",
            json={"conversation_id": first, "agent_name": "Sam", "wait": False},
        )
        ended = await http.post("/console/end", data={"conversation_id": first})
        late = await http.post("/_sandbox/agent/reply", json={"conversation_id": first})
        seen = (await http.get(f"{CONVERSATIONS}/{first}", headers=auth)).json()
        second = await customer_says(http, auth, "me again")
        page = await http.get("/")
    assert ended.status_code == 303
    assert late.status_code == 409
    assert "endTime" in seen
    assert {p["state"] for p in seen["participants"]} == {"disconnected"}
    assert second != first
    assert f'id="end-{second}"' in page.text and f'id="end-{first}"' not in page.text


async def test_the_customer_side_can_end_a_conversation_and_others_cannot_read_it() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        conversation_id = await customer_says(http, auth, "bye")
        bad = await http.patch(
            f"{CONVERSATIONS}/{conversation_id}", headers=auth, json={"state": "gone"}
        )
        ended = await http.patch(
            f"{CONVERSATIONS}/{conversation_id}", headers=auth, json={"state": "disconnected"}
        )
        anonymous = await http.get(f"{CONVERSATIONS}/{conversation_id}")
    assert bad.status_code == 400
    assert ended.status_code == 200 and ended.json()["participants"][0]["state"] == "disconnected"
    assert anonymous.status_code == 401
    assert ended.json()["selfUri"] == f"{CONVERSATIONS}/{conversation_id}"


async def test_the_console_sends_a_pdf_and_the_control_api_a_file_of_ones_own() -> None:
    receiver = Receiver()
    with ServerThread(receiver) as target:
        world = GenesysWorld.seeded()
        integration = world.integrations[SANDBOX_DMS_INTEGRATION_ID]
        integration.webhook_url, integration.webhook_secret = target.url, SECRET
        async with genesys_session(world) as (http, auth):
            conversation_id = await customer_says(http, auth, "the manual?")
            sent = await http.post(
                "/console/reply", data={"conversation_id": conversation_id, "kind": "file"}
            )
            assert sent.status_code == 303 and "error" not in sent.headers["location"]
            own = {"conversation_id": conversation_id, "kind": "file", "filename": "q.pdf"}
            mine = await http.post(
                "/_sandbox/agent/reply", json={**own, "content_base64": "JVBERi0xLjQ="}
            )
            bad = await http.post("/_sandbox/agent/reply", json={**own, "content_base64": "%%"})
            for _ in range(100):
                if len(receiver.bodies) >= 2:
                    break
                await asyncio.sleep(0.05)
    assert mine.status_code == 200 and bad.status_code == 400
    # The console delivers in the background, so the two may arrive in either order.
    attachments = {
        a["filename"]: a for a in (body["content"][0]["attachment"] for body in receiver.bodies)
    }
    assert {(name, a["mime"], a["mediaType"]) for name, a in attachments.items()} == {
        ("sandbox-sample.pdf", "application/pdf", "File"),
        ("q.pdf", "application/pdf", "File"),
    }
    pdf = world.downloads[attachments["sandbox-sample.pdf"]["id"]].data
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert world.downloads[attachments["q.pdf"]["id"]].data == b"%PDF-1.4"


USER_IMAGE_RESOLUTIONS = ["x48", "x96", "x128", "x200", "x300", "x400"]


async def test_the_users_api_needs_a_token_but_no_permission_and_lists_profile_images() -> None:
    """`GET /api/v2/users/{userId}` is documented as needing no permission (GC-SDK UsersApi
    `getUser`: "Requires NO permissions"), only a valid token; the `User` model carries
    `images` (`resolution`, `imageUri`) without any `expand`. Real images sit on a public
    https host; the sim serves its own, or names the host `user_image_base_url` says."""
    world = GenesysWorld.seeded()
    world.clients["no-permissions"] = OAuthClient(
        "no-permissions", "no-permissions-secret", SANDBOX_ORG_ID, "No roles", frozenset()
    )
    async with genesys_session(world) as (http, auth):
        conversation_id = await customer_says(http, auth, "hello")
        agent = world.join_agent(world.conversations[conversation_id], "Ada Agent")
        user_id = agent.user_id
        assert user_id is not None
        bare = await login(http, "no-permissions", "no-permissions-secret")
        user = await http.get(f"/api/v2/users/{user_id}", headers=bare)
        anonymous = await http.get(f"/api/v2/users/{user_id}")
        unknown = await http.get("/api/v2/users/00000000-0000-4000-8000-000000000000", headers=bare)
        images = user.json().get("images", [])
        served = await http.get(images[-1]["imageUri"]) if images else None
        world.config.user_image_base_url = "https://profiles.example.test"
        https_user = await http.get(f"/api/v2/users/{user_id}", headers=bare)
    assert user.status_code == 200, user.text
    assert user.json()["name"] == "Ada Agent"
    assert [i["resolution"] for i in images] == USER_IMAGE_RESOLUTIONS
    assert served is not None and served.status_code == 200
    assert served.headers["content-type"].startswith("image/svg+xml")
    assert "AA" in served.text  # the agent's initials
    assert anonymous.status_code == 401
    assert unknown.status_code == 404
    assert [i["imageUri"] for i in https_user.json()["images"]] == [
        f"https://profiles.example.test/{user_id}/{r}.svg" for r in USER_IMAGE_RESOLUTIONS
    ]


async def test_a_user_is_found_only_by_clients_of_the_org_the_agent_works_in() -> None:
    """A user belongs to one org: another org's client, even with every permission, gets the
    404 an unknown id gets."""
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        conversation_id = await customer_says(http, auth, "hello")
        agent = world.join_agent(world.conversations[conversation_id], "Ada Agent")
        mine = await http.get(f"/api/v2/users/{agent.user_id}", headers=auth)
        token = await http.post(
            f"/login.{SANDBOX_OTHER_ORG_DOMAIN}/oauth/token",
            headers=basic(SANDBOX_OTHER_ORG_CLIENT_ID, SANDBOX_OTHER_ORG_CLIENT_SECRET),
            data={"grant_type": "client_credentials"},
        )
        other = {"Authorization": f"Bearer {token.json()['access_token']}"}
        elsewhere = await http.get(
            f"/api.{SANDBOX_OTHER_ORG_DOMAIN}/api/v2/users/{agent.user_id}", headers=other
        )
    assert mine.status_code == 200
    assert elsewhere.status_code == 404, elsewhere.text
