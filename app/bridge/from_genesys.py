"""Storing what Genesys sends us (agent replies, typing, its receipts) before it gets its answer.

The tenant is found by `channel.id` (the integration), and only that tenant's secret can
verify the body, so one tenant can never post into another's Slack. A verified agent message
is stored with its parsed form beside the raw payload and queued in one transaction; the
payload is parsed once, here. The answer is an `IngestOutcome`: the web layer decides the
HTTP status (Genesys retries only 429, 5xx and timeouts, so anything accepted is a 200).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import normalized, queueing, routing, store
from app.bridge.messages import (
    DUPLICATE,
    UNSIGNED,
    Direction,
    IngestOutcome,
    IngestOutcomeKind,
    Kind,
    NewConversation,
    NewMessage,
    Status,
    accepted,
    ignored,
    malformed,
)
from app.bridge.outbound import (
    AgentMessage,
    AgentReceipt,
    AgentStructured,
    AgentTyping,
    MalformedWebhook,
    parse_webhook,
)
from app.crypto import SecretBox
from app.db.models import GenesysIntegration, TenantStatus
from app.db.text import storable
from app.json_input import json_object
from app.logs import trace_id
from app.signing import verify_genesys
from app.tenants import store as tenants_store
from app.tenants.purposes import GENESYS_WEBHOOK_SECRET

log = logging.getLogger(__name__)

# An integration's last verified / last refused webhook time is rewritten at most this often.
WEBHOOK_SEEN_INTERVAL = timedelta(minutes=1)


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


def _recorded_kind(parsed: object) -> Kind:
    if isinstance(parsed, AgentTyping):
        return Kind.AGENT_TYPING
    if isinstance(parsed, AgentReceipt):
        return Kind.AGENT_RECEIPT
    return Kind.UNKNOWN_OUTBOUND


class FromGenesys:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box

    async def webhook(self, raw: bytes, *, signature: str | None) -> IngestOutcome:
        """`raw` was read under the web layer's size cap; the signature is checked over it,
        with the integration's own secret, after the integration is found by `channel.id`."""
        payload = json_object(raw)
        if payload is None:
            return malformed("body is not a JSON object")
        channel = payload.get("channel")
        integration_id = channel.get("id") if isinstance(channel, dict) else None
        if not isinstance(integration_id, str) or not integration_id:
            return malformed("channel.id is missing")
        async with self._sessions() as session:
            integration = await tenants_store.find_integration(
                session, genesys_integration_id=integration_id
            )
        if integration is None:
            log.info("webhook for unknown integration", extra={"integration_id": integration_id})
            return UNSIGNED
        if not await self._verify(integration, signature=signature, body=raw):
            log.info("webhook signature mismatch", extra={"integration_id": integration_id})
            return UNSIGNED
        payload = storable(payload)
        try:
            parsed = parse_webhook(payload)
        except MalformedWebhook as exc:
            return malformed(str(exc))
        tenant_id = integration.tenant_id
        if isinstance(parsed, AgentMessage | AgentStructured):
            return await self._store_agent_message(tenant_id, parsed, payload)
        # Typing, Genesys' own receipts and unknown types: acknowledged and kept, never sent.
        kind = _recorded_kind(parsed)
        async with self._sessions.begin() as session:
            await store.insert_message(
                session,
                NewMessage(
                    tenant_id=tenant_id,
                    conversation_id=None,
                    direction=Direction.TO_SLACK,
                    kind=kind,
                    dedupe_key=f"{kind}:{parsed.genesys_message_id}:{payload.get('status', '')}",
                    status=Status.RECORDED,
                    payload=payload,
                    source_ts=_parse_time(parsed.sent_at),
                ),
            )
        log.info("webhook recorded", extra={"tenant_id": str(tenant_id), "kind": kind.value})
        return IngestOutcome(IngestOutcomeKind.RECORDED, "recorded")

    async def _verify(
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
    ) -> IngestOutcome:
        try:
            ref: routing.SlackConversationRef | None = routing.parse_external_user_id(
                parsed.external_user_id
            )
        except ValueError:
            ref = None
        async with self._sessions.begin() as session:
            tenant = await tenants_store.get_tenant(session, tenant_id=tenant_id)
            if tenant is None or tenant.status != TenantStatus.ACTIVE:
                log.warning("agent message outside its tenant", extra={"tenant_id": str(tenant_id)})
                return ignored("recipient outside this workspace")
            if ref is not None and ref.slack_scope_id in (
                tenant.slack_team_id,
                tenant.slack_enterprise_id,
            ):
                conversation = NewConversation(
                    conversation_key=ref.external_user_id,
                    kind=ref.kind,
                    slack_channel_id=ref.slack_channel_id,
                    slack_thread_ts=ref.slack_thread_ts,
                    slack_user_id=ref.slack_user_id,
                    genesys_integration_id=parsed.genesys_integration_id,
                )
            else:
                # Not a thread or DM of this workspace: stored and answered with a Failed
                # receipt by the worker, so the agent sees why, instead of silence.
                log.warning(
                    "agent message for a recipient we cannot resolve",
                    extra={"tenant_id": str(tenant_id)},
                )
                conversation = NewConversation(
                    conversation_key=routing.unresolved_conversation_key(parsed.external_user_id),
                    kind=routing.UNRESOLVED_KIND,
                    genesys_integration_id=parsed.genesys_integration_id,
                )
            conversation_id = await store.upsert_conversation(
                session, tenant_id=tenant_id, conversation=conversation
            )
            new_id = await store.insert_message(
                session,
                NewMessage(
                    tenant_id=tenant_id,
                    conversation_id=conversation_id,
                    direction=Direction.TO_SLACK,
                    kind=Kind.AGENT_STRUCTURED
                    if isinstance(parsed, AgentStructured)
                    else Kind.AGENT_TEXT,
                    dedupe_key=parsed.genesys_message_id,
                    genesys_message_id=parsed.genesys_message_id,
                    payload=payload,
                    normalized=normalized.from_agent(parsed),
                    source_ts=_parse_time(parsed.sent_at),
                    trace_id=trace_id.get(),
                ),
            )
            if new_id is None:
                return DUPLICATE
            if parsed.genesys_conversation_id:
                await store.touch_conversation(
                    session,
                    conversation_id=conversation_id,
                    values={"genesys_conversation_id": parsed.genesys_conversation_id},
                )
            await queueing.defer_flush(
                session, tenant_id=tenant_id, conversation_id=conversation_id
            )
        return accepted()
