"""Storing what Slack sends us (message events, button clicks) before Slack gets its answer.

Each accepted message is one statement (`queueing.store_message`), its own transaction: it
checks the tenant read from the per-process cache is still current, upserts the
conversation, inserts the message with the parsed form beside the raw envelope (the unique
constraints drop Slack's retries), and queues the conversation's delivery job. The event is
parsed once, here.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import normalized, queueing, routing, store, to_slack
from app.bridge.answers import Choose, answer_for
from app.bridge.end_chat import END_CHAT_ACTION
from app.bridge.inbound import slack_ts_to_datetime
from app.bridge.messages import (
    BUSY,
    DUPLICATE,
    UNKNOWN_TENANT,
    Direction,
    IngestOutcome,
    Kind,
    NewConversation,
    NewMessage,
    accepted,
    ignored,
)
from app.bridge.notices import END_CHAT_NOT_YOURS_NOTE, NOT_YOURS_NOTE
from app.bridge.outbound import ButtonClick
from app.bridge.rendering import InvalidButtonValue, answered_post
from app.bridge.routing import Ignored, SlackMessage
from app.crypto import SecretBox
from app.db.session import on_driver
from app.db.text import storable
from app.logs import trace_id
from app.tenants.cache import CachedTenant, TenantCache

# A thread counts as live for plain (non-mention) replies this long after its last message;
# Genesys groups a customer's messages for about 72 hours.
LIVE_THREAD_WINDOW = timedelta(hours=72)


def event_tenant_keys(envelope: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """Bolt's rule: `authorizations[0]` names the installation (it matters in Slack Connect)."""
    auths = envelope.get("authorizations")
    first = auths[0] if isinstance(auths, list) and auths and isinstance(auths[0], dict) else {}
    enterprise = first.get("enterprise_id") or envelope.get("enterprise_id")
    team = first.get("team_id") or envelope.get("team_id")
    return enterprise, team, bool(first.get("is_enterprise_install"))


