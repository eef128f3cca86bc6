"""Rotating bot tokens: Bolt refreshes an expiring token against Slack and we store the new one.

Bolt refreshes when the token expires within 120 minutes, so a lifetime of a few minutes
makes the very next event refresh. Every refresh revokes the refresh token it used, so the
second event only works if the first one's new refresh token was stored.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.crypto import SecretBox
from app.db.models import AuditEvent, SlackInstallation, Tenant
from app.tenants.purposes import SLACK_BOT_REFRESH_TOKEN, SLACK_BOT_TOKEN
from sandbox.faults import FaultSpec
from sandbox.slack_payloads import BuiltEvent
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SlackWorld
from tests.harness import in_process, install
from tests.slack.delivery import bare_event, event_sender, settle, statuses

LIFETIME_SECONDS = 300
REFRESH_DELAY = 0.6


async def stored(engine: AsyncEngine) -> tuple[SlackInstallation, str]:
    """The one installation row, and all of it as JSON text."""
    async with AsyncSession(engine) as session:
        row = (await session.execute(select(SlackInstallation))).scalar_one()
        dump = (
            await session.execute(text("SELECT row_to_json(s)::text FROM slack_installation s"))
        ).scalar_one()
        return row, dump


def opened(settings: Settings, row: SlackInstallation) -> tuple[str, str]:
    """The bot token and refresh token as Bolt sees them after our store decrypts them."""
    box = SecretBox(settings.keys)
    assert row.bot_token_enc is not None and row.bot_refresh_token_enc is not None
    return (
        box.decrypt(row.bot_token_enc, tenant_id=row.tenant_id, purpose=SLACK_BOT_TOKEN),
        box.decrypt(
            row.bot_refresh_token_enc, tenant_id=row.tenant_id, purpose=SLACK_BOT_REFRESH_TOKEN
        ),
    )


def assert_sealed(row: SlackInstallation, dump: str) -> None:
    assert row.bot_token_enc is not None and row.bot_token_enc.startswith("v1:")
    assert row.bot_refresh_token_enc is not None and row.bot_refresh_token_enc.startswith("v1:")
    assert "xoxb-" not in dump and "xoxe" not in dump


def expires_in(row: SlackInstallation) -> float:
    assert row.bot_token_expires_at is not None
    return (row.bot_token_expires_at - datetime.now(UTC)).total_seconds()


def home_opened(world: SlackWorld) -> BuiltEvent:
    """An event Bolt authorizes (messages are stored before authorization and never refresh)."""
    dm = world.open_dm(ACME_TEAM_ID, "U0ACME0003")
    event = {
        "type": "app_home_opened",
        "user": "U0ACME0003",
        "channel": dm.slack_channel_id,
        "tab": "messages",
        "event_ts": world.new_ts(),
    }
    return bare_event(world, ACME_TEAM_ID, event)


async def test_expiring_token_is_refreshed_by_the_next_event_and_stored_sealed(
    app_settings: Settings, engine: AsyncEngine, slack_world: SlackWorld
) -> None:
    slack_world.token_rotation = True
    slack_world.token_lifetime_seconds = LIFETIME_SECONDS
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        installed, dump = await stored(engine)
        assert_sealed(installed, dump)
        assert LIFETIME_SECONDS - 60 < expires_in(installed) <= LIFETIME_SECONDS
        first_token, first_refresh = opened(app_settings, installed)
        assert first_token.startswith("xoxe.xoxb-") and first_refresh.startswith("xoxe-1-")

        sender = event_sender(slack_world, client)
        calls = len(slack_world.calls)
        first = await sender.send(home_opened(slack_world))
        assert statuses(first) == [200]
        refreshed, dump = await stored(engine)
        second = await sender.send(home_opened(slack_world))
        assert statuses(second) == [200]
        await settle()
        last, _ = await stored(engine)

    refresh_calls = [c for c in slack_world.calls[calls:] if c.method == "oauth.v2.access"]
    assert [(c.params.get("grant_type"), c.ok) for c in refresh_calls] == [
        ("refresh_token", True),
        ("refresh_token", True),  # only possible with the refresh token the first one stored
    ]
    assert all(c.slack_team_id == ACME_TEAM_ID for c in refresh_calls)
    auth_tests = [c for c in slack_world.calls[calls:] if c.method == "auth.test"]
    assert [c.ok for c in auth_tests] == [True, True]

    assert_sealed(refreshed, dump)
    assert refreshed.tenant_id == installed.tenant_id
    new_token, new_refresh = opened(app_settings, refreshed)
    assert new_token != first_token and new_refresh != first_refresh
    assert slack_world.tokens[new_token].slack_team_id == ACME_TEAM_ID
    assert first_refresh not in slack_world.refresh_tokens  # each refresh revokes the old one
    assert installed.bot_token_expires_at is not None
    assert refreshed.bot_token_expires_at is not None
    assert refreshed.bot_token_expires_at >= installed.bot_token_expires_at
    # After the second event the stored refresh token is again the one Slack will accept.
    assert opened(app_settings, last)[1] in slack_world.refresh_tokens


async def test_token_refresh_is_not_audited_as_a_reinstall(
    app_settings: Settings, engine: AsyncEngine, slack_world: SlackWorld
) -> None:
    slack_world.token_rotation = True
    slack_world.token_lifetime_seconds = LIFETIME_SECONDS
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        sender = event_sender(slack_world, client)
        report = await sender.send(home_opened(slack_world))
        await settle()
    assert statuses(report) == [200]
    assert any(c.params.get("grant_type") == "refresh_token" for c in slack_world.calls)
    async with AsyncSession(engine) as session:
        audit = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.actor_slack_user_id).order_by(
                    AuditEvent.created_at
                )
            )
        ).all()
    # Nobody reinstalled: the installer did nothing, Bolt swapped a token with Slack.
    assert "slack.reinstalled" not in [action for action, _ in audit], audit


async def test_reinstall_with_rotation_keeps_the_tenant_and_takes_the_new_tokens(
    app_settings: Settings, engine: AsyncEngine, slack_world: SlackWorld
) -> None:
    slack_world.token_rotation = True
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        first, _ = await stored(engine)
        again = await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0002")
        assert again.status_code == 303
        assert (await client.get("/onboarding")).status_code == 200
    second, dump = await stored(engine)
    async with AsyncSession(engine) as session:
        tenants = (await session.execute(select(Tenant))).scalars().all()
    assert [t.id for t in tenants] == [first.tenant_id]
    assert tenants[0].status == "active"
    assert_sealed(second, dump)
    assert second.tenant_id == first.tenant_id
    assert second.installer_slack_user_id == "U0ACME0001"  # the original installer stays
    first_token, first_refresh = opened(app_settings, first)
    second_token, second_refresh = opened(app_settings, second)
    assert second_token != first_token and second_refresh != first_refresh
    assert second_refresh in slack_world.refresh_tokens
    assert expires_in(second) > 11 * 60 * 60  # Slack's 12 hours


async def test_uninstall_during_a_token_refresh_stays_uninstalled(
    app_settings: Settings, engine: AsyncEngine, slack_world: SlackWorld
) -> None:
    """Slack grants a refresh, the workspace uninstalls, and our purge runs before the save.

    The simulator holds the refresh for a moment (standing in for the network and a slow
    save); the `app_uninstalled` delivered meanwhile purges the tenant. When the refresh
    answer then arrives, it must not bring the installation back.
    """
    slack_world.token_rotation = True
    slack_world.token_lifetime_seconds = LIFETIME_SECONDS
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        sender = event_sender(slack_world, client)
        slack_world.faults.arm(
            FaultSpec(route="oauth.v2.access", kind="delay", delay=REFRESH_DELAY, times=1)
        )
        event = asyncio.create_task(sender.send(home_opened(slack_world)))
        for _ in range(int(REFRESH_DELAY * 100)):
            if slack_world.faults.hits.get("oauth.v2.access"):
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the event never asked Slack for a new token")
        # The uninstall reaches us while our refresh request is still out.
        uninstalled = bare_event(slack_world, ACME_TEAM_ID, {"type": "app_uninstalled"})
        assert statuses(await sender.send(uninstalled)) == [200]
        assert await settle() == 0  # the purge ran before the ack
        async with AsyncSession(engine) as session:
            purged = (await session.execute(select(Tenant))).scalar_one()
        assert purged.status == "uninstalled", "the purge did not finish inside the delay"
        await event
        await settle()
        refused = await client.get("/onboarding")
    async with AsyncSession(engine) as session:
        tenant = (await session.execute(select(Tenant))).scalar_one()
        installs = (await session.execute(select(SlackInstallation))).scalars().all()
    assert (tenant.status, len(installs)) == ("uninstalled", 0)
    assert refused.status_code == 404
