"""In-memory state of the simulated Genesys Cloud: orgs, OAuth clients, tokens, Open Messaging
integrations and conversations, with the records of what it saw and sent.

The state is plain data so a test holding the world can read it while the server runs. The
seeded credentials are module constants so the dev launcher can show them to a person trying
the product; they exist only in the sandbox. Time comes from `clock`, so tests can expire
tokens and finish integration creation without sleeping.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sandbox.faults import FaultPlan
from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_records import DeliveryReport, Download, InboundRecord, Stats

PERMISSION_RECEIVE = "conversation:message:receive"
PERMISSION_VIEW = "messaging:integration:view"
PERMISSION_ADD = "messaging:integration:add"
PERMISSION_EDIT = "messaging:integration:edit"
# Reading a message routing recipient (is a flow bound?), `GET /api/v2/routing/message/recipients`.
PERMISSION_ROUTING = "routing:message:manage"
# Reading a message conversation (its state, its participants): external-contracts §G8 names this
# permission for message details; that it also covers the conversation is UNCONFIRMED.
PERMISSION_CONVERSATION_VIEW = "conversation:message:view"
# `PATCH /api/v2/conversations/messages/{conversationId}` `{"state": "disconnected"}`.
PERMISSION_DISCONNECT = "conversation:communication:disconnect"
ALL_PERMISSIONS = frozenset(
    {
        PERMISSION_RECEIVE,
        PERMISSION_VIEW,
        PERMISSION_ADD,
        PERMISSION_EDIT,
        PERMISSION_ROUTING,
        PERMISSION_CONVERSATION_VIEW,
        PERMISSION_DISCONNECT,
    }
)

DEFAULT_TOKEN_TTL_SECONDS = 86400

SANDBOX_ORG_ID = "6d1f6c4e-1b0a-4c36-9a52-3f0a5e2b7c10"
SANDBOX_ORG_NAME = "Acme Contact Center (sandbox)"
SANDBOX_ORG_CLIENT_ID = "0f3b2a9e-8c41-4d7a-b5e2-1a6c9d4f7e21"
SANDBOX_ORG_CLIENT_SECRET = "sbx-acme-9hQz4Lk2Vt7Xw1Pe6Rn3Ys8Ud5Fb0Jc"
SANDBOX_NO_EDIT_CLIENT_ID = "3a7c5e1f-2b84-4c9d-a6e0-7f1b3d5c9a42"
SANDBOX_NO_EDIT_CLIENT_SECRET = "sbx-acme-noedit-4Tg8Mw2Kq6Zr1Hs5Bv9Lx3Pn"
SANDBOX_NO_RECEIVE_CLIENT_ID = "8e2d4b6a-5c13-4f7e-9b0a-2c6e8d1f4a63"
SANDBOX_NO_RECEIVE_CLIENT_SECRET = "sbx-acme-norecv-7Yc1Nf5Dj9Wp3Gt8Ks2Qm6Rv"
SANDBOX_MENTIONS_INTEGRATION_ID = "e6b352de-ecd0-49c7-94de-7787418869bc"
SANDBOX_DMS_INTEGRATION_ID = "2c9f7a31-6d4e-4b58-8a1c-5e0b9d3f7a84"
SANDBOX_PENDING_INTEGRATION_ID = "9b4e1d7c-3a62-4f85-b0d9-6c2a8e5f1b95"
# The Architect inbound message flow the seeded, completed integrations route to.
SANDBOX_FLOW_ID = "7d3b9f15-2c8e-4a61-9e07-4b5f1c8a2d96"
SANDBOX_FLOW_NAME = "Slack inbound messages"

SANDBOX_OTHER_ORG_ID = "b3e8f1a2-7d5c-4e91-8f6b-0a4c2d9e5f17"
SANDBOX_OTHER_ORG_NAME = "Globex Support (sandbox)"
SANDBOX_OTHER_ORG_CLIENT_ID = "5c1a9e3d-4f72-4b06-8d2e-9a7b3c5f1e38"
SANDBOX_OTHER_ORG_CLIENT_SECRET = "sbx-globex-2Wd6Hk9Sp4Lf8Ct1Xv5Nq7Bm3Ry"
SANDBOX_OTHER_MENTIONS_INTEGRATION_ID = "4f8a2c6e-9d13-4b7a-a5e0-3c1f7b9d2e56"
# The admin who "created" the seeded integrations (createdBy/modifiedBy).
SANDBOX_ADMIN_USER_ID = "1e7a3c9b-5d24-4f60-8b1e-7c3a9d5f2b08"


def new_message_id() -> str:
    """Genesys message ids are 32 lower-case hex characters, not UUIDs."""
    return secrets.token_hex(16)


def new_uuid() -> str:
    return str(uuid.uuid4())


# Conversation ids are derived, not random, so that a load generator can address an agent's
# reply to the conversation this simulator opened for a customer (the benchmark does).
_CONVERSATION_IDS = uuid.UUID("6a1f3a54-3c55-4f0e-9a7e-2f8d0c1b5e11")


def conversation_uuid(integration_id: str, external_id: str, generation: int = 0) -> str:
    """The id of the `generation`-th conversation (0 for the first) of one integration and
    `from.id`. Real Genesys ids are random UUIDs; nothing in the product may rely on either."""
    return str(uuid.uuid5(_CONVERSATION_IDS, f"{integration_id}\n{external_id}\n{generation}"))


def to_iso(timestamp: float) -> str:
    """ISO-8601 with milliseconds and a `Z`, the way Genesys writes times."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# The region domains Genesys Cloud serves (external-contracts §G9), copied here because the sandbox