def action_tenant_keys(body: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """The same for an interactivity payload, which names its team and org as objects."""
    team = body.get("team") if isinstance(body.get("team"), dict) else {}
    enterprise = body.get("enterprise") if isinstance(body.get("enterprise"), dict) else {}
    return (
        (enterprise or {}).get("id"),
        (team or {}).get("id"),
        bool(body.get("is_enterprise_install")),
    )


# A tenant that changes this often during one event is being reconfigured; the event gets
# a 503 and Slack's retry finds it settled.
STALE_ATTEMPTS = 3


class FromSlack:
    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], box: SecretBox, cache: TenantCache
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._cache = cache

    async def event(self, envelope: dict[str, Any]) -> IngestOutcome:
        """Store a verified Events API message for delivery: one statement when the tenant is
        cached, which also checks that the cached tenant is still current."""
        envelope = storable(envelope)
        enterprise, team, is_org = event_tenant_keys(envelope)

        async def work(connection: asyncpg.Connection[Any]) -> IngestOutcome:
            for _ in range(STALE_ATTEMPTS):
                tenant = await self._cache.get_by_slack_ids(
                    connection,
                    slack_enterprise_id=enterprise,
                    slack_team_id=team,
                    is_enterprise_install=is_org,
                )
                if tenant is None:
                    return UNKNOWN_TENANT
                outcome = await self._store_event(connection, tenant, envelope)
                if outcome is not None:
                    return outcome
                self._cache.invalidate(tenant.tenant_id)
            return BUSY

        return await on_driver(self._sessions, work)

    async def _store_event(
        self, connection: asyncpg.Connection[Any], tenant: CachedTenant, envelope: dict[str, Any]
    ) -> IngestOutcome | None:
        """The outcome, or None when `tenant` turned out stale (nothing was stored)."""
        parsed = routing.parse_slack_event(
            envelope,
            bot_user_id=tenant.slack_bot_user_id or "",
            bot_id=tenant.slack_bot_id,
            forward_other_bots=tenant.forward_other_bots,
        )
        live_only = False
        if isinstance(parsed, Ignored) and parsed.reason == "not_linked" and parsed.candidate:
            # Forwarded only if its thread is live: decided by the storing statement itself.
            parsed, live_only = parsed.candidate, True
        if isinstance(parsed, Ignored):
            # Ignoring writes nothing, so the cached tenant is checked on its own.
            current = await self._cache.is_current(
                connection, tenant_id=tenant.tenant_id, version=tenant.version
            )
            return ignored(parsed.reason) if current else None
        stored = await queueing.store_message(
            connection,
            box=self._box,
            version=tenant.version,
            conversation=self._conversation(
                parsed, tenant.integration_for(parsed.conversation.kind)
            ),
            message=self._message(tenant.tenant_id, parsed, envelope),
            live_only=live_only,
            live_hours=int(LIVE_THREAD_WINDOW.total_seconds() // 3600),
        )
        if not stored.current:
            return None
        if not stored.conversation:
            return ignored("not_linked")
        return accepted() if stored.stored else DUPLICATE

    @staticmethod
    def _conversation(msg: SlackMessage, integration_id: str | None) -> NewConversation:
        ref = msg.conversation
        return NewConversation(
            conversation_key=routing.conversation_key(msg),
            kind=ref.kind,
            slack_channel_id=msg.slack_channel_id,
            slack_thread_ts=ref.slack_thread_ts,
            slack_user_id=ref.slack_user_id,
            genesys_integration_id=integration_id,
        )

    @staticmethod
    def _message(tenant_id: uuid.UUID, msg: SlackMessage, envelope: dict[str, Any]) -> NewMessage:
        return NewMessage(
            tenant_id=tenant_id,
            conversation_id=None,
            direction=Direction.TO_GENESYS,
            kind=Kind(msg.kind),
            dedupe_key=routing.external_message_id(msg),
            slack_event_id=msg.slack_event_id,
            slack_client_msg_id=msg.client_msg_id if msg.kind == "message" else None,
            payload={"envelope": envelope},
            normalized=normalized.from_slack(msg),
            source_ts=slack_ts_to_datetime(msg.occurred_ts),
            trace_id=trace_id.get(),
        )

    async def actions(self, body: dict[str, Any]) -> list[IngestOutcome]:
        """Button clicks and picker choices on agent messages, one outcome per action. Link
        buttons need no answer beyond the ack."""
        body = storable(body)
        enterprise, team, is_org = action_tenant_keys(body)
        user = body.get("user") if isinstance(body.get("user"), dict) else {}
        async with self._sessions() as session:
            found = await store.tenant_for_slack(
                session,
                slack_enterprise_id=enterprise,
                slack_team_id=team,
                is_enterprise_install=is_org,
            )
        if found is None:
            return [UNKNOWN_TENANT]
        outcomes = []
        for action in body.get("actions") or []:
            if not isinstance(action, dict):
                continue
            action_id = str(action.get("action_id") or "")
            if action_id == END_CHAT_ACTION:
                outcomes.append(
                    await self.end_chat_click(
                        tenant_id=found.tenant.id,
                        genesys_conversation_id=str(action.get("value") or ""),
                        slack_channel_id=_action_channel(body),
                        slack_user_id=str((user or {}).get("id") or ""),
                        action_ts=str(action.get("action_ts") or "0"),
                    )
                )
                continue
            try:
                answer = answer_for(action)
            except InvalidButtonValue:
                outcomes.append(ignored("invalid_button_value"))
                continue
            if answer is None:
                outcomes.append(ignored("not_ours"))
                continue
            outcomes.append(
                await self._answer(
                    tenant_id=found.tenant.id,
                    genesys_message_id=answer[0],
                    choose=answer[1],
                    slack_user_id=str((user or {}).get("id") or ""),
                    action_ts=str(action.get("action_ts") or "0"),
                )
            )
        return outcomes

    async def button_click(
        self, *, tenant_id: uuid.UUID, click: ButtonClick, slack_user_id: str, action_ts: str
    ) -> IngestOutcome:
        """A click on an agent's quick reply or card button goes back as a structured answer."""
        return await self._answer(
            tenant_id=tenant_id,
            genesys_message_id=click.genesys_message_id,
            choose=lambda _: click,
            slack_user_id=slack_user_id,
            action_ts=action_ts,
        )

    async def _answer(
        self,
        *,
        tenant_id: uuid.UUID,
        genesys_message_id: str,
        choose: Choose,
        slack_user_id: str,
        action_ts: str,
    ) -> IngestOutcome:
        """One transaction. Someone outside the conversation gets a private note and nothing
        is forwarded. Otherwise the first answer to an agent message wins (the unique
        `answered:` row), goes back to Genesys, and the message is rewritten without its
        buttons just after; a later answer to the same message is a duplicate."""
        clicked_at = slack_ts_to_datetime(action_ts)
        async with self._sessions.begin() as session:
            offered = await store.find_by_genesys_message_id(
                session, tenant_id=tenant_id, genesys_message_id=genesys_message_id
            )
            if offered is None or offered.conversation_id is None:
                return ignored("unknown_message")
            conversation_id = offered.conversation_id
            if not await self._is_participant(session, tenant_id, conversation_id, slack_user_id):
                new_id = await store.insert_message(
                    session,
                    NewMessage(
                        tenant_id=tenant_id,
                        conversation_id=conversation_id,
                        direction=Direction.TO_SLACK,
                        kind=Kind.EPHEMERAL_NOTE,
                        dedupe_key=f"not_yours:{genesys_message_id}:{slack_user_id}:{action_ts}",
                        payload={"text": NOT_YOURS_NOTE, "slack_user_id": slack_user_id},
                        source_ts=clicked_at,
                    ),
                )
                if new_id is None:
                    return DUPLICATE
                await queueing.wake_delivery(session)
                return ignored("not_a_participant")
            agent_message = to_slack.stored_agent_message(offered)
            try:
                click = choose(agent_message)
            except InvalidButtonValue:
                return ignored("invalid_choice")
            if offered.slack_ts:
                post = answered_post(
                    agent_message,
                    agent_name=agent_message.sender_name,
                    chosen=click.text or click.payload,
                    slack_user_id=slack_user_id,
                )
                claimed = await store.insert_message(
                    session,
                    NewMessage(
                        tenant_id=tenant_id,
                        conversation_id=conversation_id,
                        direction=Direction.TO_SLACK,
                        kind=Kind.ANSWER_UPDATE,
                        dedupe_key=f"answered:{genesys_message_id}",
                        payload={
                            "slack_ts": offered.slack_ts,
                            "text": post.text,
                            "blocks": post.blocks,
                        },
                        # Just after the answer, so Genesys hears it first.
                        source_ts=clicked_at + timedelta(microseconds=1),
                    ),
                )
                if claimed is None:
                    return DUPLICATE
            new_id = await store.insert_message(
                session,
                NewMessage(
                    tenant_id=tenant_id,
                    conversation_id=conversation_id,
                    direction=Direction.TO_GENESYS,
                    kind=Kind.STRUCTURED_RESPONSE,
                    dedupe_key=f"click:{genesys_message_id}:{slack_user_id}:{action_ts}",
                    payload={
                        "click": {
                            "genesys_message_id": click.genesys_message_id,
                            "kind": click.kind,
                            "payload": click.payload,
                            "text": click.text,
                        },
                        "slack_user_id": slack_user_id,
                    },
                    source_ts=clicked_at,
                ),
            )
            if new_id is None:
                return DUPLICATE
            await queueing.wake_delivery(session)
        return accepted()

    @staticmethod
    async def _is_participant(
        session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, slack_user_id: str
    ) -> bool:
        """A DM's person; in a channel thread, the person whose message opened it."""
        conversation = await store.get_conversation(
            session, tenant_id=tenant_id, conversation_id=conversation_id
        )
        if conversation is None or not slack_user_id:
            return False
        if conversation.kind == "dm":
            return conversation.slack_user_id == slack_user_id
        opener = await store.conversation_opener(
            session, tenant_id=tenant_id, conversation_id=conversation_id
        )
        return opener == slack_user_id

    async def end_chat_click(
        self,
        *,
        tenant_id: uuid.UUID,
        genesys_conversation_id: str,
        slack_channel_id: str | None,
        slack_user_id: str,
        action_ts: str,
    ) -> IngestOutcome:
        """The customer's End chat: stored in its conversation's queue, sent by the worker.
        Only a click in the conversation's own channel or DM, by the conversation's person,
        counts; Slack's retries of a click are one."""
        if not genesys_conversation_id or len(genesys_conversation_id) > 64:
            return ignored("invalid_button_value")
        async with self._sessions.begin() as session:
            conversation = await store.conversation_for_genesys(
                session, tenant_id=tenant_id, genesys_conversation_id=genesys_conversation_id
            )
            if conversation is None or conversation.slack_channel_id != slack_channel_id:
                return ignored("unknown_conversation")
            if not await self._is_participant(session, tenant_id, conversation.id, slack_user_id):
                # As for answers: only the conversation's person; anyone else is told privately.
                noted = await store.insert_message(
                    session,
                    NewMessage(
                        tenant_id=tenant_id,
                        conversation_id=conversation.id,
                        direction=Direction.TO_SLACK,
                        kind=Kind.EPHEMERAL_NOTE,
                        dedupe_key=f"not_yours:end:{genesys_conversation_id}:{slack_user_id}:"
                        f"{action_ts}",
                        payload={"text": END_CHAT_NOT_YOURS_NOTE, "slack_user_id": slack_user_id},
                        source_ts=slack_ts_to_datetime(action_ts),
                    ),
                )
                if noted is None:
                    return DUPLICATE
                await queueing.wake_delivery(session)
                return ignored("not_a_participant")
            new_id = await store.insert_message(
                session,
                NewMessage(
                    tenant_id=tenant_id,
                    conversation_id=conversation.id,
                    direction=Direction.TO_GENESYS,
                    kind=Kind.END_CHAT,
                    # Slack's retries of one click are one row; a later click (after a
                    # refusal an admin has since fixed) is another, and a no-op once ended.
                    dedupe_key=f"end:{genesys_conversation_id}:{slack_user_id}:{action_ts}",
                    payload={
                        "genesys_conversation_id": genesys_conversation_id,
                        "slack_user_id": slack_user_id,
                    },
                    source_ts=slack_ts_to_datetime(action_ts),
                ),
            )
            if new_id is None:
                return DUPLICATE
            await queueing.wake_delivery(session)
        return accepted()


def _action_channel(body: dict[str, Any]) -> str | None:
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
    found = (container or {}).get("channel_id") or (channel or {}).get("id")
    return found if isinstance(found, str) else None
