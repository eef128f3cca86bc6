"""Every table, one screen each. The schema is the contract between web, Slack and Genesys.

Columns ending in `_enc` hold `app.crypto.SecretBox` ciphertexts bound to the row's tenant;
they are never selected into logs or templates.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class TenantStatus(StrEnum):
    """Only an active tenant's traffic is bridged; `disabled` is an operator's switch
    (`python -m app tenants disable`), `uninstalled` is kept for audit and reinstalls."""

    ACTIVE = "active"
    DISABLED = "disabled"
    UNINSTALLED = "uninstalled"


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Tenant(Base):
    """One Slack workspace, or one Enterprise Grid org for an org-wide install."""

    __tablename__ = "tenant"

    id: Mapped[uuid.UUID] = _uuid_pk()
    slack_enterprise_id: Mapped[str | None] = mapped_column(String(32))
    slack_team_id: Mapped[str | None] = mapped_column(String(32))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=TenantStatus.ACTIVE.value
    )
    created_at: Mapped[datetime] = _created_at()
    uninstalled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Per-tenant behaviour: a ✓ reaction when Genesys accepted a message; whether other
    # bots' messages are forwarded (off: another app could loop through us).
    ack_reaction: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=text("true")
    )
    forward_other_bots: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    # Agent replies posted under the agent's name and avatar (chat:write.customize).
    agent_names: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=text("true")
    )
    # The last time the installing admin was DMed about a set-up problem (at most hourly).
    setup_alert_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Bumped by triggers (migration c2a1_tenant_version) whenever this row, its installation,
    # its Genesys connection or its integrations change: the per-process caches of
    # `app.tenants.cache` check it inside the statements that store inbound traffic.
    version: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=1, server_default=text("1")
    )

    __table_args__ = (
        # Workspace IDs and org IDs are globally unique in Slack; one tenant each.
        Index(
            "uq_tenant_slack_team_id",
            "slack_team_id",
            unique=True,
            postgresql_where=text("NOT is_enterprise_install"),
        ),
        Index(
            "uq_tenant_slack_enterprise_id",
            "slack_enterprise_id",
            unique=True,
            postgresql_where=text("is_enterprise_install"),
        ),
    )


class SlackInstallation(Base):
    """The current bot installation of a tenant; a reinstall updates this row in place."""

    __tablename__ = "slack_installation"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    slack_app_id: Mapped[str] = mapped_column(String(32), nullable=False)
    slack_enterprise_id: Mapped[str | None] = mapped_column(String(32))
    slack_enterprise_name: Mapped[str | None] = mapped_column(String(200))
    slack_enterprise_url: Mapped[str | None] = mapped_column(String(200))
    slack_team_id: Mapped[str | None] = mapped_column(String(32))
    slack_team_name: Mapped[str | None] = mapped_column(String(200))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, nullable=False)
    bot_token_enc: Mapped[str | None] = mapped_column(Text)
    bot_refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    bot_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    slack_bot_id: Mapped[str | None] = mapped_column(String(32))
    slack_bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[list[str]] = mapped_column(ARRAY(String), nullable=False, default=list)
    installer_slack_user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    token_type: Mapped[str | None] = mapped_column(String(32))
    installed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class SlackOAuthState(Base):
    """Install-flow state, consumed atomically by `DELETE … RETURNING` so a replay finds nothing."""

    __tablename__ = "slack_oauth_state"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    expire_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_slack_oauth_state_expire_at", "expire_at"),)


class AuditEvent(Base):
    """Who changed what and when. Field names only, never values or personal data.

    `tenant_id` is kept without a foreign key so the record of a purge survives the purge.
    """

    __tablename__ = "audit_event"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    actor_slack_user_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    fields: Mapped[list[str]] = mapped_column(ARRAY(String), nullable=False, default=list)
    created_at: Mapped[datetime] = _created_at()

    __table_args__ = (Index("ix_audit_event_tenant_id_created_at", "tenant_id", "created_at"),)


class GenesysConnection(Base):
    """A tenant's Genesys Cloud org: region and OAuth client. One per tenant."""

    __tablename__ = "genesys_connection"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    region: Mapped[str] = mapped_column(String(32), nullable=False)
    client_id: Mapped[str] = mapped_column(String(100), nullable=False)
    client_secret_enc: Mapped[str] = mapped_column(Text, nullable=False)
    # Changes whenever the credentials change; the per-tenant client cache keys on it.
    credentials_version: Mapped[int] = mapped_column(nullable=False, default=1)
    credentials_updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    last_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()


