"""No message text in any log line, even when the database refuses a row.

A trigger makes Postgres refuse marked rows the way real database errors do: the error
quotes the row (as a constraint or syntax error's DETAIL does), and SQLAlchemy's own error
text quotes the statement's parameters. The web process meets it while ingesting a Slack
event and a Genesys webhook (uvicorn logs the failed request), the worker while delivering.
Then every log file of every web and worker process is searched for the marked texts.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from sandbox.genesys_agent import AgentReply
from tests.e2e.ledger import assert_bridged, wait_until
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id

REFUSE = """
CREATE OR REPLACE FUNCTION e2e_refuse_marked() RETURNS trigger AS $$
BEGIN
  -- Payloads are sealed, so the marked rows cannot be told apart: while the trigger is on,
  -- every row is refused (only marked messages are in flight), quoting what it stores.
  RAISE EXCEPTION 'refused row %', coalesce(NEW.payload_enc, NEW.payload::text);
END $$ LANGUAGE plpgsql
"""
# The worker's log line for a flush that raised and will run again (`app.bridge.dispatch`).
RETRIED = '"msg": "flush failed; conversation held back"'
# The worker writes a message's attempt with its outcome, after the send: a refused write is
# retried in place (`bridge.outcomes`) before the flush itself would be.
OUTCOME_RETRIED = '"msg": "outcome not recorded yet, retrying"'


def worker_refusals(system: System) -> int:
    logs = worker_logs(system)
    return logs.count(RETRIED) + logs.count(OUTCOME_RETRIED)


async def refuse_marked_rows(system: System, on: str | None) -> None:
    """`on` is INSERT or UPDATE: which writes of a marked `bridge_message` row fail."""
    async with system.engine.begin() as connection:
        await connection.execute(text("DROP TRIGGER IF EXISTS e2e_refuse ON bridge_message"))
        if on is not None:
            await connection.execute(text(REFUSE))
            await connection.execute(
                text(
                    f"CREATE TRIGGER e2e_refuse BEFORE {on} ON bridge_message "
                    "FOR EACH ROW EXECUTE FUNCTION e2e_refuse_marked()"
                )
            )


def all_logs(system: System) -> str:
    return "\n".join(p.log() for p in system.formation.processes)


def worker_logs(system: System) -> str:
    return "\n".join(p.log() for p in system.formation.processes if p.kind == "worker")


async def test_database_errors_never_put_message_text_in_logs(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    marks = {name: f"LOGLEAK-{name}-{uuid.uuid4().hex}" for name in ("slack", "agent", "worker")}
    root = await slack.mention(acme, "Logs: the thread")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()
    try:
        await refuse_marked_rows(bridge, "INSERT")
        built = slack.thread_reply(acme, thread_ts=root.ts, text=f"Logs: {marks['slack']}")
        refused = await slack.post(slack.envelope(built))
        # A database failure is the server's: a 503 that Slack and Genesys retry, no stack.
        assert refused.status_code == 503, refused.text
        payload = agents.agent.prepare(
            AgentReply(
                integration_id=acme.mentions_integration_id, to_id=thread, text=marks["agent"]
            ),
            base_url=bridge.sims.genesys_url,
        )
        report = await agents.push(payload)
        assert report.attempts[0].status == 503

        await refuse_marked_rows(bridge, "UPDATE")
        errors_before = worker_refusals(bridge)
        await slack.reply(acme, thread_ts=root.ts, text=f"Logs: {marks['worker']}")
        await wait_until(
            lambda: worker_refusals(bridge) > errors_before,
            20,
            what="the worker to log the refused delivery",
        )
    finally:
        await refuse_marked_rows(bridge, None)
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={thread: ["Logs: the thread", f"Logs: {marks['worker']}"]},
    )
    logs = all_logs(bridge)
    assert "DBAPIError" in logs or "RaiseError" in logs, "the forced errors were never logged"
    leaked = [name for name, mark in marks.items() if mark in logs]
    assert not leaked, f"message text of {leaked} reached the logs"
    for line in logs.splitlines():
        assert "refused row" not in line, line[:300]
