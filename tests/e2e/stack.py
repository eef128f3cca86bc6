"""The whole system under test: both simulators on localhost ports in this process, the app as
real web and worker processes (`processes.Formation`), and two tenants onboarded without a
browser.

Tenants are set up as an admin would, minus the clicking: "Add to Slack" through our
`/slack/install` and the simulator's consent page (our cookies are `Secure`, which a plain
http client will not send back, so the state cookie is carried by hand), then Genesys is
connected through `app.tenants.onboarding.Onboarding`, which validates against the Genesys
simulator and wires each integration's webhook to the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
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
from app.sandbox.genesys_app import create_genesys_sandbox
from app.sandbox.genesys_config import GenesysConfig
from app.sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    SANDBOX_OTHER_MENTIONS_INTEGRATION_ID,
    SANDBOX_OTHER_ORG_CLIENT_ID,
    SANDBOX_OTHER_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from app.sandbox.runner import ServerThread
from app.sandbox.slack_app import create_slack_sandbox
from app.sandbox.slack_seed import ACME_TEAM_ID, GLOBEX_TEAM_ID
from app.sandbox.slack_world import SlackWorld
from app.tenants import store as tenants_store
from app.tenants.onboarding import Onboarding
from tests.e2e.ledger import DRAIN_TIMEOUT_SECONDS, drain
from tests.e2e.processes import ENCRYPTION_KEYS, SESSION_SECRET, Formation, app_environment
from tests.harness import approve, sandbox_settings

# Slack retries at once, after 1 min and after 5 min; scaled, at once, +1.2 s and +6 s.
SLACK_RETRY_SCALE = 0.02
# Genesys' webhook: 10 s per attempt and 5 retries 5 s apart; scaled, 2 s and 1 s apart.
GENESYS_TIME_SCALE = 0.2


@dataclass(frozen=True)
class TenantSpec:
    name: str
    slack_team_id: str
    installer: str
    customer: str
    support_channel: str
    genesys_client_id: str
    genesys_client_secret: str
    mentions_integration_id: str
    dms_integration_id: str


ACME = TenantSpec(
    name="Acme",
    slack_team_id=ACME_TEAM_ID,
    installer="U0ACME0001",
    customer="U0ACME0003",
    support_channel="C0ACMESUPP",
    genesys_client_id=SANDBOX_ORG_CLIENT_ID,
    genesys_client_secret=SANDBOX_ORG_CLIENT_SECRET,
    mentions_integration_id=SANDBOX_MENTIONS_INTEGRATION_ID,
    dms_integration_id=SANDBOX_DMS_INTEGRATION_ID,
)
# Globex is on the other Genesys org, which has one integration: it takes mentions and DMs.
GLOBEX = TenantSpec(
    name="Globex",
    slack_team_id=GLOBEX_TEAM_ID,
    installer="U0GLBX0001",
    customer="U0GLBX0002",
    support_channel="C0GLBXSUPP",
    genesys_client_id=SANDBOX_OTHER_ORG_CLIENT_ID,
    genesys_client_secret=SANDBOX_OTHER_ORG_CLIENT_SECRET,
    mentions_integration_id=SANDBOX_OTHER_MENTIONS_INTEGRATION_ID,
    dms_integration_id=SANDBOX_OTHER_MENTIONS_INTEGRATION_ID,
)


@dataclass(frozen=True)
class Tenant:
    spec: TenantSpec
    tenant_id: uuid.UUID


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


def _cookie_header(set_cookies: list[str]) -> str:
    return "; ".join(value.split(";", 1)[0].strip() for value in set_cookies)


async def install_slack(http: httpx.AsyncClient, app_url: str, spec: TenantSpec) -> None:
    """Add to Slack: our install redirect, the simulator's consent, our OAuth callback."""
    start = await http.get(f"{app_url}/slack/install")
    assert start.status_code == 302, start.text
    cookies = _cookie_header(start.headers.get_list("set-cookie"))
    assert "slack-app-oauth-state=" in cookies
    consent = await approve(start.headers["location"], team=spec.slack_team_id, user=spec.installer)
    assert consent.status_code in (302, 303), consent.text
    callback = await http.get(consent.headers["location"], headers={"Cookie": cookies})
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/onboarding"


async def onboard(
    http: httpx.AsyncClient,
    app_url: str,
    onboarding: Onboarding,
    engine: AsyncEngine,
    spec: TenantSpec,
    *,
    connect_genesys: bool = True,
) -> Tenant:
    """Add to Slack, then (unless told not to) connect Genesys as the admin would."""
    await install_slack(http, app_url, spec)
    async with create_sessions(engine)() as session:
        found = await tenants_store.find_tenant_for_slack(
            session,
            slack_enterprise_id=None,
            slack_team_id=spec.slack_team_id,
            is_enterprise_install=False,
        )
    assert found is not None, f"the install of {spec.name} stored no tenant"
    if connect_genesys:
        await connect_genesys_as_admin(onboarding, Tenant(spec, found.id))
    return Tenant(spec, found.id)


async def connect_genesys_as_admin(onboarding: Onboarding, tenant: Tenant) -> None:
    """What the admin does on the onboarding page: credentials, then the integrations."""
    spec = tenant.spec
    await onboarding.connect(
        tenant_id=tenant.tenant_id,
        actor_slack_user_id=spec.installer,
        region="us_east_1",
        client_id=spec.genesys_client_id,
        client_secret=spec.genesys_client_secret,
    )
    wired = await onboarding.choose_integrations(
        tenant_id=tenant.tenant_id,
        actor_slack_user_id=spec.installer,
        mentions_integration_id=spec.mentions_integration_id,
        dms_integration_id=spec.dms_integration_id,
        auto_wire=True,
    )
    assert [w.wiring for w in wired] == ["auto"] * len(wired)


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
        listener, app_url = Formation.bind(log_dir)
        env = app_environment(
            database_url=database_url,
            base_url=app_url,
            slack_url=sims.slack_url,
            genesys_url=sims.genesys_url,
        )
        formation = Formation(env=env, log_dir=log_dir, listener=listener)
        sims.slack_world.events_url = f"{app_url}/slack/events"
        settings = sandbox_settings(
            database_url,
            slack_url=sims.slack_url,
            genesys_url=sims.genesys_url,
            base_url=app_url,
            encryption_keys=ENCRYPTION_KEYS,
            session_secret=SESSION_SECRET,
        )
        engine = create_engine(DatabaseURL(database_url), pool_size=2, application_name="e2e")
        clients = GenesysClients()
        supervisor: asyncio.Task[None] | None = None
        try:
            await formation.start(webs=webs, workers=workers)
            supervisor = asyncio.create_task(formation.supervise(), name="supervisor")
            onboarding = Onboarding(
                settings,
                sessions=create_sessions(engine),
                box=SecretBox(settings.keys),
                clients=clients,
            )
            async with httpx.AsyncClient(timeout=10) as http:
                tenants = {}
                for spec in (ACME, GLOBEX):
                    tenants[spec.name] = await onboard(
                        http,
                        app_url,
                        onboarding,
                        engine,
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
