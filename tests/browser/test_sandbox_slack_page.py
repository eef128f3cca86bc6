"""How the simulated Slack page shows messages: as Slack shows them (mrkdwn, Block Kit, files,
the bot's chosen name and icon), never as raw markup, and never running what it shows.
The page must also work on a phone-sized screen."""

from __future__ import annotations

import pytest
from playwright.async_api import Frame, Page, expect

from sandbox.slack_records import SlackFile, SlackMessage
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_SIGNING_SECRET,
    SlackWorld,
)
from tests.browser.live import OpenPage, Screenshot, Stack

pytestmark = pytest.mark.browser

SUPPORT = "C0ACMESUPP"
BOT_USER, BOT_ID = "U0ACMEBOT1", "B0ACMEBOT1"

BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Your order"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Status:* _shipped_ :tada:"}},
    {"type": "divider"},
    {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": "*Carrier*"}, {"type": "plain_text", "text": "UPS"}],
    },
    {"type": "image", "image_url": "http://localhost/parcel.png", "alt_text": "the parcel"},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Updated ~today~ now"}]},
    {
        "type": "actions",
        "block_id": "choices",
        "elements": [
            {
                "type": "button",
                "action_id": "ok",
                "text": {"type": "plain_text", "text": "Looks good"},
                "value": "ok",
            },
            {
                "type": "static_select",
                "action_id": "size",
                "placeholder": {"type": "plain_text", "text": "Pick a size"},
                "options": [
                    {"text": {"type": "plain_text", "text": "Small"}, "value": "s"},
                    {"text": {"type": "plain_text", "text": "Large"}, "value": "l"},
                ],
            },
            {"type": "datepicker", "action_id": "when", "initial_date": "2026-12-24"},
        ],
    },
]


def post(world: SlackWorld, **fields: object) -> SlackMessage:
    message = SlackMessage(
        ts=world.new_ts(),
        slack_channel_id=SUPPORT,
        slack_team_id=ACME_TEAM_ID,
        text=str(fields.pop("text", "")),
        user=BOT_USER,
        bot_id=BOT_ID,
        **fields,  # type: ignore[arg-type]
    )
    return world.add_message(message)


def anchor(message: SlackMessage) -> str:
    return f"#m{message.ts.replace('.', '-')}"


async def conversation(page: Page) -> Frame:
    frames = [f for f in page.frames if "/conversation" in f.url]
    assert frames, "the conversation frame is missing"
    return frames[0]


async def test_messages_render_as_slack_shows_them(
    stack: Stack, open_page: OpenPage, screenshot: Screenshot
) -> None:
    world = stack.slack_world
    text = post(
        world,
        text=(
            "&lt;!channel&gt; &amp; *bold* _italic_ ~gone~ `a<b` "
            "<https://example.com/a?b=1&amp;c=2|the docs> for <@U0ACME0003> :white_check_mark:"
        ),
    )
    blocks = post(world, text="fallback only", blocks=BLOCKS)
    world.add_file(
        SlackFile(
            slack_file_id="F0RECEIPT1",
            slack_team_id=ACME_TEAM_ID,
            user=BOT_USER,
            name="receipt.pdf",
            title="Receipt",
            mimetype="application/pdf",
            filetype="pdf",
            size=2048,
            uploaded=True,
        )
    )
    filed = post(world, text="", file_ids=["F0RECEIPT1"])
    named = post(world, text="hi", username="Dana (agent)", icon_url="http://localhost/dana.png")
    page = await open_page()
    await page.goto(f"{stack.slack_url}/?team={ACME_TEAM_ID}&channel={SUPPORT}")
    frame = await conversation(page)

    shown = frame.locator(f"{anchor(text)} .text")
    await expect(shown).to_have_text(
        "<!channel> & bold italic gone a<b the docs for @alan ✅", use_inner_text=True
    )
    assert await shown.locator("b").inner_text() == "bold"
    assert await shown.locator("i").inner_text() == "italic"
    assert await shown.locator("s").inner_text() == "gone"
    assert await shown.locator("code").inner_text() == "a<b"
    link = shown.locator("a")
    assert await link.get_attribute("href") == "https://example.com/a?b=1&c=2"
    assert await shown.locator(".mention").inner_text() == "@alan"

    card = frame.locator(f"{anchor(blocks)} .blocks")
    await expect(card.locator("h3")).to_have_text("Your order")
    await expect(card.locator("b").first).to_have_text("Status:")
    await expect(card.locator("hr")).to_have_count(1)
    await expect(card.locator("img[alt='the parcel']")).to_have_count(1)
    await expect(card.get_by_role("button", name="Looks good")).to_be_visible()
    await expect(card.locator("select option")).to_have_count(3)
    await expect(card.locator("input[type=date]")).to_have_value("2026-12-24")
    await expect(frame.locator(f"{anchor(blocks)}")).not_to_contain_text("fallback only")

    await expect(frame.locator(f"{anchor(filed)} .file")).to_contain_text("receipt.pdf")
    await expect(frame.locator(f"{anchor(named)} .who")).to_have_text("Dana (agent)")
    assert (
        await frame.locator(f"{anchor(named)} img.avatar").get_attribute("src")
        == "http://localhost/dana.png"
    )
    await screenshot(page, "sandbox-slack-rendering")


async def test_markup_in_messages_is_shown_not_run(stack: Stack, open_page: OpenPage) -> None:
    world = stack.slack_world
    hostile = "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"
    raw = post(world, text=hostile)
    in_blocks = post(
        world,
        text="x",
        blocks=[
            {"type": "section", "text": {"type": "plain_text", "text": hostile}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "<javascript:alert(1)|click>"}},
        ],
    )
    page = await open_page()
    await page.goto(f"{stack.slack_url}/?team={ACME_TEAM_ID}&channel={SUPPORT}")
    await page.fill("#text", "<script>window.pwned = 3</script>")
    await page.click("#send")
    await page.wait_for_load_state()
    frame = await conversation(page)
    await expect(frame.locator(f"{anchor(raw)} .text")).to_contain_text("window.pwned = 1")
    await expect(frame.locator(f"{anchor(in_blocks)} .blocks")).to_contain_text("onerror=")
    typed = [m for m in world.channel_messages(SUPPORT) if "pwned = 3" in m.text]
    assert len(typed) == 1 and "&lt;script&gt;" in typed[0].text
    await expect(frame.locator(f"{anchor(typed[0])} .text")).to_contain_text("<script>")
    scripts = "() => [...document.scripts].some(s => s.textContent.includes('pwned'))"
    assert await frame.evaluate(scripts) is False
    assert await frame.locator("a[href^=javascript]").count() == 0
    assert await frame.evaluate("() => window.pwned") is None


async def test_the_page_fits_a_phone_and_copies_credentials(
    stack: Stack, open_page: OpenPage, screenshot: Screenshot
) -> None:
    page = await open_page()
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.goto(f"{stack.slack_url}/?team={ACME_TEAM_ID}")
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than a 390px screen"
    await expect(page.locator("h1")).to_have_text("Simulated Slack")
    for name, value in (
        ("client-id", SANDBOX_CLIENT_ID),
        ("client-secret", SANDBOX_CLIENT_SECRET),
        ("signing-secret", SANDBOX_SIGNING_SECRET),
    ):
        await page.click(f"#copy-{name}")
        await expect(page.locator(f"#copy-{name}")).to_have_text("Copied")
        assert await page.evaluate("() => navigator.clipboard.readText()") == value
    await screenshot(page, "sandbox-slack-390px")
