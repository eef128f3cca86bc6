"""Postgres restarted while events and replies flow.

This test owns a private cluster (not the session's database) so it can stop it. Four
conversations send continuously: customers in two Slack threads, an agent in one of those
threads and an agent in a DM. Each conversation sends its next message only once the sender
has its 200 (after its own retries), so the order it was accepted in is the order sent.

While Postgres is down the app must refuse (a non-2xx, or no answer) rather than acknowledge
what it could not store, so Slack's `EventSender` and Genesys' `WebhookSender` retry; once
it is back, every accepted message is delivered: lost = 0, duplicates = 0, order kept.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from alembic import command

from devkit.cluster import LocalCluster, running_cluster
from devkit.harness.processes import describe_crashes
from sandbox.genesys_records import DeliveryReport as WebhookReport
from sandbox.slack_events import DeliveryReport
from tests.conftest import alembic_config
from tests.e2e.ledger import broken, compare, wait_until
from tests.e2e.stack import System, running_system
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id

# Slack's retries (at once, +1 min, +5 min) become at once, +1.8 s, +9 s.
SLACK_RETRY_SCALE = 0.03
PACE_SECONDS = 0.1
WARM_UP_MESSAGES = 3
# After the restart the worker reconnects (steps of at most 2 s), waits its 3 s grace, and
# claims again; Slack's and Genesys' retries of what was refused arrive within ~10 s.
DRAIN_TIMEOUT_SECONDS = 60.0


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[LocalCluster]:
    # Not under pytest's tmp dir: as root the server runs as `postgres`, which cannot enter it.
    data_dir = Path(tempfile.mkdtemp(prefix="switchboard-e2e-pg-"))
    try:
        with running_cluster(data_dir, database="switchboard_e2e") as cluster:
            command.upgrade(alembic_config(cluster.url("switchboard_e2e")), "head")
            yield cluster
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def own_system(
    private_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    url = private_cluster.url("switchboard_e2e")
    async with running_system(url, tmp_path_factory.mktemp("e2e-pg-logs")) as running:
        yield running
        running.formation.check_alive()


class Conversation:
    """One sender that keeps writing into one conversation until told to stop."""

    def __init__(self, name: str, send: Callable[[str], Awaitable[bool]]) -> None:
        self.name = name
        self._send = send
        self.accepted: list[str] = []
        self.refused: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            text = f"{self.name} #{n}"
            (self.accepted if await self._send(text) else self.refused).append(text)
            await asyncio.sleep(PACE_SECONDS)


def refused_then_retried(attempts: list[bool]) -> bool:
    """A delivery whose first attempt failed and a later one succeeded."""
    return len(attempts) > 1 and not attempts[0] and attempts[-1]


async def test_a_postgres_restart_during_traffic_loses_nothing(
    own_system: System, private_cluster: LocalCluster
) -> None:
    system = own_system
    slack = SlackPeople(system, time_scale=SLACK_RETRY_SCALE)
    agents = Agents(system)
    acme = system.acme.spec
    roots = [await slack.mention(acme, f"Restart: thread {n}") for n in (1, 2)]
    await system.drain()
    slack_reports: list[DeliveryReport] = []
    webhook_reports: list[WebhookReport] = []

    def customer(thread_ts: str) -> Callable[[str], Awaitable[bool]]:
        async def send(text: str) -> bool:
            built = slack.thread_reply(acme, thread_ts=thread_ts, text=text)
            report = await slack.sender.send(built)
            slack_reports.append(report)
            return report.delivered

        return send

    def agent(integration_id: str, to_id: str) -> Callable[[str], Awaitable[bool]]:
        async def send(text: str) -> bool:
            [report] = await agents.reply(integration_id, to_id, text)
            webhook_reports.append(report)
            return report.outcome == "delivered"

        return send

    first, second = (thread_id(acme, acme.support_channel, r.ts) for r in roots)
    direct = dm_id(acme, "U0ACME0002")
    conversations = [
        Conversation("customer 1", customer(roots[0].ts)),
        Conversation("customer 2", customer(roots[1].ts)),
        Conversation("agent 1", agent(acme.mentions_integration_id, first)),
        Conversation("agent dm", agent(acme.dms_integration_id, direct)),
    ]
    stop = asyncio.Event()
    traffic = [asyncio.create_task(c.run(stop)) for c in conversations]
    try:
        await wait_until(
            lambda: all(len(c.accepted) >= WARM_UP_MESSAGES for c in conversations),
            30,
            what="traffic to flow before the restart",
        )
        await asyncio.to_thread(private_cluster.stop, "fast")
        # Reports fill in attempt by attempt, so the first refusal shows at once.
        await wait_until(
            lambda: (
                any(
                    a.outcome != "ok"
                    for r in list(system.slack.deliveries.values())
                    for a in r.attempts
                )
                and any(
                    a.status != 200 for r in list(system.genesys.deliveries) for a in r.attempts
                )
            ),
            20,
            what="both senders to meet the database outage",
        )
        await asyncio.to_thread(private_cluster.start)
        after = {c.name: len(c.accepted) for c in conversations}
        await wait_until(
            lambda: all(len(c.accepted) >= after[c.name] + WARM_UP_MESSAGES for c in conversations),
            60,
            what="traffic to flow again after the restart",
        )
    finally:
        stop.set()
        await asyncio.gather(*traffic)
    await system.drain(within=DRAIN_TIMEOUT_SECONDS)

    # The outage was met by both senders, and their retries got through.
    assert any(refused_then_retried([a.outcome == "ok" for a in r.attempts]) for r in slack_reports)
    assert any(refused_then_retried([a.status == 200 for a in r.attempts]) for r in webhook_reports)
    # Everything else is collected, so one run names every way the restart went wrong.
    problems = [
        f"{c.name}: the sender gave up on {c.refused} (lost before it was ever accepted)"
        for c in conversations
        if c.refused
    ]
    crashes = system.formation.crashed()
    system.formation.reported.extend(crashes)
    if crashes:
        problems.append(describe_crashes(crashes))
    dm_channel = system.slack.open_dm(acme.slack_team_id, "U0ACME0002").slack_channel_id
    verdicts = compare(
        system.slack,
        system.genesys,
        to_genesys={
            first: ["Restart: thread 1", *conversations[0].accepted],
            second: ["Restart: thread 2", *conversations[1].accepted],
        },
        to_slack={
            (acme.support_channel, roots[0].ts): conversations[2].accepted,
            (dm_channel, None): conversations[3].accepted,
        },
    )
    if (problem := broken(verdicts)) is not None:
        problems.append(problem)
    assert not problems, "\n\n".join(problems)
