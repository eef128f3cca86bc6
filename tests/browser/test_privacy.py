"""Data retention and privacy, from the admin's browser: the retention period set on
/settings/privacy decides what the retention job deletes (old delivered messages and old dead
letters go; recent messages and young dead letters stay), and erasing one person picked by name
removes their rows while another person's remain.

Real web and worker processes, both simulators, Acme and Globex onboarded; the admin signs in
with Slack in Chromium. The retention job's function runs against the live database.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select, text, update

from app.crypto import SecretBox
from app.db.models import AuditEvent, BridgeMessage, Conversation
from app.db.session import create_sessions
from sandbox.faults import FaultSpec
from sandbox.slack_seed import ACME_TEAM_ID
from tests.browser.live import OpenPage, Screenshot
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id

pytestmark = pytest.mark.browser

GRACE = "U0ACME0002"  # Grace Hopper: a second person of Acme


async def sign_in_to_privacy(page: Page, system: System) -> None:
    await page.goto(f"{system.app_url}/onboarding")
    await page.click("#sign-in-with-slack")
    await expect(page.locator("#consent-title")).to_be_visible()
    await page.select_option("#team", ACME_TEAM_ID)
    await page.select_option("#user", system.acme.spec.installer)
    await page.click("#allow")
    await expect(page).to_have_url(f"{system.app_url}/onboarding")
    await page.click("#privacy-link a")
    await expect(page).to_have_url(f"{system.app_url}/settings/privacy")


async def ids_by_key(system: System, keys: list[str]) -> dict[str, list[tuple[int, str]]]:
    """(id, status) of the rows of each conversation key."""
    async with system.engine.connect() as connection:
        rows = await connection.execute(
            select(Conversation.conversation_key, BridgeMessage.id, BridgeMessage.status)
            .join(Conversation, Conversation.id == BridgeMessage.conversation_id)
            .where(Conversation.conversation_key.in_(keys))
            .order_by(BridgeMessage.id)
        )
        found: dict[str, list[tuple[int, str]]] = {key: [] for key in keys}
        for key, message_id, status in rows:
            found[key].append((message_id, status))
        return found


async def age(system: System, conversation_key: str, days: int) -> None:
    """Make a conversation and its messages look `days` old."""
    async with system.engine.begin() as connection:
        conversation_id = (
            await connection.execute(
                select(Conversation.id).where(Conversation.conversation_key == conversation_key)
            )
        ).scalar_one()
        await connection.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(last_activity_at=text(f"now() - interval '{days} days'"))
        )
        await connection.execute(
            update(BridgeMessage)
            .where(BridgeMessage.conversation_id == conversation_id)
            .values(created_at=text(f"now() - interval '{days} days'"))
        )


async def test_retention_set_on_the_page_deletes_old_rows_and_keeps_recent_ones(
    system: System, open_page: OpenPage, screenshot: Screenshot
) -> None:
    slack, agents = SlackPeople(system), Agents(system)
    acme = system.acme.spec
    old = await slack.mention(acme, "Privacy: an old question")
    old_key = thread_id(acme, acme.support_channel, old.ts)
    await agents.reply(acme.mentions_integration_id, old_key, "Privacy: an old answer")
    recent = await slack.mention(acme, "Privacy: a recent question")
    recent_key = thread_id(acme, acme.support_channel, recent.ts)
    await system.drain()
    system.genesys.faults.arm(
        FaultSpec(route="inbound.message", kind="status", status=400, times=2)
    )
    old_dead = await slack.mention(acme, "Privacy: an old dead letter")
    await system.drain()
    young_dead = await slack.mention(acme, "Privacy: a young dead letter")
    await system.drain()
    old_dead_key = thread_id(acme, acme.support_channel, old_dead.ts)
    young_dead_key = thread_id(acme, acme.support_channel, young_dead.ts)
    keys = [old_key, recent_key, old_dead_key, young_dead_key]
    before = await ids_by_key(system, keys)
    assert len(before[old_key]) >= 2 and {s for _, s in before[old_key]} == {"delivered"}
    assert "dead" in [s for _, s in before[old_dead_key]]
    assert "dead" in [s for _, s in before[young_dead_key]]
    await age(system, old_key, 10)
    await age(system, old_dead_key, 10)
    await age(system, recent_key, 3)
    await age(system, young_dead_key, 3)

    page = await open_page()
    await sign_in_to_privacy(page, system)
    await expect(page.locator("#retention_days")).to_have_value("30")
    # Out of range: refused with a clear message, nothing saved.
    await page.fill("#retention_days", "0")
    await page.click("#save-retention")
    await expect(page.locator("#retention-error")).to_contain_text("3 to 3650 days")
    await page.fill("#retention_days", "7")
    await page.click("#save-retention")
    await expect(page.locator("#notice")).to_have_text("Retention period saved.")
    await expect(page.locator("#retention_days")).to_have_value("7")
    await screenshot(page, "privacy-retention")

    from app.tenants.privacy import apply_retention  # what the worker's hourly job runs

    sessions = create_sessions(system.engine, box=SecretBox(system.settings.keys))
    deleted = await apply_retention(sessions)
    assert deleted.messages >= 3

    after = await ids_by_key(system, keys)
    assert after[old_key] == [] and after[old_dead_key] == []
    assert after[recent_key] == before[recent_key]
    assert after[young_dead_key] == before[young_dead_key]
    async with system.engine.connect() as connection:
        conversations = set(
            (
                await connection.execute(
                    select(Conversation.conversation_key).where(
                        Conversation.conversation_key.in_(keys)
                    )
                )
            ).scalars()
        )
        audits = (
            await connection.execute(
                select(AuditEvent.action, AuditEvent.fields).where(
                    AuditEvent.tenant_id == system.acme.tenant_id,
                    AuditEvent.action.like("privacy.%"),
                )
            )
        ).all()
    assert conversations == {recent_key, young_dead_key}
    assert ("privacy.retention_set", ["retention_days"]) in [(a, list(f)) for a, f in audits]
    [applied] = [list(f) for a, f in audits if a == "privacy.retention_applied"]
    assert applied[0].startswith("messages:") and applied[1] == "conversations:2"
    # The young dead letter is still on the settings page, preview and all.
    await page.goto(f"{system.app_url}/onboarding")
    await expect(page.locator("#failures")).to_contain_text("Privacy: a young dead letter")


async def test_erasing_one_person_picked_by_name_removes_only_their_rows(
    system: System, open_page: OpenPage, screenshot: Screenshot
) -> None:
    slack, agents = SlackPeople(system), Agents(system)
    acme = system.acme.spec
    customer = acme.customer  # Alan Turing
    theirs = await slack.mention(acme, "Erase: Alan's question", user=customer)
    their_key = thread_id(acme, acme.support_channel, theirs.ts)
    await agents.reply(acme.mentions_integration_id, their_key, "Erase: answer to Alan")
    dm = await slack.dm(acme, "Erase: Alan's DM", user=customer)
    grace = await slack.mention(acme, "Erase: Grace's question", user=GRACE)
    grace_key = thread_id(acme, acme.support_channel, grace.ts)
    # Alan also writes in Grace's thread: that message is his, the thread is not.
    await slack.reply(acme, thread_ts=grace.ts, text="Erase: Alan chimes in")
    await system.drain()
    assert dm.ts
    async with system.engine.connect() as connection:
        alans_before = (
            await connection.execute(
                select(Conversation.id).where(
                    Conversation.conversation_key.in_([their_key, dm_id(acme, customer)])
                )
            )
        ).all()
    assert len(alans_before) == 2  # the thread he started and his DM
    grace_before = await ids_by_key(system, [grace_key])
    assert len(grace_before[grace_key]) == 2

    page = await open_page()
    await sign_in_to_privacy(page, system)
    options = await page.locator("#person option").all_inner_texts()
    assert "Alan Turing" in options and "Grace Hopper" in options
    assert not any(o.startswith("U0") for o in options), "the picker shows names, not IDs"
    assert "Switchboard" not in options, "bots are not people to erase"
    await page.select_option("#person", label="Alan Turing")
    await page.check("#confirm-erase")
    await screenshot(page, "privacy-erase")
    await page.click("#erase-person")
    await expect(page.locator("#notice")).to_have_text("That person's data was erased.")
    options = await page.locator("#person option").all_inner_texts()
    assert "Alan Turing" not in options and "Grace Hopper" in options

    async with system.engine.connect() as connection:
        alans_after = (
            await connection.execute(
                select(Conversation.id).where(
                    Conversation.id.in_([c for (c,) in alans_before])
                    | (Conversation.slack_user_id == customer)
                )
            )
        ).all()
        their_rows = (
            await connection.execute(
                select(BridgeMessage.id).where(
                    BridgeMessage.conversation_id.in_([c for (c,) in alans_before])
                )
            )
        ).all()
        [erased] = (
            await connection.execute(
                select(AuditEvent.fields).where(
                    AuditEvent.tenant_id == system.acme.tenant_id,
                    AuditEvent.action == "privacy.person_erased",
                )
            )
        ).scalars()
    assert alans_after == [] and their_rows == []
    assert not any(customer in field for field in erased), "the audit names the person"
    # Everything else in Acme was started by Alan (the earlier test's threads too): only
    # Grace's thread is left.
    async with system.engine.connect() as connection:
        left = (
            await connection.execute(
                select(Conversation.conversation_key).where(
                    Conversation.tenant_id == system.acme.tenant_id
                )
            )
        ).scalars()
        assert list(left) == [grace_key]
    assert int(erased[0].removeprefix("messages:")) >= 4
    assert int(erased[1].removeprefix("conversations:")) >= 2
    grace_after = await ids_by_key(system, [grace_key])
    assert grace_after[grace_key] == grace_before[grace_key][:1], "only Alan's reply went"
