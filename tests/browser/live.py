"""The running system the browser tests click through: our app and both simulators, each
under real uvicorn on its own loopback port, all addressed as `http://localhost:<port>`.

Chromium treats localhost as a secure context, so the app's `Secure` cookies work over plain
http, and `BASE_URL` equals the origin the browser uses, so the OAuth redirect URIs built from
it lead back to the same app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from playwright.async_api import Page, expect
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.main import create_app
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import GenesysWorld
from sandbox.runner import ServerThread
from sandbox.slack_app import create_slack_sandbox
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SlackWorld
from tests.e2e.stack import System
from tests.harness import sandbox_settings

OpenPage = Callable[[], Awaitable[Page]]
Screenshot = Callable[[Page, str], Awaitable[None]]


@dataclass
class Stack:
    app_url: str
    slack_url: str
    genesys_url: str
    settings: Settings
    slack_world: SlackWorld
    genesys_world: GenesysWorld


class LateApp:
    """An ASGI app filled in after its socket is bound, once the port (and so BASE_URL) is
    known. Binding first and building second leaves no window for another process to take
    the port, as picking a free port and binding it again later would."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "LateApp served before its app was set"
        await self.app(scope, receive, send)


def localhost(server: ServerThread) -> str:
    return f"http://localhost:{server.port}"


@contextmanager
def running_stack(database_url: str) -> Iterator[Stack]:
    slack_world = SlackWorld.seeded()
    genesys_world = GenesysWorld.seeded()
    with ExitStack() as servers:
        slack = servers.enter_context(ServerThread(create_slack_sandbox(slack_world)))
        slack_world.public_url = localhost(slack)
        genesys = servers.enter_context(ServerThread(create_genesys_sandbox(genesys_world)))
        late = LateApp()
        app_server = ServerThread(late)
        settings = sandbox_settings(
            database_url,
            slack_url=localhost(slack),
            genesys_url=localhost(genesys),
            base_url=localhost(app_server),
        )
        late.app = create_app(settings)
        servers.enter_context(app_server)
        yield Stack(
            app_url=localhost(app_server),
            slack_url=localhost(slack),
            genesys_url=localhost(genesys),
            settings=settings,
            slack_world=slack_world,
            genesys_world=genesys_world,
        )


async def sign_in(page: Page, system: System, *, user: str, team: str = ACME_TEAM_ID) -> None:
    """As an admin, with Slack: our sign-in page, the simulator's consent, back to settings."""
    await page.goto(f"{system.app_url}/onboarding")
    await page.click("#sign-in-with-slack")
    await expect(page.locator("#consent-title")).to_be_visible()
    await page.select_option("#team", team)
    await page.select_option("#user", user)
    await page.click("#allow")
    await expect(page).to_have_url(f"{system.app_url}/onboarding")
