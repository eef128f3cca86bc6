"""`GenesysClient` against the Genesys simulator: token reuse and renewal, the error tree, and
every verb. The simulator and the client share one fake clock, so expiry needs no sleeping."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import httpx
import pytest

from app.genesys.client import GenesysClient
from app.genesys.errors import (
    GenesysAuthError,
    GenesysNotFound,
    GenesysPermissionError,
    GenesysRateLimited,
    GenesysRejected,
    GenesysUnavailable,
)
from app.genesys.regions import GenesysHosts, hosts_for
from sandbox.faults import FaultSpec
from sandbox.genesys_agent import Agent, AgentReply
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_NO_EDIT_CLIENT_ID,
    SANDBOX_NO_EDIT_CLIENT_SECRET,
    SANDBOX_NO_RECEIVE_CLIENT_ID,
    SANDBOX_NO_RECEIVE_CLIENT_SECRET,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    SANDBOX_ORG_ID,
    SANDBOX_PENDING_INTEGRATION_ID,
    GenesysWorld,
)
from sandbox.runner import ServerThread

SIM_URL = "http://genesys.sim"
INTEGRATION = SANDBOX_DMS_INTEGRATION_ID


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


MakeClient = Callable[..., GenesysClient]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world(clock: FakeClock) -> GenesysWorld:
    return GenesysWorld.seeded(clock=clock)


@pytest.fixture
async def make_client(world: GenesysWorld, clock: FakeClock) -> AsyncIterator[MakeClient]:
    """Clients on the in-process simulator, closed after the test."""
    made: list[GenesysClient] = []

    def make(
        client_id: str = SANDBOX_ORG_CLIENT_ID,
        client_secret: str = SANDBOX_ORG_CLIENT_SECRET,
        **kwargs: Any,
    ) -> GenesysClient:
        hosts = hosts_for("us_east_1", api_override=SIM_URL, login_override=SIM_URL)
        kwargs.setdefault("transport", httpx.ASGITransport(app=create_genesys_sandbox(world)))
        kwargs.setdefault("clock", clock)
        client = GenesysClient(hosts, client_id=client_id, client_secret=client_secret, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def text_body(text: str = "Hello, I need help", *, message_id: str = "T1:C1:1.0") -> dict[str, Any]:
    return {
        "channel": {
            "messageId": message_id,
            "time": "2026-01-15T10:00:00.000Z",
            "from": {"id": "T1:U1", "idType": "Opaque", "nickname": "Jane Doe"},
            "metadata": {"customAttributes": {"slackTeam": "T1"}},
        },
        "text": text,
    }


def arm(world: GenesysWorld, **spec: Any) -> None:
    world.faults.arm(FaultSpec.model_validate(spec))


def statuses(world: GenesysWorld) -> list[int]:
    return [record.status for record in world.inbound]


# --- tokens --------------------------------------------------------------------------------


async def test_one_token_serves_many_calls(world: GenesysWorld, make_client: MakeClient) -> None:
    client = make_client()
    for n in range(25):
        await client.send_inbound_message(INTEGRATION, text_body(message_id=f"m-{n}"))
    assert client.token_grants == 1
    assert world.stats.token_grants == {SANDBOX_ORG_CLIENT_ID: 1}


async def test_concurrent_first_calls_share_one_grant(
    world: GenesysWorld, make_client: MakeClient
) -> None:
    # In-process ASGI calls never yield unless the app sleeps; a slow login host makes every
    # call arrive while the first grant is still in flight.
    arm(world, route="oauth.token", kind="delay", delay=0.05)
    client = make_client()
    await asyncio.gather(
        *(
            client.send_inbound_message(INTEGRATION, text_body(message_id=f"m-{n}"))
            for n in range(20)
        )
    )
    assert world.stats.token_grants == {SANDBOX_ORG_CLIENT_ID: 1}
    assert statuses(world) == [200] * 20


async def test_token_is_renewed_a_minute_before_it_expires(
    world: GenesysWorld, clock: FakeClock, make_client: MakeClient
) -> None:
    world.config.token_ttl_seconds = 3600
    client = make_client()
    await client.send_inbound_message(INTEGRATION, text_body())
    clock.advance(3600 - 61)
    await client.send_inbound_message(INTEGRATION, text_body())
    assert client.token_grants == 1
    clock.advance(2)
    await client.send_inbound_message(INTEGRATION, text_body())
    await client.send_inbound_message(INTEGRATION, text_body())
    assert client.token_grants == 2
    # Renewed before Genesys would have refused it: no call ever saw a 401.
    assert statuses(world) == [200] * 4


async def test_refused_token_is_replaced_once_and_the_call_retried(
    world: GenesysWorld, make_client: MakeClient
) -> None:
    client = make_client()
    await client.send_inbound_message(INTEGRATION, text_body())
    world.tokens.clear()  # Genesys forgets the token (revoked, or expired early)
    accepted = await client.send_inbound_message(INTEGRATION, text_body())
    assert accepted.genesys_message_id
    assert client.token_grants == 2
    assert statuses(world) == [200, 401, 200]


async def test_calls_refused_together_share_one_new_grant(
    world: GenesysWorld, make_client: MakeClient
) -> None:
    client = make_client()
    await client.send_inbound_message(INTEGRATION, text_body())
    world.tokens.clear()
    # Slow the next ten calls so all of them are refused with the same old token.
    arm(world, route="inbound.message", kind="delay", delay=0.05, times=10)
    arm(world, route="oauth.token", kind="delay", delay=0.05)
    await asyncio.gather(
        *(client.send_inbound_message(INTEGRATION, text_body()) for _ in range(10))
    )
    assert world.stats.token_grants == {SANDBOX_ORG_CLIENT_ID: 2}
    assert statuses(world) == [200] + [401] * 10 + [200] * 10


async def test_second_401_is_an_auth_error(world: GenesysWorld, make_client: MakeClient) -> None:
    client = make_client()
    arm(world, route="inbound.message", kind="status", status=401, times=2)
    with pytest.raises(GenesysAuthError) as caught:
        await client.send_inbound_message(INTEGRATION, text_body())
    assert caught.value.status == 401
    assert client.token_grants == 2
    assert statuses(world) == [401, 401]


@pytest.mark.parametrize("status", [400, 401])
async def test_bad_credentials_are_an_auth_error(
    world: GenesysWorld, make_client: MakeClient, status: Literal[400, 401]
) -> None:
    world.config.bad_credentials_status = status
    client = make_client(client_secret="wrong-secret-0123456789")
    with pytest.raises(GenesysAuthError) as caught:
        await client.fetch_token()
    assert caught.value.status == status
    assert caught.value.code == "invalid_client"
    assert "wrong-secret" not in str(caught.value)
    with pytest.raises(GenesysAuthError):
        await client.send_inbound_message(INTEGRATION, text_body())
    assert client.token_grants == 0
    assert world.inbound == []


async def test_fetch_token_always_grants(world: GenesysWorld, make_client: MakeClient) -> None:
    client = make_client()
    await client.fetch_token()
    await client.fetch_token()
    assert client.token_grants == 2
    assert world.stats.token_grants == {SANDBOX_ORG_CLIENT_ID: 2}


async def test_token_endpoint_outage_and_rate_limit_stay_retryable(
    world: GenesysWorld, make_client: MakeClient
) -> None:
    client = make_client()
    arm(world, route="oauth.token", kind="status", status=503, times=1)
    with pytest.raises(GenesysUnavailable) as unavailable:
        await client.fetch_token()
    assert unavailable.value.status == 503
    arm(world, route="oauth.token", kind="rate_limit", retry_after=3, times=1)
    with pytest.raises(GenesysRateLimited) as limited:
        await client.send_inbound_message(INTEGRATION, text_body())
    assert limited.value.retry_after == 3.0
    assert client.token_grants == 0
    await client.send_inbound_message(INTEGRATION, text_body())
    assert client.token_grants == 1


# --- errors from the API host --------------------------------------------------------------


async def test_missing_receive_permission_is_named(make_client: MakeClient) -> None:
    client = make_client(SANDBOX_NO_RECEIVE_CLIENT_ID, SANDBOX_NO_RECEIVE_CLIENT_SECRET)
    with pytest.raises(GenesysPermissionError) as caught:
        await client.send_inbound_message(INTEGRATION, text_body())
    assert caught.value.status == 403
    assert caught.value.missing_permissions == ["conversation:message:receive"]
    assert caught.value.context_id


async def test_missing_edit_permission_is_named(make_client: MakeClient) -> None:
    client = make_client(SANDBOX_NO_EDIT_CLIENT_ID, SANDBOX_NO_EDIT_CLIENT_SECRET)
    with pytest.raises(GenesysPermissionError) as caught:
        await client.patch_integration(
            INTEGRATION, name="Slack DMs", webhook_url="https://bridge.test/hook"
        )
    assert caught.value.missing_permissions == ["messaging:integration:edit"]


async def test_unknown_integration_is_not_found(make_client: MakeClient) -> None:
    client = make_client()
    unknown = str(uuid.uuid4())
    with pytest.raises(GenesysNotFound) as caught:
        await client.send_inbound_message(unknown, text_body())
    assert unknown in str(caught.value)
    with pytest.raises(GenesysNotFound):
        await client.get_integration(unknown)


async def test_schema_error_is_rejected_with_code_and_context_id(make_client: MakeClient) -> None:
    client = make_client()
    body = text_body()
    del body["text"]
    with pytest.raises(GenesysRejected) as caught:
        await client.send_inbound_message(INTEGRATION, body)
    error = caught.value
    assert (error.status, error.code) == (400, "bad.request")
    assert error.context_id and error.context_id in str(error)
    assert "should have required property 'content'" in str(error)


async def test_rejection_does_not_repeat_the_message_text(make_client: MakeClient) -> None:
    client = make_client()
    body = text_body("my card number is 4111")
    body["metadata"] = {"nested": {"not": "allowed"}}
    with pytest.raises(GenesysRejected) as caught:
        await client.send_inbound_message(INTEGRATION, body)
    assert "4111" not in str(caught.value)


async def test_rate_limit_carries_retry_after(world: GenesysWorld, make_client: MakeClient) -> None:
    client = make_client()
    arm(world, route="inbound.message", kind="rate_limit", retry_after=7, times=1)
    with pytest.raises(GenesysRateLimited) as caught:
        await client.send_inbound_message(INTEGRATION, text_body())
    assert caught.value.retry_after == 7.0
    assert caught.value.code == "too.many.requests"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_unavailable(
    world: GenesysWorld, make_client: MakeClient, status: int
) -> None:
    client = make_client()
    arm(world, route="inbound.receipt", kind="status", status=status, times=1)
    with pytest.raises(GenesysUnavailable) as caught:
        await client.send_receipt(INTEGRATION, {"id": "x"})
    assert caught.value.status == status


async def test_timeout_is_unavailable() -> None:
    world = GenesysWorld.seeded()
    arm(world, route="inbound.message", kind="timeout", times=1)
    with ServerThread(create_genesys_sandbox(world)) as server:
        hosts = GenesysHosts(api_base=server.url, login_base=server.url)
        async with GenesysClient(
            hosts,
            client_id=SANDBOX_ORG_CLIENT_ID,
            client_secret=SANDBOX_ORG_CLIENT_SECRET,
            timeout=0.3,
        ) as client:
            started = time.monotonic()
            with pytest.raises(GenesysUnavailable, match="in time"):
                await client.send_inbound_message(INTEGRATION, text_body())
            assert time.monotonic() - started < 2
            # The next call on the same client works: a timeout is not fatal.
            await client.send_inbound_message(INTEGRATION, text_body())


async def test_unreachable_host_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    hosts = GenesysHosts(api_base=url, login_base=url)
    async with GenesysClient(hosts, client_id="id", client_secret="secret") as client:
        with pytest.raises(GenesysUnavailable, match="could not reach"):
            await client.fetch_token()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(202),
        httpx.Response(200, json={"conversationId": "c-1"}),
    ],
    ids=["not-json", "empty", "no-id"],
)
async def test_any_2xx_is_accepted_even_without_an_id(answer: httpx.Response) -> None:
    """Retrying a 2xx would post the customer's message twice (external-contracts §G2)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return answer

    hosts = GenesysHosts(api_base=SIM_URL, login_base=SIM_URL)
    transport = httpx.MockTransport(handler)
    async with GenesysClient(
        hosts, client_id="i", client_secret="s", transport=transport
    ) as client:
        accepted = await client.send_inbound_message(INTEGRATION, text_body())
    assert accepted.genesys_message_id is None
    has_conversation = answer.headers.get("content-type") == "application/json"
    assert accepted.genesys_conversation_id == ("c-1" if has_conversation else None)


