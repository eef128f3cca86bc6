"""The bridge's vocabulary: what a stored message is, and what ingest and delivery report.

The `bridge_message` columns `direction`, `kind` and `status` hold these enums' values (the
column type stays a string, so older rows and the queue's SQL read the same). Ingest returns an
`IngestOutcome` and never an HTTP status: the web layer maps each `IngestOutcomeKind` to the
answer Slack or Genesys gets. Delivery returns a `DeliveryOutcome` for what the other side said.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Direction(StrEnum):
    TO_GENESYS = "to_genesys"
    TO_SLACK = "to_slack"


class Kind(StrEnum):
    # To Genesys: what a person did in Slack, and our answers to the agent's messages.
    MESSAGE = "message"
    EDIT = "edit"
    DELETE = "delete"
    RECEIPT = "receipt"
    STRUCTURED_RESPONSE = "structured_response"
    # The customer clicked End chat: end the Genesys conversation (payload names it).
    END_CHAT = "end_chat"
    # To Slack: what the agent sent, and what we tell people ourselves.
    AGENT_TEXT = "agent_text"
    AGENT_STRUCTURED = "agent_structured"
    NOTICE = "notice"
    NOTICE_UPDATE = "notice_update"
    # An agent's message rewritten once answered (`chat.update`), and the private note
    # (`chat.postEphemeral`) to someone who tried to answer another person's conversation.
    ANSWER_UPDATE = "answer_update"
    EPHEMERAL_NOTE = "ephemeral_note"
    # Kept but never sent (status `recorded`): named after the parsed webhook's type.
    AGENT_TYPING = "AgentTyping"
    AGENT_RECEIPT = "AgentReceipt"
    UNKNOWN_OUTBOUND = "UnknownOutbound"


# A customer's own words in Slack: what leaves a notice when it cannot be delivered.
CUSTOMER_KINDS = frozenset({Kind.MESSAGE, Kind.EDIT})
# What counts as a conversation having crossed to or from Genesys.
CROSSING_KINDS = frozenset(
    {Kind.MESSAGE, Kind.EDIT, Kind.DELETE, Kind.AGENT_TEXT, Kind.AGENT_STRUCTURED}
)


class Status(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    # Kept, never sent: typing, Genesys' own receipts, superseded notices.
    RECORDED = "recorded"
    # Kept, never sent: a person the tenant does not let open requests (`app.bridge.access`).
    REFUSED = "refused"


@dataclass(frozen=True, kw_only=True)
class NewConversation:
    """A conversation as its first message creates it; later messages only touch it.

    `kind` is "dm", "thread", or `routing.UNRESOLVED_KIND` for an agent message addressed to
    no conversation of the tenant's workspace (answered with a Failed receipt)."""

    conversation_key: str
    kind: str
    slack_channel_id: str | None = None
    slack_thread_ts: str | None = None
    slack_user_id: str | None = None
    genesys_integration_id: str | None = None

    def values(self) -> dict[str, Any]:
        return {
            "conversation_key": self.conversation_key,
            "kind": self.kind,
            "slack_channel_id": self.slack_channel_id,
            "slack_thread_ts": self.slack_thread_ts,
            "slack_user_id": self.slack_user_id,
            "genesys_integration_id": self.genesys_integration_id,
        }


@dataclass(frozen=True, kw_only=True)
class NewMessage:
    """One row for `bridge_message`, as ingest or delivery queues it.

    `normalized` is the parsed message (JSON) ingest already made, so delivery does not parse
    the raw payload again; None for rows whose payload is already what delivery sends.
    """

    tenant_id: uuid.UUID
    conversation_id: uuid.UUID | None
    direction: Direction
    kind: Kind
    dedupe_key: str
    payload: dict[str, Any]
    source_ts: datetime
    status: Status = Status.PENDING
    normalized: dict[str, Any] | None = None
    genesys_message_id: str | None = None
    slack_event_id: str | None = None
    slack_client_msg_id: str | None = None
    trace_id: str | None = None

    def values(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "conversation_id": self.conversation_id,
            "direction": self.direction.value,
            "kind": self.kind.value,
            "dedupe_key": self.dedupe_key,
            "payload": self.payload,
            "source_ts": self.source_ts,
            "status": self.status.value,
            "normalized": self.normalized,
            "genesys_message_id": self.genesys_message_id,
            "slack_event_id": self.slack_event_id,
            "slack_client_msg_id": self.slack_client_msg_id,
            "trace_id": self.trace_id,
        }


