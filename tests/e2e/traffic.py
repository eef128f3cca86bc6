"""People typing in the simulated Slack and agents answering in the simulated Genesys.

Slack events go to the app's `/slack/events` over HTTP, signed, with Slack's retry policy
(the simulator's `EventSender`, time-scaled); agent replies go out through the Genesys
simulator's webhook sender, retries included. Both act on the simulators' worlds, so what
was sent can be compared with what arrived.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from app.signing import slack_headers, slack_signature
from devkit.harness.tenants import TenantSpec
from sandbox.genesys_agent import Agent, AgentReply
from sandbox.genesys_records import DeliveryReport as WebhookReport
from sandbox.genesys_webhook import WebhookSender
from sandbox.slack_actions import Choice, build_block_actions
from sandbox.slack_events import DeliveryReport, EventSender, build_envelope
from sandbox.slack_objects import message_object
from sandbox.slack_payloads import (
    BuiltEvent,
    build_delete,
    build_dm,
    build_edit,
    build_mention,
    rich_text_blocks,
)
from sandbox.slack_records import SlackMessage
from sandbox.slack_world import SANDBOX_APP_ID, SANDBOX_SIGNING_SECRET
from tests.e2e.stack import SLACK_RETRY_SCALE, System


def thread_id(spec: TenantSpec, channel: str, thread_ts: str) -> str:
    """Genesys' `from.id` / `to.id` for a Slack thread."""
    return f"{spec.slack_team_id}:{channel}:{thread_ts}"


def dm_id(spec: TenantSpec, slack_user_id: str) -> str:
    return f"{spec.slack_team_id}:{slack_user_id}"


def build_thread_reply(
    system: System, spec: TenantSpec, *, channel: str, thread_ts: str, user: str, text: str
) -> BuiltEvent:
    """A plain reply in a thread, no mention: Slack sends a `message` event, not `app_mention`."""
    world = system.slack
    message = world.add_message(
        SlackMessage(
            ts=world.new_ts(),
            slack_channel_id=channel,
            slack_team_id=spec.slack_team_id,
            text=text,
            user=user,
            thread_ts=thread_ts,
            blocks=rich_text_blocks(text),
            client_msg_id=str(uuid.uuid4()),
        )
    )
    event = message_object(world, message, base_url=world.public_url)
    event.update(channel=channel, event_ts=message.ts, channel_type="channel")
    return BuiltEvent(
        event,
        spec.slack_team_id,
        world.active_installation(spec.slack_team_id),
        world.channels[channel],
        message,
    )