# imports nothing from the product. Each has `login.`, `api.` and `api-downloads.` hosts.
REGION_DOMAINS = frozenset(
    {
        "mypurecloud.com",
        "use2.us-gov-pure.cloud",
        "usw2.pure.cloud",
        "cac1.pure.cloud",
        "sae1.pure.cloud",
        "mxc1.pure.cloud",
        "mypurecloud.ie",
        "euw2.pure.cloud",
        "mypurecloud.de",
        "euc2.pure.cloud",
        "edee1.eusc-pure.cloud",
        "mec1.pure.cloud",
        "aps1.pure.cloud",
        "mypurecloud.jp",
        "apne2.pure.cloud",
        "apne3.pure.cloud",
        "apse1.pure.cloud",
        "mypurecloud.com.au",
    }
)
SANDBOX_ORG_DOMAIN = "mypurecloud.com"  # us_east_1, the onboarding page's default region
SANDBOX_OTHER_ORG_DOMAIN = "mypurecloud.ie"  # eu_west_1


@dataclass
class Org:
    id: str
    name: str
    # An org lives in one region; its clients and tokens exist only on that region's hosts.
    domain: str = SANDBOX_ORG_DOMAIN


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    org_id: str
    name: str
    permissions: frozenset[str]
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS


@dataclass
class Token:
    value: str
    client_id: str
    expires_at: float
    calls: deque[float] = field(default_factory=deque)


@dataclass
class Flow:
    id: str
    name: str


@dataclass
class Integration:
    id: str
    org_id: str
    name: str
    date_created: float
    date_modified: float
    created_by: str
    modified_by: str
    recipient_id: str = field(default_factory=new_uuid)
    supported_content_id: str = field(default_factory=new_uuid)
    messaging_setting_id: str = field(default_factory=new_uuid)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_headers: dict[str, str] = field(default_factory=dict)
    create_status: Literal["Initiated", "Completed", "Error"] = "Completed"
    completes_at: float | None = None
    pending_result: Literal["Completed", "Error"] = "Completed"
    # The inbound message flow bound to the integration's message routing recipient; a new
    # integration has none until an admin binds one (Admin > Message Routing).
    flow: Flow | None = None

    def settle(self, now: float) -> None:
        """Creation is asynchronous in Genesys; the sim finishes it lazily when next looked at."""
        if (
            self.create_status == "Initiated"
            and self.completes_at is not None
            and now >= self.completes_at
        ):
            self.create_status = self.pending_result
            self.date_modified = self.completes_at


@dataclass
class ConversationMessage:
    id: str
    direction: Literal["Inbound", "Outbound"]
    type: str
    time: str
    text: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    external_message_id: str | None = None
    receipts: list[dict[str, Any]] = field(default_factory=list)


ParticipantState = Literal["connected", "disconnected"]


@dataclass
class Participant:
    """Who is in a conversation: the customer (the Slack side) and the agents who answered.

    The webhook never names the agent (`channel.from.nickname` is the integration's name,
    external-contracts §G6); the Conversations API is where a client can read it."""

    id: str
    purpose: Literal["customer", "agent"]
    name: str | None
    connected_at: str
    user_id: str | None = None
    state: ParticipantState = "connected"
    ended_at: str | None = None


