"""Rotate and Retire on the settings page over HTTP: CSRF, audit, and clear refusals."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.models import GenesysIntegration
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_NO_EDIT_CLIENT_ID,
    SANDBOX_NO_EDIT_CLIENT_SECRET,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from sandbox.slack_seed import ACME_TEAM_ID
from tests.harness import in_process, install

MENTIONS, DMS = SANDBOX_MENTIONS_INTEGRATION_ID, SANDBOX_DMS_INTEGRATION_ID


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, "the page carries a CSRF token"
    return match.group(1)


async def wired(
    client: httpx.AsyncClient,
    *,
    client_id: str = SANDBOX_ORG_CLIENT_ID,
    client_secret: str = SANDBOX_ORG_CLIENT_SECRET,
) -> str:
    callback = await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
    assert callback.status_code == 303
    csrf = csrf_of(await client.get("/onboarding"))
    saved = await client.post(
        "/onboarding/credentials",
        data={
            "csrf": csrf,
            "region": "us_east_1",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )
    assert saved.status_code == 303
    chosen = await client.post(
        "/onboarding/integrations",
        data={
            "csrf": csrf,
            "mentions_integration_id": MENTIONS,
            "dms_integration_id": DMS,
            "auto_wire": "on",
        },
    )
    assert chosen.status_code in (200, 303), chosen.text
    return csrf


async def secrets_of(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(GenesysIntegration.genesys_integration_id, GenesysIntegration.webhook_secret_enc)
        )
        return {str(row[0]): str(row[1]) for row in rows}


async def test_rotate_needs_the_csrf_token_then_rotates_and_audits(
    app_settings: Settings,
    genesys_transport: httpx.AsyncBaseTransport,
    genesys_world: GenesysWorld,
    engine: AsyncEngine,
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await wired(client)
        before = await secrets_of(engine)
        sim_before = genesys_world.integrations[MENTIONS].webhook_secret
        forged = await client.post(
            f"/onboarding/integrations/{MENTIONS}/rotate", data={"csrf": "forged"}
        )
        assert forged.status_code == 403
        assert await secrets_of(engine) == before

        rotated = await client.post(
            f"/onboarding/integrations/{MENTIONS}/rotate", data={"csrf": csrf}
        )
        assert rotated.status_code == 303
        page = await client.get(rotated.headers["location"])
    assert "Webhook secret rotated" in page.text
    assert "Rotated a webhook secret" in page.text
    assert "the previous secret is accepted until" in page.text
    after = await secrets_of(engine)
    assert after[MENTIONS] != before[MENTIONS] and after[DMS] == before[DMS]
    sim_after = genesys_world.integrations[MENTIONS].webhook_secret
    assert sim_after is not None and sim_after != sim_before
    assert sim_after not in page.text


@pytest.mark.parametrize("action", ["rotate", "retire"])
async def test_an_unknown_integration_is_a_clear_404(
    app_settings: Settings, genesys_transport: httpx.AsyncBaseTransport, action: str
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await wired(client)
        response = await client.post(
            f"/onboarding/integrations/{'x' * 300}/{action}", data={"csrf": csrf}
        )
    assert response.status_code == 404
    assert "No such integration" in response.text


async def test_previous_integrations_are_listed_and_retired_with_csrf(
    app_settings: Settings,
    genesys_transport: httpx.AsyncBaseTransport,
    engine: AsyncEngine,
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await wired(client)
        switched = await client.post(
            "/onboarding/integrations",
            data={
                "csrf": csrf,
                "mentions_integration_id": MENTIONS,
                "dms_integration_id": MENTIONS,
                "auto_wire": "on",
            },
        )
        assert switched.status_code == 303
        page = await client.get("/onboarding")
        assert 'id="previous"' in page.text
        assert f'action="/onboarding/integrations/{DMS}/retire"' in page.text
        in_use = await client.post(
            f"/onboarding/integrations/{MENTIONS}/retire", data={"csrf": csrf}
        )
        assert in_use.status_code == 404
        forged = await client.post(f"/onboarding/integrations/{DMS}/retire", data={})
        assert forged.status_code == 403
        assert set(await secrets_of(engine)) == {MENTIONS, DMS}

        retired = await client.post(f"/onboarding/integrations/{DMS}/retire", data={"csrf": csrf})
        assert retired.status_code == 303
        page = await client.get(retired.headers["location"])
    assert "Previous integration retired" in page.text
    assert 'id="previous"' not in page.text
    assert "Retired a previous integration" in page.text
    assert set(await secrets_of(engine)) == {MENTIONS}


async def test_manual_rotation_shows_the_new_secret_once_then_refuses_a_second(
    app_settings: Settings, genesys_transport: httpx.AsyncBaseTransport
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        csrf = await wired(
            client, client_id=SANDBOX_NO_EDIT_CLIENT_ID, client_secret=SANDBOX_NO_EDIT_CLIENT_SECRET
        )
        rotated = await client.post(
            f"/onboarding/integrations/{MENTIONS}/rotate", data={"csrf": csrf}
        )
        assert rotated.status_code == 200
        shown = re.findall(r'<code class="secret">([^<]+)</code>', rotated.text)
        assert len(shown) == 1 and len(shown[0]) > 15
        assert "the old secret keeps working, for 24 hours at most" in rotated.text
        later = await client.get("/onboarding")
        assert shown[0] not in later.text
        again = await client.post(
            f"/onboarding/integrations/{MENTIONS}/rotate", data={"csrf": csrf}
        )
    assert again.status_code == 409
    assert "The last rotation is not finished" in again.text
