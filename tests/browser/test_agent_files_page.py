"""An agent's PDF, seen on the simulated Slack page the way a person tries it by hand: the
product (real web and worker processes) downloads it from the simulated Genesys and shares it
in the thread, where the page shows it with its name and size and opens its bytes."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from sandbox.genesys_webhook import sample_pdf
from sandbox.slack_seed import ACME_TEAM_ID
from tests.browser.live import OpenPage
from tests.browser.test_sandbox_slack_flows import SUPPORT, conversation, send, slack_page
from tests.e2e.ledger import receipts, slack_posts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, thread_id

pytestmark = pytest.mark.browser


async def test_an_agent_pdf_shows_in_the_thread_and_opens(
    system: System, open_page: OpenPage
) -> None:
    acme = system.acme.spec
    page = await slack_page(open_page, system, f"?team={ACME_TEAM_ID}&channel={SUPPORT}")
    await send(page, "Page: please send the warranty")
    [root] = [m for m in system.slack.channel_messages(SUPPORT) if "warranty" in m.text]
    await system.drain()
    pdf = sample_pdf("Warranty")
    [sent] = await Agents(system).reply(
        acme.mentions_integration_id,
        thread_id(acme, SUPPORT, root.ts),
        "",
        kind="file",
        filename="warranty.pdf",
        content=pdf,
    )
    await system.drain()
    [shared] = slack_posts(system.slack, SUPPORT, root.ts)
    assert [r["status"] for r in receipts(system.genesys, sent.message_id)] == ["Delivered"]

    await page.reload()
    frame = await conversation(page)
    link = frame.locator(f"#m{shared.ts.replace('.', '-')} a.file")
    await expect(link).to_have_text(f"📎 warranty.pdf ({len(pdf)} bytes)")
    href = await link.get_attribute("href")
    assert href is not None
    opened = await page.request.get(f"{system.sims.slack_url}{href}")
    assert opened.status == 200
    assert opened.headers["content-type"] == "application/pdf"
    assert await opened.body() == pdf
