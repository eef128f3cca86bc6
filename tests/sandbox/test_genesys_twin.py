"""The Genesys sim is at least as strict as Genesys' models, and each UNCONFIRMED behaviour is a
switch tested both ways (reference: genesys-open-messaging.md §2.3, §2.4, §4, §9;
api-fidelity-review.md W3, W4, U1).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    GenesysWorld,
)
from tests.sandbox.simulators import genesys_session

INBOUND = f"/api/v2/conversations/messages/{SANDBOX_DMS_INTEGRATION_ID}/inbound/open/message"
INTEGRATION = f"/api/v2/conversations/messaging/integrations/open/{SANDBOX_MENTIONS_INTEGRATION_ID}"
SECRET = "a-webhook-secret-longer-than-15"


def attachment(**fields: Any) -> dict[str, Any]:
    item = {"mediaType": "Image", "url": "https://files.example.com/a.png", "mime": "image/png"}
    item.update(fields)
    return {"contentType": "Attachment", "attachment": {k: v for k, v in item.items() if v}}


def message(content: list[dict[str, Any]], message_id: str = "m-1") -> dict[str, Any]:
    return {
        "channel": {"messageId": message_id, "from": {"id": "T1:U1", "idType": "Opaque"}},
        "content": content,
    }


async def test_one_attachment_with_mime_and_url_is_accepted() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        response = await http.post(INBOUND, headers=auth, json=message([attachment()]))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ([attachment(), attachment(url="https://files.example.com/b.png")], "content"),
        ([attachment(mime=None)], "content[0].attachment.mime"),
        ([attachment(url=None)], "content[0].attachment.url"),
    ],
    ids=["two attachments", "no mime", "no url"],
)
async def test_what_the_attachment_model_requires_is_enforced(
    content: list[dict[str, Any]], field: str
) -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        response = await http.post(INBOUND, headers=auth, json=message(content))
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "bad.request"
    assert error["details"][0]["fieldName"] == field
    assert world.conversations == {}


async def test_integration_update_without_name_is_refused_and_with_name_applied() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        nameless = await http.patch(
            INTEGRATION, headers=auth, json={"outboundNotificationWebhookUrl": "https://b.example"}
        )
        named = await http.patch(
            INTEGRATION,
            headers=auth,
            json={"name": "Slack mentions", "outboundNotificationWebhookUrl": "https://b.example"},
        )
    assert nameless.status_code == 400 and "'name'" in nameless.json()["message"]
    assert named.status_code == 200
    assert world.integrations[SANDBOX_MENTIONS_INTEGRATION_ID].webhook_url == "https://b.example"


@pytest.mark.parametrize("echo", [False, True], ids=["write-only", "echoed"])
async def test_get_returns_the_webhook_secret_only_when_switched_on(echo: bool) -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(return_secret_on_get=echo))
    world.integrations[SANDBOX_MENTIONS_INTEGRATION_ID].webhook_secret = SECRET
    async with genesys_session(world) as (http, auth):
        one = (await http.get(INTEGRATION, headers=auth)).json()
        listed = (await http.get(INTEGRATION.rsplit("/", 1)[0], headers=auth)).json()
    key = "outboundNotificationWebhookSignatureSecretToken"
    mentions = next(i for i in listed["entities"] if i["id"] == SANDBOX_MENTIONS_INTEGRATION_ID)
    if echo:
        assert one[key] == SECRET and mentions[key] == SECRET
    else:
        assert key not in one and key not in mentions


@pytest.mark.parametrize("dedupe", [False, True], ids=["kept", "dropped"])
async def test_a_repeated_message_id_is_dropped_only_when_switched_on(dedupe: bool) -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(dedupe_inbound_message_id=dedupe))
    async with genesys_session(world) as (http, auth):
        first = await http.post(INBOUND, headers=auth, json=message([attachment()]))
        again = await http.post(INBOUND, headers=auth, json=message([attachment()]))
    assert first.status_code == again.status_code == 200
    (conversation,) = world.conversations.values()
    assert len(conversation.messages) == (1 if dedupe else 2)
    assert (first.json()["id"] == again.json()["id"]) is dedupe


@pytest.mark.parametrize("status", [200, 202])
async def test_inbound_answers_200_or_202_as_switched(status: int) -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(inbound_status=status))
    async with genesys_session(world) as (http, auth):
        response = await http.post(INBOUND, headers=auth, json=message([attachment()]))
    assert response.status_code == status
    assert response.json()["channel"]["id"] == SANDBOX_DMS_INTEGRATION_ID


async def _agent_attachment(http: Any, auth: dict[str, str]) -> str:
    await http.post(INBOUND, headers=auth, json=message([attachment()]))
    sent = await http.post(
        "/_sandbox/agent/reply",
        json={"integration_id": SANDBOX_DMS_INTEGRATION_ID, "to_id": "T1:U1", "kind": "attachment"},
    )
    assert sent.status_code == 200, sent.text
    conversations = (await http.get("/_sandbox/conversations")).json()["conversations"]
    (reply,) = [m for m in conversations[0]["messages"] if m["direction"] == "Outbound"]
    url: str = reply["detail"]["content"][0]["attachment"]["url"]
    return url


def test_downloads_need_auth_by_default() -> None:
    assert GenesysConfig().download_requires_auth is True


@pytest.mark.parametrize("needs_auth", [True, False], ids=["authenticated", "open"])
async def test_downloads_need_a_bearer_token_unless_switched_off(needs_auth: bool) -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(download_requires_auth=needs_auth))
    async with genesys_session(world) as (http, auth):
        url = await _agent_attachment(http, auth)
        anonymous = await http.get(url, params={"redirectToAuth": "false"})
        sent_to_sign_in = await http.get(url)
        with_token = await http.get(url, headers=auth)
        forged = await http.get(
            url, headers={"Authorization": "Bearer not-a-token"}, params={"redirectToAuth": "false"}
        )
        # The download is a redirect to signed storage, which takes no token.
        assert with_token.status_code == 302
        stored = await http.get(with_token.headers["location"])
    assert stored.status_code == 200
    assert stored.content.startswith(b"\x89PNG")
    if needs_auth:
        assert (anonymous.status_code, forged.status_code) == (401, 401)
        assert anonymous.json()["code"] == "authentication.required"
        # `redirectToAuth` defaults to true: off to the sign-in page, an HTML 200.
        assert sent_to_sign_in.status_code == 302
        assert sent_to_sign_in.headers["location"].endswith("/authorize")
        async with genesys_session(world) as (again, _):
            page = await again.get(sent_to_sign_in.headers["location"])
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    else:
        assert anonymous.status_code == 302


async def test_storage_refuses_a_forwarded_token_and_a_tampered_or_expired_signature() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        url = await _agent_attachment(http, auth)
        location = httpx.URL((await http.get(url, headers=auth)).headers["location"])
        assert not location.path.startswith("/api-downloads.")
        forwarded = await http.get(location, headers=auth)
        tampered = await http.get(location.copy_set_param("signature", "0" * 64))
        later = await http.get(location.copy_set_param("expires", "1"))
        fine = await http.get(location)
    assert forwarded.status_code == 400  # like S3: one auth mechanism only
    assert (tampered.status_code, later.status_code) == (403, 403)
    assert fine.status_code == 200
