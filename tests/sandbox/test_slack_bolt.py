"""Bolt itself against the simulator: if Bolt can install, authorize and reply here, our app can."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp, AsyncSay
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import FileInstallationStore
from slack_sdk.oauth.state_store import FileOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.runner import ServerThread
from sandbox.slack_app import create_slack_sandbox
from sandbox.slack_events import EventSender
from sandbox.slack_payloads import build_app_uninstalled, build_mention
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_SIGNING_SECRET,
    SlackWorld,
)
from tests.sandbox.simulators import SUPPORT

# Bolt's OAuth callback sends client credentials with aiohttp.BasicAuth, deprecated in 3.14.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


class Deferred:
    """An ASGI app whose inner app is built once the server's port is known."""

    def __init__(self) -> None:
        self.inner: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.inner is not None
        await self.inner(scope, receive, send)


def build_bolt(sim_url: str, our_url: str, data: Path) -> tuple[Starlette, FileInstallationStore]:
    store = FileInstallationStore(base_dir=str(data / "installations"))
    bolt = AsyncApp(
        signing_secret=SANDBOX_SIGNING_SECRET,
        client=AsyncWebClient(base_url=f"{sim_url}/api/"),
        installation_store=store,
        oauth_settings=AsyncOAuthSettings(
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            scopes=["app_mentions:read", "chat:write", "im:history"],
            redirect_uri=f"{our_url}/slack/oauth_redirect",
            authorization_url=f"{sim_url}/oauth/v2/authorize",
            installation_store=store,
            state_store=FileOAuthStateStore(expiration_seconds=600, base_dir=str(data / "states")),
            install_page_rendering_enabled=False,
        ),
    )
    bolt.enable_token_revocation_listeners()

    @bolt.event("app_mention")
    async def answer(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text=f"echo: {event['text']}", thread_ts=event["ts"])

    handler = AsyncSlackRequestHandler(bolt)

    async def endpoint(request: Request) -> Response:
        return await handler.handle(request)

    routes = [
        Route(path, endpoint, methods=[method])
        for path, method in (
            ("/slack/events", "POST"),
            ("/slack/install", "GET"),
            ("/slack/oauth_redirect", "GET"),
        )
    ]
    return Starlette(routes=routes), store


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[SlackWorld, str, str, FileInstallationStore]]:
    world = SlackWorld.seeded()
    deferred = Deferred()
    sim, ours = ServerThread(create_slack_sandbox(world)), ServerThread(deferred)
    deferred.inner, store = build_bolt(sim.url, ours.url, tmp_path)
    with sim, ours:
        world.public_url = sim.url
        world.events_url = f"{ours.url}/slack/events"
        yield world, sim.url, ours.url, store


async def test_bolt_installs_through_consent_page_and_answers_a_mention(
    servers: tuple[SlackWorld, str, str, FileInstallationStore],
) -> None:
    world, sim_url, our_url, store = servers
    async with httpx.AsyncClient() as browser:
        install = await browser.get(f"{our_url}/slack/install")
        location = install.headers["location"]
        form = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        consent = await browser.get(location)
        allowed = await browser.post(
            f"{sim_url}/oauth/v2/authorize",
            data={**form, "team": ACME_TEAM_ID, "user": "U0ACME0002", "decision": "allow"},
        )
        # The state cookie is Secure, which a client only sends over https; hand it over.
        cookie = install.headers["set-cookie"].split(";")[0]
        callback = await browser.get(allowed.headers["location"], headers={"Cookie": cookie})
    assert consent.status_code == 200
    assert location.startswith(f"{sim_url}/oauth/v2/authorize?")
    assert parse_qs(urlsplit(allowed.headers["location"]).query)["state"] == [form["state"]]
    assert callback.status_code == 200, callback.text
    installation = await store.async_find_installation(enterprise_id=None, team_id=ACME_TEAM_ID)
    assert installation is not None
    assert installation.bot_user_id == "U0ACMEBOT1"
    assert installation.user_id == "U0ACME0002"
    assert [c.method for c in world.calls] == ["oauth.v2.access", "auth.test"]

    sender = EventSender(world, signing_secret=SANDBOX_SIGNING_SECRET)
    built = build_mention(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_channel_id=SUPPORT,
        slack_user_id="U0ACME0003",
        text="ping",
    )
    report = await sender.send(built)
    assert report.delivered, report.to_json()
    for _ in range(100):
        if world.bot_messages(SUPPORT):
            break
        await asyncio.sleep(0.02)
    (reply,) = world.bot_messages(SUPPORT)
    assert built.message is not None
    assert reply.text == "echo: <@U0ACMEBOT1> ping"
    assert reply.thread_ts == built.message.ts

    uninstalled = await sender.send(build_app_uninstalled(world, slack_team_id=ACME_TEAM_ID))
    assert uninstalled.delivered
    for _ in range(100):
        if await store.async_find_installation(enterprise_id=None, team_id=ACME_TEAM_ID) is None:
            break
        await asyncio.sleep(0.02)
    assert await store.async_find_installation(enterprise_id=None, team_id=ACME_TEAM_ID) is None
