"""Nothing is lost to what a message holds or to how the other side answers.

Text Postgres cannot store (NUL, lone surrogates), text over either side's length limit,
Genesys answering 2xx without a message `id`, agent attachments and card links without a
URL, and agent messages addressed to someone the bridge cannot find: each still ends in a
delivery, or in a Failed receipt the agent can see, never in silence or endless retries.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from app.db.models import BridgeMessage
from devkit.harness.tenants import GLOBEX
from sandbox.genesys_agent import AgentReply
from sandbox.genesys_inbound import utf16_length
from sandbox.genesys_records import DeliveryReport
from tests.e2e.ledger import accepted, assert_bridged, genesys_texts, receipts, slack_posts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id

SHORTENED = "[message shortened]"
GENESYS_TEXT_LIMIT = 4000


async def statuses(system: System, dedupe_key: str) -> list[str]:
    async with system.engine.connect() as connection:
        rows = await connection.execute(
            select(BridgeMessage.status).where(BridgeMessage.dedupe_key == dedupe_key)
        )
        return [status for (status,) in rows]


def only_receipt(system: System, report: DeliveryReport) -> dict[str, Any]:
    found = receipts(system.genesys, report.message_id)
    assert len(found) == 1, f"receipts for {report.message_id}: {found}"
    return found[0]


async def test_text_postgres_cannot_store_is_cleaned_and_delivered(bridge: System) -> None:
    """NUL is dropped and a lone surrogate becomes U+FFFD, in both directions."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Nul: before\u0000after")
    # Slack's JSON may carry a `\ud800` escape; the simulator cannot build such a message
    # (its block ids hash the UTF-8 text), so the escape is put into the envelope by hand.
    built = slack.thread_reply(acme, thread_ts=root.ts, text="Surrogate: lone LONEHALF half")
    envelope = json.loads(json.dumps(slack.envelope(built)).replace("LONEHALF", "\\ud800"))
    assert (await slack.post(envelope)).status_code == 200
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()
    [report] = await agents.reply(acme.mentions_integration_id, thread, "Agent: nul\u0000inside")
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={thread: ["Nul: beforeafter", "Surrogate: lone \ufffd half"]},
        to_slack={(acme.support_channel, root.ts): ["Agent: nulinside"]},
    )
    assert only_receipt(bridge, report)["status"] == "Delivered"


@pytest.mark.parametrize("limit", [GENESYS_TEXT_LIMIT, None], ids=["sim-limit-4000", "no-limit"])
async def test_over_long_customer_text_is_shortened_with_a_marker(
    bridge: System, limit: int | None
) -> None:
    """Genesys documents no inbound maximum (UNCONFIRMED); the bridge cuts to 4000 UTF-16
    units either way, so 3000 emoji (6000 units) are cut too."""
    bridge.genesys.config.inbound_text_limit = limit
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Long: " + "a" * 5000)
    await slack.reply(acme, thread_ts=root.ts, text="Emoji: " + "\U0001f600" * 3000)
    await slack.reply(acme, thread_ts=root.ts, text="Short: fits")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()

    texts = genesys_texts(bridge.genesys, thread)
    assert len(texts) == 3, [t[:40] for t in texts]
    long, emoji, short = texts
    assert long.startswith("Long: aaaa") and emoji.startswith("Emoji: \U0001f600")
    for text in (long, emoji):
        assert SHORTENED in text
        assert GENESYS_TEXT_LIMIT - 100 < utf16_length(text) <= GENESYS_TEXT_LIMIT
    assert short == "Short: fits"
    assert slack_posts(bridge.slack, acme.support_channel, root.ts) == [], "no failure notice"
    assert not [r for r in bridge.genesys.inbound if r.status >= 400]


