"""Every web process restarted in turn (SIGTERM, then a fresh one), as a deploy does, while a
customer and an agent keep writing. Requests that meet a stopping process are retried by
their senders; nothing accepted is lost or doubled."""

from __future__ import annotations

import asyncio

from tests.e2e.ledger import assert_bridged, wait_until
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id

PACE_SECONDS = 0.1


async def test_restarting_the_web_processes_during_traffic_loses_nothing(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Web restart: the thread")
    thread = thread_id(acme, acme.support_channel, root.ts)
    from_customer: list[str] = []
    from_agent: list[str] = []
    stop = asyncio.Event()

    async def customer() -> None:
        while not stop.is_set():
            text = f"Web restart: customer {len(from_customer) + 1}"
            await slack.reply(acme, thread_ts=root.ts, text=text)
            from_customer.append(text)
            await asyncio.sleep(PACE_SECONDS)

    async def agent() -> None:
        while not stop.is_set():
            text = f"Web restart: agent {len(from_agent) + 1}"
            [report] = await agents.reply(acme.mentions_integration_id, thread, text)
            assert report.outcome == "delivered", report
            from_agent.append(text)
            await asyncio.sleep(PACE_SECONDS)

    traffic = [asyncio.create_task(customer()), asyncio.create_task(agent())]
    try:
        await wait_until(lambda: len(from_customer) >= 3, 20, what="traffic to flow")
        for web in list(bridge.formation.webs):
            await bridge.formation.restart_web(web)
        settled = len(from_customer), len(from_agent)
        await wait_until(
            lambda: len(from_customer) > settled[0] + 2 and len(from_agent) > settled[1] + 2,
            20,
            what="traffic to flow through the new web processes",
        )
    finally:
        stop.set()
        await asyncio.gather(*traffic)
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={thread: ["Web restart: the thread", *from_customer]},
        to_slack={(acme.support_channel, root.ts): from_agent},
    )
