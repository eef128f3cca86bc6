"""The integrations table in a real browser: when each integration last had a webhook verified
or refused, Rotate secret, and retiring an integration the admin switched away from."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from app.signing import genesys_signature
from sandbox.genesys_agent import Agent, AgentReply
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_SECRET,
)
from sandbox.slack_seed import ACME_TEAM_ID
from tests.browser.live import OpenPage, Screenshot, Stack
from tests.browser.test_onboarding import enter_credentials, install

pytestmark = pytest.mark.browser

MENTIONS, DMS = SANDBOX_MENTIONS_INTEGRATION_ID, SANDBOX_DMS_INTEGRATION_ID


async def test_last_webhooks_rotate_and_retire(
    stack: Stack, open_page: OpenPage, screenshot: Screenshot
) -> None:
    page = await open_page()
    await install(page, stack)
    await enter_credentials(page, secret=SANDBOX_ORG_CLIENT_SECRET)
    await page.select_option("#mentions_integration_id", label="Slack mentions (Completed)")
    await page.select_option("#dms_integration_id", label="Slack DMs (Completed)")
    await page.click("#save-integrations")
    await expect(page.locator("#saved")).to_contain_text("Integrations saved")
    mentions_row = page.locator(f"#integration-{MENTIONS}")
    await expect(mentions_row.locator(".last-verified")).to_have_text("never")
    await expect(mentions_row.locator(".last-refused")).to_have_text("never")

    # Genesys pushes a typing event, signed with the secret we PATCHed; then a forgery.
    [report] = await Agent(stack.genesys_world).reply(
        AgentReply(integration_id=MENTIONS, to_id=f"{ACME_TEAM_ID}:U0ACME0003", kind="typing"),
        base_url=stack.genesys_url,
    )
    assert report.outcome == "delivered", report.attempts
    body = b'{"channel":{"id":"' + MENTIONS.encode() + b'"}}'
    async with httpx.AsyncClient() as http:
        forged = await http.post(
            f"{stack.app_url}/genesys/webhook",
            content=body,
            headers={"X-Hub-Signature-256": genesys_signature("not-the-secret-000000", body)},
        )
    assert forged.status_code == 401
    await page.goto(f"{stack.app_url}/onboarding#integrations")
    await expect(mentions_row.locator(".last-verified")).to_contain_text(" UTC")
    await expect(mentions_row.locator(".last-refused")).to_contain_text(" UTC")
    dms_row = page.locator(f"#integration-{DMS}")
    await expect(dms_row.locator(".last-verified")).to_have_text("never")
    await screenshot(page, "11-last-webhooks")

    before = stack.genesys_world.integrations[MENTIONS].webhook_secret
    await page.click(f"#rotate-{MENTIONS}")
    await expect(page.locator("#saved")).to_contain_text("Webhook secret rotated")
    await expect(mentions_row).to_contain_text("the previous secret is accepted until")
    await expect(page.locator("#audit")).to_contain_text("Rotated a webhook secret")
    after = stack.genesys_world.integrations[MENTIONS].webhook_secret
    assert after is not None and after != before
    assert after not in await page.content()
    await screenshot(page, "12-rotated")

    # DMs move to the mentions integration: the DMs one becomes a previous integration.
    await page.select_option("#dms_integration_id", label="Slack mentions (Completed)")
    await page.click("#save-integrations")
    await expect(page.locator("#saved")).to_contain_text("Integrations saved")
    previous = page.locator(f"#previous-{DMS}")
    await expect(previous).to_contain_text("Slack DMs")
    await expect(page.locator(f"#integration-{DMS}")).to_have_count(0)
    await screenshot(page, "13-previous-integration")
    await page.click(f"#retire-{DMS}")
    await expect(page.locator("#saved")).to_contain_text("Previous integration retired")
    await expect(page.locator("#previous")).to_have_count(0)
    await expect(page.locator("#audit")).to_contain_text("Retired a previous integration")
    await screenshot(page, "14-retired")