async def test_over_long_agent_text_is_shortened_for_slack(bridge: System) -> None:
    """Slack's 40,000-character `text` limit, and `msg_too_long` if Slack counts otherwise."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Agent long: start")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()
    [huge] = await agents.reply(acme.mentions_integration_id, thread, "Huge: " + "b" * 45_000)
    await bridge.drain()
    bridge.slack.max_text_length = 5000
    [over] = await agents.reply(acme.mentions_integration_id, thread, "Over: " + "c" * 6000)
    await bridge.drain()

    posts = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert len(posts) == 2, [p.text[:40] for p in posts]
    assert posts[0].text.startswith("Huge: bbb") and SHORTENED in posts[0].text
    assert len(posts[0].text) <= 40_000
    assert posts[1].text.startswith("Over: ccc") and SHORTENED in posts[1].text
    assert len(posts[1].text) <= 5000
    for report in (huge, over):
        assert only_receipt(bridge, report)["status"] == "Delivered"


@pytest.mark.parametrize(
    "without_id",
    [
        pytest.param(False, id="with-id"),
        pytest.param(
            True,
            id="without-id",
        ),
    ],
)
async def test_a_2xx_answer_is_a_success_with_or_without_an_id(
    bridge: System, without_id: bool
) -> None:
    bridge.genesys.config.inbound_answer_without_id = without_id
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    label = "without" if without_id else "with"
    root = await slack.mention(acme, f"Answer {label} id: once")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={thread: [f"Answer {label} id: once"]},
        to_slack={(acme.support_channel, root.ts): []},
    )
    calls = [r for r in bridge.genesys.inbound if r.body and thread in str(r.body)]
    assert len(calls) == 1, "a 2xx must not be retried"
    assert await statuses(bridge, f"{acme.slack_team_id}:{acme.support_channel}:{root.ts}") == [
        "delivered"
    ]


async def test_attachments_and_card_links_without_a_url_are_shown(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "No URL: show me")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()
    base = bridge.sims.genesys_url
    attachment = agents.agent.prepare(
        AgentReply(integration_id=acme.mentions_integration_id, to_id=thread, kind="attachment"),
        base_url=base,
    )
    del attachment["content"][0]["attachment"]["url"]
    card = agents.agent.prepare(
        AgentReply(
            integration_id=acme.mentions_integration_id,
            to_id=thread,
            kind="card",
            text="Card without links",
        ),
        base_url=base,
    )
    for action in card["content"][0]["card"]["actions"]:
        action.pop("url", None)
    card["content"][0]["card"].pop("defaultAction", None)
    reports = [await agents.push(attachment), await agents.push(card)]
    await bridge.drain()

    assert [r.outcome for r in reports] == ["delivered", "delivered"]
    posts = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert len(posts) == 2
    assert "no usable link" in str(posts[0].blocks)
    assert "Card without links" in str(posts[1].blocks)
    for report in reports:
        assert only_receipt(bridge, report)["status"] == "Delivered"


async def test_an_agent_message_to_an_unresolvable_recipient_gets_a_failed_receipt(
    bridge: System,
) -> None:
    agents = Agents(bridge)
    acme = bridge.acme.spec
    integration = acme.mentions_integration_id
    base = bridge.sims.genesys_url
    targets = [
        ("customer@example.com", "Email"),
        ("not-an-id-of-ours", "Opaque"),
        (thread_id(GLOBEX, GLOBEX.support_channel, "1700000000.000100"), "Opaque"),
    ]
    reports = []
    for to_id, id_type in targets:
        reply = AgentReply(
            integration_id=integration, to_id=to_id, to_id_type=id_type, text="Lost agent text"
        )
        [report] = await agents.agent.reply(reply, base_url=base)
        reports.append(report)
    await bridge.drain()

    for report, (to_id, _) in zip(reports, targets, strict=True):
        assert report.outcome == "delivered"
        receipt = only_receipt(bridge, report)
        assert receipt["status"] == "Failed", receipt
        assert receipt["channel"]["to"]["id"] == to_id
        [reason] = receipt["reasons"]
        assert reason["code"] == "InvalidDestination"
        assert reason["message"]
    assert not [m for m in bridge.slack.bot_messages() if m.text == "Lost agent text"]
    assert len(accepted(bridge.genesys, "receipt")) >= len(targets)
