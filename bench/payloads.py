"""What the load generator sends: Slack Events API envelopes and Genesys agent webhooks.

Every good message carries a marker `bm<seq>x` in its text; the simulators find it in what
the bridge sends on, which is how an arrival is matched to its send. The bodies have the
fields and shapes the simulators push (`sandbox.slack_events`, `genesys_webhook`), and
are signed exactly as Slack and Genesys sign them, or deliberately not (bad load).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.signing import genesys_signature, slack_headers
from bench.schedule import BadKind, ConversationSpec, Planned
from sandbox.genesys_webhook import Addressing, build_text, to_body
from sandbox.genesys_world import conversation_uuid
from sandbox.slack_payloads import rich_text_blocks
from sandbox.slack_world import SANDBOX_APP_ID, SANDBOX_VERIFICATION_TOKEN

MARKER = re.compile(rb"bm(\d+)x")
STALE_SECONDS = 600


@dataclass(frozen=True)
class BenchTenant:
    """A tenant the load goes to: its Slack identity, its Genesys integrations and the
    simulator's bench channels and users set aside for it."""

    name: str
    slack_team_id: str
    bot_user_id: str
    mentions_integration_id: str
    dms_integration_id: str
    webhook_secrets: Mapping[str, str]
    channels: tuple[str, ...]
    users: tuple[str, ...]
    dm_channels: tuple[str, ...]


def marker(seq: int) -> str:
    return f"bm{seq}x"


def find_marker(raw: bytes) -> int | None:
    found = MARKER.search(raw)
    return int(found.group(1)) if found else None


def customer_text(seq: int) -> str:
    return f"Hello, my order {seq} has not arrived yet. Could someone check? {marker(seq)}"


def agent_text(seq: int) -> str:
    return f"Thanks for waiting! I checked order {seq}: it ships today. {marker(seq)}"


def conversation_key(tenant: BenchTenant, spec: ConversationSpec, thread_ts: str | None) -> str:
    """Genesys' `from.id`/`to.id` for the conversation, as `app.bridge.routing` spells it."""
    if spec.kind == "dm":
        return f"{tenant.slack_team_id}:{tenant.users[spec.slot]}"
    return f"{tenant.slack_team_id}:{tenant.channels[spec.slot]}:{thread_ts}"


def slack_place(
    tenant: BenchTenant, spec: ConversationSpec, thread_ts: str | None
) -> tuple[str, str | None]:
    """Where the bridge posts an agent reply: (channel, thread_ts), thread_ts None in a DM."""
    if spec.kind == "dm":
        return tenant.dm_channels[spec.slot], None
    return tenant.channels[spec.slot], thread_ts


def customer_of(tenant: BenchTenant, spec: ConversationSpec) -> str:
    return tenant.users[spec.slot % len(tenant.users)]


def slack_envelope(
    tenant: BenchTenant,
    spec: ConversationSpec,
    planned: Planned,
    *,
    ts: str,
    thread_ts: str | None,
    root_acked: bool,
    event_id: str,
    event_time: int,
) -> dict[str, Any]:
    """A thread's first message is an `app_mention`; later ones are plain thread replies once
    the root is known to be stored, as people write, and mentions again before that. A DM is
    a `message` in an `im` channel."""
    user = customer_of(tenant, spec)
    text = customer_text(planned.seq)
    event: dict[str, Any] = {"user": user, "ts": ts, "team": tenant.slack_team_id}
    if spec.kind == "dm":
        channel = tenant.dm_channels[spec.slot]
        event.update(type="message", channel_type="im")
    else:
        channel = tenant.channels[spec.slot]
        is_root = ts == thread_ts
        if is_root or not root_acked:
            text = f"<@{tenant.bot_user_id}> {text}"
            event["type"] = "app_mention"
        else:
            event.update(type="message", channel_type="channel")
        if not is_root:
            event.update(thread_ts=thread_ts, parent_user_id=user)
    event.update(
        text=text,
        client_msg_id=str(uuid.uuid4()),
        blocks=rich_text_blocks(text),
        channel=channel,
        event_ts=ts,
    )
    return {
        "token": SANDBOX_VERIFICATION_TOKEN,
        "team_id": tenant.slack_team_id,
        "enterprise_id": None,
        "context_team_id": tenant.slack_team_id,
        "context_enterprise_id": None,
        "api_app_id": SANDBOX_APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": tenant.slack_team_id,
                "user_id": tenant.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-bench{event_id}",
    }


def slack_request(
    signing_secret: str,
    envelope: Mapping[str, Any],
    *,
    now: float,
    bad: BadKind | None = None,
    retry_num: int = 0,
    retry_reason: str = "http_error",
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(envelope, separators=(",", ":")).encode()
    if bad == "unsigned":
        return body, {"Content-Type": "application/json"}
    headers = slack_headers(
        signing_secret, body, now=now - STALE_SECONDS if bad == "stale" else now
    )
    if bad == "tampered":
        signature = headers["X-Slack-Signature"]
        headers["X-Slack-Signature"] = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    if retry_num:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return body, headers


def genesys_request(
    tenant: BenchTenant,
    spec: ConversationSpec,
    planned: Planned,
    *,
    thread_ts: str | None,
    time: str,
    message_id: str,
) -> tuple[bytes, dict[str, str]]:
    """An agent's text reply as Genesys pushes it, signed with the integration's secret (or,
    for bad load, with a wrong one), in the Genesys conversation the simulator opened for the
    customer's messages (as a real agent's reply would be)."""
    integration = tenant.dms_integration_id if spec.kind == "dm" else tenant.mentions_integration_id
    to_id = conversation_key(tenant, spec, thread_ts)
    addressing = Addressing(
        integration_id=integration,
        integration_name="Slack",
        to_id=to_id,
        to_id_type="Opaque",
        conversation_id=conversation_uuid(integration, to_id),
    )
    body = to_body(
        build_text(addressing, agent_text(planned.seq), message_id=message_id, time=time)
    )
    secret = tenant.webhook_secrets[integration]
    if planned.bad is not None:
        secret = "not-the-" + secret
    return body, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": genesys_signature(secret, body),
    }
