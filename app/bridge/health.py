"""How the bridge is doing for one workspace, as its settings page shows it. Read-only.

Built from what delivery and the webhook already record (`bridge_message`, and each
integration's `last_refused_at`), so the page costs the hot path nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bridge.messages import Direction, Status
from app.db.models import BridgeMessage, GenesysIntegration


@dataclass(frozen=True)
class RefusedWebhook:
    genesys_integration_id: str
    name: str | None
    last_refused_at: datetime


@dataclass(frozen=True)
class BridgeHealth:
    last_to_genesys_at: datetime | None
    last_to_slack_at: datetime | None
    # Every integration of the workspace (current or previous) that refused a webhook,
    # the most recent first.
    refused: list[RefusedWebhook]
    waiting: int
    oldest_waiting_since: datetime | None
    dead: int


async def get_health(session: AsyncSession, *, tenant_id: uuid.UUID) -> BridgeHealth:
    delivered = await session.execute(
        select(BridgeMessage.direction, func.max(BridgeMessage.delivered_at))
        .where(BridgeMessage.tenant_id == tenant_id, BridgeMessage.status == Status.DELIVERED)
        .group_by(BridgeMessage.direction)
    )
    last = dict(delivered.all())
    counts = await session.execute(
        select(
            func.count().filter(BridgeMessage.status == Status.PENDING),
            func.min(BridgeMessage.created_at).filter(BridgeMessage.status == Status.PENDING),
            func.count().filter(BridgeMessage.status == Status.DEAD),
        ).where(
            BridgeMessage.tenant_id == tenant_id,
            BridgeMessage.status.in_([Status.PENDING, Status.DEAD]),
        )
    )
    waiting, oldest, dead = counts.one()
    refused = await session.execute(
        select(
            GenesysIntegration.genesys_integration_id,
            GenesysIntegration.name,
            GenesysIntegration.last_refused_at,
        )
        .where(
            GenesysIntegration.tenant_id == tenant_id,
            GenesysIntegration.last_refused_at.is_not(None),
        )
        .order_by(GenesysIntegration.last_refused_at.desc())
    )
    return BridgeHealth(
        last_to_genesys_at=last.get(Direction.TO_GENESYS),
        last_to_slack_at=last.get(Direction.TO_SLACK),
        refused=[RefusedWebhook(i, name, at) for i, name, at in refused.all() if at],
        waiting=int(waiting),
        oldest_waiting_since=oldest,
        dead=int(dead),
    )
