"""The simulated Slack page, used by hand the way the README tells a newcomer to, against the
real product: web and worker processes, both simulators, Acme and Globex onboarded.

Everything a person does on the page must reach the product as the signed event (or
interactivity payload) real Slack would send, and what the product does must show up there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Frame, Page, expect
from sqlalchemy import select

from app.bridge.inbound import DELETE_NOTE, EDIT_PREFIX
from app.db.models import SlackInstallation
from sandbox.slack_seed import ACME_TEAM_ID, GLOBEX_TEAM_ID
from tests.browser.live import OpenPage
from tests.e2e.ledger import accepted, genesys_texts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id

pytestmark = pytest.mark.browser

ALAN = "U0ACME0003"
GRACE = "U0ACME0002"
SUPPORT = "C0ACMESUPP"


async def slack_page(open_page: OpenPage, system: System, query: str = "") -> Page:
    page = await open_page()
    await page.goto(f"{system.sims.slack_url}/{query}")
    return page


async def conversation(page: Page) -> Frame:
    frames = [f for f in page.frames if "/conversation" in f.url]
    assert frames, "the conversation frame is missing"
    return frames[0]


async def send(page: Page, text: str) -> None:
    await page.fill("#text", text)
    async with page.expect_navigation():
        await page.click("#send")
    await expect(page.locator("#delivery")).to_contain_text("Delivered")


async def test_the_choices_on_the_page_are_used_as_shown_and_the_composer_escapes(
    system: System, open_page: OpenPage
) -> None:
    """Picking Alan and "Direct message", then Send, with no other button pressed, is a DM
    from Alan; `<`, `>` and `&` reach the product as Slack's entities and the agent as typed;
    `@grace` becomes a `<@U…>` mention."""
    acme = system.acme.spec
    page = await slack_page(open_page, system)
    await page.select_option("#pick-user", ALAN)
    await page.select_option("#pick-channel", "dm")
    await send(page, "<b>bold?</b> & 1 < 2, ask @grace")

    dm = system.slack.open_dm(ACME_TEAM_ID, ALAN)
    [typed] = [m for m in system.slack.channel_messages(dm.slack_channel_id) if m.user == ALAN]
    assert typed.text == f"&lt;b&gt;bold?&lt;/b&gt; &amp; 1 &lt; 2, ask <@{GRACE}>"
    in_support = [m.text for m in system.slack.channel_messages(SUPPORT)]
    assert not [t for t in in_support if "bold?" in t], "it went to #support as a mention"
    await system.drain()
    [received] = genesys_texts(system.genesys, dm_id(acme, ALAN))
    assert received.startswith("<b>bold?</b> & 1 < 2, ask ")
    frame = await conversation(page)
    await expect(frame.locator(f"#m{typed.ts.replace('.', '-')} .text")).to_have_text(
        "<b>bold?</b> & 1 < 2, ask @grace"
    )


async def test_thread_reply_without_mention_edit_delete_and_file_from_the_page(
    system: System, open_page: OpenPage, tmp_path: Path
) -> None:
    acme = system.acme.spec
    page = await slack_page(open_page, system, f"?team={ACME_TEAM_ID}&channel={SUPPORT}")
    await page.select_option("#pick-user", ALAN)
    await send(page, "Page: my parcel is lost")
    [root] = [m for m in system.slack.channel_messages(SUPPORT) if "my parcel" in m.text]
    assert root.text.startswith("<@U0ACMEBOT1> ")
    thread = thread_id(acme, SUPPORT, root.ts)

    await page.reload()
    await page.select_option("#thread", root.ts)
    await page.uncheck("#mention")
    await send(page, "Page: tracking 42")
    [reply] = [m for m in system.slack.replies(SUPPORT, root.ts) if "tracking" in m.text]
    assert system.slack.last_delivery is not None
    assert system.slack.last_delivery.envelope["event"]["type"] == "message"
    assert "<@" not in reply.text

    frame = await conversation(page)
    anchor = f"#m{reply.ts.replace('.', '-')}"
    await frame.locator(f"{anchor} summary.edit").click()
    await frame.fill(f"{anchor} input[name=text]", "Page: tracking 43")
    async with page.expect_navigation():
        await frame.click(f"{anchor} button.save")
    await expect(page.locator("#delivery")).to_contain_text("message_changed")
    async with page.expect_navigation():
        await (await conversation(page)).click(f"{anchor} button.delete")
    await expect(page.locator("#delivery")).to_contain_text("message_deleted")

    note = tmp_path / "receipt.txt"
    note.write_text("order 42")
    await page.select_option("#thread", root.ts)
    await page.set_input_files("#file", str(note))
    await send(page, "Page: the receipt")
    shared = system.slack.last_delivery
    assert shared is not None
    assert [f["name"] for f in shared.envelope["event"]["files"]] == ["receipt.txt"]

    await system.drain()
    texts = genesys_texts(system.genesys, thread)
    assert texts[:4] == [
        "Page: my parcel is lost",
        "Page: tracking 42",
        EDIT_PREFIX + "Page: tracking 43",
        DELETE_NOTE,
    ]
    # The text goes first, then the file as a message of its own (one attachment each).
    assert len(texts) == 6 and texts[4].startswith("Page: the receipt")
    file_part = [r.body for r in accepted(system.genesys, "message")][-1]
    assert "text" not in file_part
    assert [c["attachment"]["filename"] for c in file_part["content"]] == ["receipt.txt"]


async def test_clicking_a_quick_reply_sends_a_signed_block_actions_the_product_answers(
    system: System, open_page: OpenPage
) -> None:
    acme = system.acme.spec
    page = await slack_page(open_page, system, f"?team={ACME_TEAM_ID}&channel={SUPPORT}")
    await send(page, "Page: should I reboot?")
    [root] = [m for m in system.slack.channel_messages(SUPPORT) if "reboot" in m.text]
    thread = thread_id(acme, SUPPORT, root.ts)
    await system.drain()
    [offer] = await Agents(system).reply(
        acme.mentions_integration_id, thread, "Reboot now?", kind="quick_replies"
    )
    await system.drain()

    frame = await conversation(page)
    async with page.expect_navigation():
        await frame.get_by_role("button", name="Yes").click()
    await expect(page.locator("#delivery")).to_contain_text("block_actions")
    clicked = system.slack.last_delivery
    assert clicked is not None
    payload = clicked.envelope
    assert payload["type"] == "block_actions"
    assert payload["container"]["message_ts"] != root.ts
    assert payload["actions"][0]["action_id"].startswith("sb_qr_")

    await system.drain()
    [answer] = [
        r
        for r in accepted(system.genesys, "structured")
        if r.body["channel"]["from"]["id"] == thread
    ]
    assert answer.body["originatingMessageId"] == offer.message_id
    assert answer.body["buttonResponse"] == {"type": "QuickReply", "text": "Yes", "payload": "Yes"}


async def test_over_the_hourly_event_limit_slack_drops_events_and_says_app_rate_limited(
    system: System,
) -> None:
    """Slack's Events API limit per workspace and hour, lowered to 2 here: the third mention is
    never delivered; the app gets one `app_rate_limited` callback, which it must accept."""
    acme = system.acme.spec
    system.slack.event_times.clear()
    system.slack.events_per_hour = 2
    try:
        slack = SlackPeople(system)
        await slack.mention(acme, "Limit: one")
        await slack.mention(acme, "Limit: two")
        dropped = await slack.send(slack.dm_built(acme, "Limit: three"), background_retries=True)
    finally:
        system.slack.events_per_hour = 30_000
        system.slack.event_times.clear()
    assert dropped.error == "app_rate_limited" and dropped.attempts == []
    [notice] = [r for r in system.slack.deliveries.values() if r.event_type == "app_rate_limited"]
    assert notice.envelope["team_id"] == acme.slack_team_id
    assert notice.envelope["minute_rate_limited"] % 60 == 0
    assert [a.status for a in notice.attempts] == [200]
    await system.drain()
    assert "Limit: three" not in genesys_texts(system.genesys, dm_id(acme, acme.customer))


async def test_uninstall_from_the_page_sends_both_events_and_the_product_forgets_the_bot(
    system: System, open_page: OpenPage
) -> None:
    page = await slack_page(open_page, system, f"?team={GLOBEX_TEAM_ID}")
    page.on("dialog", lambda dialog: dialog.accept())
    async with page.expect_navigation():
        await page.click("#uninstall")
    await expect(page.locator("#delivery")).to_contain_text("tokens_revoked")
    sent = [r.event_type for r in system.slack.deliveries.values()][-2:]
    assert sent == ["app_uninstalled", "tokens_revoked"]

    async with system.engine.connect() as connection:
        rows = await connection.execute(
            select(SlackInstallation.tenant_id).where(
                SlackInstallation.tenant_id == system.globex.tenant_id
            )
        )
        assert rows.all() == [], "the product still holds Globex's bot token"
    await expect(page.locator("#not-installed")).to_be_visible()
