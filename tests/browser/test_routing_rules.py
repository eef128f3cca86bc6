"""Routing rules, from the admin's page to the simulated Genesys: a rule sends #billing to
another Open Messaging integration with routing hints as custom attributes, and a rule with
business hours that exclude now answers with the tenant's away message once per closed
period while still forwarding every message, marked as after hours.

Real web and worker processes, both simulators, Acme and Globex onboarded; the admin signs in
with Slack in Chromium.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from app.db.models import AuditEvent
from sandbox.genesys_records import InboundRecord
from sandbox.genesys_world import SANDBOX_DMS_INTEGRATION_ID, SANDBOX_MENTIONS_INTEGRATION_ID
from tests.browser.live import OpenPage, Screenshot, sign_in
from tests.e2e.ledger import accepted, slack_texts
from tests.e2e.stack import System
from tests.e2e.traffic import SlackPeople, thread_id

pytestmark = pytest.mark.browser

BILLING = "C0ACMEBILL"
AWAY = "We are closed right now. Your message reached our team; an agent answers when we open."


def records_of(system: System, from_id: str) -> list[InboundRecord]:
    return [r for r in accepted(system.genesys) if r.body["channel"]["from"]["id"] == from_id]


def attributes(record: InboundRecord) -> dict[str, str]:
    found: dict[str, str] = record.body["channel"]["metadata"]["customAttributes"]
    return found


async def audit_actions(system: System) -> list[str]:
    async with system.engine.connect() as connection:
        rows = await connection.execute(
            select(AuditEvent.action).where(
                AuditEvent.tenant_id == system.acme.tenant_id,
                AuditEvent.action.like("routing.%"),
            )
        )
        return [action for (action,) in rows]


async def test_a_rule_sends_billing_to_another_integration_with_its_hints(
    system: System, open_page: OpenPage, screenshot: Screenshot
) -> None:
    slack = SlackPeople(system)
    acme = system.acme.spec
    page = await open_page()
    await sign_in(page, system, user=acme.installer)
    await page.click("#routing-link")
    await expect(page).to_have_url(f"{system.app_url}/settings/routing")
    # Channels are picked by name, from Slack's channel list.
    await page.select_option("#match", label="#billing")
    await page.select_option("#integration", label="Slack DMs")
    await page.fill("#queue", "Billing")
    await page.fill("#language", "en-US")
    await page.fill("#skills", "invoices, refunds")
    await page.fill("#priority", "5")
    await page.click("#save-rule")
    await expect(page.locator("#saved")).to_contain_text("Rule saved")
    rule = page.locator("#rules tr.rule", has_text="#billing")
    await expect(rule.locator(".integration")).to_have_text("Slack DMs")
    await expect(rule.locator(".hints")).to_contain_text("Billing")
    await screenshot(page, "routing-01-billing-rule")
    # Edit shows the saved rule in the form, to change it.
    await rule.locator("a", has_text="Edit").click()
    await expect(page.locator("#match")).to_have_value(f"channel:{BILLING}")
    await expect(page.locator("#integration")).to_have_value(SANDBOX_DMS_INTEGRATION_ID)
    await expect(page.locator("#skills")).to_have_value("invoices, refunds")
    await expect(page.locator("#priority")).to_have_value("5")
    await page.set_viewport_size({"width": 390, "height": 844})
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than a 390px screen"

    billing = await slack.mention(acme, "Billing: my invoice is wrong", channel=BILLING)
    support = await slack.mention(acme, "Support: this one follows the default")
    await system.drain()

    [sent] = records_of(system, thread_id(acme, BILLING, billing.ts))
    assert sent.integration_id == SANDBOX_DMS_INTEGRATION_ID
    hints = attributes(sent)
    assert hints["routingQueue"] == "Billing"
    assert hints["routingLanguage"] == "en-US"
    assert hints["routingSkills"] == "invoices,refunds"
    assert hints["routingPriority"] == "5"
    assert hints["routingRule"] == "channel"
    assert hints["slackChannel"] == "billing"
    [default] = records_of(system, thread_id(acme, acme.support_channel, support.ts))
    assert default.integration_id == SANDBOX_MENTIONS_INTEGRATION_ID
    assert "routingQueue" not in attributes(default)
    assert attributes(default)["routingRule"] == "default"
    assert await audit_actions(system) == ["routing.rule_saved"]


def hours_excluding(now: datetime) -> tuple[str, str]:
    """A one-hour window, every day, that does not contain `now` (UTC)."""
    return ("20:00", "21:00") if now.hour < 12 else ("02:00", "03:00")


async def test_outside_business_hours_the_customer_gets_the_away_message_once(
    system: System, open_page: OpenPage, screenshot: Screenshot
) -> None:
    slack = SlackPeople(system)
    acme = system.acme.spec
    page = await open_page()
    await sign_in(page, system, user=acme.installer)
    await page.goto(f"{system.app_url}/settings/routing")
    await page.fill("#away_message", AWAY)
    await page.click("#save-away")
    await expect(page.locator("#saved")).to_contain_text("Away message saved")
    await expect(page.locator("#away_message")).to_have_value(AWAY)

    opens, closes = hours_excluding(datetime.now(UTC))
    await page.select_option("#match", value="default")
    await page.select_option("#integration", value="")
    for day in range(7):
        await page.check(f"#day-{day}")
    await page.fill("#hours_from", opens)
    await page.fill("#hours_to", closes)
    await page.fill("#time_zone", "UTC")
    await page.click("#save-rule")
    await expect(page.locator("#saved")).to_contain_text("Rule saved")
    rule = page.locator("#rules tr.rule", has_text="Everything else")
    await expect(rule.locator(".hours")).to_contain_text(f"{opens}-{closes} UTC")
    await screenshot(page, "routing-02-business-hours")

    root = await slack.mention(acme, "After hours: is anyone there?")
    await system.drain()
    await slack.reply(acme, thread_ts=root.ts, text="After hours: one more thing")
    await system.drain()

    sent = records_of(system, thread_id(acme, acme.support_channel, root.ts))
    assert [r.body["text"] for r in sent] == [
        "After hours: is anyone there?",
        "After hours: one more thing",
    ]
    assert all(attributes(r)["afterHours"] == "true" for r in sent)
    assert all(r.integration_id == SANDBOX_MENTIONS_INTEGRATION_ID for r in sent)
    # The away message once per conversation and closed period, in the thread.
    assert slack_texts(system.slack, acme.support_channel, root.ts).count(AWAY) == 1
    assert "routing.away_message_saved" in await audit_actions(system)
