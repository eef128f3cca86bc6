"""Add to Slack, through the simulated consent page, to the onboarding landing."""

from __future__ import annotations

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.models import AuditEvent, SlackInstallation, Tenant
from app.slack.app import BOT_SCOPES
from app.web.auth import OIDC_SCOPES
from sandbox.slack_manifest import DEFAULT_MANIFEST, declared_scopes
from sandbox.slack_seed import ACME_TEAM_ID, GLOBEX_TEAM_ID, INITECH_ENTERPRISE_ID
from sandbox.slack_world import SlackWorld
from tests.harness import approve, in_process, install, local_part


async def test_install_round_trip_lands_on_onboarding_with_a_session(
    app_settings: Settings, engine: AsyncEngine
) -> None:
    async with in_process(app_settings) as client:
        start = await client.get("/slack/install")
        assert start.status_code == 302
        assert "slack-app-oauth-state" in start.headers["set-cookie"]
        assert "scope=app_mentions:read," in start.headers["location"]
        callback = await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        assert callback.status_code == 303
        assert callback.headers["location"] == "/onboarding"
        cookies = callback.headers.get_list("set-cookie")
        session_cookie = next(c for c in cookies if c.startswith("sb_session="))
        for attribute in ("HttpOnly", "Secure", "SameSite=lax"):
            assert attribute.lower() in session_cookie.lower()
        assert "team=" not in callback.headers["location"]
        landing = await client.get("/onboarding")
    assert landing.status_code == 200
    assert "Acme Corp" in landing.text
    assert "Ada Lovelace" in landing.text  # the installer, by name
    async with engine.connect() as connection:
        tenant = (await connection.execute(select(Tenant))).one()
        row = (await connection.execute(select(SlackInstallation))).one()
        dump = (
            await connection.execute(text("SELECT row_to_json(s)::text FROM slack_installation s"))
        ).scalar_one()
    assert tenant.slack_team_id == ACME_TEAM_ID
    assert row.bot_token_enc.startswith("v1:")
    assert "xoxb-" not in dump


async def test_onboarding_without_a_session_asks_to_sign_in(app_settings: Settings) -> None:
    async with in_process(app_settings) as client:
        response = await client.get("/onboarding", params={"team": ACME_TEAM_ID})
    assert response.status_code == 401
    assert "Sign in with Slack" in response.text
    assert "Acme" not in response.text


async def test_cancelled_install_shows_a_clear_page_and_stores_nothing(
    app_settings: Settings, engine: AsyncEngine
) -> None:
    async with in_process(app_settings) as client:
        response = await install(
            client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001", decision="deny"
        )
    assert "Installation cancelled" in response.text
    assert "sb_session" not in response.headers.get("set-cookie", "")
    async with engine.connect() as connection:
        assert (await connection.execute(select(Tenant))).first() is None


async def test_tampered_state_is_refused_and_nothing_is_stored(
    app_settings: Settings, engine: AsyncEngine
) -> None:
    async with in_process(app_settings) as client:
        start = await client.get("/slack/install")
        authorize = start.headers["location"].replace("state=", "state=x")
        consent = await approve(authorize, team=ACME_TEAM_ID, user="U0ACME0001")
        response = await client.get(local_part(consent.headers["location"]))
    assert response.status_code in (400, 401)
    assert "cannot be finished here" in response.text or "expired" in response.text
    async with engine.connect() as connection:
        assert (await connection.execute(select(Tenant))).first() is None


async def test_replayed_callback_is_refused(app_settings: Settings, engine: AsyncEngine) -> None:
    async with in_process(app_settings) as client:
        start = await client.get("/slack/install")
        consent = await approve(start.headers["location"], team=ACME_TEAM_ID, user="U0ACME0001")
        callback = local_part(consent.headers["location"])
        first = await client.get(callback)
        assert first.status_code == 303
        # The browser still holds the state cookie in this replay: only the database says no.
        state = start.headers["set-cookie"].split(";")[0]
        replay = await client.get(callback, headers={"cookie": state})
    assert replay.status_code in (400, 401)
    assert "expired or was already used" in replay.text or "cannot be finished" in replay.text
    async with engine.connect() as connection:
        assert len((await connection.execute(select(Tenant))).all()) == 1


