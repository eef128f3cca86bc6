"""What the simulator tests do again and again: install the app, open clients, log in to Genesys.

Kept out of `conftest.py` because these are plain functions and constants the tests import by
name; the fixtures that hold a live Slack simulator for a module are in `conftest.py`.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import SANDBOX_ORG_CLIENT_ID, SANDBOX_ORG_CLIENT_SECRET, GenesysWorld
from sandbox.slack_records import SlackGrant
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SlackWorld

SUPPORT = "C0ACMESUPP"
BOT_SCOPES = (
    "app_mentions:read",
    "chat:write",
    "chat:write.customize",
    "channels:read",
    "groups:read",
    "im:history",
    "im:read",
    "im:write",
    "users:read",
    "users:read.email",
    "files:read",
    "files:write",
    "reactions:write",
    "usergroups:read",
    "team:read",
)
# Fields Slack's file objects carry in file_share events and files.info.
FILE_FIELDS = {
    "id",
    "name",
    "title",
    "mimetype",
    "filetype",
    "size",
    "url_private",
    "url_private_download",
    "permalink",
    "mode",
    "file_access",
}


def install(
    world: SlackWorld,
    *,
    team: str | None = ACME_TEAM_ID,
    enterprise: str | None = None,
    user: str = "U0ACME0001",
    scopes: tuple[str, ...] = BOT_SCOPES,
    user_scopes: tuple[str, ...] = (),
) -> str:
    """Installs straight into the world, skipping the consent page, and returns the bot token.

    Only the OAuth tests need the consent page; everything else wants a token in one line.
    """
    grant = SlackGrant(
        code="test",
        flow="oauth",
        slack_user_id=user,
        slack_team_id=team,
        slack_enterprise_id=enterprise,
        is_enterprise_install=team is None,
        scopes=scopes,
        user_scopes=user_scopes,
        redirect_uri="",
        expires_at=time.time() + 60,
    )
    bot = world.install(grant).bot_token
    assert bot is not None
    return bot.value


def client(base: str, token: str | None, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=f"{base}/api/", **kwargs)


async def error_of(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


class Clock:
    """A hand-set `GenesysWorld` clock, so token expiry and integration set-up take no real time."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def genesys_client(world: GenesysWorld) -> httpx.AsyncClient:
    """In process: unlike slack_sdk, httpx can reach the Genesys simulator without a socket."""
    transport = httpx.ASGITransport(app=create_genesys_sandbox(world))
    return httpx.AsyncClient(transport=transport, base_url="http://genesys.test")


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


async def login(
    http: httpx.AsyncClient,
    client_id: str = SANDBOX_ORG_CLIENT_ID,
    secret: str = SANDBOX_ORG_CLIENT_SECRET,
) -> dict[str, str]:
    response = await http.post(
        "/oauth/token", headers=basic(client_id, secret), data={"grant_type": "client_credentials"}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@contextlib.asynccontextmanager
async def genesys_session(
    world: GenesysWorld,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """A client logged in as the seeded org, with the bearer header to send."""
    async with genesys_client(world) as http:
        yield http, await login(http)
