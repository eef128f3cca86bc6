"""Queries about conversations and bridged messages. Take a session; never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.bridge import rules
from app.bridge.messages import (
    CROSSING_KINDS,
    CUSTOMER_KINDS,
    Direction,
    Kind,
    NewConversation,
    NewMessage,
    Status,
)
from app.crypto import SecretBox
from app.db import sealed
from app.db.models import (
    BridgeMessage,
    Conversation,
    GenesysIntegration,
    RoutingRule,
    SlackInstallation,
    Tenant,
    TenantStatus,
)
from app.tenants.store import slack_owner


@dataclass(frozen=True)
class SlackTenant:
    """What ingest needs about the tenant of an event, read in one query on the hot path."""

    tenant: Tenant
    installation: SlackInstallation
    mentions_integration_id: str | None
    dms_integration_id: str | None

    def integration_for(self, kind: str) -> str | None:
        return self.dms_integration_id if kind == "dm" else self.mentions_integration_id


def _integration_subquery(flag: Any) -> Any:
    return (
        select(GenesysIntegration.genesys_integration_id)
        .where(GenesysIntegration.tenant_id == Tenant.id, flag.is_(True))
        .order_by(GenesysIntegration.genesys_integration_id)
        .limit(1)
        .scalar_subquery()
    )


async def tenant_for_slack(
    session: AsyncSession,
    *,
    slack_enterprise_id: str | None,
    slack_team_id: str | None,
    is_enterprise_install: bool,
) -> SlackTenant | None:
    """The active tenant of an event with its installation and chosen integrations, in one
    query on the hot path; which tenant owns the IDs is `tenants.store.slack_owner`'s rule."""
    query = (
        select(
            Tenant,
            SlackInstallation,
            _integration_subquery(GenesysIntegration.for_mentions),
            _integration_subquery(GenesysIntegration.for_dms),
        )
        .join(SlackInstallation, SlackInstallation.tenant_id == Tenant.id)
        .where(
            slack_owner(
                slack_enterprise_id=slack_enterprise_id,
                slack_team_id=slack_team_id,
                is_enterprise_install=is_enterprise_install,
            ),
            Tenant.status == TenantStatus.ACTIVE,
        )
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    return SlackTenant(row[0], row[1], row[2], row[3])


async def chosen_integration(
    session: AsyncSession, *, tenant_id: uuid.UUID, kind: str
) -> str | None:
    """The integration the tenant has chosen right now for DMs or for mentions (threads).

    The same choice as `tenant_for_slack`, read again at delivery: a conversation follows the
    tenant's current set-up, not the one it started under.
    """
    flag = GenesysIntegration.for_dms if kind == "dm" else GenesysIntegration.for_mentions
    query = (
        select(GenesysIntegration.genesys_integration_id)
        .where(GenesysIntegration.tenant_id == tenant_id, flag.is_(True))
        .order_by(GenesysIntegration.genesys_integration_id)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def has_delivered(session: AsyncSession, *, conversation_id: uuid.UUID) -> bool:
    """Whether anything of this conversation ever crossed to or from Genesys."""
    query = (
        select(BridgeMessage.id)
        .where(
            BridgeMessage.conversation_id == conversation_id,
            BridgeMessage.status == Status.DELIVERED,
            BridgeMessage.kind.in_([kind.value for kind in CROSSING_KINDS]),
        )
        .limit(1)
    )
    return (await session.execute(query)).first() is not None


async def opened_earlier(
    session: AsyncSession, *, conversation_id: uuid.UUID, message_id: int
) -> bool:
    """Whether a customer message of this conversation was stored before this one, whatever
    became of it (a dead-lettered first message still opened the conversation)."""
    query = (
        select(BridgeMessage.id)
        .where(
            BridgeMessage.conversation_id == conversation_id,
            BridgeMessage.direction == Direction.TO_GENESYS,
            BridgeMessage.kind.in_([kind.value for kind in CUSTOMER_KINDS]),
            BridgeMessage.id < message_id,
        )
        .limit(1)
    )
    return (await session.execute(query)).first() is not None


async def find_message(
    session: AsyncSession, *, tenant_id: uuid.UUID, direction: Direction, dedupe_key: str
) -> BridgeMessage | None:
    query = select(BridgeMessage).where(
        BridgeMessage.tenant_id == tenant_id,
        BridgeMessage.direction == direction,
        BridgeMessage.dedupe_key == dedupe_key,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def claim_setup_alert(
    session: AsyncSession, *, tenant_id: uuid.UUID, every: timedelta
) -> bool:
    """True for the one caller allowed to alert the tenant's admin now (at most once per
    `every`); one conditional UPDATE, so parallel workers cannot both win."""
    statement = (
        update(Tenant)
        .where(
            Tenant.id == tenant_id,
            or_(Tenant.setup_alert_at.is_(None), Tenant.setup_alert_at < func.now() - every),
        )
        .values(setup_alert_at=func.now())
        .returning(Tenant.id)
    )
    return (await session.execute(statement)).first() is not None


async def get_conversation_by_key(
    session: AsyncSession, *, tenant_id: uuid.UUID, conversation_key: str
) -> Conversation | None:
    query = select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.conversation_key == conversation_key
    )
    return (await session.execute(query)).scalar_one_or_none()


async def get_conversation(
    session: AsyncSession, *, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> Conversation | None:
    query = select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.id == conversation_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def upsert_conversation(
    session: AsyncSession, *, tenant_id: uuid.UUID, conversation: NewConversation
) -> uuid.UUID:
    """Create the conversation on its first message; later messages only touch its activity.

    One statement, so two first messages of a thread arriving together converge on one row.
    """
    statement = (
        insert(Conversation)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, **conversation.values())
        .on_conflict_do_update(
            index_elements=["tenant_id", "conversation_key"],
            set_={"last_activity_at": func.now()},
        )
        .returning(Conversation.id)
    )
    return (await session.execute(statement)).scalar_one()


def sealed_values(box: SecretBox, message: NewMessage) -> dict[str, Any]:
    """The row's values with its payload and parsed form sealed (`app.db.sealed`)."""
    values = message.values()
    values["payload_enc"] = sealed.seal(
        box, values.pop("payload"), tenant_id=message.tenant_id, purpose=sealed.PAYLOAD
    )
    values["normalized_enc"] = sealed.seal(
        box, values.pop("normalized"), tenant_id=message.tenant_id, purpose=sealed.NORMALIZED
    )
    return values


async def insert_message(session: AsyncSession, message: NewMessage) -> int | None:
    """Insert unless a unique constraint says it is a duplicate; returns the new id or None.
    The payload is sealed with the box the session carries."""
    statement = (
        insert(BridgeMessage)
        .values(**sealed_values(sealed.box_of(session.info), message))
        .on_conflict_do_nothing()
        .returning(BridgeMessage.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def conversation_opener(
    session: AsyncSession, *, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> str | None:
    """The Slack user whose message opened a conversation: its first customer message's
    author (a thread's conversation is keyed on the thread, not on a person)."""
    # The whole row: its payloads are sealed at rest and opened when the ORM loads it.
    query = (
        select(BridgeMessage)
        .where(
            BridgeMessage.tenant_id == tenant_id,
            BridgeMessage.conversation_id == conversation_id,
            BridgeMessage.direction == Direction.TO_GENESYS,
            BridgeMessage.kind == Kind.MESSAGE,
        )
        .order_by(BridgeMessage.source_ts, BridgeMessage.id)
        .limit(1)
    )
    row = (await session.execute(query)).scalars().first()
    if row is None:
        return None
    normalized, payload = row.normalized, row.payload
    user = (normalized or {}).get("slack_user_id")
    if not user:
        envelope = (payload or {}).get("envelope")
        event = envelope.get("event") if isinstance(envelope, dict) else None
        user = event.get("user") if isinstance(event, dict) else None
    return user if isinstance(user, str) and user else None


async def next_pending(
    session: AsyncSession, *, conversation_id: uuid.UUID
) -> BridgeMessage | None:
    """The head of a conversation's queue. Only one job per conversation runs at a time."""
    query = (
        select(BridgeMessage)
        .where(
            BridgeMessage.conversation_id == conversation_id,
            BridgeMessage.status == Status.PENDING,
        )
        .order_by(BridgeMessage.source_ts, BridgeMessage.id)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def get_message(session: AsyncSession, *, message_id: int) -> BridgeMessage | None:
    return await session.get(BridgeMessage, message_id)


async def find_by_genesys_message_id(
    session: AsyncSession, *, tenant_id: uuid.UUID, genesys_message_id: str
) -> BridgeMessage | None:
    query = select(BridgeMessage).where(
        BridgeMessage.tenant_id == tenant_id,
        BridgeMessage.direction == Direction.TO_SLACK,
        BridgeMessage.dedupe_key == genesys_message_id,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def mark(session: AsyncSession, *, message_id: int, values: dict[str, Any]) -> None:
    await session.execute(
        update(BridgeMessage).where(BridgeMessage.id == message_id).values(**values)
    )


async def touch_conversation(
    session: AsyncSession, *, conversation_id: uuid.UUID, values: dict[str, Any]
) -> None:
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(**values)
    )


async def list_dead(
    session: AsyncSession, *, tenant_id: uuid.UUID | None = None, limit: int = 100
) -> Sequence[BridgeMessage]:
    query = select(BridgeMessage).where(BridgeMessage.status == Status.DEAD)
    if tenant_id is not None:
        query = query.where(BridgeMessage.tenant_id == tenant_id)
    return (await session.execute(query.order_by(BridgeMessage.id).limit(limit))).scalars().all()


async def requeue_dead(
    session: AsyncSession,
    *,
    message_ids: Sequence[int] | None = None,
    tenant_id: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Put dead letters back in their conversation's queue; returns the conversations touched."""
    statement = (
        update(BridgeMessage)
        .where(BridgeMessage.status == Status.DEAD, BridgeMessage.conversation_id.is_not(None))
        .values(
            status=Status.PENDING.value, attempts=0, next_attempt_at=None, created_at=func.now()
        )
        .returning(BridgeMessage.tenant_id, BridgeMessage.conversation_id)
    )
    if message_ids is not None:
        statement = statement.where(BridgeMessage.id.in_(list(message_ids)))
    if tenant_id is not None:
        statement = statement.where(BridgeMessage.tenant_id == tenant_id)
    rows = (await session.execute(statement)).all()
    return sorted({(t, c) for t, c in rows if c is not None})


async def delete_dead(
    session: AsyncSession,
    *,
    message_ids: Sequence[int] | None = None,
    tenant_id: uuid.UUID | None = None,
) -> int:
    statement = delete(BridgeMessage).where(BridgeMessage.status == Status.DEAD)
    if message_ids is not None:
        statement = statement.where(BridgeMessage.id.in_(list(message_ids)))
    if tenant_id is not None:
        statement = statement.where(BridgeMessage.tenant_id == tenant_id)
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def conversation_for_genesys(
    session: AsyncSession, *, tenant_id: uuid.UUID, genesys_conversation_id: str
) -> Conversation | None:
    """The tenant's conversation that is, or last was, this Genesys conversation."""
    query = (
        select(Conversation)
        .where(
            Conversation.tenant_id == tenant_id,
            or_(
                Conversation.genesys_conversation_id == genesys_conversation_id,
                Conversation.ended_genesys_conversation_id == genesys_conversation_id,
            ),
        )
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


def rule_of(row: RoutingRule) -> rules.Rule:
    hours = None
    if row.hours_days and row.hours_from and row.hours_to and row.time_zone:
        hours = rules.BusinessHours(
            days=frozenset(row.hours_days),
            opens=row.hours_from,
            closes=row.hours_to,
            time_zone=row.time_zone,
        )
    return rules.Rule(
        kind=row.match_kind,  # type: ignore[arg-type]
        match_id=row.match_id,
        integration_id=row.genesys_integration_id,
        queue=row.queue,
        language=row.language,
        skills=tuple(row.skills),
        priority=row.priority,
        hours=hours,
    )


async def routing_rules(session: AsyncSession, *, tenant_id: uuid.UUID) -> list[rules.Rule]:
    """The tenant's routing rules, read at delivery so a changed rule applies to every message
    not sent yet. A rule's integration is the tenant's own: saving checks it, and retiring an
    integration a rule uses is refused (the foreign key clears it should a row go anyway)."""
    query = select(RoutingRule).where(RoutingRule.tenant_id == tenant_id)
    return [rule_of(row) for row in (await session.execute(query)).scalars()]


async def claim_away_notice(
    session: AsyncSession, *, conversation_id: uuid.UUID, written_at: datetime, until: datetime
) -> bool:
    """Whether this message is the first of its conversation in the closed period ending at
    `until`; if so, records that the away message is due, in the same statement."""
    statement = (
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            or_(
                Conversation.away_notice_until.is_(None),
                Conversation.away_notice_until <= written_at,
            ),
        )
        .values(away_notice_until=until)
        .returning(Conversation.id)
    )
    return (await session.execute(statement)).first() is not None


async def replace_payload(
    session: AsyncSession, row: BridgeMessage, payload: dict[str, Any]
) -> None:
    """Write a row's payload anew, sealed like every payload, and keep the loaded copy in step."""
    sealed_payload = sealed.seal(
        sealed.box_of(session.info), payload, tenant_id=row.tenant_id, purpose=sealed.PAYLOAD
    )
    await mark(session, message_id=row.id, values={"payload_enc": sealed_payload})
    row.__dict__[sealed.OPENED_PAYLOAD] = payload