@dataclass
class Conversation:
    id: str
    integration_id: str
    external_id: str
    external_id_type: str
    nickname: str | None
    started_at: str
    participant_data: dict[str, str] = field(default_factory=dict)
    messages: list[ConversationMessage] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    # Ended by the agent (or the customer side via PATCH); nothing reaches the webhook when it
    # happens (Open Messaging has no disconnect event), and a new message opens a new one.
    ended_at: str | None = None

    @property
    def state(self) -> ParticipantState:
        return "connected" if self.ended_at is None else "disconnected"

    def find(self, message_id: str) -> ConversationMessage | None:
        return next((m for m in self.messages if m.id == message_id), None)

    def agents(self) -> list[Participant]:
        return [p for p in self.participants if p.purpose == "agent"]

    def reopen(self) -> None:
        """The customer writes again: the conversation and its customer side are live again;
        the agents who left stay disconnected until one answers."""
        self.ended_at = None
        for participant in self.participants:
            if participant.purpose == "customer":
                participant.state, participant.ended_at = "connected", None

    def end(self, now: str) -> None:
        if self.ended_at is not None:
            return
        self.ended_at = now
        for participant in self.participants:
            if participant.state == "connected":
                participant.state, participant.ended_at = "disconnected", now


@dataclass
class GenesysWorld:
    config: GenesysConfig = field(default_factory=GenesysConfig)
    clock: Callable[[], float] = time.time
    faults: FaultPlan = field(default_factory=FaultPlan)
    orgs: dict[str, Org] = field(default_factory=dict)
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    integrations: dict[str, Integration] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    inbound: list[InboundRecord] = field(default_factory=list)
    deliveries: list[DeliveryReport] = field(default_factory=list)
    # Agents by name, so one name keeps one user id (`GET /api/v2/users/{userId}`).
    agents: dict[str, str] = field(default_factory=dict)
    sent_bodies: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    downloads: dict[str, Download] = field(default_factory=dict)
    # Customer attachments Genesys fetched from their URLs: message id -> (mime, bytes).
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    # Fetches still running (not kept in snapshots).
    fetch_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stats: Stats = field(default_factory=Stats)
    seed_webhook_url: str | None = None
    seed_webhook_secret: str | None = None

    @classmethod
    def seeded(
        cls,
        *,
        config: GenesysConfig | None = None,
        clock: Callable[[], float] = time.time,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> GenesysWorld:
        """Two orgs with ready credentials; `webhook_url`/`webhook_secret` pre-point the
        completed integrations at a bridge (the benchmark), otherwise onboarding PATCHes them."""
        world = cls(
            config=config or GenesysConfig(),
            clock=clock,
            seed_webhook_url=webhook_url,
            seed_webhook_secret=webhook_secret,
        )
        world._seed()
        return world

    def reset(self) -> None:
        """Back to the seeded state; config and clock survive, as they are how it was started."""
        self.faults.clear()
        for table in (
            self.orgs,
            self.clients,
            self.tokens,
            self.integrations,
            self.conversations,
            self.sent_bodies,
            self.downloads,
            self.media,
            self.agents,
        ):
            table.clear()
        self.inbound.clear()
        self.deliveries.clear()
        self.stats = Stats()
        self._seed()

    def _seed(self) -> None:
        self.orgs[SANDBOX_ORG_ID] = Org(SANDBOX_ORG_ID, SANDBOX_ORG_NAME, SANDBOX_ORG_DOMAIN)
        self.orgs[SANDBOX_OTHER_ORG_ID] = Org(
            SANDBOX_OTHER_ORG_ID, SANDBOX_OTHER_ORG_NAME, SANDBOX_OTHER_ORG_DOMAIN
        )
        for client in (
            OAuthClient(
                SANDBOX_ORG_CLIENT_ID,
                SANDBOX_ORG_CLIENT_SECRET,
                SANDBOX_ORG_ID,
                "Switchboard (all permissions)",
                ALL_PERMISSIONS,
            ),
            OAuthClient(
                SANDBOX_NO_EDIT_CLIENT_ID,
                SANDBOX_NO_EDIT_CLIENT_SECRET,
                SANDBOX_ORG_ID,
                "Switchboard (no messaging:integration:edit)",
                ALL_PERMISSIONS - {PERMISSION_EDIT},
            ),
            OAuthClient(
                SANDBOX_NO_RECEIVE_CLIENT_ID,
                SANDBOX_NO_RECEIVE_CLIENT_SECRET,
                SANDBOX_ORG_ID,
                "Switchboard (no conversation:message:receive)",
                ALL_PERMISSIONS - {PERMISSION_RECEIVE},
            ),
            OAuthClient(
                SANDBOX_OTHER_ORG_CLIENT_ID,
                SANDBOX_OTHER_ORG_CLIENT_SECRET,
                SANDBOX_OTHER_ORG_ID,
                "Switchboard (all permissions)",
                ALL_PERMISSIONS,
            ),
        ):
            self.clients[client.client_id] = client
        seeds = (
            (SANDBOX_MENTIONS_INTEGRATION_ID, SANDBOX_ORG_ID, "Slack mentions", True),
            (SANDBOX_DMS_INTEGRATION_ID, SANDBOX_ORG_ID, "Slack DMs", True),
            (SANDBOX_PENDING_INTEGRATION_ID, SANDBOX_ORG_ID, "Slack (still provisioning)", False),
            (SANDBOX_OTHER_MENTIONS_INTEGRATION_ID, SANDBOX_OTHER_ORG_ID, "Slack mentions", True),
        )
        for integration_id, org_id, name, done in seeds:
            integration = self.add_integration(
                org_id=org_id,
                name=name,
                created_by=SANDBOX_ADMIN_USER_ID,
                integration_id=integration_id,
            )
            if done:
                integration.create_status = "Completed"
                integration.completes_at = None
                integration.webhook_url = self.seed_webhook_url
                integration.webhook_secret = self.seed_webhook_secret
                integration.flow = Flow(SANDBOX_FLOW_ID, SANDBOX_FLOW_NAME)

    def now(self) -> float:
        return self.clock()

    def now_iso(self) -> str:
        return to_iso(self.clock())

    def grant_token(self, client: OAuthClient) -> Token:
        ttl = self.config.token_ttl_seconds or client.token_ttl_seconds
        token = Token(secrets.token_urlsafe(48), client.client_id, self.now() + ttl)
        self.tokens[token.value] = token
        self.stats.count(self.stats.token_grants, client.client_id)
        return token

    def add_integration(
        self,
        *,
        org_id: str,
        name: str,
        created_by: str,
        integration_id: str | None = None,
    ) -> Integration:
        """A new integration starts `Initiated` and completes after the configured delay."""
        now = self.now()
        integration = Integration(
            id=integration_id or new_uuid(),
            org_id=org_id,
            name=name,
            date_created=now,
            date_modified=now,
            created_by=created_by,
            modified_by=created_by,
            create_status="Initiated",
            completes_at=now + self.config.integration_create_delay_seconds,
            pending_result=self.config.integration_create_result,
        )
        self.integrations[integration.id] = integration
        return integration

    def get_integration(self, integration_id: str) -> Integration | None:
        integration = self.integrations.get(integration_id)
        if integration is not None:
            integration.settle(self.now())
        return integration

    def conversation_for(
        self, *, integration_id: str, external_id: str, id_type: str, nickname: str | None
    ) -> Conversation:
        """One live conversation per integration and `from.id`, as Genesys groups them; once
        it has ended, the next message opens a new one (a new `conversationId`), or, with
        `config.ended_conversation_reopens`, reopens the latest ended one."""
        latest_ended: Conversation | None = None
        generation = 0
        for conversation in self.conversations.values():
            if (
                conversation.integration_id != integration_id
                or conversation.external_id != external_id
            ):
                continue
            generation += 1
            if conversation.ended_at is None:
                if nickname and not conversation.nickname:
                    conversation.nickname = nickname
                return conversation
            latest_ended = conversation
        if latest_ended is not None and self.config.ended_conversation_reopens:
            latest_ended.reopen()
            return latest_ended
        conversation = Conversation(
            id=conversation_uuid(integration_id, external_id, generation),
            integration_id=integration_id,
            external_id=external_id,
            external_id_type=id_type,
            nickname=nickname,
            started_at=self.now_iso(),
            participants=[Participant(new_uuid(), "customer", nickname, self.now_iso())],
        )
        self.conversations[conversation.id] = conversation
        return conversation

    def join_agent(self, conversation: Conversation, name: str) -> Participant:
        """The named agent answers: the same person joins once, with a stable user id."""
        user_id = self.agents.setdefault(name, new_uuid())
        for participant in conversation.agents():
            if participant.user_id == user_id and participant.state == "connected":
                return participant
        participant = Participant(new_uuid(), "agent", name, self.now_iso(), user_id=user_id)
        conversation.participants.append(participant)
        return participant

    def find_message(
        self, *, integration_id: str, message_id: str
    ) -> tuple[Conversation, ConversationMessage] | None:
        for conversation in self.conversations.values():
            if conversation.integration_id != integration_id:
                continue
            message = conversation.find(message_id)
            if message is not None:
                return conversation, message
        return None

    def record_inbound(self, record: InboundRecord) -> None:
        self.inbound.append(record)
        self.stats.count(self.stats.inbound_calls, record.endpoint)
        if 200 <= record.status < 300:
            self.stats.count(self.stats.inbound_accepted, record.endpoint)

    def next_inbound_seq(self) -> int:
        return len(self.inbound) + 1
