from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.signing import verify_genesys
from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_webhook import Addressing, WebhookSender, build_text
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from sandbox.runner import ServerThread
from tests.sandbox.simulators import genesys_client, login

SECRET = "webhook-secret-0123456789"
FAST = 0.05  # 10 s timeout -> 0.5 s, 5 s between retries -> 0.25 s


@dataclass
class Seen:
    body: bytes
    headers: dict[str, str]
    signature_ok: bool


@dataclass
class Receiver:
    """A stand-in for the bridge's webhook: checks the signature, answers from a script."""

    secret: str = SECRET
    script: list[int | str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get("x-hub-signature-256")
        ok = verify_genesys(self.secret, signature=signature, body=body)
        self.seen.append(Seen(body, dict(request.headers), ok))
        action = self.script.pop(0) if self.script else 200
        if action == "hang":
            # Outlast the sender's timeout, but leave as soon as it hangs up.
            async with asyncio.timeout(5):
                while (await request.receive())["type"] != "http.disconnect":
                    pass
            return Response(status_code=200)
        if not ok:
            return Response(status_code=401)
        assert isinstance(action, int)
        return Response(status_code=action)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/genesys/webhook", self.hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    target = Receiver()
    with ServerThread(target.app()) as server:
        yield target, f"{server.url}/genesys/webhook"


def fast_world(url: str | None, secret: str = SECRET) -> GenesysWorld:
    return GenesysWorld.seeded(
        config=GenesysConfig(time_scale=FAST), webhook_url=url, webhook_secret=secret
    )


async def reply(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"integration_id": SANDBOX_DMS_INTEGRATION_ID, "to_id": "T1:U1", **fields}
    response = await http.post("/_sandbox/agent/reply", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def statuses(report: dict[str, Any]) -> list[int | str | None]:
    return [a["status"] or a["error"] for a in report["attempts"]]


async def test_delivery_is_signed_compact_json_with_custom_headers(
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    world = fast_world(url)
    world.integrations[SANDBOX_DMS_INTEGRATION_ID].webhook_headers = {"X-Bridge-Tenant": "acme"}
    async with genesys_client(world) as http:
        result = await reply(http, text="Hi there, ça va?")
    seen = target.seen[0]
    payload = json.loads(seen.body)
    assert result["reports"][0]["outcome"] == "delivered"
    assert seen.signature_ok
    assert seen.headers["x-hub-signature-256"].startswith("sha256=")
    assert seen.headers["x-bridge-tenant"] == "acme"
    assert seen.headers["content-type"] == "application/json"
    assert seen.body == json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert payload["text"] == "Hi there, ça va?"
    assert payload["channel"]["to"] == {"id": "T1:U1", "idType": "Opaque"}
    assert payload["id"] == result["message_id"]


async def test_agent_reply_goes_to_the_user_the_conversation_was_created_with(
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    world = fast_world(url)
    credentials = f"{SANDBOX_ORG_CLIENT_ID}:{SANDBOX_ORG_CLIENT_SECRET}".encode()
    async with genesys_client(world) as http:
        token = await http.post(
            "/oauth/token",
            headers={"Authorization": f"Basic {base64.b64encode(credentials).decode()}"},
            data={"grant_type": "client_credentials"},
        )
        inbound = await http.post(
            f"/api/v2/conversations/messages/{SANDBOX_DMS_INTEGRATION_ID}/inbound/open/message",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            json={"channel": {"from": {"id": "T9:U9", "idType": "Email"}}, "text": "help"},
        )
        conversation_id = inbound.json()["conversationId"]
        await http.post(
            "/_sandbox/agent/reply", json={"conversation_id": conversation_id, "text": "Hello"}
        )
    payload = json.loads(target.seen[0].body)
    assert payload["channel"]["to"] == {"id": "T9:U9", "idType": "Email"}
    assert payload["conversationId"] == conversation_id


@pytest.mark.parametrize("first", [500, 502, 503, 429])
async def test_retryable_statuses_are_retried(first: int, receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    target.script = [first, first, 200]
    async with genesys_client(fast_world(url)) as http:
        report = (await reply(http))["reports"][0]
    assert statuses(report) == [first, first, 200]
    assert report["outcome"] == "delivered"
    assert len({seen.body for seen in target.seen}) == 1


async def test_timeouts_are_retried(receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    target.script = ["hang", 200]
    async with genesys_client(fast_world(url)) as http:
        report = (await reply(http))["reports"][0]
    assert statuses(report) == ["timeout", 200]
    assert report["outcome"] == "delivered"


async def test_gives_up_after_five_retries_spaced_by_the_scaled_delay(
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    target.script = [500] * 10
    world = fast_world(url)
    sender = WebhookSender(world, time_scale=FAST)
    conversation = world.conversation_for(
        integration_id=SANDBOX_DMS_INTEGRATION_ID, external_id="U1", id_type="Opaque", nickname=None
    )
    addr = Addressing.of(world.integrations[SANDBOX_DMS_INTEGRATION_ID], conversation)
    started = time.monotonic()
    report = await sender.deliver(build_text(addr, "hi", message_id="f" * 32, time="t"))
    elapsed = time.monotonic() - started
    assert [a.status for a in report.attempts] == [500] * 6
    assert report.outcome == "gave_up"
    assert elapsed >= 5 * 5.0 * FAST
    assert len(target.seen) == 6


@pytest.mark.parametrize("status", [400, 404, 413])
async def test_other_client_errors_are_not_retried(
    status: int, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    target.script = [status, 200]
    async with genesys_client(fast_world(url)) as http:
        report = (await reply(http))["reports"][0]
    assert statuses(report) == [status]
    assert report["outcome"] == "rejected"
    assert len(target.seen) == 1


async def test_wrong_secret_fails_verification_at_the_receiver(
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    async with genesys_client(fast_world(url, secret="a-different-secret-value")) as http:
        report = (await reply(http))["reports"][0]
    assert not target.seen[0].signature_ok
    assert statuses(report) == [401]


async def test_duplicate_delivery_sends_the_same_bytes_twice(
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    async with genesys_client(fast_world(url)) as http:
        result = await reply(http, duplicate=True)
    first, second = result["reports"]
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert first["message_id"] == second["message_id"]
    assert [s.body for s in target.seen] == [target.seen[0].body] * 2
    assert all(s.signature_ok for s in target.seen)


async def test_redeliver_on_demand_repeats_an_earlier_message(
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    world = fast_world(url)
    async with genesys_client(world) as http:
        message_id = (await reply(http, kind="quick_replies", text="Proceed?"))["message_id"]
    report = await WebhookSender(world, time_scale=FAST).redeliver(message_id)
    assert report.duplicate
    assert report.outcome == "delivered"
    assert target.seen[0].body == target.seen[1].body
    assert json.loads(target.seen[1].body)["type"] == "Structured"


async def test_attachment_bytes_are_served_by_the_sim(receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    async with genesys_client(fast_world(url)) as http:
        await reply(http, kind="attachment")
        payload = json.loads(target.seen[0].body)
        attachment = payload["content"][0]["attachment"]
        anonymous = await http.get(
            httpx.URL(attachment["url"]).path, params={"redirectToAuth": "false"}
        )
        redirect = await http.get(httpx.URL(attachment["url"]).path, headers=await login(http))
        assert redirect.status_code == 302  # to signed storage, as Genesys' DownloadsApi does
        download = await http.get(redirect.headers["location"])
    assert anonymous.status_code == 401  # downloads need a token by default
    assert httpx.URL(attachment["url"]).path.startswith("/api-downloads.mypurecloud.com/")
    assert payload["type"] == "Text"
    assert "text" not in payload
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(download.content) == attachment["contentSizeBytes"]


async def test_unreachable_webhook_is_retried_then_given_up() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with genesys_client(fast_world(f"http://127.0.0.1:{port}/hook")) as http:
        report = (await reply(http))["reports"][0]
    assert len(report["attempts"]) == 6
    assert report["outcome"] == "gave_up"


async def test_integration_without_webhook_is_reported_not_configured() -> None:
    async with genesys_client(GenesysWorld.seeded()) as http:
        report = (await reply(http))["reports"][0]
    assert report["outcome"] == "not_configured"
    assert report["attempts"] == []


async def test_background_reply_fills_in_its_report(receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    world = fast_world(url)
    async with genesys_client(world) as http:
        response = await http.post(
            "/_sandbox/agent/reply",
            json={"integration_id": SANDBOX_DMS_INTEGRATION_ID, "to_id": "U1", "wait": False},
        )
        assert response.status_code == 202
        for _ in range(100):
            if world.deliveries and world.deliveries[0].outcome != "pending":
                break
            await asyncio.sleep(0.02)
        deliveries = (await http.get("/_sandbox/deliveries")).json()["deliveries"]
    assert deliveries[0]["message_id"] == response.json()["message_id"]
    assert deliveries[0]["outcome"] == "delivered"
    assert len(target.seen) == 1