class GenesysIntegration(Base):
    """An Open Messaging integration a tenant routes mentions and/or DMs through.

    The integration ID is unique across all tenants: the webhook finds its tenant and the
    signing secret by `channel.id`, so one integration can never belong to two tenants.
    A row with neither flag is a *previous* integration the admin switched away from: agent
    replies through it are still verified and delivered until the admin retires it.
    """

    __tablename__ = "genesys_integration"

    genesys_integration_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str | None] = mapped_column(String(200))
    for_mentions: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    for_dms: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    webhook_secret_enc: Mapped[str] = mapped_column(Text, nullable=False)
    webhook_secret_set_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # During a rotation the secret before it keeps verifying until a webhook signed with the
    # new one arrives, or until `previous_secret_expires_at`.
    previous_webhook_secret_enc: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "auto": we PATCHed the integration; "manual": the admin was shown the values to paste.
    webhook_wiring: Mapped[str] = mapped_column(String(16), nullable=False)
    # Written at most about once a minute each (see `app.bridge.ingest`), never per webhook.
    last_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_refused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the admin chose another integration instead of this one; None while in use.
    replaced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()


class Conversation(Base):
    """One Slack thread (channel mentions) or one person's DM, mapped to one Genesys conversation.

    `conversation_key` is the `from.id` we send Genesys; it comes back as `channel.to.id` on
    every agent message, which is how a reply finds its thread or DM.
    """

    __tablename__ = "conversation"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), nullable=False
    )
    conversation_key: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # "dm" | "thread"
    slack_channel_id: Mapped[str | None] = mapped_column(String(32))
    slack_thread_ts: Mapped[str | None] = mapped_column(String(32))
    slack_user_id: Mapped[str | None] = mapped_column(String(32))
    genesys_integration_id: Mapped[str | None] = mapped_column(String(64))
    genesys_conversation_id: Mapped[str | None] = mapped_column(String(64))
    slack_permalink: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    last_activity_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # The end of a Genesys conversation (app/bridge/conversation_end.py): Open Messaging has
    # no end event, so the worker reads the conversation's participants. `ended_at` is when we
    # learnt it and `ended_genesys_conversation_id` which one ended; the customer's next message
    # opens a new Genesys conversation, whose id replaces `genesys_conversation_id`.
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_genesys_conversation_id: Mapped[str | None] = mapped_column(String(64))
    end_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The Genesys conversation whose End chat button was offered (once per conversation).
    end_chat_offered_for: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("tenant_id", "conversation_key"),
        Index(
            "ix_conversation_open_genesys",
            "end_checked_at",
            postgresql_where=text("genesys_conversation_id IS NOT NULL"),
        ),
    )


class BridgeMessage(Base):
    """Every message crossing the bridge, in either direction: the durable inbox and outbox.

    A row is committed before the sender gets its 200, so a crash after the ack loses nothing.
    The unique constraints are the dedupe: Slack retries (same `event_id`, same
    `client_msg_id`) and Genesys redeliveries (same message `id`) collide and are dropped.
    Rows of one conversation are delivered in `(source_ts, id)` order by one job at a time.
    """

    __tablename__ = "bridge_message"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), nullable=False
    )
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE")
    )
    # Values of `app.bridge.messages.Direction`, `Kind` and `Status`.
    direction: Mapped[str] = mapped_column(String(12), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(300), nullable=False)
    slack_event_id: Mapped[str | None] = mapped_column(String(64))
    slack_client_msg_id: Mapped[str | None] = mapped_column(String(64))
    # pending -> delivered | dead; "recorded" for what is kept but never sent (typing, receipts).
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")
    payload: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    # The message as ingest parsed it (`app.bridge.normalized`), so delivery never parses the
    # payload again; None on rows from before it was kept, and where the payload is the body.
    normalized: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    source_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    attempts: Mapped[int] = mapped_column(nullable=False, default=0, server_default=text("0"))
    rate_limited: Mapped[int] = mapped_column(nullable=False, default=0, server_default=text("0"))
    # Parts of a customer's message Genesys has accepted (its text, then one per file): a
    # retry resumes after them (`app.bridge.to_genesys`).
    parts_sent: Mapped[int] = mapped_column(nullable=False, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String(300))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    genesys_message_id: Mapped[str | None] = mapped_column(String(64))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    # The ID of the request that brought the message in; the worker logs under it too.
    trace_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("tenant_id", "direction", "dedupe_key"),
        Index(
            "uq_bridge_message_slack_event_id",
            "tenant_id",
            "slack_event_id",
            unique=True,
            postgresql_where=text("slack_event_id IS NOT NULL"),
        ),
        Index(
            "uq_bridge_message_slack_client_msg_id",
            "tenant_id",
            "slack_client_msg_id",
            unique=True,
            postgresql_where=text("slack_client_msg_id IS NOT NULL"),
        ),
        Index(
            "ix_bridge_message_pending",
            "conversation_id",
            "source_ts",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_bridge_message_dead", "tenant_id", postgresql_where=text("status = 'dead'")),
    )
