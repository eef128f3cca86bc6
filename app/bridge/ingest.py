"""Making inbound traffic durable before the sender gets its answer.

Slack events and Genesys webhooks both end here, already verified. Each accepted message is
one short transaction: find the tenant, upsert its conversation, insert the message (the
unique constraints drop retries and redeliveries), and queue the conversation's delivery job.
Nothing here calls Slack or Genesys; the worker does that.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import queueing, routing, store
from app.bridge.inbound import slack_ts_to_datetime
from app.bridge.outbound import (
    AgentMessage,
    AgentStructured,
    ButtonClick,
    MalformedWebhook,
    parse_webhook,
)
from app.bridge.rendering import InvalidButtonValue, parse_button_value
from app.bridge.routing import Ignored, SlackMessage
from app.crypto import SecretBox
from app.db.models import GenesysIntegration
from app.db.text import storable
from app.json_input import json_object
from app.logs import trace_id
from app.signing import verify_genesys
from app.tenants import store as tenants_store
from app.tenants.purposes import GENESYS_WEBHOOK_SECRET

log = logging.getLogger(__name__)

# A thread counts as live for plain (non-mention) replies this long after its last message;
# Genesys groups a customer's messages for about 72 hours (external-contracts §G7).
LIVE_THREAD_WINDOW = timedelta(hours=72)
# An integration's last verified / last refused webhook time is rewritten at most this often.
WEBHOOK_SEEN_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    detail: str


def _parse_time(value: str | None) -> datetime:
    if value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def _older(moment: datetime | None, than: datetime) -> bool:
    return moment is None or moment < than


def _event_tenant_keys(envelope: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """Bolt's rule: `authorizations[0]` names the installation (it matters in Slack Connect)."""
    auths = envelope.get("authorizations")
    first = auths[0] if isinstance(auths, list) and auths and isinstance(auths[0], dict) else {}
    enterprise = first.get("enterprise_id") or envelope.get("enterprise_id")
    team = first.get("team_id") or envelope.get("team_id")
    return enterprise, team, bool(first.get("is_enterprise_install"))


