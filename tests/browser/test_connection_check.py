"""Test connection in a real browser, against an org changed behind Switchboard's back through
the Genesys simulator's control API: a row says Pass only for what it actually checked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from sandbox.genesys_world import (
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_NO_EDIT_CLIENT_ID,
    SANDBOX_NO_EDIT_CLIENT_SECRET,
    SANDBOX_NO_RECEIVE_CLIENT_ID,
    SANDBOX_NO_RECEIVE_CLIENT_SECRET,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
)
from tests.browser.live import OpenPage, Screenshot, Stack
from tests.browser.test_onboarding import install

pytestmark = pytest.mark.browser

PASS, FAIL, WARNING = "✓ Pass", "✗ Fail", "! Warning"


async def genesys_admin(stack: Stack, path: str, body: dict[str, Any]) -> None:
    """An org admin's change in Genesys, or a switch of the simulator, over its control API."""
    async with httpx.AsyncClient(base_url=stack.genesys_url) as http:
        response = await http.patch(path, json=body)
    assert response.status_code == 200, response.text


async def connected(
    page: Page, stack: Stack, *, client_id: str, client_secret: str, auto_wire: bool = True
) -> None:
    """Installed, connected with this OAuth client, and both integrations chosen."""
    await install(page, stack)
    await page.select_option("#region", "us_east_1")
    await page.fill("#client_id", client_id)
    await page.fill("#client_secret", client_secret)
    await page.click("#save-credentials")
    await expect(page.locator("#saved")).to_contain_text("verified and saved")
    await page.select_option("#mentions_integration_id", label="Slack mentions (Completed)")
    await page.select_option("#dms_integration_id", label="Slack DMs (Completed)")
    if not auto_wire:
        await page.uncheck("input[name=auto_wire]")
    await page.click("#save-integrations")
    await expect(page.locator("#chosen")).to_contain_text("Slack mentions")


async def run_connection_test(page: Page) -> dict[str, tuple[str, str]]:
    """Click Test connection; each row's step name -> (result, details with its fix)."""
    await page.click("#test-connection")
    rows = page.locator("#checks tr:has(td)")
    await expect(rows.first).to_be_visible()
    found: dict[str, tuple[str, str]] = {}
    for row in await rows.all():
        step, result, details = await row.locator("td").all_inner_texts()
        found[step] = (result, details)
    return found


@pytest.mark.parametrize("subjects_me", [True, False], ids=["subjects-me", "probe"])
async def test_a_client_without_the_send_permission_fails_the_permissions_row(
    stack: Stack, open_page: OpenPage, screenshot: Screenshot, subjects_me: bool
) -> None:
    await genesys_admin(
        stack, "/_sandbox/config", {"subjects_me_answers_client_credentials": subjects_me}
    )
    page = await open_page()
    await connected(
        page,
        stack,
        client_id=SANDBOX_NO_RECEIVE_CLIENT_ID,
        client_secret=SANDBOX_NO_RECEIVE_CLIENT_SECRET,
    )
    rows = await run_connection_test(page)
    await screenshot(page, f"11-no-send-permission-{'subjects' if subjects_me else 'probe'}")
    result, details = rows["Permissions"]
    assert result == FAIL, rows
    assert "conversation:message:receive" in details
    assert "Fix:" in details
    assert not any(name == "Test message" for name in rows)  # nothing was sent to find out


async def test_when_neither_way_can_tell_the_permissions_row_is_a_warning_not_a_pass(
    stack: Stack, open_page: OpenPage
) -> None:
    """Genesys refusing subjects/me and judging the body before the permission: the probe's
    400 proves nothing, so the row must not claim the permission is there."""
    await genesys_admin(
        stack,
        "/_sandbox/config",
        {
            "subjects_me_answers_client_credentials": False,
            "inbound_body_checked_before_permission": True,
        },
    )
    page = await open_page()
    await connected(
        page,
        stack,
        client_id=SANDBOX_NO_RECEIVE_CLIENT_ID,
        client_secret=SANDBOX_NO_RECEIVE_CLIENT_SECRET,
    )
    rows = await run_connection_test(page)
    result, details = rows["Permissions"]
    assert result == WARNING, rows
    assert "conversation:message:receive" in details
    assert "test message" in details


