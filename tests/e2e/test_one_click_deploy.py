"""A deploy from `app.json` with nothing prepared on a laptop, against real web and worker
processes and the simulated Slack.

The environment is what Heroku's button makes: 64-hex-character secrets from
`"generator": "secret"`, `DATABASE_URL` from the add-on, `DYNO`, and the app's domain from
runtime dyno metadata; plus the three Slack settings the admin pastes. Heroku's router ends TLS
and forwards `X-Forwarded-Proto: https`; the test plays the router by sending that header to the
web socket, and by turning the app's https URLs back into the socket's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.models import SlackInstallation
from devkit.harness.environment import simulator_environment
from devkit.harness.processes import Formation, UvicornApp, bind_listener
from devkit.harness.tenants import ACME, approve
from tests.e2e.conftest import empty_database
from tests.e2e.stack import Simulators, running_simulators

ROUTER_HEADERS = {"X-Forwarded-Proto": "https"}
APP_JSON = Path(__file__).resolve().parents[2] / "app.json"


@dataclass
class Deploy:
    formation: Formation
    sims: Simulators
    public_url: str  # what the app should call itself: https://<the Heroku domain>

    @property
    def socket_url(self) -> str:
        return self.formation.url

    def via_router(self, public: str) -> str:
        """A URL on the app's public host, as the router would forward it to the dyno."""
        assert public.startswith(self.public_url), f"{public} is not on {self.public_url}"
        return self.socket_url + public[len(self.public_url) :]


def app_json_environment(database_url: str, heroku_domain: str, sims: Simulators) -> dict[str, str]:
    """Only what `app.json` generates or defaults, what Heroku sets, and the Slack settings."""
    declared = json.loads(APP_JSON.read_text())["env"]
    env: dict[str, str] = {}
    for name, spec in declared.items():
        if spec.get("generator") == "secret":
            env[name] = secrets.token_hex(32)  # what Heroku's generator makes: 64 hex chars
        elif "value" in spec:
            env[name] = str(spec["value"])
    slack = simulator_environment(slack_url=sims.slack_url, genesys_url=sims.genesys_url)
    env.update({k: v for k, v in slack.items() if k.startswith("SLACK_")})
    required_unset = [
        name
        for name, spec in declared.items()
        if spec.get("required") and name not in env and not name.startswith("SLACK_")
    ]
    assert not required_unset, f"app.json asks the deployer for {required_unset}"
    env.update(
        {
            "DATABASE_URL": database_url,
            "DYNO": "web.1",
            "HEROKU_APP_DEFAULT_DOMAIN_NAME": heroku_domain,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
async def deploy(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Deploy]:
    await empty_database(engine)
    with running_simulators() as sims:
        listener, port = bind_listener()
        socket_url = f"http://localhost:{port}"
        env = app_json_environment(database_url, f"localhost:{port}", sims)
        formation = Formation(
            env, tmp_path, {"web": UvicornApp("app.main:asgi", listener)}, local_url=socket_url
        )
        public_url = f"https://localhost:{port}"
        sims.slack_world.events_url = f"{socket_url}/slack/events"
        supervisor: asyncio.Task[None] | None = None
        try:
            await formation.start(webs=1, workers=1)
            supervisor = asyncio.create_task(formation.supervise(), name="supervisor")
            yield Deploy(formation, sims, public_url)
        finally:
            if supervisor is not None:
                supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await supervisor
            formation.stop()
            await empty_database(engine)


def _cookies(response: httpx.Response, carried: str = "") -> str:
    fresh = [value.split(";", 1)[0].strip() for value in response.headers.get_list("set-cookie")]
    return "; ".join(c for c in [carried, *fresh] if c and not c.endswith("="))


async def test_the_app_json_settings_alone_serve_and_install(
    deploy: Deploy, engine: AsyncEngine
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        health = await http.get(f"{deploy.socket_url}/healthz", headers=ROUTER_HEADERS)
        assert health.status_code == 200
        assert health.headers.get("strict-transport-security", "").startswith("max-age=31536000")
        assert "server" not in health.headers, health.headers.get("server")

        start = await http.get(f"{deploy.socket_url}/slack/install", headers=ROUTER_HEADERS)
        assert start.status_code == 302, start.text
        authorize = httpx.URL(start.headers["location"])
        # The app knew its public URL without BASE_URL: Slack is told to come back there.
        assert authorize.params["redirect_uri"] == f"{deploy.public_url}/slack/oauth_redirect"
        consent = await approve(str(authorize), team=ACME.slack_team_id, user=ACME.installer)
        assert consent.status_code in (302, 303), consent.text
        callback = await http.get(
            deploy.via_router(consent.headers["location"]),
            headers={**ROUTER_HEADERS, "Cookie": _cookies(start)},
        )
        assert callback.status_code == 303, callback.text
        assert callback.headers["location"] == "/onboarding"

        settings = await http.get(
            f"{deploy.socket_url}/onboarding",
            headers={**ROUTER_HEADERS, "Cookie": _cookies(callback)},
        )
        assert settings.status_code == 200
        assert "/onboarding/credentials" in settings.text  # the next step: connect Genesys

    async with AsyncSession(engine) as session:
        stored = (await session.execute(select(SlackInstallation))).scalars().all()
    assert [row.slack_team_id for row in stored] == [ACME.slack_team_id]
    # Sealed under the generated hex key, whose fixed id is `gen` (app.config.GENERATED_KEY_ID).
    assert (stored[0].bot_token_enc or "").startswith("v1:gen:")


async def test_a_heroku_dyno_without_a_domain_refuses_to_start_and_says_why(
    database_url: str, tmp_path: Path
) -> None:
    with running_simulators() as sims:
        listener, port = bind_listener()
        env = app_json_environment(database_url, "", sims)
        del env["HEROKU_APP_DEFAULT_DOMAIN_NAME"]
        formation = Formation(
            env,
            tmp_path,
            {"web": UvicornApp("app.main:asgi", listener)},
            local_url=f"http://localhost:{port}",
            start_timeout=15,
        )
        try:
            web = formation.spawn_web()
            with pytest.raises(RuntimeError) as refused:
                await formation.ready(web)
        finally:
            formation.stop()
    assert "runtime-dyno-metadata" in str(refused.value)
    assert "BASE_URL" in str(refused.value)
