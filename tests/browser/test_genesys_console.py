"""The Genesys agent console on a phone-sized screen (390 px): nothing overflows sideways, the
credentials can be copied, and the agent can answer and end a conversation by hand."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from sandbox.runner import ServerThread
from tests.sandbox.simulators import login
from tests.sandbox.test_genesys_console import customer_says


async def test_the_console_fits_390_px_copies_credentials_and_ends_a_conversation(
    browser: Browser,
) -> None:
    world = GenesysWorld.seeded()
    with ServerThread(create_genesys_sandbox(world)) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            conversation_id = await customer_says(http, await login(http), "hello from a phone")
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        try:
            page = await context.new_page()
            await page.goto(server.url)
            widths = await page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1] == 390, widths

            copy = page.get_by_role(
                "button", name="Copy client secret of Switchboard (all permissions)"
            )
            await copy.first.click()
            await expect(copy.first).to_have_text("Copied")
            assert (
                await page.evaluate("navigator.clipboard.readText()") == SANDBOX_ORG_CLIENT_SECRET
            )

            await page.fill(f"#agent-{conversation_id}", "Ada Agent")
            await page.fill(f"#text-{conversation_id}", "How can I help?")
            await page.get_by_role("button", name="Send to T1:U1").click()
            await expect(page.locator(f"#state-{conversation_id}")).to_contain_text("Ada Agent")
            await page.click(f"#end-{conversation_id}")
            await expect(page.locator(f"#state-{conversation_id}")).to_contain_text("Ended")
            widths = await page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1], widths
        finally:
            await context.close()
    conversation = world.conversations[conversation_id]
    assert conversation.ended_at is not None
    assert [p.name for p in conversation.agents()] == ["Ada Agent"]
    assert conversation.integration_id == SANDBOX_DMS_INTEGRATION_ID
