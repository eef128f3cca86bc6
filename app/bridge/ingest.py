"""Making inbound traffic durable before the sender gets its answer.

Slack events and Genesys webhooks both end here, already read under the web layer's size cap
(and, for Slack, verified). `from_slack` and `from_genesys` do the work: each accepted
message is one statement that checks the cached tenant is current, stores the message with
its parsed form and queues its conversation's delivery job. Nothing here calls Slack or
Genesys; the worker does that. Every call returns an `IngestOutcome`; the web layer turns it
into an HTTP answer.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge.from_genesys import FromGenesys
from app.bridge.from_slack import FromSlack
from app.bridge.messages import IngestOutcome
from app.bridge.outbound import ButtonClick
from app.crypto import SecretBox
from app.tenants.cache import TenantCache


class Ingest:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        cache: TenantCache | None = None,
    ) -> None:
        """`cache`: the process's tenant cache (one is made when none is shared)."""
        cache = cache or TenantCache()
        self._slack = FromSlack(sessions=sessions, box=box, cache=cache)
        self._genesys = FromGenesys(sessions=sessions, box=box, cache=cache)

    async def slack_event(self, envelope: dict[str, Any]) -> IngestOutcome:
        """A verified Events API message event (`app_mention` or `message`)."""
        return await self._slack.event(envelope)

    async def slack_actions(self, body: dict[str, Any]) -> list[IngestOutcome]:
        """A verified `block_actions` payload: one outcome per button."""
        return await self._slack.actions(body)

    async def button_click(
        self, *, tenant_id: uuid.UUID, click: ButtonClick, slack_user_id: str, action_ts: str
    ) -> IngestOutcome:
        return await self._slack.button_click(
            tenant_id=tenant_id, click=click, slack_user_id=slack_user_id, action_ts=action_ts
        )

    async def genesys_webhook(self, raw: bytes, signature: str | None) -> IngestOutcome:
        """An unverified webhook body and its `X-Hub-Signature-256`."""
        return await self._genesys.webhook(raw, signature=signature)
