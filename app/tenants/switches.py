"""A tenant's own switches, as its admin sets them on the onboarding page."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.tenants import store


async def set_behaviour(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tenant_id: uuid.UUID,
    actor_slack_user_id: str,
    ack_reaction: bool,
    forward_other_bots: bool,
    agent_names: bool = True,
) -> list[str]:
    """Per-workspace switches; returns (and audits) the fields that changed."""
    async with sessions.begin() as session:
        tenant = await store.get_tenant(session, tenant_id=tenant_id)
        if tenant is None:
            return []
        changed = [
            name
            for name, old, new in (
                ("ack_reaction", tenant.ack_reaction, ack_reaction),
                ("forward_other_bots", tenant.forward_other_bots, forward_other_bots),
                ("agent_names", tenant.agent_names, agent_names),
            )
            if old != new
        ]
        tenant.ack_reaction = ack_reaction
        tenant.forward_other_bots = forward_other_bots
        tenant.agent_names = agent_names
        if changed:
            await store.record_audit(
                session,
                tenant_id=tenant_id,
                action="tenant.behaviour_changed",
                actor_slack_user_id=actor_slack_user_id,
                fields=changed,
            )
    return changed
