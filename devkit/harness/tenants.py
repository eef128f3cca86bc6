"""Two tenants, set up as their admins would, minus the browser.

"Add to Slack" goes through our `/slack/install` and the Slack simulator's consent page (our
cookies are `Secure`, which a plain http client will not send back over http, so the state
cookie is carried by hand); then Genesys is connected through `app.tenants.onboarding`, which
checks the credentials against the Genesys simulator and wires each integration's webhook to
the app. Acme and Globex are the simulators' seeded workspaces and Genesys orgs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.tenants import store as tenants_store
from app.tenants.onboarding import Onboarding
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    SANDBOX_OTHER_MENTIONS_INTEGRATION_ID,
    SANDBOX_OTHER_ORG_CLIENT_ID,
    SANDBOX_OTHER_ORG_CLIENT_SECRET,
)
from sandbox.slack_seed import ACME_TEAM_ID, GLOBEX_TEAM_ID


class SetupFailed(RuntimeError):
    """A step an admin takes did not answer as it does for a person."""


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
TENANTS = (ACME, GLOBEX)


@dataclass(frozen=True)
class Tenant:
    spec: TenantSpec
    tenant_id: uuid.UUID


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise SetupFailed(what)


async def approve(
    authorize_url: str, *, team: str, user: str, decision: str = "allow"
) -> httpx.Response:
    """Act as the person on Slack's consent page: keep Slack's query, add the choices."""
    url = httpx.URL(authorize_url)
    params = dict(url.params)
    params.update({"decision": decision, "team": team, "user": user})
    async with httpx.AsyncClient() as browser:
        return await browser.get(url.copy_with(query=None), params=params)


def _cookie_header(set_cookies: list[str]) -> str:
    return "; ".join(value.split(";", 1)[0].strip() for value in set_cookies)


async def install_slack(http: httpx.AsyncClient, app_url: str, spec: TenantSpec) -> None:
    """Add to Slack: our install redirect, the simulator's consent, our OAuth callback."""
    start = await http.get(f"{app_url}/slack/install")
    _expect(start.status_code == 302, f"/slack/install answered {start.status_code}")
    cookies = _cookie_header(start.headers.get_list("set-cookie"))
    _expect("slack-app-oauth-state=" in cookies, "/slack/install set no state cookie")
    consent = await approve(start.headers["location"], team=spec.slack_team_id, user=spec.installer)
    _expect(consent.status_code in (302, 303), f"consent answered {consent.status_code}")
    callback = await http.get(consent.headers["location"], headers={"Cookie": cookies})
    _expect(callback.status_code == 303, f"the OAuth callback answered {callback.status_code}")
    _expect(callback.headers["location"] == "/onboarding", "the callback did not go to onboarding")


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
    _expect(all(w.wiring == "auto" for w in wired), f"{spec.name}: a webhook was not wired")


async def onboard(
    http: httpx.AsyncClient,
    app_url: str,
    onboarding: Onboarding,
    sessions: async_sessionmaker[AsyncSession],
    spec: TenantSpec,
    *,
    connect_genesys: bool = True,
) -> Tenant:
    """Add to Slack, then (unless told not to) connect Genesys as the admin would."""
    await install_slack(http, app_url, spec)
    async with sessions() as session:
        found = await tenants_store.find_tenant_for_slack(
            session,
            slack_enterprise_id=None,
            slack_team_id=spec.slack_team_id,
            is_enterprise_install=False,
        )
    if found is None:
        raise SetupFailed(f"the install of {spec.name} stored no tenant")
    tenant = Tenant(spec, found.id)
    if connect_genesys:
        await connect_genesys_as_admin(onboarding, tenant)
    return tenant