async def test_an_integration_with_no_message_flow_fails(
    stack: Stack, open_page: OpenPage, screenshot: Screenshot
) -> None:
    page = await open_page()
    await connected(
        page, stack, client_id=SANDBOX_ORG_CLIENT_ID, client_secret=SANDBOX_ORG_CLIENT_SECRET
    )
    await genesys_admin(
        stack, f"/_sandbox/integrations/{SANDBOX_MENTIONS_INTEGRATION_ID}", {"flow": None}
    )
    rows = await run_connection_test(page)
    await screenshot(page, "12-no-flow")
    result, details = rows["Message flow of Slack mentions"]
    assert result == FAIL, rows
    assert "Message Routing" in details
    assert rows["Message flow of Slack DMs"][0] == PASS


async def test_a_webhook_url_pointing_elsewhere_fails(stack: Stack, open_page: OpenPage) -> None:
    page = await open_page()
    await connected(
        page, stack, client_id=SANDBOX_ORG_CLIENT_ID, client_secret=SANDBOX_ORG_CLIENT_SECRET
    )
    await genesys_admin(
        stack,
        f"/_sandbox/integrations/{SANDBOX_MENTIONS_INTEGRATION_ID}",
        {"webhook_url": "https://elsewhere.example/hook"},
    )
    rows = await run_connection_test(page)
    result, details = rows["Webhook of Slack mentions"]
    assert result == FAIL, rows
    assert f"{stack.app_url}/genesys/webhook" in details
    assert rows["Webhook of Slack DMs"][0] == PASS


async def test_a_secret_that_genesys_shows_and_that_differs_fails(
    stack: Stack, open_page: OpenPage, screenshot: Screenshot
) -> None:
    await genesys_admin(stack, "/_sandbox/config", {"return_secret_on_get": True})
    page = await open_page()
    await connected(
        page, stack, client_id=SANDBOX_ORG_CLIENT_ID, client_secret=SANDBOX_ORG_CLIENT_SECRET
    )
    await genesys_admin(
        stack,
        f"/_sandbox/integrations/{SANDBOX_MENTIONS_INTEGRATION_ID}",
        {"webhook_secret": "someone-else-typed-this-one"},
    )
    rows = await run_connection_test(page)
    await screenshot(page, "13-secret-mismatch")
    result, details = rows["Webhook secret of Slack mentions"]
    assert result == FAIL, rows
    assert "Fix:" in details
    assert "someone-else-typed-this-one" not in await page.content()
    assert rows["Webhook secret of Slack DMs"][0] == PASS


async def test_manual_wiring_warns_that_the_secret_cannot_be_checked(
    stack: Stack, open_page: OpenPage, screenshot: Screenshot
) -> None:
    page = await open_page()
    await connected(
        page,
        stack,
        client_id=SANDBOX_NO_EDIT_CLIENT_ID,
        client_secret=SANDBOX_NO_EDIT_CLIENT_SECRET,
    )
    await expect(page.locator("#manual-wiring")).to_be_visible()
    for name in ("Slack mentions", "Slack DMs"):  # the admin pasted the URL, not the secret
        integration = next(i for i in stack.genesys_world.integrations.values() if i.name == name)
        await genesys_admin(
            stack,
            f"/_sandbox/integrations/{integration.id}",
            {"webhook_url": f"{stack.app_url}/genesys/webhook"},
        )
    rows = await run_connection_test(page)
    await screenshot(page, "14-manual-wiring")
    result, details = rows["Webhook secret of Slack mentions"]
    assert result == WARNING, rows
    assert "cannot be checked" in details
    assert "replies" in details
    assert PASS not in {rows[name][0] for name in rows if name.startswith("Webhook secret")}
