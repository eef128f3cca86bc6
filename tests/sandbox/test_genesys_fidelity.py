"""The sim against the reference (docs/external-contracts.md): every field name
and enum it lists must be accepted or emitted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, get_args

from sandbox import genesys_schema as schema
from sandbox.genesys_agent import ReceiptStatus
from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_records import Download
from sandbox.genesys_webhook import (
    Addressing,
    build_attachment,
    build_card,
    build_quick_replies,
    build_receipt,
    build_text,
    build_typing,
    sample_png,
)
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    GenesysWorld,
)
from tests.sandbox.simulators import genesys_session

ADDR = Addressing(
    integration_id="e6b352de-ecd0-49c7-94de-7787418869bc",
    integration_name="Slack Bridge",
    to_id="U024BE7LH",
    to_id_type="Opaque",
    conversation_id="5d0d331e-d2a8-4fb5-96f7-7021bef2a8ee",
)
INBOUND = f"/api/v2/conversations/messages/{SANDBOX_DMS_INTEGRATION_ID}/inbound/open"


def keys(value: Any) -> set[str]:
    """Every key at any depth of a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for item in value.values() for k in keys(item)}
    if isinstance(value, list):
        return {k for item in value for k in keys(item)}
    return set()


def values_at(payloads: Iterable[dict[str, Any]], name: str) -> set[Any]:
    """Every scalar found under key `name`, at any depth."""
    found: set[Any] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == name and not isinstance(item, dict | list):
                    found.add(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for payload in payloads:
        walk(payload)
    return found


def outbound_payloads() -> list[dict[str, Any]]:
    download = Download(
        "8b36304e-0000-4000-8000-000000000001", "image.png", "image/png", sample_png()
    )
    common = "2025-06-10T21:03:05.427Z"
    payloads = [
        build_text(ADDR, "Hi", message_id="a" * 32, time=common),
        build_attachment(
            ADDR,
            download,
            url="https://x/d",
            media_type="Image",
            message_id="b" * 32,
            time=common,
        ),
        build_quick_replies(ADDR, "Proceed?", ["Yes", "No"], message_id="c" * 32, time=common),
        build_card(
            ADDR,
            title="Order",
            description="Your order",
            image_url="https://x/i",
            buttons=["Track"],
            link_url="https://x",
            message_id="d" * 32,
            time=common,
        ),
        build_typing(ADDR, message_id="e" * 32, time=common),
    ]
    for status in schema.RECEIPT_STATUSES:
        payloads.append(
            build_receipt(
                ADDR,
                status=status,
                reasons=[{"code": "GeneralError", "message": "boom"}],
                message_id="f" * 32,
                time=common,
            )
        )
    return payloads


def test_outbound_payloads_use_every_envelope_field_and_type() -> None:
    payloads = outbound_payloads()
    emitted = keys(payloads)
    assert {
        "id",
        "channel",
        "platform",
        "type",
        "to",
        "from",
        "idType",
        "nickname",
        "time",
        "messageId",
        "text",
        "content",
        "originatingEntity",
        "direction",
        "conversationId",
        "events",
        "status",
        "reasons",
        "isFinalReceipt",
    } <= emitted
    assert {
        "contentType",
        "attachment",
        "mediaType",
        "mime",
        "filename",
        "contentSizeBytes",
        "url",
    } <= emitted
    assert {"quickReply", "payload", "action"} <= emitted
    assert {"card", "title", "description", "image", "actions", "defaultAction"} <= emitted
    assert {"eventType", "typing", "duration", "code", "message"} <= emitted
    assert {p["type"] for p in payloads} == {"Text", "Structured", "Event", "Receipt"}
    assert values_at(payloads, "contentType") == {"Attachment", "QuickReply", "Card"}
    assert values_at(payloads, "platform") == {"Open"}
    assert values_at(payloads, "originatingEntity") == {"Human"}
    assert values_at(payloads, "direction") == {"Outbound"}
    assert values_at(payloads, "eventType") == {"Typing"}
    assert {"Postback", "Link"} <= values_at(payloads, "type")
    assert {p["status"] for p in payloads if p["type"] == "Receipt"} == set(schema.RECEIPT_STATUSES)
    typing = next(p for p in payloads if p["type"] == "Event")
    assert "originatingEntity" not in typing
    assert typing["events"] == [{"eventType": "Typing", "typing": {"type": "On", "duration": 5000}}]
    attachment = payloads[1]
    assert attachment["type"] == "Text" and "text" not in attachment


def test_enums_match_the_reference() -> None:
    assert schema.ID_TYPES == ("Email", "Phone", "Opaque")
    assert schema.MEDIA_TYPES == ("Image", "Video", "Audio", "File", "Link")
    assert schema.RECEIPT_STATUSES == (
        "Sent",
        "Delivered",
        "Read",
        "Failed",
        "Published",
        "Removed",
    )
    assert get_args(ReceiptStatus) == schema.RECEIPT_STATUSES
    assert schema.INBOUND_RECEIPT_STATUSES == ("Delivered", "Failed")
    assert schema.BUTTON_RESPONSE_TYPES == ("Button", "QuickReply", "DatePicker")
    assert set(schema.REASON_CODES) == {
        "MessageExpired",
        "RateLimited",
        "MessageNotAllowed",
        "GeneralError",
        "UnsupportedMessage",
        "UnknownMessage",
        "InvalidMessageStructure",
        "InvalidDestination",
        "ServerError",
        "MediaTypeNotAllowed",
        "InvalidMediaContentLength",
        "RecipientOptedOut",
        "DataFiltered",
    }


def full_message(id_type: str, media_type: str) -> dict[str, Any]:
    """OpenInboundNormalizedMessage with every field the SDK model has."""
    return {
        "channel": {
            "messageId": f"m-{id_type}-{media_type}",
            "time": "2025-06-10T21:03:21.043Z",
            "from": {
                "nickname": "Jane Doe",
                "id": "T1:U1",
                "idType": id_type,
                "firstName": "Jane",
                "lastName": "Doe",
                "image": "https://example.com/jane.png",
                "email": "jane@example.com",
            },
            "metadata": {"customAttributes": {"slackTeam": "T1"}},
        },
        "text": "screenshot.png",
        "content": [
            {
                "contentType": "Attachment",
                "attachment": {
                    "id": "media-1",
                    "mediaType": media_type,
                    "url": "https://files.example.com/a.png",
                    "mime": "image/png",
                    "text": "caption",
                    "sha256": "0" * 64,
                    "filename": "a.png",
                },
            }
        ],
        "metadata": {"source": "slack"},
    }


async def test_every_inbound_message_field_and_enum_is_accepted() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        responses = [
            await http.post(f"{INBOUND}/message", headers=auth, json=full_message(i, m))
            for i in (*schema.ID_TYPES, "email")
            for m in schema.MEDIA_TYPES
        ]
    assert {r.status_code for r in responses} == {200}
    body = responses[0].json()
    assert set(body) == {"id", "channel", "type", "text", "content", "metadata", "conversationId"}
    assert set(body["channel"]) == {
        "id",
        "platform",
        "type",
        "messageId",
        "from",
        "time",
        "metadata",
    }
    assert set(body["channel"]["from"]) == set(schema.RECIPIENT_FIELDS)
    assert set(body["content"][0]["attachment"]) == set(schema.ATTACHMENT_FIELDS)


async def test_every_event_receipt_and_structured_enum_is_accepted() -> None:
    sender = {"id": "T1:U1", "idType": "Opaque"}
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        typing = await http.post(
            f"{INBOUND}/event",
            headers=auth,
            json={"channel": {"from": sender}, "events": [{"eventType": "Typing"}]},
        )
        receipts = [
            await http.post(
                f"{INBOUND}/receipt",
                headers=auth,
                json={
                    "id": "a" * 32,
                    "channel": {"to": sender, "time": "2025-06-10T21:03:25.100Z"},
                    "status": status,
                    "direction": "Outbound",
                    "isFinalReceipt": True,
                    "reasons": [{"code": code, "message": "x"} for code in schema.REASON_CODES],
                },
            )
            for status in schema.INBOUND_RECEIPT_STATUSES
        ]
        answers = [
            await http.post(
                f"{INBOUND}/structured/response",
                headers=auth,
                json={
                    "channel": {"messageId": f"s-{kind}", "from": sender},
                    "buttonResponse": {"type": kind, "text": "Yes", "payload": "Yes"},
                    "originatingMessageId": "b" * 32,
                },
            )
            for kind in schema.BUTTON_RESPONSE_TYPES
        ]
    assert typing.status_code == 200
    assert [r.status_code for r in receipts + answers] == [200] * 5
    assert {"id", "channel", "type", "status", "reasons", "isFinalReceipt", "direction"} <= set(
        receipts[0].json()
    )


async def test_integration_has_every_open_integration_field() -> None:
    config = GenesysConfig(return_secret_on_get=True, integration_create_delay_seconds=0)
    error_config = config.model_copy(update={"integration_create_result": "Error"})
    fields = {
        "id",
        "name",
        "supportedContent",
        "messagingSetting",
        "outboundNotificationWebhookUrl",
        "outboundNotificationWebhookSignatureSecretToken",
        "webhookHeaders",
        "status",
        "recipient",
        "dateCreated",
        "dateModified",
        "createdBy",
        "modifiedBy",
        "createStatus",
        "selfUri",
    }
    async with genesys_session(GenesysWorld.seeded(config=config)) as (http, auth):
        body = (
            await http.get(
                f"/api/v2/conversations/messaging/integrations/open/{SANDBOX_DMS_INTEGRATION_ID}",
                headers=auth,
            )
        ).json()
    async with genesys_session(GenesysWorld.seeded(config=error_config)) as (http, auth):
        created = await http.post(
            "/api/v2/conversations/messaging/integrations/open",
            headers=auth,
            json={
                "name": "x",
                "outboundNotificationWebhookUrl": "https://bridge.test/x",
                "outboundNotificationWebhookSignatureSecretToken": "s" * 20,
                "webhookHeaders": {"X-Tenant": "t"},
                "supportedContent": {"id": "sc-1"},
                "messagingSetting": {"id": "ms-1"},
            },
        )
        failed = (
            await http.get(
                f"/api/v2/conversations/messaging/integrations/open/{created.json()['id']}",
                headers=auth,
            )
        ).json()
    assert fields <= set(body)
    assert {"createStatus", "createError"} <= set(failed)
    assert failed["createStatus"] == "Error"
    assert (failed["supportedContent"]["id"], failed["messagingSetting"]["id"]) == ("sc-1", "ms-1")
    assert {"inbound", "outbound"} <= set(body["messagingSetting"]["event"]["typing"]["on"])
    assert {"inbound", "outbound"} <= set(body["supportedContent"]["mediaTypes"]["allow"])
