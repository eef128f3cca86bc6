"""Run our whole app against the simulators, in-process or behind a real socket.

`in_process` runs the Starlette lifespan by hand and serves requests through httpx's
ASGITransport at `https://switchboard.test`, so Secure cookies behave as in a browser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from app.config import Settings
from app.main import create_app
from devkit.harness.environment import simulator_environment
from devkit.harness.tenants import approve as approve  # the tests reach it here
from tests.factories import make_settings

APP_BASE = "https://switchboard.test"


def sandbox_settings(
    database_url: str, *, slack_url: str, genesys_url: str, **overrides: Any
) -> Settings:
    environment = simulator_environment(slack_url=slack_url, genesys_url=genesys_url)
    values: dict[str, Any] = {name.lower(): value for name, value in environment.items()}
    values.update(overrides)
    return make_settings(database_url, **values)


@asynccontextmanager
async def in_process(
    settings: Settings, *, genesys_transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = create_app(settings, genesys_transport=genesys_transport)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url=APP_BASE) as client:
            yield client


def local_part(url: str) -> str:
    """The path and query of an absolute URL on our app, for the in-process client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def install(
    client: httpx.AsyncClient,
    *,
    target: str,
    slack_user_id: str,
    decision: str = "allow",
) -> httpx.Response:
    """Add to Slack through the simulator's consent page; returns the callback's response.

    `target` is a workspace ID, or an Enterprise Grid org ID for an org-wide install.
    """
    start = await client.get("/slack/install")
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    consent = await approve(authorize, team=target, user=slack_user_id, decision=decision)
    assert consent.status_code in (302, 303), consent.text
    return await client.get(local_part(consent.headers["location"]))


async def connect_genesys(
    client: httpx.AsyncClient,
    *,
    mentions: str,
    dms: str,
    client_id: str,
    client_secret: str,
) -> None:
    """Onboarding through the pages, as an admin would: credentials, then integrations."""
    page = await client.get("/onboarding")
    marker = 'name="csrf" value="'
    start = page.text.index(marker) + len(marker)
    csrf = page.text[start : page.text.index('"', start)]
    saved = await client.post(
        "/onboarding/credentials",
        data={
            "csrf": csrf,
            "region": "us_east_1",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )
    assert saved.status_code == 303, saved.text
    chosen = await client.post(
        "/onboarding/integrations",
        data={
            "csrf": csrf,
            "mentions_integration_id_typed": mentions,
            "dms_integration_id_typed": dms,
            "auto_wire": "on",
        },
    )
    assert chosen.status_code == 303, chosen.text


async def drain(
    settings: Settings,
    *,
    genesys_transport: httpx.AsyncBaseTransport | None,
    within_seconds: float = 30.0,
) -> None:
    """Run a worker's delivery until nothing is pending, waiting out retries scheduled for later."""
    import asyncio
    import time

    from sqlalchemy import text

    from app.main import worker_app

    deadline = time.monotonic() + within_seconds
    async with worker_app(settings, genesys_transport=genesys_transport) as (_, deps):
        stop = asyncio.Event()
        delivering = asyncio.create_task(deps.dispatcher.run(stop))
        try:
            while True:
                async with deps.sessions() as session:
                    waiting = (
                        await session.execute(
                            text(
                                "SELECT count(*) FROM bridge_message "
                                "WHERE status = 'pending' AND conversation_id IS NOT NULL"
                            )
                        )
                    ).scalar_one()
                if waiting == 0 and deps.dispatcher.busy == 0:
                    return
                assert time.monotonic() < deadline, f"{waiting} messages still pending"
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await delivering