class IngestOutcomeKind(StrEnum):
    """What ingest did with one request. The web layer owns the HTTP answer for each:
    ACCEPTED, RECORDED, DUPLICATE, IGNORED and UNKNOWN_TENANT are acknowledged (200), since
    the sender must not retry them; UNSIGNED is 401; MALFORMED is 400; TOO_LARGE is 413; BUSY
    is 503, which Slack and Genesys both retry."""

    ACCEPTED = "accepted"  # stored and queued for delivery
    RECORDED = "recorded"  # stored, never delivered (typing, Genesys' receipts, unknown types)
    DUPLICATE = "duplicate"  # a retry or redelivery of something already stored
    IGNORED = "ignored"  # verified, nothing to do (`detail` says why)
    UNKNOWN_TENANT = "unknown_tenant"  # no active tenant for these Slack IDs
    UNSIGNED = "unsigned"  # unknown integration or a signature that does not verify
    MALFORMED = "malformed"  # not a payload we can read (`detail` names the first problem)
    TOO_LARGE = "too_large"  # over the size cap
    BUSY = "busy"  # not stored in time (a stalled database, a tenant mid-change): retry it


@dataclass(frozen=True)
class IngestOutcome:
    """`detail` is for logs and the webhook's JSON answer: a reason, never message text."""

    kind: IngestOutcomeKind
    detail: str = ""

    def __str__(self) -> str:
        """For logs: `ignored:not_linked`, `accepted`, `duplicate`…"""
        if self.kind == IngestOutcomeKind.IGNORED and self.detail:
            return f"{self.kind}:{self.detail}"
        return str(self.kind)

    @property
    def stored(self) -> bool:
        return self.kind in (IngestOutcomeKind.ACCEPTED, IngestOutcomeKind.RECORDED)


def accepted(detail: str = "queued") -> IngestOutcome:
    return IngestOutcome(IngestOutcomeKind.ACCEPTED, detail)


def ignored(reason: str) -> IngestOutcome:
    return IngestOutcome(IngestOutcomeKind.IGNORED, reason)


DUPLICATE = IngestOutcome(IngestOutcomeKind.DUPLICATE, "duplicate")
UNKNOWN_TENANT = IngestOutcome(IngestOutcomeKind.UNKNOWN_TENANT, "unknown_tenant")
UNSIGNED = IngestOutcome(IngestOutcomeKind.UNSIGNED, "unknown integration or bad signature")
TOO_LARGE = IngestOutcome(IngestOutcomeKind.TOO_LARGE, "body too large")
BUSY = IngestOutcome(IngestOutcomeKind.BUSY, "busy, retry later")


def malformed(detail: str) -> IngestOutcome:
    return IngestOutcome(IngestOutcomeKind.MALFORMED, detail)


@dataclass(frozen=True, kw_only=True)
class DeliveryOutcome:
    """What the other side said when a message was delivered."""

    slack_ts: str | None = None
    genesys_message_id: str | None = None
    genesys_conversation_id: str | None = None
    # The integration a customer message went through (it may move the conversation there).
    genesys_integration_id: str | None = None
    # The customer's message to mark with a ✓ (channel, ts), when the tenant wants it.
    react_to: tuple[str, str] | None = None
    receipt_failed: bool = False
    # An agent's message shown only in part: its receipt is Failed with this (code, message).
    receipt_reason: tuple[str, str] | None = None
    # What the delivery learnt about its conversation (a thread's permalink, the Genesys
    # conversation End chat was offered for), written with the outcome in one statement.
    conversation_values: Mapping[str, str] = field(default_factory=dict)
