"""What the Genesys sim saw and did, kept for tests, the console and the benchmark: inbound
calls, webhook deliveries, served downloads and counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

InboundEndpoint = Literal["message", "event", "receipt", "structured", "legacy"]


@dataclass
class InboundRecord:
    """One call to an inbound endpoint, accepted or not, in arrival order."""

    seq: int
    endpoint: InboundEndpoint
    integration_id: str | None
    client_id: str | None
    body: Any
    status: int
    at: str
    prefetch_conversation_id: bool = False
    response_id: str | None = None
    conversation_id: str | None = None
    deprecated: bool = False


@dataclass
class DeliveryAttempt:
    number: int
    status: int | None
    error: str | None
    elapsed_ms: int


@dataclass
class DeliveryReport:
    """What happened to one webhook delivery; it is filled in while the retries run."""

    seq: int
    message_id: str
    integration_id: str
    payload_type: str
    url: str | None
    duplicate: bool = False
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    outcome: Literal["pending", "delivered", "rejected", "gave_up", "not_configured"] = "pending"


@dataclass
class Download:
    id: str
    filename: str
    mime: str
    data: bytes
    # Only the org whose agent sent it may fetch it (with a token, when downloads need one).
    org_id: str | None = None


@dataclass
class Stats:
    token_grants: dict[str, int] = field(default_factory=dict)
    inbound_calls: dict[str, int] = field(default_factory=dict)
    inbound_accepted: dict[str, int] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1
