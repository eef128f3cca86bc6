"""Message payloads at rest: a Slack mention, a DM and an agent's reply are bridged as usual,
but no row of Postgres holds their text in plaintext, not the message rows nor anything else
the bridge stored for them."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.e2e.ledger import assert_bridged
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id

# Every table of the product, searched as whole rows for the marker.
TABLES = ("bridge_message", "conversation", "audit_event", "procrastinate_jobs")


async def rows_with(system: System, marker: str) -> dict[str, int]:
    found: dict[str, int] = {}
    async with system.engine.connect() as connection:
        for table in TABLES:
            count = (
                await connection.execute(
                    text(f"SELECT count(*) FROM {table} AS t WHERE row_to_json(t)::text LIKE :m"),
                    {"m": f"%{marker}%"},
                )
            ).scalar_one()
            if count:
                found[table] = int(count)
    return found


async def test_payloads_are_not_plaintext_in_postgres_and_still_deliver(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    marker = f"SEALED{uuid.uuid4().hex}"
    root = await slack.mention(acme, f"Question {marker}")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await agents.reply(acme.mentions_integration_id, thread, f"Answer {marker}")
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={thread: [f"Question {marker}"]},
        to_slack={(acme.support_channel, root.ts): [f"Answer {marker}"]},
    )
    async with bridge.engine.connect() as connection:
        stored = (
            await connection.execute(
                text("SELECT count(*) FROM bridge_message WHERE tenant_id = :t"),
                {"t": bridge.acme.tenant_id},
            )
        ).scalar_one()
    assert stored >= 2, "the bridged messages were not kept at all"
    assert await rows_with(bridge, marker) == {}