async def test_closed_client_is_unavailable(make_client: MakeClient) -> None:
    client = make_client()
    await client.aclose()
    assert client.is_closed
    with pytest.raises(GenesysUnavailable, match="closed"):
        await client.send_inbound_message(INTEGRATION, text_body())


async def test_logs_hold_no_secret_token_or_text(
    world: GenesysWorld, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.genesys")
    client = make_client()
    await client.send_inbound_message(INTEGRATION, text_body("private words"))
    world.tokens.clear()
    await client.send_inbound_message(INTEGRATION, text_body("private words"))
    with pytest.raises(GenesysRejected):
        await client.send_inbound_message(INTEGRATION, {"channel": {}, "text": "private words"})
    records = [r for r in caplog.records if r.name.startswith("app.genesys")]
    assert records
    dumped = " ".join(f"{r.getMessage()} {r.__dict__}" for r in records)
    tokens = [token.value for token in world.tokens.values()]
    for forbidden in [SANDBOX_ORG_CLIENT_SECRET, "private words", *tokens]:
        assert forbidden not in dumped


# --- inbound verbs -------------------------------------------------------------------------


async def test_inbound_message_uses_the_per_integration_endpoint(
    world: GenesysWorld, make_client: MakeClient
) -> None:
    client = make_client()
    accepted = await client.send_inbound_message(INTEGRATION, text_body())
    [record] = world.inbound
    assert (record.endpoint, record.deprecated) == ("message", False)
    assert record.integration_id == INTEGRATION
    assert record.prefetch_conversation_id is True
    assert record.body["channel"]["metadata"]["customAttributes"] == {"slackTeam": "T1"}
    assert accepted.genesys_message_id == record.response_id
    assert accepted.genesys_conversation_id == record.conversation_id is not None
    assert world.stats.inbound_calls.get("legacy") is None


async def test_any_2xx_is_success_and_conversation_id_is_optional(
    world: GenesysWorld, make_client: MakeClient
) -> None:
    world.config = GenesysConfig(inbound_status=202, conversation_id_only_when_prefetch=True)
    client = make_client()
    accepted = await client.send_inbound_message(
        INTEGRATION, text_body(), prefetch_conversation_id=False
    )
    assert accepted.genesys_message_id
    assert accepted.genesys_conversation_id is None
    assert statuses(world) == [202]


async def test_typing_event_is_posted(world: GenesysWorld, make_client: MakeClient) -> None:
    client = make_client()
    body = {
        "channel": {"from": {"id": "T1:U1", "idType": "Opaque"}, "time": "2026-01-15T10:00:00Z"},
        "events": [{"eventType": "Typing"}],
    }
    await client.send_inbound_event(INTEGRATION, body)
    assert [(r.endpoint, r.status) for r in world.inbound] == [("event", 200)]


def receipt_body(message_id: str, status: str = "Delivered") -> dict[str, Any]:
    return {
        "id": message_id,
        "channel": {"to": {"id": "T1:U1", "idType": "Opaque"}, "time": "2026-01-15T10:00:05Z"},
        "status": status,
        "direction": "Outbound",
        "isFinalReceipt": True,
    }


async def test_receipt_for_an_agent_message_is_recorded(
    world: GenesysWorld, make_client: MakeClient
) -> None:
    client = make_client()
    accepted = await client.send_inbound_message(INTEGRATION, text_body())
    assert accepted.genesys_conversation_id is not None
    agent_reply = Agent(world).prepare(
        AgentReply(conversation_id=accepted.genesys_conversation_id, text="Hi Jane"),
        base_url=SIM_URL,
    )
    result = await client.send_receipt(INTEGRATION, receipt_body(agent_reply["id"]))
    assert (result.status, result.failed) == ("Delivered", False)
    assert result.genesys_message_id == agent_reply["id"]
    message = world.conversations[accepted.genesys_conversation_id].find(agent_reply["id"])
    assert message is not None and message.receipts[0]["status"] == "Delivered"


async def test_receipt_can_fail_inside_a_2xx(world: GenesysWorld, make_client: MakeClient) -> None:
    client = make_client()
    result = await client.send_receipt(INTEGRATION, receipt_body("0" * 32))
    assert statuses(world) == [200]
    assert result.failed
    assert [reason.code for reason in result.reasons] == ["UnknownMessage"]


async def test_structured_response_is_accepted(
    world: GenesysWorld, make_client: MakeClient
) -> None:
    client = make_client()
    body = {
        "channel": {"messageId": "m-3", "from": {"id": "T1:U1", "idType": "Opaque"}},
        "buttonResponse": {"type": "QuickReply", "text": "Yes", "payload": "Yes"},
        "originatingMessageId": "f" * 32,
    }
    accepted = await client.send_structured_response(INTEGRATION, body)
    [record] = world.inbound
    assert (record.endpoint, record.response_id) == ("structured", accepted.genesys_message_id)


# --- integrations --------------------------------------------------------------------------


async def test_list_integrations_follows_every_page(
    world: GenesysWorld, make_client: MakeClient
) -> None:
    for n in range(230):
        world.add_integration(org_id=SANDBOX_ORG_ID, name=f"extra {n}", created_by="admin")
    client = make_client()
    integrations = await client.list_integrations()
    ids = {integration.id for integration in integrations}
    assert len(integrations) == len(ids) == 233
    assert {SANDBOX_DMS_INTEGRATION_ID, SANDBOX_PENDING_INTEGRATION_ID} <= ids
    assert world.stats.api_calls["integrations.list"] == 3


async def test_get_integration_tells_provisioned_from_pending(make_client: MakeClient) -> None:
    client = make_client()
    ready = await client.get_integration(SANDBOX_MENTIONS_INTEGRATION_ID)
    assert (ready.id, ready.create_status, ready.status) == (
        SANDBOX_MENTIONS_INTEGRATION_ID,
        "Completed",
        "active",
    )
    assert ready.is_provisioned and ready.has_recipient
    assert ready.supported_content is not None and ready.messaging_setting is not None
    pending = await client.get_integration(SANDBOX_PENDING_INTEGRATION_ID)
    assert pending.create_status == "Initiated"
    assert not pending.is_provisioned and not pending.has_recipient


async def test_patch_points_the_webhook_and_keeps_the_secret_out(
    world: GenesysWorld, make_client: MakeClient
) -> None:
    world.config.return_secret_on_get = True  # even when Genesys echoes it, we drop it
    secret = "whsec-0123456789abcdef"
    client = make_client()
    patched = await client.patch_integration(
        INTEGRATION,
        name="Slack DMs (Acme)",
        webhook_url="https://bridge.test/genesys/webhook",
        webhook_secret=secret,
        webhook_headers={"X-Switchboard-Tenant": "acme"},
    )
    assert patched.webhook_url == "https://bridge.test/genesys/webhook"
    assert patched.name == "Slack DMs (Acme)"
    assert patched.webhook_headers == {"X-Switchboard-Tenant": "acme"}
    assert secret not in patched.model_dump_json()
    stored = world.integrations[INTEGRATION]
    assert (stored.webhook_url, stored.webhook_secret) == (patched.webhook_url, secret)


async def test_patch_with_a_short_secret_is_rejected(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(GenesysRejected) as caught:
        await client.patch_integration(INTEGRATION, name="Slack DMs", webhook_secret="too-short")
    assert caught.value.status == 400
    assert "too-short" not in str(caught.value)


async def test_patch_needs_a_field(make_client: MakeClient) -> None:
    with pytest.raises(ValueError, match="at least one field"):
        await make_client().patch_integration(INTEGRATION, name="Slack DMs")
