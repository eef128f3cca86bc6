"""The DM alert when messages start failing, end to end: an admin turns it on on
`/settings/access`; two dead letters within the hour send the chosen admin (here: nobody
chosen, so the installer) exactly one DM from the app, with a link to the failures section.
The hourly limit is a timestamp in the database, so it holds across worker processes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from app.db.models import Tenant
from sandbox.faults import FaultSpec
from tests.e2e.admin import Admin
from tests.e2e.stack import System
from tests.e2e.traffic import SlackPeople

ALERT = "are failing to reach Slack or Genesys Cloud"


@pytest.fixture
async def acme_admin(bridge: System) -> AsyncIterator[Admin]:
    admin = await Admin(bridge, bridge.acme.spec).sign_in()
    try:
        yield admin
    finally:
        async with bridge.engine.begin() as connection:
            await connection.execute(
                update(Tenant)
                .where(Tenant.id == bridge.acme.tenant_id)
                .values(failure_alert=False, failure_alert_user_ids=[], failure_alert_at=None)
            )


def alerts_to(system: System, slack_user_id: str) -> list[str]:
    return [
        m.text
        for channel in system.slack.channels.values()
        if channel.is_im and channel.im_user == slack_user_id
        for m in system.slack.bot_messages(channel.slack_channel_id)
        if ALERT in m.text
    ]


async def test_two_failures_within_the_hour_send_one_dm(bridge: System, acme_admin: Admin) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    system = acme_admin.system
    shown = await system.http.get(f"{system.app_url}/settings/access", headers=acme_admin._headers)
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    assert csrf
    saved = await system.http.post(
        f"{system.app_url}/settings/access/alert",
        data={"csrf": csrf.group(1), "failure_alert": "on"},
        headers=acme_admin._headers,
    )
    assert saved.status_code == 303, saved.text
    assert alerts_to(bridge, acme.installer) == []

    bridge.genesys.faults.arm(
        FaultSpec(route="inbound.message", kind="status", status=400, times=2)
    )
    await slack.mention(acme, "Alert: the first failure")
    await bridge.drain()
    await slack.mention(acme, "Alert: the second failure")
    await bridge.drain()

    [alert] = alerts_to(bridge, acme.installer)
    assert f"{system.app_url}/onboarding#failures" in alert
    async with bridge.engine.connect() as connection:
        stamped = await connection.scalar(
            select(Tenant.failure_alert_at).where(Tenant.id == bridge.acme.tenant_id)
        )
    assert stamped is not None


async def test_with_the_alert_off_failures_send_no_dm(bridge: System, acme_admin: Admin) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    before = len(alerts_to(bridge, acme.installer))
    bridge.genesys.faults.arm(
        FaultSpec(route="inbound.message", kind="status", status=400, times=1)
    )
    await slack.mention(acme, "Alert off: a failure")
    await bridge.drain()
    assert len(alerts_to(bridge, acme.installer)) == before
