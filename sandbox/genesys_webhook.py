"""Genesys' side of the outbound webhook: the payload shapes (external-contracts §G6) and a sender
that delivers them the way Genesys does.

Delivery is compact JSON signed with `X-Hub-Signature-256` over the exact bytes sent, plus the
integration's `webhookHeaders`. Each attempt has a 10 s timeout; a timeout, a transport error,
429 or 5xx is retried up to 5 times, 5 s apart; any other answer ends the delivery. All times
scale with `time_scale` so tests can run the whole policy in milliseconds. A duplicate
delivery (same bytes, same `id`) can be sent on demand, because real Genesys does that too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

import httpx

from sandbox.genesys_records import DeliveryAttempt, DeliveryReport, Download
from sandbox.genesys_world import Conversation, GenesysWorld, Integration
from sandbox.signing import genesys_signature

log = logging.getLogger(__name__)

ATTEMPT_TIMEOUT_SECONDS = 10.0
RETRY_DELAY_SECONDS = 5.0
MAX_RETRIES = 5
TYPING_DURATION_MS = 5000


@dataclass(frozen=True)
class Addressing:
    """Who an outbound message is from (the integration) and to (the external user)."""

    integration_id: str
    integration_name: str
    to_id: str
    to_id_type: str
    conversation_id: str

    @classmethod
    def of(cls, integration: Integration, conversation: Conversation) -> Addressing:
        return cls(
            integration_id=integration.id,
            integration_name=integration.name,
            to_id=conversation.external_id,
            to_id_type=conversation.external_id_type,
            conversation_id=conversation.id,
        )


def _envelope(addr: Addressing, *, message_id: str, time: str, type_: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "channel": {
            "id": addr.integration_id,
            "platform": "Open",
            "type": "Private",
            "to": {"id": addr.to_id, "idType": addr.to_id_type},
            "from": {
                "nickname": addr.integration_name,
                "id": addr.integration_id,
                "idType": "Opaque",
            },
            "time": time,
            "messageId": message_id,
        },
        "type": type_,
    }


def _message(
    addr: Addressing,
    *,
    message_id: str,
    time: str,
    type_: str,
    text: str | None,
    content: list[dict[str, Any]] | None,
    originating_entity: str,
) -> dict[str, Any]:
    payload = _envelope(addr, message_id=message_id, time=time, type_=type_)
    if text is not None:
        payload["text"] = text
    if content is not None:
        payload["content"] = content
    payload["originatingEntity"] = originating_entity
    payload["direction"] = "Outbound"
    payload["conversationId"] = addr.conversation_id
    return payload


def build_text(
    addr: Addressing, text: str, *, message_id: str, time: str, originating_entity: str = "Human"
) -> dict[str, Any]:
    return _message(
        addr,
        message_id=message_id,
        time=time,
        type_="Text",
        text=text,
        content=None,
        originating_entity=originating_entity,
    )


def build_attachment(
    addr: Addressing, download: Download, *, url: str, media_type: str, message_id: str, time: str
) -> dict[str, Any]:
    """Agent media arrives as `type: Text` with a `content` attachment and no `text`."""
    attachment = {
        "id": download.id,
        "mediaType": media_type,
        "mime": download.mime,
        "filename": download.filename,
        "contentSizeBytes": len(download.data),
        "url": url,
    }
    return _message(
        addr,
        message_id=message_id,
        time=time,
        type_="Text",
        text=None,
        content=[{"contentType": "Attachment", "attachment": attachment}],
        originating_entity="Human",
    )


def build_quick_replies(
    addr: Addressing, text: str, replies: list[str], *, message_id: str, time: str
) -> dict[str, Any]:
    content = [
        {
            "contentType": "QuickReply",
            "quickReply": {"text": reply, "payload": reply, "action": "Message"},
        }
        for reply in replies
    ]
    return _message(
        addr,
        message_id=message_id,
        time=time,
        type_="Structured",
        text=text,
        content=content,
        originating_entity="Human",
    )


def build_card(
    addr: Addressing,
    *,
    title: str,
    description: str,
    image_url: str,
    buttons: list[str],
    link_url: str,
    message_id: str,
    time: str,
) -> dict[str, Any]:
    actions: list[dict[str, Any]] = [
        {"type": "Postback", "text": label, "payload": label} for label in buttons
    ]
    actions.append({"type": "Link", "text": "Open", "url": link_url})
    card = {
        "title": title,
        "description": description,
        "image": image_url,
        "defaultAction": {"type": "Link", "url": link_url},
        "actions": actions,
    }
    return _message(
        addr,
        message_id=message_id,
        time=time,
        type_="Structured",
        text=title,
        content=[{"contentType": "Card", "card": card}],
        originating_entity="Human",
    )


def build_date_picker(
    addr: Addressing,
    *,
    title: str,
    subtitle: str,
    available: list[tuple[str, int]],
    message_id: str,
    time: str,
) -> dict[str, Any]:
    """A DatePicker (GCX sample; SDK ConversationContentDatePicker): times offered, each with
    a duration in seconds; the answer comes back as a `DatePicker` button response."""
    picker = {
        "title": title,
        "subtitle": subtitle,
        "availableTimes": [{"dateTime": at, "duration": seconds} for at, seconds in available],
    }
    return _message(
        addr,
        message_id=message_id,
        time=time,
        type_="Structured",
        text=title,
        content=[{"contentType": "DatePicker", "datePicker": picker}],
        originating_entity="Human",
    )


def build_list_picker(
    addr: Addressing,
    *,
    title: str,
    subtitle: str,
    items: list[tuple[str, str]],
    message_id: str,
    time: str,
) -> dict[str, Any]:
    """A ListPicker as the SDK models it (ConversationContentListPicker: a title and subtitle,
    sections of items, each with an `id` and a `title`). Not seen on Open Messaging yet
    (UNCONFIRMED); its answer is a `Button` response, the SDK's button response having no
    ListPicker type."""
    picker = {
        "title": title,
        "subtitle": subtitle,
        "sections": [
            {"title": "Options", "items": [{"id": key, "title": label} for key, label in items]}
        ],
    }
    return _message(
        addr,
        message_id=message_id,
        time=time,
        type_="Structured",
        text=title,
        content=[{"contentType": "ListPicker", "listPicker": picker}],
        originating_entity="Human",
    )


def build_typing(
    addr: Addressing, *, message_id: str, time: str, duration_ms: int = TYPING_DURATION_MS
) -> dict[str, Any]:
    """Events carry no `originatingEntity`, unlike messages."""
    payload = _envelope(addr, message_id=message_id, time=time, type_="Event")
    payload["events"] = [{"eventType": "Typing", "typing": {"type": "On", "duration": duration_ms}}]
    payload["direction"] = "Outbound"
    payload["conversationId"] = addr.conversation_id
    return payload


def build_receipt(
    addr: Addressing,
    *,
    status: str,
    message_id: str,
    time: str,
    reasons: list[dict[str, str]] | None = None,
    is_final: bool = True,
    direction: str = "Outbound",
) -> dict[str, Any]:
    payload = _envelope(addr, message_id=message_id, time=time, type_="Receipt")
    payload["status"] = status
    if reasons:
        payload["reasons"] = reasons
    payload["isFinalReceipt"] = is_final
    payload["direction"] = direction
    payload["conversationId"] = addr.conversation_id
    return payload


def to_body(payload: dict[str, Any]) -> bytes:
    """Compact JSON, non-ASCII kept as UTF-8: what `JSON.stringify` would produce."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sample_pdf(title: str = "Switchboard sandbox sample") -> bytes:
    """A small valid one-page PDF built in code (objects, xref table with exact offsets)."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")[:80]
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def sample_png(width: int = 24, height: int = 24) -> bytes:
    """A small valid PNG (a diagonal gradient) built in code, so the sim ships no binary file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + b"".join(bytes((40 + 8 * x, 90 + 6 * y, 200)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class WebhookSender:
    def __init__(
        self, world: GenesysWorld, *, time_scale: float = 1.0, http: httpx.AsyncClient | None = None
    ) -> None:
        self._world = world
        self._time_scale = time_scale
        self._http = http

    async def deliver(self, payload: dict[str, Any]) -> DeliveryReport:
        """Send one payload to its integration's webhook (`channel.id` names the integration)."""
        body = to_body(payload)
        integration_id = payload["channel"]["id"]
        self._world.sent_bodies[payload["id"]] = (integration_id, body)
        return await self._send(
            integration_id, payload["id"], payload["type"], body, duplicate=False
        )

    async def redeliver(self, message_id: str) -> DeliveryReport:
        """Send the exact bytes of an earlier delivery again, as Genesys sometimes does."""
        integration_id, body = self._world.sent_bodies[message_id]
        payload_type = json.loads(body)["type"]
        return await self._send(integration_id, message_id, payload_type, body, duplicate=True)

    async def _send(
        self,
        integration_id: str,
        message_id: str,
        payload_type: str,
        body: bytes,
        *,
        duplicate: bool,
    ) -> DeliveryReport:
        world = self._world
        integration = world.get_integration(integration_id)
        url = integration.webhook_url if integration else None
        report = DeliveryReport(
            seq=len(world.deliveries) + 1,
            message_id=message_id,
            integration_id=integration_id,
            payload_type=payload_type,
            url=url,
            duplicate=duplicate,
        )
        world.deliveries.append(report)
        if integration is None or url is None:
            report.outcome = "not_configured"
            return report
        headers = dict(integration.webhook_headers)
        headers["Content-Type"] = "application/json"
        if integration.webhook_secret:
            headers["X-Hub-Signature-256"] = genesys_signature(integration.webhook_secret, body)
        if self._http is not None:
            await self._attempts(self._http, url, body, headers, report)
        else:
            async with httpx.AsyncClient() as http:
                await self._attempts(http, url, body, headers, report)
        log.info(
            "genesys sim webhook delivery",
            extra={
                "genesys_integration_id": integration_id,
                "genesys_message_id": message_id,
                "outcome": report.outcome,
                "attempts": len(report.attempts),
            },
        )
        return report

    async def _attempts(
        self,
        http: httpx.AsyncClient,
        url: str,
        body: bytes,
        headers: dict[str, str],
        report: DeliveryReport,
    ) -> None:
        timeout = ATTEMPT_TIMEOUT_SECONDS * self._time_scale
        for number in range(1, MAX_RETRIES + 2):
            if number > 1:
                await asyncio.sleep(RETRY_DELAY_SECONDS * self._time_scale)
            started = time.monotonic()
            status: int | None = None
            error: str | None = None
            try:
                response = await http.post(url, content=body, headers=headers, timeout=timeout)
                status = response.status_code
            except httpx.TimeoutException:
                error = "timeout"
            except httpx.TransportError as exc:
                error = type(exc).__name__
            elapsed_ms = round((time.monotonic() - started) * 1000)
            report.attempts.append(DeliveryAttempt(number, status, error, elapsed_ms))
            if status is not None and 200 <= status < 300:
                report.outcome = "delivered"
                return
            if status is not None and not _retryable(status):
                report.outcome = "rejected"
                return
        report.outcome = "gave_up"
