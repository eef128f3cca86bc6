"""The whole sandbox walked by hand, the way the README tells a newcomer to: `make dev` (the
devkit launcher, with its own data folder and ports), then in a browser

1. install from the landing page, connect the Genesys org, choose the integrations and test
   the connection;
2. mention the app, DM it and reply in a thread without a mention;
3. answer as the agent on the Genesys console with text, quick replies, a card and an
   attachment;
4. click a quick reply and see it answered: the message changes in place and loses its
   buttons, and the agent sees the answer;
5. edit and delete a message, and send a file;
6. stop the launcher, start it again, and go on without installing again.

Only the browser acts; the processes are the ones `make dev` starts. Waits are on page content.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import FrameLocator, Locator, Page, expect

from sandbox.genesys_world import SANDBOX_ORG_CLIENT_ID, SANDBOX_ORG_CLIENT_SECRET
from sandbox.slack_seed import ACME_TEAM_ID
from tests.browser.live import OpenPage
from tests.devkit.test_dev_restart import _start, _stop
from tests.devkit.test_devserver import free_port

pytestmark = pytest.mark.browser

ADA = "U0ACME0001"  # Acme's owner, who installs
ALAN = "U0ACME0003"  # a member who writes to the app
SUPPORT = "C0ACMESUPP"
# What crosses processes (Slack → web → worker → Genesys and back) gets longer than a page.
ACROSS = 30_000
FAIL = "\N{BALLOT X} Fail"


@dataclass
class Dev:
    app_url: str
    slack_url: str
    genesys_url: str
    env: dict[str, str]
    data: Path


@pytest.fixture
def dev() -> Iterator[Dev]:
    """A checkout's `.data/` of its own (not under pytest's tmp dir: as root, Postgres runs as
    `postgres` and must reach it) and free ports, as `make dev` would use them."""
    checkout = Path(tempfile.mkdtemp(prefix="switchboard-walk-"))
    data = checkout / ".data"
    data.mkdir()
    for folder in (checkout, data):
        folder.chmod(0o755)
    ports = {"PORT": free_port(), "SANDBOX_SLACK_PORT": free_port()}
    ports["SANDBOX_GENESYS_PORT"] = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "DATABASE_URL"
    }
    env.update({k: str(v) for k, v in ports.items()})
    try:
        yield Dev(
            app_url=f"http://localhost:{ports['PORT']}",
            slack_url=f"http://localhost:{ports['SANDBOX_SLACK_PORT']}",
            genesys_url=f"http://localhost:{ports['SANDBOX_GENESYS_PORT']}",
            env=env,
            data=data,
        )
    finally:
        shutil.rmtree(checkout, ignore_errors=True)


async def install_and_onboard(page: Page, dev: Dev) -> None:
    await page.goto(f"{dev.app_url}/")
    await page.click("#add-to-slack")
    await expect(page.locator("#consent-title")).to_contain_text("requesting permission")
    await page.select_option("#team", label="Acme Corp")
    await page.select_option("#user", ADA)
    await page.click("#allow")
    await expect(page).to_have_url(f"{dev.app_url}/onboarding")
    await expect(page.locator("#installed")).to_contain_text("Acme Corp")

    await page.select_option("#region", "us_east_1")
    await page.fill("#client_id", SANDBOX_ORG_CLIENT_ID)
    await page.fill("#client_secret", SANDBOX_ORG_CLIENT_SECRET)
    await page.click("#save-credentials")
    await expect(page.locator("#saved")).to_contain_text("verified and saved")
    await page.select_option("#mentions_integration_id", label="Slack mentions (Completed)")
    await page.select_option("#dms_integration_id", label="Slack DMs (Completed)")
    await page.click("#save-integrations")
    await expect(page.locator("#saved")).to_have_text(
        "Integrations saved and wired to Switchboard."
    )
    await page.click("#test-connection")
    rows = page.locator("#checks tr:has(td)")
    await expect(rows.first).to_be_visible(timeout=ACROSS)
    results = await rows.locator("td:nth-child(2)").all_inner_texts()
    assert results and FAIL not in results, results
    assert "✓ Pass" in results


async def slack(page: Page, dev: Dev, channel: str = SUPPORT) -> None:
    query = f"?team={ACME_TEAM_ID}&channel={channel}&user={ALAN}"
    await page.goto(f"{dev.slack_url}/{query}")
    await expect(page.locator("#pick-user")).to_have_value(ALAN)


async def send(page: Page, text: str) -> None:
    await page.fill("#text", text)
    async with page.expect_navigation():
        await page.click("#send")
    await expect(page.locator("#delivery")).to_contain_text("Delivered")


def conversation(page: Page) -> FrameLocator:
    """The conversation pane, an iframe that reloads itself every two seconds."""
    return page.frame_locator("iframe[name=conversation]")


def console_article(page: Page, text: str) -> Locator:
    return page.locator("article").filter(has_text=text)


async def reload_until(page: Page, locator: Locator, timeout_s: float = ACROSS / 1000) -> None:
    """The Genesys console is a plain page: load it again until `locator` is on it."""
    deadline = time.monotonic() + timeout_s
    while await locator.count() == 0:
        assert time.monotonic() < deadline, f"never shown on {page.url}: {locator}"
        await page.wait_for_timeout(300)
        await page.reload()


async def agent_answers(
    page: Page, dev: Dev, customer_text: str, kind: str, text: str, replies: str = "Yes, No"
) -> None:
    """On the Genesys console: the conversation that holds `customer_text`, answered as Sam."""
    await page.goto(f"{dev.genesys_url}/")
    article = console_article(page, customer_text)
    await reload_until(page, article)
    conversation_id = (await article.get_attribute("id") or "").removeprefix("conversation-")
    await page.fill(f"#agent-{conversation_id}", "Sam Rivera")
    await page.select_option(f"#kind-{conversation_id}", kind)
    await page.fill(f"#text-{conversation_id}", text)
    await page.fill(f"#replies-{conversation_id}", replies)
    async with page.expect_navigation():
        await article.get_by_role("button", name=re.compile("^Send to ")).click()
    await expect(page.locator("[role=alert]")).to_have_count(0)


async def test_a_newcomer_walks_the_whole_sandbox(dev: Dev, open_page: OpenPage) -> None:
    first, _ = _start(dev.env, dev.data)
    try:
        admin, person, agent = await open_page(), await open_page(), await open_page()
        # 1. Install, onboard and test the connection.
        await install_and_onboard(admin, dev)

        # 2. Mention, DM and reply in a thread without a mention.
        await slack(person, dev)
        await send(person, "Walk: my parcel is lost")
        frame = conversation(person)
        root = frame.locator("li.msg").filter(has_text="Walk: my parcel is lost").first
        await expect(root).to_be_visible()
        root_id = await root.get_attribute("id")
        assert root_id is not None
        root_ts = root_id.removeprefix("m").replace("-", ".")
        await person.select_option("#thread", root_ts)
        await person.uncheck("#mention")
        await send(person, "Walk: tracking 42")
        await person.select_option("#pick-channel", "dm")
        await send(person, "Walk: a private question")
        await agent.goto(f"{dev.genesys_url}/")
        for typed in ("Walk: my parcel is lost", "Walk: tracking 42", "Walk: a private question"):
            await reload_until(agent, agent.locator("article li.inbound").filter(has_text=typed))

        # 3. The agent answers the thread with text, quick replies, a card and an attachment.
        parcel = "Walk: my parcel is lost"
        await agent_answers(agent, dev, parcel, "text", "Walk: Sam here, let me look")
        await agent_answers(agent, dev, parcel, "quick_replies", "Walk: reboot the tracker?")
        await agent_answers(agent, dev, parcel, "card", "Walk: your options", "Refund, Resend")
        await agent_answers(agent, dev, parcel, "attachment", "")
        await slack(person, dev)
        frame = conversation(person)
        answers = frame.locator(f"#{root_id} + li")  # the thread under the mention
        await expect(answers).to_contain_text("Walk: Sam here, let me look", timeout=ACROSS)
        await expect(answers).to_contain_text("Sam Rivera")
        await expect(answers).to_contain_text("Walk: reboot the tracker?", timeout=ACROSS)
        await expect(answers).to_contain_text("Walk: your options", timeout=ACROSS)
        await expect(answers.get_by_role("button", name="Resend")).to_be_visible()
        # The attachment lands as a file in Slack, not as a link in the text.
        await expect(answers.locator(".file")).to_contain_text("sandbox-sample.png", timeout=ACROSS)

        # 4. Click a quick reply: the message is updated in place (no buttons left) and the
        # agent sees the answer.
        offer = answers.locator("li.msg").filter(has_text="Walk: reboot the tracker?")
        async with person.expect_navigation():
            await offer.get_by_role("button", name="Yes").click()
        await expect(person.locator("#delivery")).to_contain_text("block_actions")
        frame = conversation(person)
        offer = frame.locator(f"#{root_id} + li li.msg").filter(
            has_text="Walk: reboot the tracker?"
        )
        await expect(offer.get_by_role("button")).to_have_count(0, timeout=ACROSS)
        await expect(offer).to_contain_text("Yes")
        await agent.goto(f"{dev.genesys_url}/")
        await reload_until(
            agent, console_article(agent, parcel).locator("li.inbound").filter(has_text="Yes")
        )

        # 5. Edit and delete the thread reply, then send a file into the thread.
        frame = conversation(person)
        reply = frame.locator(f"#{root_id} + li li.msg").filter(has_text="Walk: tracking 42")
        anchor = f"#{await reply.get_attribute('id')}"
        await frame.locator(f"{anchor} summary.edit").first.click()
        await frame.locator(f"{anchor} input[name=text]").first.fill("Walk: tracking 43")
        async with person.expect_navigation():
            await frame.locator(f"{anchor} button.save").first.click()
        await expect(person.locator("#delivery")).to_contain_text("message_changed")
        async with person.expect_navigation():
            await conversation(person).locator(f"{anchor} button.delete").first.click()
        await expect(person.locator("#delivery")).to_contain_text("message_deleted")
        receipt = dev.data.parent / "walk-receipt.txt"
        receipt.write_text("order 42")
        await person.select_option("#thread", root_ts)
        await person.set_input_files("#file", str(receipt))
        await send(person, "Walk: the receipt")
        await agent.goto(f"{dev.genesys_url}/")
        thread = console_article(agent, parcel)
        await reload_until(agent, thread.locator("li.inbound").filter(has_text="Walk: the receipt"))
        await expect(thread).to_contain_text("Walk: tracking 43")
        # The customer's file reaches the agent as an attachment, by name.
        await reload_until(
            agent, thread.locator("li.inbound a").filter(has_text="walk-receipt.txt")
        )
    finally:
        rest = _stop(first)
    assert first.returncode == 0, rest[-3000:]

    # 6. Restart `make dev`: no install again, and a mention still reaches the agent.
    second, _ = _start(dev.env, dev.data)
    try:
        await slack(person, dev)
        await expect(person.locator("#not-installed")).to_have_count(0)
        await send(person, "Walk: still there after a restart?")
        await agent.goto(f"{dev.genesys_url}/")
        await reload_until(
            agent, agent.locator("article li.inbound").filter(has_text="after a restart")
        )
        await admin.goto(f"{dev.app_url}/onboarding")
        await expect(admin.locator("#installed")).to_contain_text("Acme Corp")
    finally:
        rest = _stop(second)
    assert second.returncode == 0, rest[-3000:]
