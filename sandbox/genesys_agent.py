"""What a Genesys agent does in the sim: answer a conversation with text, media, quick replies,
a card, a typing event or a receipt, delivered through the webhook sender.

Shared by the agent console and `POST /_sandbox/agent/reply`. Replies go to the conversation's
`to.id`, the external user id the conversation was created with, as in real Genesys.
A reply to an integration and user with no conversation yet opens one (what an agentless or
proactive message would do).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from sandbox.genesys_records import DeliveryReport, Download
from sandbox.genesys_schema import REASON_CODES
from sandbox.genesys_webhook import (
    Addressing,
    WebhookSender,
    build_attachment,
    build_card,
    build_date_picker,
    build_list_picker,
    build_quick_replies,
    build_receipt,
    build_text,
    build_typing,
    sample_pdf,
    sample_png,
)
from sandbox.genesys_world import (
    Conversation,
    ConversationMessage,
    GenesysWorld,
    Integration,
    new_message_id,
    new_uuid,
    to_iso,
)

ReplyKind = Literal[
    "text",
    "attachment",
    "file",
    "quick_replies",
    "card",
    "date_picker",
    "list_picker",
    "typing",
    "receipt",
]
ReceiptStatus = Literal["Sent", "Delivered", "Read", "Failed", "Published", "Removed"]

DEFAULT_TEXT = "Hello from the Genesys sandbox agent."


class Reason(BaseModel):
    code: str
    message: str = ""

    def checked(self) -> dict[str, str]:
        if self.code not in REASON_CODES:
            raise ValueError(f"unknown reason code {self.code}")
        return {"code": self.code, "message": self.message}


class ConversationEnded(ValueError):
    """An ended conversation takes no more replies; the customer's next message opens one."""


class AgentReply(BaseModel):
    conversation_id: str | None = None
    # Who answers ("You are:" on the console). Recorded as the conversation's agent
    # participant; the webhook does not carry it, as Genesys' does not.
    agent_name: str | None = Field(default=None, min_length=1, max_length=100)
    integration_id: str | None = None
    to_id: str | None = None
    to_id_type: str = "Opaque"
    kind: ReplyKind = "text"
    text: str | None = None
    quick_replies: list[str] = Field(default_factory=lambda: ["Yes", "No"])
    status: ReceiptStatus = "Delivered"
    reasons: list[Reason] = Field(default_factory=list)
    receipt_for: str | None = None
    duplicate: bool = False
    wait: bool = True
    # An attachment's file ("attachment": a sample PNG, "file": a sample PDF, unless given).
    filename: str | None = Field(default=None, min_length=1, max_length=255)
    mime: str | None = Field(default=None, min_length=3, max_length=100)
    content_base64: str | None = Field(default=None, max_length=8_000_000)

    def attachment_file(self) -> tuple[str, str, bytes, str]:
        """(filename, mime, bytes, mediaType) of the media this reply sends."""
        if self.kind == "file":
            name, mime, data, media = "sandbox-sample.pdf", "application/pdf", sample_pdf(), "File"
        else:
            name, mime, data, media = "sandbox-sample.png", "image/png", sample_png(), "Image"
        if self.content_base64 is not None:
            try:
                data = base64.b64decode(self.content_base64, validate=True)
            except binascii.Error:
                raise ValueError("content_base64 is not base64") from None
        return self.filename or name, self.mime or mime, data, media


