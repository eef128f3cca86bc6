"""The DM to a tenant's chosen admins when messages start failing, at most one an hour.

An admin turns it on on `/settings/access` and chooses who gets it (none chosen: the person
who installed the app). It is queued by `app.bridge.outcomes` in the same transaction that
records a dead letter, and by delivery on a failure streak (`FAILURE_STREAK` failed attempts
of one message in a row). The hourly limit is durable: one conditional UPDATE of
`tenant.failure_alert_at`, so parallel workers and restarts cannot send two. Each DM rides the
recipient's own DM conversation, so it is retried like any other post. Logs name IDs only.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.bridge import queueing, store
from app.bridge.messages import Direction, Kind, NewConversation, NewMessage
from app.bridge.routing import SlackConversationRef
from app.db.models import BridgeMessage, SlackInstallation, Tenant

log = logging.getLogger(__name__)

FAILURE_ALERT_INTERVAL = timedelta(hours=1)
# Failed attempts of one message in a row that count as "messages are failing".
FAILURE_STREAK = 3


def failure_alert_text(*, workspace: str, failures_url: str | None) -> str:
    where = f" See what failed, and replay or discard it: {failures_url}" if failures_url else ""
    return (
        f":warning: Switchboard: messages in {workspace} are failing to reach Slack or "
        f"Genesys Cloud.{where} (This alert is sent at most once an hour; turn it off on the "
        "settings page.)"
    )


async def claim(session: AsyncSession, *, tenant_id: uuid.UUID) -> bool:
    """True for the one caller allowed to alert now (the tenant's switch is on and no alert
    went out in the last `FAILURE_ALERT_INTERVAL`)."""
    statement = (
        update(Tenant)
        .where(
            Tenant.id == tenant_id,
            Tenant.failure_alert.is_(True),
            or_(
                Tenant.failure_alert_at.is_(None),
                Tenant.failure_alert_at < func.now() - FAILURE_ALERT_INTERVAL,
            ),
        )
        .values(failure_alert_at=func.now())
        .returning(Tenant.id)
    )
    return (await session.execute(statement)).first() is not None


def concerns(row: BridgeMessage) -> bool:
    """Our own notices failing say nothing new (and an alert about an alert would loop)."""
    return row.kind not in (Kind.NOTICE, Kind.NOTICE_UPDATE)


async def queue(
    session: AsyncSession,
    *,
    tenant: Tenant,
    installation: SlackInstallation,
    current_conversation_id: uuid.UUID,
    failures_url: str | None,
) -> bool:
    """Queue the alert to each recipient if this caller wins the hourly claim."""
    if not tenant.failure_alert:
        return False
    scope = tenant.slack_enterprise_id if tenant.is_enterprise_install else tenant.slack_team_id
    recipients = list(tenant.failure_alert_user_ids) or [installation.installer_slack_user_id]
    recipients = [r for r in recipients if r]
    if not scope or not recipients:
        return False
    if not await claim(session, tenant_id=tenant.id):
        return False
    text = failure_alert_text(
        workspace=installation.slack_team_name or installation.slack_enterprise_name or tenant.name,
        failures_url=failures_url,
    )
    stamp = uuid.uuid4()
    for recipient in recipients:
        ref = SlackConversationRef.dm(slack_scope_id=scope, slack_user_id=recipient)
        conversation_id = await store.upsert_conversation(
            session,
            tenant_id=tenant.id,
            conversation=NewConversation(
                conversation_key=ref.external_user_id, kind="dm", slack_user_id=recipient
            ),
        )
        await store.insert_message(
            session,
            NewMessage(
                tenant_id=tenant.id,
                conversation_id=conversation_id,
                direction=Direction.TO_SLACK,
                kind=Kind.NOTICE,
                dedupe_key=f"failure_alert:{stamp}:{recipient}",
                payload={"text": text},
                source_ts=datetime.now(UTC),
            ),
        )
        if conversation_id != current_conversation_id:
            await queueing.wake_delivery(session)
    log.warning(
        "admins alerted about failing messages",
        extra={"tenant_id": str(tenant.id), "recipients": len(recipients)},
    )
    return True
