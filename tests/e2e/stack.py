"""The whole system under test: both simulators on localhost ports in this process, the app as
real web and worker processes, and Acme and Globex onboarded without a browser.

The processes, the environment and the onboarding are the harness's (`devkit.harness`), which
the benchmark runs too; what is particular to the tests is that the simulators run in this
process, so scenarios read and steer their worlds directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import DatabaseURL, Settings
from app.crypto import SecretBox
from app.db.session import create_engine, create_sessions
from app.genesys.clients import GenesysClients
from app.tenants.onboarding import Onboarding
from devkit.harness.environment import app_environment, settings_from
from devkit.harness.processes import Formation, UvicornApp, bind_listener
from devkit.harness.tenants import ACME, GLOBEX, TENANTS, Tenant, onboard
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import (
    GenesysWorld,
)
from sandbox.runner import ServerThread
from sandbox.slack_app import create_slack_sandbox
from sandbox.slack_world import SlackWorld
from tests.e2e.ledger import DRAIN_TIMEOUT_SECONDS, drain
from tests.factories import TEST_KEY

# Slack retries at once, after 1 min and after 5 min; scaled, at once, +1.2 s and +6 s.
SLACK_RETRY_SCALE = 0.02
# Genesys' webhook: 10 s per attempt and 5 retries 5 s apart; scaled, 2 s and 1 s apart.
GENESYS_TIME_SCALE = 0.2
# The same keys the test process uses for `Onboarding`, so both sides read each other's rows.
ENCRYPTION_KEYS = f"k1:{TEST_KEY}"
SESSION_SECRET = "e2e-session-secret-" + "s" * 32
GRACEFUL_SECONDS = 5
START_TIMEOUT_SECONDS = 30.0


@dataclass
class Simulators:
    slack_world: SlackWorld
    genesys_world: GenesysWorld
    slack_server: ServerThread
    genesys_server: ServerThread

    @property
    def slack_url(self) -> str:
        return f"http://localhost:{self.slack_server.port}"

    @property
    def genesys_url(self) -> str:
        return f"http://localhost:{self.genesys_server.port}"


@contextmanager
def running_simulators() -> Iterator[Simulators]:
    slack_world = SlackWorld.seeded()
    slack_world.retry_time_scale = SLACK_RETRY_SCALE
    genesys_world = GenesysWorld.seeded(config=GenesysConfig(time_scale=GENESYS_TIME_SCALE))
    with ExitStack() as servers:
        slack = servers.enter_context(ServerThread(create_slack_sandbox(slack_world)))
        genesys = servers.enter_context(ServerThread(create_genesys_sandbox(genesys_world)))
        sims = Simulators(slack_world, genesys_world, slack, genesys)
        slack_world.public_url = sims.slack_url
        yield sims


@dataclass
class System:
    sims: Simulators
    formation: Formation
    engine: AsyncEngine
    settings: Settings
    http: httpx.AsyncClient
    tenants: dict[str, Tenant]
    # The admin's side of the onboarding page, for scenarios that change a tenant's setup.
    onboarding: Onboarding

    @property
    def app_url(self) -> str:
        return self.formation.url

    @property
    def slack(self) -> SlackWorld:
        return self.sims.slack_world

    @property
    def genesys(self) -> GenesysWorld:
        return self.sims.genesys_world

    @property
    def acme(self) -> Tenant:
        return self.tenants[ACME.name]

    @property
    def globex(self) -> Tenant:
        return self.tenants[GLOBEX.name]

    async def drain(self, *, within: float = DRAIN_TIMEOUT_SECONDS) -> float:
        return await drain(self.engine, self.slack, self.genesys, within=within)

    def webhook_secret(self, genesys_integration_id: str) -> str:
        """The secret onboarding PATCHed onto the integration; Genesys signs with it."""
        secret = self.genesys.integrations[genesys_integration_id].webhook_secret
        assert secret, f"integration {genesys_integration_id} was never wired"
        return secret


@asynccontextmanager
async def running_system(
    database_url: str,
    log_dir: Path,
    *,
    webs: int = 1,
    workers: int = 1,
    slack_only: frozenset[str] = frozenset(),
) -> AsyncIterator[System]:
    """Simulators, `webs` + `workers` app processes on `database_url`, Acme and Globex.

    Tenants named in `slack_only` are installed in Slack but not connected to Genesys yet
    (`System.onboarding` connects them later, as their admin would)."""
    with running_simulators() as sims:
        listener, port = bind_listener()
        app_url = f"http://localhost:{port}"
        env = app_environment(
            database_url=database_url,
            base_url=app_url,
            slack_url=sims.slack_url,
            genesys_url=sims.genesys_url,
            encryption_keys=ENCRYPTION_KEYS,
            session_secret=SESSION_SECRET,
        )
        # The worker reads open Genesys conversations for their end this often (a test waits).
        env["CONVERSATION_END_POLL_SECONDS"] = "2"
        formation = Formation(
            env,
            log_dir,
            {"web": UvicornApp("app.main:asgi", listener)},
            graceful_seconds=GRACEFUL_SECONDS,
            start_timeout=START_TIMEOUT_SECONDS,
        )
        sims.slack_world.events_url = f"{app_url}/slack/events"
        settings = settings_from(env)
        engine = create_engine(DatabaseURL(database_url), pool_size=2, application_name="e2e")
        clients = GenesysClients()
        supervisor: asyncio.Task[None] | None = None
        try:
            await formation.start(webs=webs, workers=workers)
            supervisor = asyncio.create_task(formation.supervise(), name="supervisor")
            onboarding = Onboarding(
                settings,
                sessions=create_sessions(engine, box=SecretBox(settings.keys)),
                box=SecretBox(settings.keys),
                clients=clients,
            )
            async with httpx.AsyncClient(timeout=10) as http:
                tenants = {}
                for spec in TENANTS:
                    tenants[spec.name] = await onboard(
                        http,
                        app_url,
                        onboarding,
                        create_sessions(engine, box=SecretBox(settings.keys)),
                        spec,
                        connect_genesys=spec.name not in slack_only,
                    )
                yield System(sims, formation, engine, settings, http, tenants, onboarding)
        finally:
            if supervisor is not None:
                supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await supervisor
            formation.stop()
            await clients.aclose()
            await engine.dispose()
