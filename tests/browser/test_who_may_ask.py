"""Who may open requests, in Chromium: an admin chooses "members only" on the new settings
page; a guest's mention on the simulated Slack page gets the ephemeral answer, shown to the
guest only, and nothing reaches the simulated Genesys; a member's mention gets through.

Real web and worker processes, both simulators, Acme and Globex onboarded.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Frame, Page, expect
from sqlalchemy import select

from app.bridge.access import REFUSED_TEXT
from app.db.models import AuditEvent, Tenant
from sandbox.slack_seed import ACME_GUEST_USER_ID, ACME_TEAM_ID
from tests.browser.live import OpenPage, Screenshot, sign_in
from tests.e2e.ledger import accepted
from tests.e2e.stack import System

pytestmark = pytest.mark.browser

ALAN = "U0ACME0003"
SUPPORT = "C0ACMESUPP"


async def mention_as(page: Page, user: str, text: str) -> None:
    await page.select_option("#pick-user", user)
    await page.fill("#text", text)
    async with page.expect_navigation():
        await page.click("#send")
    await expect(page.locator("#delivery")).to_contain_text("Delivered")


async def conversation(page: Page) -> Frame:
    frames = [f for f in page.frames if "/conversation" in f.url]
    assert frames, "the conversation frame is missing"
    return frames[0]


def genesys_saw(system: System, text: str) -> bool:
    return any(text in str(r.body.get("text")) for r in accepted(system.genesys))


async def test_members_only_answers_a_guest_privately_and_forwards_nothing(
    system: System, open_page: OpenPage, screenshot: Screenshot
) -> None:
    admin = await open_page()
    await sign_in(admin, system, user=system.acme.spec.installer)
    await admin.click("#access-link")
    await expect(admin).to_have_url(f"{system.app_url}/settings/access")
    # Pickers name channels and user groups as Slack does.
    await expect(admin.locator("#channel-picker")).to_contain_text("support")
    await expect(admin.locator("#usergroup-picker")).to_contain_text("Helpdesk (@helpdesk)")
    await admin.check("#policy-members")
    await admin.click("#save-access")
    await expect(admin.locator("#saved")).to_contain_text("who may open requests")
    await expect(admin.locator("#policy-members")).to_be_checked()
    await screenshot(admin, "access-members-only")
    await admin.set_viewport_size({"width": 390, "height": 844})
    overflow = await admin.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than a 390px screen"

    slack = await open_page()
    await slack.goto(f"{system.sims.slack_url}/?team={ACME_TEAM_ID}&channel={SUPPORT}")
    await mention_as(slack, ACME_GUEST_USER_ID, "Browser guest: can I get help?")
    await system.drain()
    await slack.goto(
        f"{system.sims.slack_url}/?team={ACME_TEAM_ID}&channel={SUPPORT}&user={ACME_GUEST_USER_ID}"
    )
    frame = await conversation(slack)
    await expect(frame.get_by_text(REFUSED_TEXT)).to_be_visible()
    await expect(frame.locator(".eph")).to_contain_text("Only visible to you")
    await screenshot(slack, "access-guest-refused")

    await mention_as(slack, ALAN, "Browser member: can I get help?")
    await system.drain()
    frame = await conversation(slack)
    await expect(frame.get_by_text("Browser member: can I get help?")).to_be_visible()
    await expect(frame.get_by_text(REFUSED_TEXT)).to_have_count(0)

    # Checked at Genesys: the member's message arrived, the guest's never did.
    assert genesys_saw(system, "Browser member: can I get help?")
    assert not genesys_saw(system, "Browser guest: can I get help?")
    async with system.engine.connect() as connection:
        policy = await connection.scalar(
            select(Tenant.request_policy).where(Tenant.id == system.acme.tenant_id)
        )
        audited = await connection.scalar(
            select(AuditEvent.fields).where(AuditEvent.action == "tenant.access_changed")
        )
    assert policy == "members"
    assert audited == ["request_policy", "policy:members"]
