"""Every table, one screen each. The schema is the contract between web, Slack and Genesys.

Columns ending in `_enc` hold `app.crypto.SecretBox` ciphertexts bound to the row's tenant;
they are never selected into logs or templates.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, QueryContext, mapped_column

from app.db import sealed
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
    # Delivered messages and dead letters older than this are deleted (`app.tenants.privacy`).
    retention_days: Mapped[int] = mapped_column(
        nullable=False, default=30, server_default=text("30")
    )

    # Posted in the thread (or DM) once per conversation and closed period when a routing
    # rule's business hours exclude now; None: `app.bridge.notices.AWAY_NOTICE`.
    away_message: Mapped[str | None] = mapped_column(Text)
    # The last time the installing admin was DMed about a set-up problem (at most hourly).
    setup_alert_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who may open requests (`app.bridge.access`): "everyone", "members" (no guests),
    # "channels" (only the listed channel IDs; "dm" stands for direct messages) or
    # "usergroups" (only members of the listed user group IDs).
    request_policy: Mapped[str] = mapped_column(
        String(16), nullable=False, default="everyone", server_default=text("'everyone'")
    )
    request_channel_ids: Mapped[list[str]] = mapped_column(
        ARRAY(String), nullable=False, default=list, server_default=text("'{}'")
    )
    request_usergroup_ids: Mapped[list[str]] = mapped_column(
        ARRAY(String), nullable=False, default=list, server_default=text("'{}'")
    )
    # A DM to chosen admins (none chosen: the installer) when messages start failing, at most
    # hourly; `failure_alert_at` is when the last one was queued.
    failure_alert: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    failure_alert_user_ids: Mapped[list[str]] = mapped_column(
        ARRAY(String), nullable=False, default=list, server_default=text("'{}'")
    )
    failure_alert_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
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
    # The away message was posted for the closed period that ends then; the next one is due
    # only for a message outside business hours at or after it.
    away_notice_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
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
    # The body as received or to send, and the message as ingest parsed it
    # (`app.bridge.normalized`, so delivery never parses the payload again; None where the
    # payload is the body). Both are sealed (`app.db.sealed`) into the `_enc` columns and read
    # through the `payload` and `normalized` properties; the plaintext columns hold only rows
    # written before sealing, until `python -m app keys rotate` seals them.
    payload_plain: Mapped[dict[str, object] | None] = mapped_column("payload", JSONB)
    normalized_plain: Mapped[dict[str, object] | None] = mapped_column("normalized", JSONB)
    payload_enc: Mapped[str | None] = mapped_column(Text)
    normalized_enc: Mapped[str | None] = mapped_column(Text)
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
        CheckConstraint(
            "payload IS NOT NULL OR payload_enc IS NOT NULL", name="ck_bridge_message_payload"
        ),
        # What the retention job and erasure select by (`app.tenants.privacy`).
        Index("ix_bridge_message_tenant_created", "tenant_id", "created_at"),
    )

    @property
    def payload(self) -> dict[str, object]:
        """The payload in plaintext, opened when the row was loaded."""
        return self.__dict__[sealed.OPENED_PAYLOAD]  # type: ignore[no-any-return]

    @property
    def normalized(self) -> dict[str, object] | None:
        return self.__dict__[sealed.OPENED_NORMALIZED]  # type: ignore[no-any-return]


@event.listens_for(BridgeMessage, "load")
def _open_on_load(target: BridgeMessage, context: QueryContext) -> None:
    sealed.open_loaded(target, context.session.info)


@event.listens_for(BridgeMessage, "refresh")
def _open_on_refresh(target: BridgeMessage, context: QueryContext, attrs: object) -> None:
    sealed.open_loaded(target, context.session.info)


class RoutingRule(Base):
    """Where a tenant's Slack conversations go in Genesys, and the hints Architect routes on.

    `match_kind` is "channel" (`match_id` a channel ID), "connect_org" (an external Slack
    Connect workspace ID), "dms" or "default" (`match_id` empty): one rule per match. Rules are
    chosen at delivery in that order (`app.bridge.rules`). A None integration keeps the one
    chosen on the settings page for that kind of conversation. `match_name` is the channel's
    or organisation's name when the rule was saved, for the page only.
    """

    __tablename__ = "routing_rule"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), nullable=False
    )
    match_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    match_id: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    match_name: Mapped[str | None] = mapped_column(String(200))
    genesys_integration_id: Mapped[str | None] = mapped_column(
        ForeignKey("genesys_integration.genesys_integration_id", ondelete="SET NULL")
    )
    queue: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(35))
    skills: Mapped[list[str]] = mapped_column(ARRAY(String), nullable=False, default=list)
    priority: Mapped[int | None] = mapped_column(Integer)
    # Business hours: weekdays (0 Monday … 6 Sunday), from-to in `time_zone` (IANA). No
    # days: always open. `hours_to` at or before `hours_from` spans midnight.
    hours_days: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False, default=list)
    hours_from: Mapped[time | None] = mapped_column(Time)
    hours_to: Mapped[time | None] = mapped_column(Time)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )

    __table_args__ = (
        UniqueConstraint("tenant_id", "match_kind", "match_id"),
        CheckConstraint(
            "match_kind IN ('channel', 'connect_org', 'dms', 'default')",
            name="match_kind",
        ),
        CheckConstraint(
            "(match_kind IN ('dms', 'default')) = (match_id = '')",
            name="match_id",
        ),
    )
