from __future__ import annotations

import time

import httpx

from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from sandbox.runner import ServerThread
from tests.sandbox.simulators import basic, genesys_session, login

INBOUND = f"/api/v2/conversations/messages/{SANDBOX_DMS_INTEGRATION_ID}/inbound/open/message"
TEXT = {"channel": {"messageId": "m-1", "from": {"id": "T1:U1"}}, "text": "hi"}


async def test_rate_limit_fault_answers_429_with_retry_after_then_recovers() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        armed = await http.post(
            "/_sandbox/faults",
            json={"route": "inbound.message", "kind": "rate_limit", "retry_after": 2, "times": 1},
        )
        limited = await http.post(INBOUND, headers=auth, json=TEXT)
        recovered = await http.post(INBOUND, headers=auth, json=TEXT)
        stats = (await http.get("/_sandbox/stats")).json()
    assert armed.status_code == 200
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.json()["code"] == "too.many.requests"
    assert set(limited.json()) == {"message", "code", "status", "contextId", "details", "errors"}
    assert recovered.status_code == 200
    assert stats["rate_limited"] == 1
    assert [r.status for r in world.inbound] == [429, 200]


async def test_server_error_fault_uses_error_body_and_its_code() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        await http.post("/_sandbox/faults", json={"route": "*", "kind": "status", "status": 503})
        response = await http.post(INBOUND, headers=auth, json=TEXT)
        await http.delete("/_sandbox/faults")
        after = await http.post(INBOUND, headers=auth, json=TEXT)
    assert response.status_code == 503
    assert response.json()["code"] == "service.unavailable"
    assert after.status_code == 200


async def test_fault_on_login_route_only_affects_token_requests() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        await http.post(
            "/_sandbox/faults", json={"route": "oauth.token", "kind": "status", "status": 500}
        )
        token = await http.post(
            "/oauth/token",
            headers=basic(SANDBOX_ORG_CLIENT_ID, SANDBOX_ORG_CLIENT_SECRET),
            data={"grant_type": "client_credentials"},
        )
        message = await http.post(INBOUND, headers=auth, json=TEXT)
    assert token.status_code == 500
    assert message.status_code == 200


async def test_slow_fault_delays_but_succeeds() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        await http.post(
            "/_sandbox/faults",
            json={"route": "integrations.list", "kind": "delay", "delay": 0.3, "times": 1},
        )
        started = time.monotonic()
        response = await http.get("/api/v2/conversations/messaging/integrations/open", headers=auth)
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.3


async def test_timeout_fault_makes_the_client_time_out() -> None:
    world = GenesysWorld.seeded()
    with ServerThread(create_genesys_sandbox(world)) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            auth = await login(http)
            await http.post(
                "/_sandbox/faults",
                json={"route": "inbound.message", "kind": "timeout", "times": 1},
            )
            started = time.monotonic()
            timed_out = False
            try:
                await http.post(INBOUND, headers=auth, json=TEXT, timeout=0.3)
            except httpx.ReadTimeout:
                timed_out = True
            assert timed_out
            assert time.monotonic() - started < 2
            response = await http.post(INBOUND, headers=auth, json=TEXT)
    assert response.status_code == 200


async def test_invalid_fault_spec_is_422() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, _):
        response = await http.post("/_sandbox/faults", json={"route": "x", "kind": "explode"})
    assert response.status_code == 422


async def test_reset_restores_the_seed_and_clears_traffic() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        await http.post(INBOUND, headers=auth, json=TEXT)
        await http.post("/_sandbox/faults", json={"route": "*", "kind": "status"})
        reset = await http.post("/_sandbox/reset")
        faults = (await http.get("/_sandbox/faults")).json()
        stale_token = await http.post(INBOUND, headers=auth, json=TEXT)
    assert reset.status_code == 200
    assert faults == {"armed": []}
    assert stale_token.status_code == 401
    assert world.conversations == {}
    assert [r.status for r in world.inbound] == [401]


async def test_config_patch_validates_and_applies() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, _):
        ok = await http.patch(
            "/_sandbox/config",
            json={"time_scale": 0.01, "inbound_status": 202, "token_ttl_seconds": 60},
        )
        bad = await http.patch("/_sandbox/config", json={"inbound_status": 201})
        unknown = await http.patch("/_sandbox/config", json={"no_such_switch": True})
    assert ok.status_code == 200
    assert (world.config.time_scale, world.config.inbound_status) == (0.01, 202)
    assert world.config.token_ttl_seconds == 60
    assert (bad.status_code, unknown.status_code) == (422, 422)


async def test_credentials_endpoint_lists_seeded_orgs() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, _):
        orgs = (await http.get("/_sandbox/credentials")).json()["orgs"]
    clients = {c["client_id"]: c for org in orgs for c in org["clients"]}
    assert clients[SANDBOX_ORG_CLIENT_ID]["client_secret"] == SANDBOX_ORG_CLIENT_SECRET
    assert len(orgs) == 2