async def test_expired_state_is_refused(app_settings: Settings, engine: AsyncEngine) -> None:
    async with in_process(app_settings) as client:
        start = await client.get("/slack/install")
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE slack_oauth_state SET expire_at = now() - interval '1 second'")
            )
        response = await install_from(client, start)
    assert response.status_code == 401
    assert "expired or was already used" in response.text
    async with engine.connect() as connection:
        assert (await connection.execute(select(Tenant))).first() is None


async def install_from(client: httpx.AsyncClient, start: httpx.Response) -> httpx.Response:
    consent = await approve(start.headers["location"], team=ACME_TEAM_ID, user="U0ACME0001")
    return await client.get(local_part(consent.headers["location"]))


async def test_reinstall_updates_tokens_and_keeps_settings(
    app_settings: Settings, engine: AsyncEngine
) -> None:
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        async with engine.connect() as connection:
            first = (await connection.execute(select(SlackInstallation))).one()
        again = await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0002")
    assert again.status_code == 303
    async with engine.connect() as connection:
        tenants = (await connection.execute(select(Tenant))).all()
        rows = (await connection.execute(select(SlackInstallation))).all()
        actions = (
            (await connection.execute(select(AuditEvent.action).order_by(AuditEvent.created_at)))
            .scalars()
            .all()
        )
    assert len(tenants) == 1 and len(rows) == 1
    assert rows[0].bot_token_enc != first.bot_token_enc
    # The original installer keeps the installer's rights; the audit names who reinstalled.
    assert rows[0].installer_slack_user_id == "U0ACME0001"
    assert actions == ["slack.installed", "slack.reinstalled"]
    async with engine.connect() as connection:
        actor = await connection.scalar(
            select(AuditEvent.actor_slack_user_id).where(AuditEvent.action == "slack.reinstalled")
        )
    assert actor == "U0ACME0002"


async def test_a_plain_member_reinstalling_completes_the_install_without_a_session(
    app_settings: Settings, engine: AsyncEngine
) -> None:
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        client.cookies.clear()
        again = await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0003")
        assert again.status_code == 200
        assert "an admin must sign in" in again.text and 'href="/signin"' in again.text.replace(
            "'", '"'
        )
        assert "sb_session" not in again.headers.get("set-cookie", "")
        assert (await client.get("/onboarding")).status_code == 401
    async with engine.connect() as connection:
        row = (await connection.execute(select(SlackInstallation))).one()
    assert row.installer_slack_user_id == "U0ACME0001"


async def test_org_wide_install_is_keyed_on_the_enterprise(
    app_settings: Settings, engine: AsyncEngine
) -> None:
    async with in_process(app_settings) as client:
        callback = await install(client, target=INITECH_ENTERPRISE_ID, slack_user_id="W0INIT0001")
        assert callback.status_code == 303
        landing = await client.get("/onboarding")
    assert "org-wide install" in landing.text
    async with engine.connect() as connection:
        tenant = (await connection.execute(select(Tenant))).one()
    assert tenant.is_enterprise_install
    assert tenant.slack_enterprise_id == INITECH_ENTERPRISE_ID
    assert tenant.slack_team_id is None


async def test_each_session_only_sees_its_own_tenant(
    app_settings: Settings, slack_world: SlackWorld
) -> None:
    async with in_process(app_settings) as acme, in_process(app_settings) as globex:
        await install(acme, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        await install(globex, target=GLOBEX_TEAM_ID, slack_user_id="U0GLBX0001")
        acme_page = (await acme.get("/onboarding")).text
        globex_page = (await globex.get("/onboarding")).text
    assert "Acme Corp" in acme_page and "Globex" not in acme_page
    assert "Globex" in globex_page and "Acme Corp" not in globex_page


def test_the_app_requests_exactly_the_scopes_the_manifest_declares() -> None:
    """Each requested scope must be declared (Slack refuses the rest), and each declared
    scope must be requested by shipped code (docs/slack-app.md justifies each one)."""
    declared = declared_scopes(DEFAULT_MANIFEST)
    assert set(BOT_SCOPES) == declared.bot
    assert set(OIDC_SCOPES.split()) == declared.user
