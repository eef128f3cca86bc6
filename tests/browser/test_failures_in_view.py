"""Failures in view: the settings page shows the bridge's health for the workspace and its
dead letters, and Replay / Discard there do what `python -m app deadletters replay|purge` does.

Real web and worker processes, both simulators, Acme and Globex onboarded; the admin signs in
with Slack in Chromium.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import select

from app.db.models import AuditEvent, BridgeMessage
from app.signing import genesys_signature
from sandbox.faults import FaultSpec
from tests.browser.live import OpenPage, Screenshot, sign_in
from tests.e2e.admin import Admin
from tests.e2e.ledger import assert_bridged
from tests.e2e.stack import System
from tests.e2e.traffic import SlackPeople, thread_id

pytestmark = pytest.mark.browser

LONG_TAIL = " and then some words that must not all reach the settings page" * 4


async def dead_ids(system: System, *, tenant_dedupe_keys: list[str]) -> dict[str, int]:
    async with system.engine.connect() as connection:
        rows = await connection.execute(
            select(BridgeMessage.dedupe_key, BridgeMessage.id).where(
                BridgeMessage.status == "dead",
                BridgeMessage.dedupe_key.in_(tenant_dedupe_keys),
            )
        )
        return {str(key): int(message_id) for key, message_id in rows}


async def status_of(system: System, message_id: int) -> str | None:
    async with system.engine.connect() as connection:
        return (
            await connection.execute(
                select(BridgeMessage.status).where(BridgeMessage.id == message_id)
            )
        ).scalar_one_or_none()


async def audit_actions(system: System) -> list[tuple[str, str | None, list[str]]]:
    async with system.engine.connect() as connection:
        rows = await connection.execute(
            select(AuditEvent.action, AuditEvent.actor_slack_user_id, AuditEvent.fields).where(
                AuditEvent.tenant_id == system.acme.tenant_id,
                AuditEvent.action.like("deadletter.%"),
            )
        )
        return [(action, actor, list(fields)) for action, actor, fields in rows]


async def test_dead_letters_are_shown_replayed_and_discarded_from_the_page(
    system: System, open_page: OpenPage, screenshot: Screenshot
) -> None:
    slack = SlackPeople(system)
    acme = system.acme.spec
    system.genesys.faults.arm(
        FaultSpec(route="inbound.message", kind="status", status=400, times=2)
    )
    lost = await slack.mention(acme, "Failures: replay me" + LONG_TAIL)
    await system.drain()
    dropped = await slack.mention(acme, "Failures: discard me")
    await system.drain()
    replay_key = thread_id(acme, acme.support_channel, lost.ts)
    discard_key = thread_id(acme, acme.support_channel, dropped.ts)
    ids = await dead_ids(system, tenant_dedupe_keys=[replay_key, discard_key])
    assert set(ids) == {replay_key, discard_key}
    # A forged webhook for Acme's integration: refused, and the page says when.
    body = b'{"channel":{"id":"' + acme.mentions_integration_id.encode() + b'"}}'
    async with httpx.AsyncClient() as http:
        forged = await http.post(
            f"{system.app_url}/genesys/webhook",
            content=body,
            headers={"X-Hub-Signature-256": genesys_signature("not-the-secret-000000", body)},
        )
    assert forged.status_code == 401

    page = await open_page()
    await sign_in(page, system, user=acme.installer)
    failures = page.locator("#failures")
    await expect(failures.locator("#health-to-genesys")).to_have_text("never")
    # The "not delivered" notices went to Slack.
    await expect(failures.locator("#health-to-slack")).to_contain_text(" UTC")
    await expect(failures.locator("#health-refused")).to_contain_text(" UTC")
    await expect(failures.locator("#health-refused")).to_contain_text("Slack mentions")
    await expect(failures.locator("#health-waiting")).to_have_text("none")

    replay_row = page.locator(f"#dead-{ids[replay_key]}")
    discard_row = page.locator(f"#dead-{ids[discard_key]}")
    await expect(replay_row.locator(".direction")).to_have_text("Slack → Genesys")
    await expect(replay_row.locator(".conversation")).to_contain_text(acme.support_channel)
    await expect(replay_row.locator(".reason")).to_contain_text("GenesysRejected:400")
    await expect(replay_row.locator(".preview")).to_contain_text("Failures: replay me")
    await expect(discard_row.locator(".preview")).to_have_text("Failures: discard me")
    assert LONG_TAIL.strip() not in await page.content(), "only a short preview is shown"
    await screenshot(page, "failures-01-dead-letters")

    await page.click(f"#replay-{ids[replay_key]}")
    await expect(page.locator("#saved")).to_contain_text("queued again")
    await expect(replay_row).to_have_count(0)
    await system.drain()
    assert_bridged(
        system.slack,
        system.genesys,
        to_genesys={replay_key: ["Failures: replay me" + LONG_TAIL]},
    )
    assert await status_of(system, ids[replay_key]) == "delivered"

    await page.click(f"#discard-{ids[discard_key]}")
    await expect(page.locator("#saved")).to_contain_text("discarded")
    await expect(discard_row).to_have_count(0)
    assert await status_of(system, ids[discard_key]) is None
    await expect(page.locator("#failures #no-dead-letters")).to_be_visible()
    await expect(failures.locator("#health-to-genesys")).to_contain_text(" UTC")
    await expect(page.locator("#audit")).to_contain_text("Replayed a failed message")
    await expect(page.locator("#audit")).to_contain_text("Discarded a failed message")
    await screenshot(page, "failures-02-replayed-and-discarded")

    assert sorted(await audit_actions(system)) == [
        ("deadletter.discarded", acme.installer, [f"message:{ids[discard_key]}"]),
        ("deadletter.replayed", acme.installer, [f"message:{ids[replay_key]}"]),
    ]


async def test_another_workspace_cannot_touch_a_dead_letter_and_a_form_needs_its_token(
    system: System,
) -> None:
    slack = SlackPeople(system)
    acme = system.acme.spec
    system.genesys.faults.arm(
        FaultSpec(route="inbound.message", kind="status", status=400, times=1)
    )
    lost = await slack.mention(acme, "Failures: only Acme may touch this")
    await system.drain()
    key = thread_id(acme, acme.support_channel, lost.ts)
    [dead_id] = (await dead_ids(system, tenant_dedupe_keys=[key])).values()

    globex = await Admin(system, system.globex.spec).sign_in()
    for action in ("replay", "discard"):
        refused = await globex.post(f"/onboarding/dead-letters/{dead_id}/{action}", {})
        assert refused.status_code == 404, refused.text
        assert "No such dead letter" in refused.text
    acme_admin = await Admin(system, acme).sign_in()
    unsigned = await system.http.post(
        f"{system.app_url}/onboarding/dead-letters/{dead_id}/replay",
        data={"csrf": "forged"},
        headers=acme_admin._headers,
    )
    assert unsigned.status_code == 403, unsigned.text
    not_a_number = await acme_admin.post("/onboarding/dead-letters/abc/replay", {})
    assert not_a_number.status_code == 404, not_a_number.text
    assert await status_of(system, dead_id) == "dead"
    assert all(f"message:{dead_id}" not in fields for _, _, fields in await audit_actions(system))
