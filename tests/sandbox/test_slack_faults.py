from __future__ import annotations

import time

import httpx
import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from sandbox.faults import FaultSpec
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SlackWorld
from tests.sandbox.simulators import SUPPORT, client, error_of, install

pytestmark = pytest.mark.usefixtures("base")


async def test_per_channel_rate_limit_answers_429_with_retry_after(
    world: SlackWorld, base: str
) -> None:
    world.post_rate_per_channel, world.post_burst = 1.0, 1
    slack = client(base, install(world))
    await slack.chat_postMessage(channel=SUPPORT, text="one")
    limited = await error_of(slack.chat_postMessage(channel=SUPPORT, text="two"))
    other_channel = await slack.chat_postMessage(channel="C0ACMEGENL", text="elsewhere")
    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert limited.response.headers["Retry-After"] == "1"
    assert other_channel["ok"] is True
    assert [m.text for m in world.bot_messages(SUPPORT)] == ["one"]


async def test_sdk_rate_limit_handler_recovers_after_retry_after(
    world: SlackWorld, base: str
) -> None:
    world.post_rate_per_channel, world.post_burst = 2.0, 1
    slack = client(base, install(world), retry_handlers=[AsyncRateLimitErrorRetryHandler(1)])
    await slack.chat_postMessage(channel=SUPPORT, text="one")
    await slack.chat_postMessage(channel=SUPPORT, text="two")
    assert [m.text for m in world.bot_messages(SUPPORT)] == ["one", "two"]
    assert [c.status for c in world.calls if c.method == "chat.postMessage"] == [200, 429, 200]


async def test_rate_limit_fault_then_recovery(world: SlackWorld, base: str) -> None:
    world.faults.arm(FaultSpec(route="chat.postMessage", kind="rate_limit", retry_after=7, times=1))
    slack = client(base, install(world))
    limited = await error_of(slack.chat_postMessage(channel=SUPPORT, text="x"))
    ok = await slack.chat_postMessage(channel=SUPPORT, text="y")
    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert limited.response.headers["Retry-After"] == "7"
    assert ok["ok"] is True


async def test_server_error_fault_on_every_route(world: SlackWorld, base: str) -> None:
    world.faults.arm(FaultSpec(route="*", kind="status", status=503, times=2))
    slack = client(base, install(world))
    first = await error_of(slack.auth_test())
    second = await error_of(slack.users_info(user="U0ACME0002"))
    third = await slack.auth_test()
    assert first.response.status_code == 503
    assert first.response["error"] == "service_unavailable"
    assert second.response.status_code == 503
    assert third["ok"] is True


async def test_delay_and_timeout_faults(world: SlackWorld, base: str) -> None:
    token = install(world)
    world.faults.arm(FaultSpec(route="auth.test", kind="delay", delay=0.3, times=1))
    started = time.monotonic()
    await client(base, token).auth_test()
    assert time.monotonic() - started >= 0.3
    world.faults.arm(FaultSpec(route="auth.test", kind="timeout", times=1))
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await client(base, token, timeout=1).auth_test()
    assert time.monotonic() - started < 5
    assert (await client(base, token).auth_test())["ok"] is True


async def test_calls_are_recorded_without_tokens(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    await slack.chat_postMessage(channel=SUPPORT, text="hello")
    await error_of(slack.chat_postMessage(channel="C0NOPE", text="x"))
    posted, failed = [c for c in world.calls if c.method == "chat.postMessage"]
    assert posted.slack_team_id == ACME_TEAM_ID
    assert posted.params == {"channel": SUPPORT, "text": "hello"}
    assert posted.ok is True
    assert failed.error == "channel_not_found"
    assert all("token" not in c.params for c in world.calls)


async def test_invalid_json_body(world: SlackWorld, base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post(
            "/api/chat.postMessage",
            content=b"{not json",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {install(world)}",
            },
        )
    assert response.json() == {"ok": False, "error": "invalid_json"}


async def test_unknown_method(world: SlackWorld, base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post("/api/chat.teleport", data={"token": install(world)})
    assert response.json() == {
        "ok": False,
        "error": "unknown_method",
        "req_method": "chat.teleport",
    }
