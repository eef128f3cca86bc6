"""The webhook signature: the reference's test vector (§3.2 over the capture in §3.3.1), the
sim producing those exact bytes, and verification refusing anything tampered with."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.signing import genesys_signature, verify_genesys
from sandbox.genesys_records import DeliveryReport
from sandbox.genesys_webhook import Addressing, WebhookSender, build_text, to_body
from sandbox.genesys_world import SANDBOX_MENTIONS_INTEGRATION_ID, GenesysWorld
from sandbox.runner import ServerThread

VECTOR_SECRET = "example-secret-0123456789"
VECTOR_SIGNATURE = "sha256=2kNBtdfQ8PpJfjFfUuppBTEnpuDcnG0BslDJpAa+vSw="
CAPTURED_TEXT: dict[str, Any] = {
    "id": "d7d58935af65a45e5234ac77de017a0a",
    "channel": {
        "id": "e6b352de-ecd0-49c7-94de-7787418869bc",
        "platform": "Open",
        "type": "Private",
        "to": {"id": "U024BE7LH", "idType": "Opaque"},
        "from": {
            "nickname": "Slack Bridge",
            "id": "e6b352de-ecd0-49c7-94de-7787418869bc",
            "idType": "Opaque",
        },
        "time": "2025-06-10T21:03:05.427Z",
        "messageId": "d7d58935af65a45e5234ac77de017a0a",
    },
    "type": "Text",
    "text": "Hi",
    "originatingEntity": "Human",
    "direction": "Outbound",
    "conversationId": "5d0d331e-d2a8-4fb5-96f7-7021bef2a8ee",
}
CAPTURED_ADDR = Addressing(
    integration_id="e6b352de-ecd0-49c7-94de-7787418869bc",
    integration_name="Slack Bridge",
    to_id="U024BE7LH",
    to_id_type="Opaque",
    conversation_id="5d0d331e-d2a8-4fb5-96f7-7021bef2a8ee",
)


def test_signature_test_vector_from_the_reference() -> None:
    body = json.dumps(CAPTURED_TEXT, separators=(",", ":")).encode()
    assert len(body) == 485
    assert genesys_signature(VECTOR_SECRET, body) == VECTOR_SIGNATURE
    assert verify_genesys(VECTOR_SECRET, signature=VECTOR_SIGNATURE, body=body)


def test_sim_builds_the_captured_agent_text_byte_for_byte() -> None:
    payload = build_text(
        CAPTURED_ADDR,
        "Hi",
        message_id="d7d58935af65a45e5234ac77de017a0a",
        time="2025-06-10T21:03:05.427Z",
    )
    body = to_body(payload)
    assert body == json.dumps(CAPTURED_TEXT, separators=(",", ":")).encode()
    assert genesys_signature(VECTOR_SECRET, body) == VECTOR_SIGNATURE


@pytest.mark.parametrize(
    ("secret", "signature", "body"),
    [
        ("wrong-secret-0123456789", VECTOR_SIGNATURE, None),
        (VECTOR_SECRET, VECTOR_SIGNATURE.replace("2kNB", "2kNC"), None),
        (VECTOR_SECRET, VECTOR_SIGNATURE, b'{"id":"tampered"}'),
        (VECTOR_SECRET, VECTOR_SIGNATURE.removeprefix("sha256="), None),
        (VECTOR_SECRET, "sha256=" + base64.b64decode(VECTOR_SIGNATURE[7:]).hex(), None),
        (VECTOR_SECRET, None, None),
    ],
    ids=["wrong secret", "altered digest", "altered body", "no prefix", "hex digest", "missing"],
)
def test_tampered_genesys_signatures_are_rejected(
    secret: str, signature: str | None, body: bytes | None
) -> None:
    raw = body or json.dumps(CAPTURED_TEXT, separators=(",", ":")).encode()
    assert not verify_genesys(secret, signature=signature, body=raw)


async def test_sender_delivers_the_vector_bytes_and_signature() -> None:
    received: list[tuple[bytes, str | None]] = []

    async def hook(request: Request) -> Response:
        received.append((await request.body(), request.headers.get("x-hub-signature-256")))
        return Response(status_code=200)

    world = GenesysWorld.seeded(webhook_secret=VECTOR_SECRET)
    assert CAPTURED_ADDR.integration_id == SANDBOX_MENTIONS_INTEGRATION_ID
    integration = world.integrations[SANDBOX_MENTIONS_INTEGRATION_ID]
    integration.name = "Slack Bridge"
    payload = build_text(
        CAPTURED_ADDR,
        "Hi",
        message_id="d7d58935af65a45e5234ac77de017a0a",
        time="2025-06-10T21:03:05.427Z",
    )
    receiver = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with ServerThread(receiver) as server:
        integration.webhook_url = f"{server.url}/hook"
        report: DeliveryReport = await WebhookSender(world).deliver(payload)
    assert report.outcome == "delivered"
    assert received == [
        (json.dumps(CAPTURED_TEXT, separators=(",", ":")).encode(), VECTOR_SIGNATURE)
    ]
