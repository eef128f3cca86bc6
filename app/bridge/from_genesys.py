"""Storing what Genesys sends us (agent replies, typing, its receipts) before it gets its answer.

The tenant is found by `channel.id` (the integration), and only that tenant's secret can
verify the body, so one tenant can never post into another's Slack. A verified agent message
is stored with its parsed form beside the raw payload and queued in one statement
(`queueing.store_message`), which also checks that the integration and tenant read from the
per-process cache are still current; the payload is parsed once, here. The answer is an
`IngestOutcome`: the web layer decides the HTTP status (Genesys retries only 429, 5xx and
timeouts, so anything accepted is a 200).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import normalized, queueing, routing
from app.bridge.messages import (
    BUSY,
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
from app.db.session import on_driver
from app.db.text import storable
from app.json_input import json_object
from app.logs import trace_id
from app.signing import verify_genesys
from app.tenants import store as tenants_store
from app.tenants.cache import CachedIntegration, TenantCache
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


# See `from_slack.STALE_ATTEMPTS`.
STALE_ATTEMPTS = 3


@dataclass(frozen=True)
class _Note:
    """The integration's bookkeeping a webhook asks for (at most once a minute each)."""

    verified: bool
    finishes_rotation: bool


class FromGenesys:
    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], box: SecretBox, cache: TenantCache
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._cache = cache

    async def webhook(self, raw: bytes, *, signature: str | None) -> IngestOutcome:
        """`raw` was read under the web layer's size cap; the signature is checked over it,
        with the integration's own secret, after the integration is found by `channel.id`.

        The integration comes from the per-process cache; a signature it does not verify is
        checked again against a fresh read before it is refused, and storing checks that the
        tenant (secrets included) has not changed since it was read.
        """
        payload = json_object(raw)
        if payload is None:
            return malformed("body is not a JSON object")
        channel = payload.get("channel")
        integration_id = channel.get("id") if isinstance(channel, dict) else None
        if not isinstance(integration_id, str) or not integration_id:
            return malformed("channel.id is missing")
        note: list[tuple[CachedIntegration, _Note]] = []

        async def work(connection: asyncpg.Connection[Any]) -> IngestOutcome:
            fresh = False
            for _ in range(STALE_ATTEMPTS):
                integration = await self._cache.get_by_integration(
                    connection, genesys_integration_id=integration_id, fresh=fresh
                )
                if integration is None:
                    log.info(
                        "webhook for unknown integration", extra={"integration_id": integration_id}
                    )
                    return UNSIGNED
                verified = self._verify(integration, signature=signature, body=raw)
                if verified is None and not fresh:
                    fresh = True  # refuse only what the current secrets refuse
                    continue
                note[:] = [(integration, verified or _Note(False, False))]
                if verified is None:
                    log.info("webhook signature mismatch", extra={"integration_id": integration_id})
                    return UNSIGNED
                outcome = await self._store(connection, integration, payload)
                if outcome is not None:
                    return outcome
                self._cache.invalidate(integration.tenant_id)
                fresh = True
            return BUSY

        outcome = await on_driver(self._sessions, work)
        if note:
            await self._write_note(*note[0])
        return outcome

    def _verify(
        self, integration: CachedIntegration, *, signature: str | None, body: bytes
    ) -> _Note | None:
        """The current secret, then the previous one while a rotation is unfinished; None
        when neither verifies. The first webhook signed with the current secret while a
        previous one is kept finishes the rotation."""
        tenant_id = integration.tenant_id
        current = self._box.decrypt(
            integration.webhook_secret_enc, tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET
        )
        if verify_genesys(current, signature=signature, body=body):
            return _Note(True, integration.previous_webhook_secret_enc is not None)
        expires = integration.previous_secret_expires_at
        if (
            integration.previous_webhook_secret_enc is not None
            and expires is not None
            and expires > datetime.now(UTC)
        ):
            previous = self._box.decrypt(
                integration.previous_webhook_secret_enc,
                tenant_id=tenant_id,
                purpose=GENESYS_WEBHOOK_SECRET,
            )
            if verify_genesys(previous, signature=signature, body=body):
                return _Note(True, False)
        return None

    async def _write_note(self, integration: CachedIntegration, note: _Note) -> None:
        """The integration row notes when it last verified or refused a webhook, but only
        when that note is older than `WEBHOOK_SEEN_INTERVAL`, so busy traffic (or a flood of
        forgeries) writes at most once a minute per integration and process. After a write
        the cached entry is dropped, so the next webhook reads the new note."""
        not_since = datetime.now(UTC) - WEBHOOK_SEEN_INTERVAL
        seen = integration.last_verified_at if note.verified else integration.last_refused_at
        if not note.finishes_rotation and not _older(seen, not_since):
            return
        async with self._sessions.begin() as session:
            if note.verified:
                await tenants_store.record_webhook_verified(
                    session,
                    genesys_integration_id=integration.genesys_integration_id,
                    not_since=not_since,
                    verified_secret_enc=integration.webhook_secret_enc
                    if note.finishes_rotation
                    else None,
                )
            else:
                await tenants_store.record_webhook_refused(
                    session,
                    genesys_integration_id=integration.genesys_integration_id,
                    not_since=not_since,
                )
        self._cache.invalidate(integration.tenant_id)

    async def _store(
        self,
        connection: asyncpg.Connection[Any],
        integration: CachedIntegration,
        payload: dict[str, Any],
    ) -> IngestOutcome | None:
        """The outcome, or None when `integration` turned out stale (nothing was stored)."""
        payload = storable(payload)
        try:
            parsed = parse_webhook(payload)
        except MalformedWebhook as exc:
            return malformed(str(exc))
        tenant_id = integration.tenant_id
        if isinstance(parsed, AgentMessage | AgentStructured):
            return await self._store_agent_message(connection, integration, parsed, payload)
        # Typing, Genesys' own receipts and unknown types: acknowledged and kept, never sent.
        kind = _recorded_kind(parsed)
        stored = await queueing.store_message(
            connection,
            box=self._box,
            version=integration.version,
            conversation=None,
            message=NewMessage(
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
        if not stored.current:
            return None
        log.info("webhook recorded", extra={"tenant_id": str(tenant_id), "kind": kind.value})
        return IngestOutcome(IngestOutcomeKind.RECORDED, "recorded")

    async def _store_agent_message(
        self,
        connection: asyncpg.Connection[Any],
        integration: CachedIntegration,
        parsed: AgentMessage | AgentStructured,
        payload: dict[str, Any],
    ) -> IngestOutcome | None:
        tenant_id = integration.tenant_id
        if not integration.tenant_active:
            current = await self._cache.is_current(
                connection, tenant_id=tenant_id, version=integration.version
            )
            if not current:
                return None
            log.warning("agent message outside its tenant", extra={"tenant_id": str(tenant_id)})
            return ignored("recipient outside this workspace")
        try:
            ref: routing.SlackConversationRef | None = routing.parse_external_user_id(
                parsed.external_user_id
            )
        except ValueError:
            ref = None
        if ref is not None and ref.slack_scope_id in (
            integration.slack_team_id,
            integration.slack_enterprise_id,
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
        stored = await queueing.store_message(
            connection,
            box=self._box,
            version=integration.version,
            conversation=conversation,
            message=NewMessage(
                tenant_id=tenant_id,
                conversation_id=None,
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
            genesys_conversation_id=parsed.genesys_conversation_id or None,
        )
        if not stored.current:
            return None
        return accepted() if stored.stored else DUPLICATE
