"""The settings page as a returning admin reads it: step states, the live summary, names
instead of IDs, a paged changes table, and disconnecting Genesys."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.models import (
    AuditEvent,
    GenesysConnection,
    GenesysIntegration,
    SlackInstallation,
    Tenant,
)
from sandbox.faults import FaultSpec
from sandbox.genesys_world import SANDBOX_DMS_INTEGRATION_ID, SANDBOX_MENTIONS_INTEGRATION_ID
from sandbox.slack_world import SlackWorld
from tests.harness import in_process
from tests.web.test_onboarding_pages import installed, save_credentials


def state_of(page: httpx.Response, anchor: str) -> str:
    match = re.search(rf'class="step-state ([a-z-]+)" id="state-{anchor}"', page.text)
    assert match, f"step {anchor} shows a state"
    return match.group(1)


async def go_live(client: httpx.AsyncClient, csrf: str) -> httpx.Response:
    assert (await save_credentials(client, csrf)).status_code == 303
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
    return await client.get("/onboarding")


async def test_steps_move_from_not_started_to_live(
    app_settings: Settings, genesys_transport: httpx.AsyncBaseTransport
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await installed(client)
        fresh = await client.get("/onboarding")
        assert [state_of(fresh, a) for a in ("genesys", "integrations", "test")] == [
            "not-started"
        ] * 3
        assert 'id="live"' not in fresh.text and 'id="progress"' in fresh.text
        # People are shown by name, not by Slack ID.
        assert re.search(r'id="signed-in-as">Ada Lovelace<', fresh.text)
        assert (await save_credentials(client, csrf)).status_code == 303
        connected = await client.get("/onboarding")
        assert state_of(connected, "genesys") == "done"
        # Saving credentials checks the token grant only: the test still waits.
        assert state_of(connected, "test") == "not-started"
        live = await go_live(client, csrf)
    assert [state_of(live, a) for a in ("genesys", "integrations", "test")] == ["done"] * 3
    assert "Switchboard is live" in live.text
    assert "/invite @Switchboard" in live.text
    assert "Saved Genesys Cloud credentials" in live.text
    changes = live.text[live.text.index('id="changes"') :]
    assert "Ada Lovelace" in changes and "U0ACME0001" not in changes


async def test_a_rotated_secret_asks_for_the_test_again(
    app_settings: Settings, genesys_transport: httpx.AsyncBaseTransport
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await installed(client)
        assert "Switchboard is live" in (await go_live(client, csrf)).text
        rotated = await client.post(
            f"/onboarding/integrations/{SANDBOX_MENTIONS_INTEGRATION_ID}/rotate",
            data={"csrf": csrf},
        )
        assert rotated.status_code == 303
        after = await client.get("/onboarding")
        assert state_of(after, "test") == "not-started"
        assert "Switchboard is live" not in after.text
        retested = await client.post("/onboarding/test", data={"csrf": csrf})
        assert retested.status_code == 200
        assert "Switchboard is live" in (await client.get("/onboarding")).text


def rows(page: httpx.Response) -> int:
    return page.text[page.text.index('id="audit"') :].count("<tr><td>")


async def test_changes_are_paged_newest_first(app_settings: Settings, engine: AsyncEngine) -> None:
    async with in_process(app_settings) as client:
        await installed(client)
        async with engine.begin() as connection:
            tenant_id = (await connection.execute(select(Tenant.id))).scalar_one()
            soon = datetime.now(UTC) + timedelta(minutes=1)
            await connection.execute(
                insert(AuditEvent),
                [
                    {
                        "id": uuid.uuid4(),
                        "tenant_id": tenant_id,
                        "action": "tenant.behaviour_changed",
                        "actor_slack_user_id": "U0ACME0001",
                        "fields": [f"field_{n:02d}"],
                        "created_at": soon + timedelta(seconds=n),
                    }
                    for n in range(1, 25)
                ],
            )
        first = await client.get("/onboarding")
        second = await client.get("/onboarding?changes=2")
        beyond = await client.get("/onboarding?changes=9")
        bad = await client.get("/onboarding?changes=abc")
        zero = await client.get("/onboarding?changes=0")
    assert rows(first) == 20 and 'id="changes-older"' in first.text
    assert "field 24" in first.text and "field 05" in first.text and "field 04" not in first.text
    # 24 inserted + the install itself: five more on page two, and no older page.
    assert rows(second) == 5 and 'id="changes-newer"' in second.text
    assert "field 01" in second.text and 'id="changes-older"' not in second.text
    assert "No older changes" in beyond.text
    assert bad.status_code == 400 and zero.status_code == 400


async def test_disconnect_needs_confirmation_and_forgets_the_org(
    app_settings: Settings, genesys_transport: httpx.AsyncBaseTransport, engine: AsyncEngine
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await installed(client)
        await go_live(client, csrf)
        forged = await client.post("/onboarding/disconnect", data={"confirm": "disconnect"})
        unconfirmed = await client.post("/onboarding/disconnect", data={"csrf": csrf})
        async with engine.connect() as connection:
            kept = (
                await connection.execute(select(func.count()).select_from(GenesysIntegration))
            ).scalar()
        done = await client.post(
            "/onboarding/disconnect", data={"csrf": csrf, "confirm": "disconnect"}
        )
        assert done.status_code == 303
        after = await client.get(done.headers["location"])
    assert forged.status_code == 403 and unconfirmed.status_code == 400
    assert kept == 2
    assert "Genesys Cloud disconnected" in after.text
    assert state_of(after, "genesys") == "not-started"
    assert "Disconnected Genesys Cloud" in after.text
    async with engine.connect() as connection:
        assert (await connection.execute(select(GenesysConnection))).first() is None
        assert (await connection.execute(select(GenesysIntegration))).first() is None
        fields = (
            await connection.execute(
                select(AuditEvent.fields).where(AuditEvent.action == "genesys.disconnected")
            )
        ).scalar_one()
    assert fields == ["integrations", "credentials"]


async def test_remove_the_app_uninstalls_in_slack_and_purges_here(
    app_settings: Settings, engine: AsyncEngine, slack_world: SlackWorld
) -> None:
    async with in_process(app_settings) as client:
        csrf = await installed(client)
        unconfirmed = await client.post("/onboarding/remove", data={"csrf": csrf})
        slack_world.faults.arm(FaultSpec(route="apps.uninstall", kind="status", times=1))
        slack_down = await client.post(
            "/onboarding/remove", data={"csrf": csrf, "confirm": "remove"}
        )
        async with engine.connect() as connection:
            still = (await connection.execute(select(Tenant.status))).scalar_one()
        removed = await client.post("/onboarding/remove", data={"csrf": csrf, "confirm": "remove"})
        after = await client.get("/onboarding")
    assert unconfirmed.status_code == 400
    assert slack_down.status_code == 502 and "not removed" in slack_down.text
    assert still == "active"
    assert removed.status_code == 200 and "Switchboard was removed" in removed.text
    assert 'sb_session=""' in removed.headers["set-cookie"]
    uninstalls = [c for c in slack_world.calls if c.method == "apps.uninstall"]
    assert [c.ok for c in uninstalls] == [False, True]
    # Slack revoked the install's tokens; the app's own next call would be refused.
    bot_tokens = [t for t in slack_world.tokens.values() if t.kind == "bot"]
    assert bot_tokens and all(t.revoked or t.uninstalled for t in bot_tokens)
    assert after.status_code == 401  # the session went with the install
    async with engine.connect() as connection:
        status = (await connection.execute(select(Tenant.status))).scalar_one()
        installations = (await connection.execute(select(SlackInstallation))).all()
        actions = (await connection.execute(select(AuditEvent.action))).scalars().all()
    assert status == "uninstalled" and installations == []
    assert "slack.removed_by_admin" in actions and "tenant.purged.removed" in actions