class Ingest:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box

    async def slack_event(self, envelope: dict[str, Any]) -> str:
        """Store a verified Events API message for delivery; returns what happened, for logs."""
        envelope = storable(envelope)
        enterprise, team, is_org = _event_tenant_keys(envelope)
        async with self._sessions.begin() as session:
            found = await store.tenant_for_slack(
                session,
                slack_enterprise_id=enterprise,
                slack_team_id=team,
                is_enterprise_install=is_org,
            )
            if found is None:
                return "unknown_tenant"
            tenant, installation = found.tenant, found.installation
            parsed = routing.parse_slack_event(
                envelope,
                bot_user_id=installation.slack_bot_user_id or "",
                bot_id=installation.slack_bot_id,
                forward_other_bots=tenant.forward_other_bots,
            )
            if (
                isinstance(parsed, Ignored)
                and parsed.reason == "not_linked"
                and await self._is_live(session, tenant.id, parsed.conversation_key)
            ):
                parsed = routing.parse_slack_event(
                    envelope,
                    bot_user_id=installation.slack_bot_user_id or "",
                    bot_id=installation.slack_bot_id,
                    forward_other_bots=tenant.forward_other_bots,
                    linked_thread=True,
                )
            if isinstance(parsed, Ignored):
                return f"ignored:{parsed.reason}"
            integration_id = found.integration_for(parsed.conversation.kind)
            return await self._store_slack_message(
                session, tenant.id, parsed, envelope, integration_id
            )

    async def _is_live(self, session: AsyncSession, tenant_id: uuid.UUID, key: str | None) -> bool:
        if key is None:
            return False
        conversation = await store.get_conversation_by_key(
            session, tenant_id=tenant_id, conversation_key=key
        )
        return conversation is not None and (
            conversation.last_activity_at > datetime.now(UTC) - LIVE_THREAD_WINDOW
        )

    async def _store_slack_message(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        msg: SlackMessage,
        envelope: dict[str, Any],
        integration_id: str | None,
    ) -> str:
        ref = msg.conversation
        stored = await queueing.store_and_defer(
            session,
            tenant_id=tenant_id,
            conversation={
                "conversation_key": routing.conversation_key(msg),
                "conversation_kind": ref.kind,
                "slack_channel_id": msg.slack_channel_id,
                "slack_thread_ts": ref.slack_thread_ts,
                "slack_user_id": ref.slack_user_id,
                "genesys_integration_id": integration_id,
            },
            message={
                "direction": "to_genesys",
                "kind": msg.kind,
                "dedupe_key": routing.external_message_id(msg),
                "slack_event_id": msg.slack_event_id,
                "slack_client_msg_id": msg.client_msg_id if msg.kind == "message" else None,
                "payload": {"envelope": envelope},
                "source_ts": slack_ts_to_datetime(msg.occurred_ts),
                "trace_id": trace_id.get(),
            },
        )
        return "queued" if stored else "duplicate"

    async def slack_actions(self, body: dict[str, Any]) -> str:
        """Button clicks on agent messages. Link buttons need no answer beyond the ack."""
        body = storable(body)
        team = body.get("team") if isinstance(body.get("team"), dict) else {}
        enterprise = body.get("enterprise") if isinstance(body.get("enterprise"), dict) else {}
        user = body.get("user") if isinstance(body.get("user"), dict) else {}
        is_org = bool(body.get("is_enterprise_install"))
        async with self._sessions() as session:
            found = await store.tenant_for_slack(
                session,
                slack_enterprise_id=(enterprise or {}).get("id"),
                slack_team_id=(team or {}).get("id"),
                is_enterprise_install=is_org,
            )
        if found is None:
            return "unknown_tenant"
        tenant_id = found.tenant.id
        outcomes = []
        for action in body.get("actions") or []:
            if not isinstance(action, dict):
                continue
            action_id = str(action.get("action_id") or "")
            if not action_id.startswith(("sb_qr_", "sb_btn_")):
                outcomes.append("ignored")
                continue
            try:
                click = parse_button_value(str(action.get("value") or ""))
            except InvalidButtonValue:
                outcomes.append("invalid")
                continue
            outcomes.append(
                await self.button_click(
                    tenant_id=tenant_id,
                    click=click,
                    slack_user_id=str((user or {}).get("id") or ""),
                    action_ts=str(action.get("action_ts") or "0"),
                )
            )
        return ",".join(outcomes) or "none"

    async def button_click(
        self, *, tenant_id: uuid.UUID, click: ButtonClick, slack_user_id: str, action_ts: str
    ) -> str:
        """A click on an agent's quick reply or card button goes back as a structured answer."""
        async with self._sessions.begin() as session:
            offered = await store.find_by_genesys_message_id(
                session, tenant_id=tenant_id, genesys_message_id=click.genesys_message_id
            )
            if offered is None or offered.conversation_id is None:
                return "unknown_message"
            new_id = await store.insert_message(
                session,
                values={
                    "tenant_id": tenant_id,
                    "conversation_id": offered.conversation_id,
                    "direction": "to_genesys",
                    "kind": "structured_response",
                    "dedupe_key": f"click:{click.genesys_message_id}:{slack_user_id}:{action_ts}",
                    "payload": {
                        "click": {
                            "genesys_message_id": click.genesys_message_id,
                            "kind": click.kind,
                            "payload": click.payload,
                            "text": click.text,
                        },
                        "slack_user_id": slack_user_id,
                    },
                    "source_ts": slack_ts_to_datetime(action_ts),
                },
            )
            if new_id is None:
                return "duplicate"
            await queueing.defer_flush(
                session, tenant_id=tenant_id, conversation_id=offered.conversation_id
            )
        return "queued"

    async def genesys_webhook(self, raw: bytes, signature: str | None) -> WebhookAnswer:
        """Verify against the integration's own secret, then store; 200 for anything we accept.

        The tenant is found by `channel.id` (the integration), and only that tenant's secret
        can verify the body, so one tenant can never post into another's Slack.
        """
        payload = json_object(raw)
        if payload is None:
            return WebhookAnswer(400, "body is not a JSON object")
        channel = payload.get("channel")
        integration_id = channel.get("id") if isinstance(channel, dict) else None
        if not isinstance(integration_id, str) or not integration_id:
            return WebhookAnswer(400, "channel.id is missing")
        async with self._sessions() as session:
            integration = await tenants_store.find_integration(
                session, genesys_integration_id=integration_id
            )
        if integration is None:
            log.info("webhook for unknown integration", extra={"integration_id": integration_id})
            return WebhookAnswer(401, "unknown integration or bad signature")
        if not await self._verify_webhook(integration, signature=signature, body=raw):
            log.info("webhook signature mismatch", extra={"integration_id": integration_id})
            return WebhookAnswer(401, "unknown integration or bad signature")
        payload = storable(payload)
        try:
            parsed = parse_webhook(payload)
        except MalformedWebhook as exc:
            return WebhookAnswer(400, str(exc))
        tenant_id = integration.tenant_id
        if isinstance(parsed, AgentMessage | AgentStructured):
            return await self._store_agent_message(tenant_id, parsed, payload)
        # Typing, Genesys' own receipts and unknown types: acknowledged and kept, never sent.
        kind = type(parsed).__name__
        async with self._sessions.begin() as session:
            await store.insert_message(
                session,
                values={
                    "tenant_id": tenant_id,
                    "direction": "to_slack",
                    "kind": kind[:24],
                    "dedupe_key": f"{kind}:{parsed.genesys_message_id}:{payload.get('status', '')}",
                    "status": "recorded",
                    "payload": payload,
                    "source_ts": _parse_time(parsed.sent_at),
                },
            )
        log.info("webhook recorded", extra={"tenant_id": str(tenant_id), "kind": kind})
        return WebhookAnswer(200, "recorded")

    async def _verify_webhook(
        self, integration: GenesysIntegration, *, signature: str | None, body: bytes
    ) -> bool:
        """The current secret, then the previous one while a rotation is unfinished.

        The integration row notes when it last verified or refused a webhook, but only when
        that note is older than `WEBHOOK_SEEN_INTERVAL`, so busy traffic (or a flood of
        forgeries) writes at most once a minute per integration. The first webhook signed
        with the current secret while a previous one is kept finishes the rotation.
        """
        tenant_id, now = integration.tenant_id, datetime.now(UTC)
        not_since = now - WEBHOOK_SEEN_INTERVAL
        current = self._box.decrypt(
            integration.webhook_secret_enc, tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET
        )
        if verify_genesys(current, signature=signature, body=body):
            rotation_done = integration.previous_webhook_secret_enc is not None
            if rotation_done or _older(integration.last_verified_at, not_since):
                async with self._sessions.begin() as session:
                    await tenants_store.record_webhook_verified(
                        session,
                        genesys_integration_id=integration.genesys_integration_id,
                        not_since=not_since,
                        verified_secret_enc=integration.webhook_secret_enc
                        if rotation_done
                        else None,
                    )
            return True
        expires = integration.previous_secret_expires_at
        if integration.previous_webhook_secret_enc is not None and expires and expires > now:
            previous = self._box.decrypt(
                integration.previous_webhook_secret_enc,
                tenant_id=tenant_id,
                purpose=GENESYS_WEBHOOK_SECRET,
            )
            if verify_genesys(previous, signature=signature, body=body):
                if _older(integration.last_verified_at, not_since):
                    async with self._sessions.begin() as session:
                        await tenants_store.record_webhook_verified(
                            session,
                            genesys_integration_id=integration.genesys_integration_id,
                            not_since=not_since,
                        )
                return True
        if _older(integration.last_refused_at, not_since):
            async with self._sessions.begin() as session:
                await tenants_store.record_webhook_refused(
                    session,
                    genesys_integration_id=integration.genesys_integration_id,
                    not_since=not_since,
                )
        return False

    async def _store_agent_message(
        self,
        tenant_id: uuid.UUID,
        parsed: AgentMessage | AgentStructured,
        payload: dict[str, Any],
    ) -> WebhookAnswer:
        try:
            ref: routing.SlackConversationRef | None = routing.parse_external_user_id(
                parsed.external_user_id
            )
        except ValueError:
            ref = None
        async with self._sessions.begin() as session:
            tenant = await tenants_store.get_tenant(session, tenant_id=tenant_id)
            if tenant is None or tenant.status != "active":
                log.warning("agent message outside its tenant", extra={"tenant_id": str(tenant_id)})
                return WebhookAnswer(200, "recipient outside this workspace")
            if ref is not None and ref.slack_scope_id in (
                tenant.slack_team_id,
                tenant.slack_enterprise_id,
            ):
                key = ref.external_user_id
                values: dict[str, Any] = {
                    "kind": ref.kind,
                    "slack_channel_id": ref.slack_channel_id,
                    "slack_thread_ts": ref.slack_thread_ts,
                    "slack_user_id": ref.slack_user_id,
                    "genesys_integration_id": parsed.genesys_integration_id,
                }
            else:
                # Not a thread or DM of this workspace: stored and answered with a Failed
                # receipt by the worker, so the agent sees why, instead of silence.
                log.warning(
                    "agent message for a recipient we cannot resolve",
                    extra={"tenant_id": str(tenant_id)},
                )
                key = routing.unresolved_conversation_key(parsed.external_user_id)
                values = {
                    "kind": routing.UNRESOLVED_KIND,
                    "genesys_integration_id": parsed.genesys_integration_id,
                }
            conversation_id = await store.upsert_conversation(
                session, tenant_id=tenant_id, conversation_key=key, values=values
            )
            new_id = await store.insert_message(
                session,
                values={
                    "tenant_id": tenant_id,
                    "conversation_id": conversation_id,
                    "direction": "to_slack",
                    "kind": "agent_structured"
                    if isinstance(parsed, AgentStructured)
                    else "agent_text",
                    "dedupe_key": parsed.genesys_message_id,
                    "genesys_message_id": parsed.genesys_message_id,
                    "payload": payload,
                    "source_ts": _parse_time(parsed.sent_at),
                    "trace_id": trace_id.get(),
                },
            )
            if new_id is None:
                return WebhookAnswer(200, "duplicate")
            if parsed.genesys_conversation_id:
                await store.touch_conversation(
                    session,
                    conversation_id=conversation_id,
                    values={"genesys_conversation_id": parsed.genesys_conversation_id},
                )
            await queueing.defer_flush(
                session, tenant_id=tenant_id, conversation_id=conversation_id
            )
        return WebhookAnswer(200, "queued")