class SlackPeople:
    def __init__(self, system: System, *, time_scale: float = SLACK_RETRY_SCALE) -> None:
        self.system = system
        self.world = system.slack
        self.sender = EventSender(
            self.world,
            signing_secret=SANDBOX_SIGNING_SECRET,
            time_scale=time_scale,
            http=system.http,
        )

    @property
    def events_url(self) -> str:
        return f"{self.system.app_url}/slack/events"

    async def send(self, built: BuiltEvent, *, background_retries: bool = False) -> DeliveryReport:
        report = await self.sender.send(built, background_retries=background_retries)
        if not background_retries:
            assert report.delivered, f"Slack could not deliver {report.event_id}: {report}"
        return report

    async def mention(
        self,
        spec: TenantSpec,
        text: str,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        user: str | None = None,
    ) -> SlackMessage:
        built = build_mention(
            self.world,
            slack_team_id=spec.slack_team_id,
            slack_channel_id=channel or spec.support_channel,
            slack_user_id=user or spec.customer,
            text=text,
            thread_ts=thread_ts,
        )
        await self.send(built)
        assert built.message is not None
        return built.message

    def thread_reply(
        self, spec: TenantSpec, *, thread_ts: str, text: str, channel: str | None = None
    ) -> BuiltEvent:
        return build_thread_reply(
            self.system,
            spec,
            channel=channel or spec.support_channel,
            thread_ts=thread_ts,
            user=spec.customer,
            text=text,
        )

    async def reply(
        self, spec: TenantSpec, *, thread_ts: str, text: str, channel: str | None = None
    ) -> SlackMessage:
        built = self.thread_reply(spec, thread_ts=thread_ts, text=text, channel=channel)
        await self.send(built)
        assert built.message is not None
        return built.message

    async def edit(self, message: SlackMessage, text: str) -> None:
        await self.send(
            build_edit(
                self.world, slack_channel_id=message.slack_channel_id, ts=message.ts, text=text
            )
        )

    async def delete(self, message: SlackMessage) -> None:
        await self.send(
            build_delete(self.world, slack_channel_id=message.slack_channel_id, ts=message.ts)
        )

    def dm_built(self, spec: TenantSpec, text: str, *, user: str | None = None) -> BuiltEvent:
        return build_dm(
            self.world,
            slack_team_id=spec.slack_team_id,
            slack_user_id=user or spec.customer,
            text=text,
        )

    async def dm(self, spec: TenantSpec, text: str, *, user: str | None = None) -> SlackMessage:
        built = self.dm_built(spec, text, user=user)
        await self.send(built)
        assert built.message is not None
        return built.message

    def envelope(self, built: BuiltEvent) -> dict[str, Any]:
        """The signed-over body Slack would push, with a fresh `event_id`, not yet sent."""
        return build_envelope(self.world, built)

    async def post(
        self, envelope: dict[str, Any], *, retry_num: int | None = None
    ) -> httpx.Response:
        """One delivery attempt of an envelope, optionally marked as Slack's retry."""
        body = json.dumps(envelope).encode()
        headers = slack_headers(SANDBOX_SIGNING_SECRET, body)
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return await self.system.http.post(self.events_url, content=body, headers=headers)

    async def click(
        self, spec: TenantSpec, message: SlackMessage, action: dict[str, Any], *, user: str
    ) -> httpx.Response:
        """A person clicks a button of the bot's message: a `block_actions` payload, form
        encoded as `payload=`, signed over the raw form body as Slack does."""
        action_ts = f"{time.time():.6f}"
        payload = {
            "type": "block_actions",
            "api_app_id": SANDBOX_APP_ID,
            "token": "sandboxVerificationToken0",
            "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:12]}",
            "team": {"id": spec.slack_team_id, "domain": spec.name.lower()},
            "enterprise": None,
            "is_enterprise_install": False,
            "user": {"id": user, "username": user.lower(), "team_id": spec.slack_team_id},
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.slack_channel_id,
                "is_ephemeral": False,
                "thread_ts": message.thread_ts,
            },
            "channel": {"id": message.slack_channel_id},
            "message": message_object(self.world, message, base_url=self.world.public_url),
            "actions": [
                {
                    "type": "button",
                    "action_id": action["action_id"],
                    "block_id": action.get("block_id", "b"),
                    "text": action.get("text", {"type": "plain_text", "text": "?"}),
                    "value": action["value"],
                    "action_ts": action_ts,
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": slack_signature(SANDBOX_SIGNING_SECRET, timestamp, body),
        }
        return await self.system.http.post(self.events_url, content=body, headers=headers)

    async def act(
        self,
        spec: TenantSpec,
        message: SlackMessage,
        element: dict[str, Any],
        *,
        user: str,
        choice: Choice | None = None,
    ) -> httpx.Response:
        """A person uses an element of the bot's message (a button, a select, a date picker):
        the `block_actions` payload the simulated Slack builds, signed as Slack signs it."""
        block_id = next(
            str(block.get("block_id"))
            for block in message.blocks or []
            if element in (block.get("elements") or []) or element == block.get("accessory")
        )
        payload = build_block_actions(
            self.world,
            slack_team_id=spec.slack_team_id,
            slack_user_id=user,
            slack_channel_id=message.slack_channel_id,
            ts=message.ts,
            block_id=block_id,
            action_id=str(element["action_id"]),
            choice=choice or Choice(),
        )
        body = urlencode({"payload": json.dumps(payload)}).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": slack_signature(SANDBOX_SIGNING_SECRET, timestamp, body),
        }
        return await self.system.http.post(self.events_url, content=body, headers=headers)


class Agents:
    """Genesys agents: replies built and signed by the simulator, delivered to our webhook."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.agent = Agent(system.genesys)

    async def reply(
        self,
        integration_id: str,
        to_id: str,
        text: str,
        *,
        kind: str = "text",
        duplicate: bool = False,
        quick_replies: list[str] | None = None,
        agent_name: str | None = None,
        filename: str | None = None,
        content: bytes | None = None,
    ) -> list[WebhookReport]:
        """`filename`/`content`: the file of a `kind="attachment"` or `"file"` reply."""
        reply = AgentReply.model_validate(
            {
                "filename": filename,
                "content_base64": base64.b64encode(content).decode() if content else None,
                "agent_name": agent_name,
                "integration_id": integration_id,
                "to_id": to_id,
                "text": text,
                "kind": kind,
                "duplicate": duplicate,
                "quick_replies": quick_replies or ["Yes", "No"],
            }
        )
        return await self.agent.reply(reply, base_url=self.system.sims.genesys_url)

    def prepare(self, integration_id: str, to_id: str, text: str) -> dict[str, Any]:
        """An agent message recorded in Genesys but not yet pushed to the webhook."""
        reply = AgentReply(integration_id=integration_id, to_id=to_id, text=text)
        return self.agent.prepare(reply, base_url=self.system.sims.genesys_url)

    async def push(self, payload: dict[str, Any]) -> WebhookReport:
        sender = WebhookSender(
            self.system.genesys, time_scale=self.system.genesys.config.time_scale
        )
        return await sender.deliver(payload)
