"""The settings page over HTTP: who may use it, CSRF, and each bad input's message."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.models import GenesysConnection, GenesysIntegration, Tenant
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_NO_EDIT_CLIENT_ID,
    SANDBOX_NO_EDIT_CLIENT_SECRET,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    SANDBOX_PENDING_INTEGRATION_ID,
    GenesysWorld,
)
from sandbox.slack_seed import ACME_TEAM_ID
from tests.harness import approve, in_process, install, local_part


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, "the page carries a CSRF token"
    return match.group(1)


async def installed(client: httpx.AsyncClient) -> str:
    callback = await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
    assert callback.status_code == 303
    return csrf_of(await client.get("/onboarding"))


async def save_credentials(
    client: httpx.AsyncClient, csrf: str, **overrides: str
) -> httpx.Response:
    form = {
        "csrf": csrf,
        "region": "us_east_1",
        "client_id": SANDBOX_ORG_CLIENT_ID,
        "client_secret": SANDBOX_ORG_CLIENT_SECRET,
    }
    form.update(overrides)
    return await client.post("/onboarding/credentials", data=form)


async def connection_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return len((await connection.execute(select(GenesysConnection))).all())


async def test_connect_choose_test_and_see_the_audit_log(
    app_settings: Settings,
    genesys_transport: httpx.AsyncBaseTransport,
    genesys_world: GenesysWorld,
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await installed(client)
        saved = await save_credentials(client, csrf)
        assert saved.status_code == 303
        page = await client.get(saved.headers["location"])
        assert "verified and saved" in page.text
        assert SANDBOX_ORG_CLIENT_SECRET not in page.text
        assert "Set on" in page.text
        assert f'value="{SANDBOX_MENTIONS_INTEGRATION_ID}"' in page.text  # listed live
        chosen = await client.post(
            "/onboarding/integrations",
            data={
                "csrf": csrf,
                "mentions_integration_id": SANDBOX_MENTIONS_INTEGRATION_ID,
                "dms_integration_id": SANDBOX_DMS_INTEGRATION_ID,
                "auto_wire": "on",
            },
        )
        assert chosen.status_code == 303
        tested = await client.post("/onboarding/test", data={"csrf": csrf})
    assert tested.status_code == 200
    assert "✗ Fail" not in tested.text
    assert tested.text.count("✓ Pass") >= 5
    assert "Saved Genesys Cloud credentials" in tested.text
    assert "Chose Open Messaging integrations" in tested.text
    assert "client_secret" in tested.text  # the field name, in the audit log
    sim = genesys_world.integrations[SANDBOX_MENTIONS_INTEGRATION_ID]
    assert sim.webhook_url == "https://switchboard.test/genesys/webhook"
    assert sim.webhook_secret is not None and sim.webhook_secret not in tested.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"region": "mars_north_1"}, "Choose your Genesys Cloud region"),
        ({"client_secret": "definitely-wrong"}, "rejected the client ID or secret"),
    ],
)
async def test_bad_credentials_show_the_error_by_the_field_and_keep_entries(
    app_settings: Settings,
    genesys_transport: httpx.AsyncBaseTransport,
    engine: AsyncEngine,
    overrides: dict[str, str],
    message: str,
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await installed(client)
        response = await save_credentials(client, csrf, **overrides)
    assert response.status_code == 400
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert f'value="{SANDBOX_ORG_CLIENT_ID}"' in response.text  # the entry is kept
    assert overrides.get("client_secret", SANDBOX_ORG_CLIENT_SECRET) not in response.text
    assert await connection_count(engine) == 0


@pytest.mark.parametrize(
    ("mentions", "message"),
    [
        ("00000000-0000-4000-8000-000000000000", "No Open Messaging integration"),
        (SANDBOX_PENDING_INTEGRATION_ID, "No Open Messaging integration"),
    ],
)
async def test_bad_integrations_are_refused_over_http(
    app_settings: Settings,
    genesys_transport: httpx.AsyncBaseTransport,
    engine: AsyncEngine,
    mentions: str,
    message: str,
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await installed(client)
        await save_credentials(client, csrf)
        response = await client.post(
            "/onboarding/integrations",
            data={
                "csrf": csrf,
                "mentions_integration_id_typed": mentions,
                "dms_integration_id": SANDBOX_DMS_INTEGRATION_ID,
                "auto_wire": "on",
            },
        )
    assert response.status_code == 400
    assert message in response.text or "still" in response.text
    async with engine.connect() as connection:
        assert (await connection.execute(select(GenesysIntegration))).first() is None


async def test_missing_edit_permission_shows_the_values_to_paste_once(
    app_settings: Settings, genesys_transport: httpx.AsyncBaseTransport
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await installed(client)
        await save_credentials(
            client,
            csrf,
            client_id=SANDBOX_NO_EDIT_CLIENT_ID,
            client_secret=SANDBOX_NO_EDIT_CLIENT_SECRET,
        )
        response = await client.post(
            "/onboarding/integrations",
            data={
                "csrf": csrf,
                "mentions_integration_id": SANDBOX_MENTIONS_INTEGRATION_ID,
                "dms_integration_id": SANDBOX_MENTIONS_INTEGRATION_ID,
                "auto_wire": "on",
            },
        )
        shown = re.search(r'<code class="secret">([^<]+)</code>', response.text)
        later = await client.get("/onboarding")
        tested = await client.post("/onboarding/test", data={"csrf": csrf})
    assert response.status_code == 200
    assert "messaging:integration:edit" in response.text
    assert "https://switchboard.test/genesys/webhook" in response.text
    assert shown is not None and len(shown.group(1)) > 15
    assert shown.group(1) not in later.text  # shown only once
    assert "does not point at Switchboard" in tested.text


@pytest.mark.parametrize("csrf", [None, "forged-token"])
async def test_missing_or_forged_csrf_is_refused_and_nothing_saved(
    app_settings: Settings,
    genesys_transport: httpx.AsyncBaseTransport,
    engine: AsyncEngine,
    csrf: str | None,
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        await installed(client)
        form = {
            "region": "us_east_1",
            "client_id": SANDBOX_ORG_CLIENT_ID,
            "client_secret": SANDBOX_ORG_CLIENT_SECRET,
        }
        if csrf is not None:
            form["csrf"] = csrf
        response = await client.post("/onboarding/credentials", data=form)
    assert response.status_code == 403
    assert "nothing was saved" in response.text
    assert await connection_count(engine) == 0


async def test_posts_without_a_session_are_refused(app_settings: Settings) -> None:
    async with in_process(app_settings) as client:
        response = await client.post("/onboarding/credentials", data={"region": "us_east_1"})
    assert response.status_code == 401


async def sign_in(client: httpx.AsyncClient, user: str) -> httpx.Response:
    start = await client.get("/signin")
    assert start.status_code == 302, start.text
    consent = await approve(start.headers["location"], team=ACME_TEAM_ID, user=user)
    assert consent.status_code in (302, 303), consent.text
    return await client.get(local_part(consent.headers["location"]))


async def test_returning_installer_signs_in_with_slack(
    app_settings: Settings, genesys_transport: httpx.AsyncBaseTransport
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as first:
        await installed(first)
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        assert (await client.get("/onboarding")).status_code == 401
        signed_in = await sign_in(client, "U0ACME0001")
        assert signed_in.status_code == 303
        page = await client.get("/onboarding")
        assert page.status_code == 200 and "Acme Corp" in page.text
        saved = await save_credentials(client, csrf_of(page))
    assert saved.status_code == 303


async def test_a_workspace_admin_who_did_not_install_may_sign_in(app_settings: Settings) -> None:
    async with in_process(app_settings) as first:
        await installed(first)
    async with in_process(app_settings) as client:
        signed_in = await sign_in(client, "U0ACME0002")
    assert signed_in.status_code == 303


async def test_a_non_admin_is_refused_clearly(app_settings: Settings) -> None:
    async with in_process(app_settings) as first:
        await installed(first)
    async with in_process(app_settings) as client:
        refused = await sign_in(client, "U0ACME0003")
        page = await client.get("/onboarding")
    assert refused.status_code == 403
    assert "Only workspace admins" in refused.text
    assert "sb_session" not in refused.headers.get("set-cookie", "")
    assert page.status_code == 401


async def test_sign_in_to_a_workspace_without_the_app_is_refused(app_settings: Settings) -> None:
    async with in_process(app_settings) as client:
        refused = await sign_in(client, "U0ACME0001")
    assert refused.status_code == 404
    assert "not installed" in refused.text


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(app_settings: Settings) -> None:
    async with in_process(app_settings) as client:
        csrf = await installed(client)
        refused = await client.post("/signout", data={})
        assert refused.status_code == 403
        assert (await client.get("/onboarding")).status_code == 200
        done = await client.post("/signout", data={"csrf": csrf})
        assert done.status_code == 303
        assert (await client.get("/onboarding")).status_code == 401


async def test_pages_carry_security_headers(app_settings: Settings) -> None:
    async with in_process(app_settings) as client:
        response = await client.get("/")
        plain = await client.get(str(client.base_url.copy_with(scheme="http", path="/healthz")))
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    # HSTS over https only: browsers ignore it over http, and a local run must not pin it.
    assert response.url.scheme == "https"
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    assert plain.status_code == 200
    assert "strict-transport-security" not in plain.headers


async def test_behaviour_switches_are_saved_and_audited(
    app_settings: Settings, engine: AsyncEngine
) -> None:
    async with in_process(app_settings) as client:
        csrf = await installed(client)
        page = await client.get("/onboarding")
        assert 'id="ack_reaction" name="ack_reaction" checked' in page.text
        saved = await client.post(
            "/onboarding/behaviour", data={"csrf": csrf, "forward_other_bots": "on"}
        )
        assert saved.status_code == 303
        after = await client.get(saved.headers["location"])
    assert "Behaviour saved." in after.text
    assert "Changed behaviour" in after.text
    async with engine.connect() as connection:
        tenant = (await connection.execute(select(Tenant))).one()
    assert tenant.ack_reaction is False and tenant.forward_other_bots is True