class Agent:
    def __init__(self, world: GenesysWorld, *, http: httpx.AsyncClient | None = None) -> None:
        self._world = world
        self._http = http
        self._tasks: set[asyncio.Task[list[DeliveryReport]]] = set()

    def _sender(self) -> WebhookSender:
        return WebhookSender(self._world, time_scale=self._world.config.time_scale, http=self._http)

    def _target(self, reply: AgentReply) -> tuple[Integration, Conversation]:
        world = self._world
        if reply.conversation_id is not None:
            conversation = world.conversations.get(reply.conversation_id)
            if conversation is None:
                raise LookupError(f"conversation {reply.conversation_id} not found")
        elif reply.integration_id is not None and reply.to_id is not None:
            if world.get_integration(reply.integration_id) is None:
                raise LookupError(f"integration {reply.integration_id} not found")
            conversation = world.conversation_for(
                integration_id=reply.integration_id,
                external_id=reply.to_id,
                id_type=reply.to_id_type,
                nickname=None,
            )
        else:
            raise ValueError("give conversation_id, or integration_id and to_id")
        integration = world.get_integration(conversation.integration_id)
        if integration is None:
            raise LookupError(f"integration {conversation.integration_id} not found")
        if conversation.ended_at is not None:
            raise ConversationEnded(f"conversation {conversation.id} has ended")
        return integration, conversation

    def end(self, conversation_id: str) -> Conversation:
        """The agent ends the conversation: every participant is disconnected. Nothing is sent
        to the webhook, because Open Messaging has no such event (external-contracts §G8)."""
        conversation = self._world.conversations.get(conversation_id)
        if conversation is None:
            raise LookupError(f"conversation {conversation_id} not found")
        conversation.end(self._world.now_iso())
        return conversation

    def prepare(self, reply: AgentReply, *, base_url: str) -> dict[str, Any]:
        """Build the payload and record it on the conversation; nothing is sent yet."""
        world = self._world
        integration, conversation = self._target(reply)
        if reply.agent_name is not None:
            world.join_agent(conversation, reply.agent_name)
        addr = Addressing.of(integration, conversation)
        message_id, now = new_message_id(), world.now_iso()
        text = reply.text or DEFAULT_TEXT
        detail: dict[str, Any] = {}
        payload: dict[str, Any]
        if reply.kind == "text":
            payload = build_text(addr, text, message_id=message_id, time=now)
        elif reply.kind in ("attachment", "file", "card"):
            org = world.orgs.get(integration.org_id)
            filename, mime, data, media_type = reply.attachment_file()
            if reply.kind == "card":
                filename, mime, data = "sandbox-sample.png", "image/png", sample_png()
            download = Download(new_uuid(), filename, mime, data, integration.org_id)
            world.downloads[download.id] = download
            # On the org's region `api-downloads` host, as real agent media is
            # (external-contracts §G9).
            host = f"/api-downloads.{org.domain}" if org is not None else ""
            url = f"{base_url}{host}/api/v2/downloads/{download.id}"
            if reply.kind != "card":
                payload = build_attachment(
                    addr, download, url=url, media_type=media_type, message_id=message_id, time=now
                )
                text = download.filename
            else:
                payload = build_card(
                    addr,
                    title=text,
                    description="A card sent from the Genesys sandbox.",
                    image_url=url,
                    buttons=reply.quick_replies,
                    link_url=f"{base_url}/",
                    message_id=message_id,
                    time=now,
                )
            detail["content"] = payload["content"]
        elif reply.kind == "date_picker":
            start = world.now() + 86400
            available = [(to_iso(start + hours * 3600), 1800) for hours in (0, 2, 24)]
            payload = build_date_picker(
                addr,
                title=reply.text or "Pick a time for a call",
                subtitle="Times are in UTC",
                available=available,
                message_id=message_id,
                time=now,
            )
            detail["content"] = payload["content"]
        elif reply.kind == "list_picker":
            payload = build_list_picker(
                addr,
                title=reply.text or "Choose an option",
                subtitle="Pick one",
                items=[(f"item-{n}", label) for n, label in enumerate(reply.quick_replies, 1)],
                message_id=message_id,
                time=now,
            )
            detail["content"] = payload["content"]
        elif reply.kind == "quick_replies":
            payload = build_quick_replies(
                addr, text, reply.quick_replies, message_id=message_id, time=now
            )
            detail["content"] = payload["content"]
        elif reply.kind == "typing":
            payload = build_typing(addr, message_id=message_id, time=now)
            text = "(typing)"
        else:
            reasons = [reason.checked() for reason in reply.reasons]
            about = conversation.find(reply.receipt_for) if reply.receipt_for else None
            payload = build_receipt(
                addr,
                status=reply.status,
                reasons=reasons,
                message_id=reply.receipt_for or message_id,
                time=now,
                direction=about.direction if about else "Outbound",
            )
            text = f"receipt {reply.status}"
        conversation.messages.append(
            ConversationMessage(
                id=payload["id"],
                direction="Outbound",
                type=payload["type"],
                time=now,
                text=text,
                detail=detail,
            )
        )
        return payload

    async def deliver(self, payload: dict[str, Any], *, duplicate: bool) -> list[DeliveryReport]:
        sender = self._sender()
        reports = [await sender.deliver(payload)]
        if duplicate:
            reports.append(await sender.redeliver(payload["id"]))
        return reports

    async def reply(self, reply: AgentReply, *, base_url: str) -> list[DeliveryReport]:
        payload = self.prepare(reply, base_url=base_url)
        return await self.deliver(payload, duplicate=reply.duplicate)

    def reply_later(self, reply: AgentReply, *, base_url: str) -> str:
        """Deliver in the background (retries can take a minute at full scale); the report
        appears in `world.deliveries` and on the console as the attempts happen."""
        payload = self.prepare(reply, base_url=base_url)
        task = asyncio.create_task(self.deliver(payload, duplicate=reply.duplicate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return str(payload["id"])
