"""Who gets the settings page after Add to Slack, against real web processes and Slack.

Slack lets any member install an app where the workspace allows it, so finishing the install
proves only that Slack installed it. The settings (which Genesys org receives the workspace's
conversations) go to the original installer, or to someone Slack says is a workspace admin or
owner; anyone else completes the install and is told to have an admin sign in.
"""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import GenesysConnection, SlackInstallation
from devkit.harness.tenants import ACME, TenantSpec
from sandbox.genesys_world import SANDBOX_OTHER_ORG_CLIENT_ID, SANDBOX_OTHER_ORG_CLIENT_SECRET
from tests.e2e.ledger import assert_bridged
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id
from tests.harness import approve

PLAIN_MEMBER = "U0ACME0003"  # Alan Turing: neither admin nor owner, not the installer
WORKSPACE_ADMIN = "U0ACME0002"  # Grace Hopper: admin, not the installer


def _cookies(response: httpx.Response, carried: str = "") -> str:
    fresh = [value.split(";", 1)[0].strip() for value in response.headers.get_list("set-cookie")]
    return "; ".join(c for c in [carried, *fresh] if c and not c.endswith("="))


async def reinstall(system: System, spec: TenantSpec, *, user: str) -> tuple[httpx.Response, str]:
    """Add to Slack as `user`; our cookies are Secure, so they are carried by hand."""
    start = await system.http.get(f"{system.app_url}/slack/install")
    assert start.status_code == 302, start.text
    cookies = _cookies(start)
    consent = await approve(start.headers["location"], team=spec.slack_team_id, user=user)
    assert consent.status_code in (302, 303), consent.text
    callback = await system.http.get(consent.headers["location"], headers={"Cookie": cookies})
    return callback, _cookies(callback)


async def stored_genesys_client(system: System) -> str:
    async with AsyncSession(system.engine) as session:
        connection = await session.get(GenesysConnection, system.acme.tenant_id)
        assert connection is not None
        return connection.client_id


async def test_a_plain_member_who_reinstalls_cannot_reach_the_settings(bridge: System) -> None:
    callback, cookies = await reinstall(bridge, ACME, user=PLAIN_MEMBER)
    assert callback.status_code == 200, (
        f"a plain member's reinstall answered {callback.status_code} "
        f"-> {callback.headers.get('location')}"
    )
    assert "sb_session=" not in cookies
    assert "admin" in callback.text and "/signin" in callback.text

    settings = await bridge.http.get(f"{bridge.app_url}/onboarding", headers={"Cookie": cookies})
    assert settings.status_code == 401
    swap = await bridge.http.post(
        f"{bridge.app_url}/onboarding/credentials",
        headers={"Cookie": cookies},
        data={
            "csrf": "guessed",
            "region": "us_east_1",
            "client_id": SANDBOX_OTHER_ORG_CLIENT_ID,
            "client_secret": SANDBOX_OTHER_ORG_CLIENT_SECRET,
        },
    )
    assert swap.status_code in (401, 403)
    assert await stored_genesys_client(bridge) == ACME.genesys_client_id

    # Slack did install: the new bot token is stored, the installer is still the original
    # one, and the workspace keeps bridging.
    async with AsyncSession(bridge.engine) as session:
        row = (
            await session.execute(
                select(SlackInstallation).where(
                    SlackInstallation.tenant_id == bridge.acme.tenant_id
                )
            )
        ).scalar_one()
    assert row.installer_slack_user_id == ACME.installer
    slack, agents = SlackPeople(bridge), Agents(bridge)
    root = await slack.mention(ACME, "Rights: still bridged after a member's reinstall")
    thread = thread_id(ACME, ACME.support_channel, root.ts)
    [report] = await agents.reply(ACME.mentions_integration_id, thread, "Rights: agent answer")
    assert report.outcome == "delivered", report
    await bridge.drain()
    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={thread: ["Rights: still bridged after a member's reinstall"]},
        to_slack={(ACME.support_channel, root.ts): ["Rights: agent answer"]},
    )


async def test_a_workspace_admin_or_the_installer_reinstalling_gets_the_settings(
    bridge: System,
) -> None:
    for user in (WORKSPACE_ADMIN, ACME.installer):
        callback, cookies = await reinstall(bridge, ACME, user=user)
        assert callback.status_code == 303, callback.text
        assert callback.headers["location"] == "/onboarding"
        assert "sb_session=" in cookies
        settings = await bridge.http.get(
            f"{bridge.app_url}/onboarding", headers={"Cookie": cookies}
        )
        assert settings.status_code == 200, settings.text
    async with AsyncSession(bridge.engine) as session:
        row = await session.get(SlackInstallation, bridge.acme.tenant_id)
        assert row is not None and row.installer_slack_user_id == ACME.installer


async def sign_in_with_slack(bridge: System, *, user: str) -> tuple[httpx.Response, str]:
    """Sign in with Slack as a browser would, through the simulator's OpenID consent page."""
    start = await bridge.http.get(f"{bridge.app_url}/signin")
    assert start.status_code == 302, start.text
    cookies = _cookies(start)
    consent = await approve(start.headers["location"], team=ACME.slack_team_id, user=user)
    assert consent.status_code in (302, 303), consent.text
    location = consent.headers["location"]
    assert "error=" not in location, f"Slack refused the sign-in: {location}"
    callback = await bridge.http.get(location, headers={"Cookie": cookies})
    return callback, _cookies(callback, cookies)


async def test_an_admin_signs_in_with_slack_against_the_declared_scopes(bridge: System) -> None:
    """The simulator refuses any scope `infra/slack/manifest.yml` does not declare."""
    callback, cookies = await sign_in_with_slack(bridge, user=WORKSPACE_ADMIN)
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/onboarding"
    settings = await bridge.http.get(f"{bridge.app_url}/onboarding", headers={"Cookie": cookies})
    assert settings.status_code == 200, settings.text
