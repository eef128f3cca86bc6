"""Who may open requests, and who is DMed when messages start failing: a tenant's choices.

The settings page (`app.web.access`) saves them here; delivery applies the first one
(`app.bridge.access`) and `app.bridge.outcomes` the second. Each change is audited, naming
the fields that changed (and the policy chosen), never people or channel names.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.tenants import store

EVERYONE = "everyone"
MEMBERS = "members"
CHANNELS = "channels"
USERGROUPS = "usergroups"
POLICIES = (EVERYONE, MEMBERS, CHANNELS, USERGROUPS)
# In the list of channels, direct messages with the app.
DIRECT_MESSAGES = "dm"
# Slack IDs, as the pickers submit them: channels C/G/D…, user groups S…, people U/W….
MAX_LISTED = 200


class InvalidAccess(ValueError):
    """A choice the page must refuse with a message (a 400), not save."""


def _ids(values: list[str], *, prefixes: tuple[str, ...], what: str) -> list[str]:
    found: list[str] = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        is_dm = value == DIRECT_MESSAGES and what == "channel"
        if not is_dm and not (value[:1] in prefixes and value.isalnum() and len(value) <= 32):
            raise InvalidAccess(f"That is not a Slack {what} ID.")
        if value not in found:
            found.append(value)
    if len(found) > MAX_LISTED:
        raise InvalidAccess(f"At most {MAX_LISTED} entries can be listed.")
    return found


@dataclass(frozen=True)
class AccessChoice:
    policy: str
    channel_ids: list[str]
    usergroup_ids: list[str]


def validate(
    policy: str, channel_ids: list[str], usergroup_ids: list[str], *, bot_scopes: list[str]
) -> AccessChoice:
    if policy not in POLICIES:
        raise InvalidAccess("Choose who may open requests.")
    channels = _ids(channel_ids, prefixes=("C", "G"), what="channel")
    groups = _ids(usergroup_ids, prefixes=("S",), what="user group")
    if policy == CHANNELS and not channels:
        raise InvalidAccess("Pick at least one channel (or direct messages).")
    if policy == USERGROUPS:
        if "usergroups:read" not in bot_scopes:
            raise InvalidAccess(
                "Switchboard cannot read user groups in this workspace yet: add it to Slack "
                "again to grant the usergroups:read permission, then choose this option."
            )
        if not groups:
            raise InvalidAccess("Pick at least one user group.")
    return AccessChoice(policy, channels, groups)


async def set_access(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tenant_id: uuid.UUID,
    actor_slack_user_id: str,
    choice: AccessChoice,
) -> list[str]:
    """Save who may open requests; returns (and audits) what changed."""
    async with sessions.begin() as session:
        tenant = await store.get_tenant(session, tenant_id=tenant_id)
        if tenant is None:
            return []
        changed = [
            name
            for name, old, new in (
                ("request_policy", tenant.request_policy, choice.policy),
                ("request_channel_ids", list(tenant.request_channel_ids), choice.channel_ids),
                ("request_usergroup_ids", list(tenant.request_usergroup_ids), choice.usergroup_ids),
            )
            if old != new
        ]
        tenant.request_policy = choice.policy
        tenant.request_channel_ids = choice.channel_ids
        tenant.request_usergroup_ids = choice.usergroup_ids
        if changed:
            await store.record_audit(
                session,
                tenant_id=tenant_id,
                action="tenant.access_changed",
                actor_slack_user_id=actor_slack_user_id,
                fields=[*changed, f"policy:{choice.policy}"],
            )
    return changed


async def set_failure_alert(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tenant_id: uuid.UUID,
    actor_slack_user_id: str,
    enabled: bool,
    user_ids: list[str],
) -> list[str]:
    """Turn the failure DM on or off and choose who gets it (none: the installer)."""
    recipients = _ids(user_ids, prefixes=("U", "W"), what="user")
    async with sessions.begin() as session:
        tenant = await store.get_tenant(session, tenant_id=tenant_id)
        if tenant is None:
            return []
        changed = [
            name
            for name, old, new in (
                ("failure_alert", tenant.failure_alert, enabled),
                ("failure_alert_user_ids", list(tenant.failure_alert_user_ids), recipients),
            )
            if old != new
        ]
        tenant.failure_alert = enabled
        tenant.failure_alert_user_ids = recipients
        if changed:
            await store.record_audit(
                session,
                tenant_id=tenant_id,
                action="tenant.failure_alert_changed",
                actor_slack_user_id=actor_slack_user_id,
                fields=changed,
            )
    return changed
