"""Buttons that answer, by hand on the simulated Slack page against the real product: a quick
reply clicked, a date picked and an option chosen each reach Genesys, and the agent's message
then shows the choice with its buttons gone."""

from __future__ import annotations

import pytest
from playwright.async_api import Frame, Page, expect

from sandbox.slack_seed import ACME_TEAM_ID
from tests.browser.live import OpenPage
from tests.e2e.ledger import accepted
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, thread_id

pytestmark = pytest.mark.browser

SUPPORT = "C0ACMESUPP"


async def conversation(page: Page) -> Frame:
    frames = [f for f in page.frames if "/conversation" in f.url]
    assert frames, "the conversation frame is missing"
    return frames[0]


async def offered(
    system: System, open_page: OpenPage, question: str, *, kind: str, options: list[str]
) -> tuple[Page, str, str]:
    page, thread, offer_id, _ = await offered_to(
        system, open_page, question, kind=kind, options=options
    )
    return page, thread, offer_id


async def offered_to(
    system: System, open_page: OpenPage, question: str, *, kind: str, options: list[str]
) -> tuple[Page, str, str, str]:
    """The page's person asks in the support channel; the agent answers with choices."""
    acme = system.acme.spec
    page = await open_page()
    await page.goto(f"{system.sims.slack_url}/?team={ACME_TEAM_ID}&channel={SUPPORT}")
    await page.fill("#text", f"Page buttons: {question}")
    async with page.expect_navigation():
        await page.click("#send")
    await expect(page.locator("#delivery")).to_contain_text("Delivered")
    [root] = [m for m in system.slack.channel_messages(SUPPORT) if question in m.text]
    thread = thread_id(acme, SUPPORT, root.ts)
    await system.drain()
    [offer] = await Agents(system).reply(
        acme.mentions_integration_id, thread, question, kind=kind, quick_replies=options
    )
    await system.drain()
    await page.reload()
    return page, thread, offer.message_id, root.user or ""


def answer(system: System, thread: str) -> dict[str, object]:
    found: list[dict[str, object]] = [
        r.body
        for r in accepted(system.genesys, "structured")
        if r.body["channel"]["from"]["id"] == thread
    ]
    assert len(found) == 1, found
    return found[0]


async def test_a_quick_reply_clicked_on_the_page_is_shown_as_chosen_without_buttons(
    system: System, open_page: OpenPage
) -> None:
    page, thread, offer_id = await offered(
        system, open_page, "Reboot now?", kind="quick_replies", options=["Reboot", "Wait"]
    )
    frame = await conversation(page)
    async with page.expect_navigation():
        await frame.get_by_role("button", name="Reboot").click()
    await system.drain()

    assert answer(system, thread)["originatingMessageId"] == offer_id
    await page.reload()
    frame = await conversation(page)
    await expect(frame.get_by_text("chose Reboot")).to_be_visible()
    await expect(frame.get_by_role("button", name="Reboot")).to_have_count(0)
    await expect(frame.get_by_role("button", name="Wait")).to_have_count(0)


async def test_a_date_picked_on_the_page_reaches_genesys_and_is_shown(
    system: System, open_page: OpenPage
) -> None:
    page, thread, offer_id = await offered(
        system, open_page, "When shall we call?", kind="date_picker", options=[]
    )
    frame = await conversation(page)
    day = await frame.locator("input[type=date]").input_value()
    assert day, "the picker starts on the first day Genesys offered"
    async with page.expect_navigation():
        await frame.get_by_role("button", name="Send date").click()
    await system.drain()

    body = answer(system, thread)
    assert body["originatingMessageId"] == offer_id
    response = body["buttonResponse"]
    assert isinstance(response, dict) and response["type"] == "DatePicker"
    assert str(response["payload"]).startswith(day)
    await page.reload()
    frame = await conversation(page)
    await expect(frame.get_by_text(f"chose {day}")).to_be_visible()
    await expect(frame.locator("input[type=date]")).to_have_count(0)


async def test_an_option_chosen_on_the_page_reaches_genesys_and_is_shown(
    system: System, open_page: OpenPage
) -> None:
    page, thread, offer_id = await offered(
        system, open_page, "Which plan?", kind="list_picker", options=["Basic", "Pro"]
    )
    frame = await conversation(page)
    async with page.expect_navigation():
        await frame.get_by_role("combobox", name="Choose").select_option(label="Pro")
    await system.drain()

    body = answer(system, thread)
    assert body["originatingMessageId"] == offer_id
    assert body["buttonResponse"] == {"type": "Button", "text": "Pro", "payload": "item-2"}
    await page.reload()
    frame = await conversation(page)
    await expect(frame.get_by_text("chose Pro")).to_be_visible()
    await expect(frame.get_by_role("combobox", name="Choose")).to_have_count(0)


async def test_someone_else_on_the_page_sees_a_note_only_they_can_see_and_nothing_is_sent(
    system: System, open_page: OpenPage
) -> None:
    _, thread, _, asker = await offered_to(
        system, open_page, "Refund me?", kind="quick_replies", options=["Refund", "Keep"]
    )
    other = next(u for u in ("U0ACME0001", "U0ACME0002", "U0ACME0003") if u != asker)
    page = await open_page()
    await page.goto(f"{system.sims.slack_url}/?team={ACME_TEAM_ID}&channel={SUPPORT}&user={other}")
    frame = await conversation(page)
    async with page.expect_navigation():
        await frame.get_by_role("button", name="Refund").click()
    await system.drain()

    assert [
        r
        for r in accepted(system.genesys, "structured")
        if r.body["channel"]["from"]["id"] == thread
    ] == []
    await page.reload()
    frame = await conversation(page)
    await expect(frame.get_by_text("Only the person who started this conversation")).to_be_visible()
    await expect(frame.get_by_text("Only visible to you").first).to_be_visible()
    await expect(frame.get_by_role("button", name="Refund")).to_have_count(1)
