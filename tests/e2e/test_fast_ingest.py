"""The fast ingest path against real web and worker processes: acks within Slack's deadline
even when the database stalls, and the per-process tenant cache never outliving a change.

There are two web processes behind one socket. Each request here goes over a connection of
its own, so both processes serve some of them; a scenario that needs both processes to have
served (and cached) a tenant waits until both logs say so.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import BridgeMessage
from app.signing import genesys_signature, slack_headers
from devkit.harness.processes import AppProcess
from devkit.harness.tenants import GLOBEX
from sandbox.genesys_webhook import to_body
from sandbox.slack_payloads import build_app_uninstalled
from sandbox.slack_world import SANDBOX_SIGNING_SECRET
from tests.e2e.admin import Admin
from tests.e2e.ledger import genesys_texts, slack_texts, wait_until
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id

# Slack retries an event it has no answer for after 3 s; our answer must come before.
SLACK_DEADLINE_SECONDS = 3.0
# How long the test keeps the database from storing anything.
STALL_SECONDS = 5.0


async def post_fresh(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """One request over a new connection, so either web process may take it."""
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=body, headers=headers)


async def post_event(
    system: System, envelope: dict[str, Any], retry_num: int = 0
) -> httpx.Response:
    body = json.dumps(envelope).encode()
    headers = slack_headers(SANDBOX_SIGNING_SECRET, body)
    if retry_num:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return await post_fresh(f"{system.app_url}/slack/events", body, headers)


async def post_webhook(system: System, body: bytes, secret: str) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": genesys_signature(secret, body),
    }
    return await post_fresh(f"{system.app_url}/genesys/webhook", body, headers)


def served(web: AppProcess, marker: str) -> int:
    return web.log().count(marker)


async def until_every_web_served(
    system: System, send: Any, marker: str, *, attempts: int = 40
) -> list[httpx.Response]:
    """Send (`send()` makes one request) until every web process logged `marker` once more
    than it had; fails if one never gets a request."""
    webs = list(system.formation.webs)
    before = {id(web): served(web, marker) for web in webs}
    responses = []
    for _ in range(attempts):
        responses.append(await send())
        if all(served(web, marker) > before[id(web)] for web in webs):
            return responses
    raise AssertionError(f"not every web process served a request ({marker!r})")


@asynccontextmanager
async def conversations_locked(engine: AsyncEngine) -> AsyncIterator[None]:
    """Nothing can be stored while this is held: every ingest upserts a conversation."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text("LOCK TABLE conversation IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await transaction.rollback()


async def stored_messages(engine: AsyncEngine, event_ids: list[str]) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).where(BridgeMessage.slack_event_id.in_(event_ids))
        )
    return int(count or 0)


async def test_a_stalled_database_is_answered_before_slacks_deadline(bridge: System) -> None:
    """While nothing can be stored, Slack gets a 503 (which it retries) within its 3 s, not
    a 200 after the stall or a 500 after the pool's 30 s; its retry then lands once."""
    people = SlackPeople(bridge)
    acme = bridge.acme.spec
    built = people.dm_built(acme, "Stall: is anyone there?")
    envelope = people.envelope(built)
    async with conversations_locked(bridge.engine):
        started = time.monotonic()
        request = asyncio.create_task(post_event(bridge, envelope))
        done, _ = await asyncio.wait([request], timeout=SLACK_DEADLINE_SECONDS)
        waited = time.monotonic() - started
        assert done, (
            f"no answer within Slack's {SLACK_DEADLINE_SECONDS:g} s while the database was "
            "stalled: Slack would retry an event the app may still store"
        )
        first = request.result()
        assert first.status_code == 503, (first.status_code, first.text)
        assert first.headers.get("retry-after")
        await asyncio.sleep(max(0.0, STALL_SECONDS - waited))
    retried = await post_event(bridge, envelope, retry_num=1)
    assert retried.status_code == 200, retried.text
    await bridge.drain()
    assert (
        genesys_texts(bridge.genesys, dm_id(acme, acme.customer)).count("Stall: is anyone there?")
        == 1
    )


async def test_a_finished_rotation_refuses_the_old_secret_in_every_web_process(
    bridge: System,
) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    integration = acme.mentions_integration_id
    root = await slack.mention(acme, "Cached: my invoice is wrong")
    thread = thread_id(acme, acme.support_channel, root.ts)
    old = bridge.webhook_secret(integration)
    sent: list[str] = []

    async def reply_signed_with(secret: str) -> httpx.Response:
        text_ = f"Cached: reply {len(sent) + 1}"
        sent.append(text_)
        return await post_webhook(
            bridge, to_body(agents.prepare(integration, thread, text_)), secret
        )

    # Every web process has verified (and cached) the integration with the old secret.
    warm = await until_every_web_served(bridge, lambda: reply_signed_with(old), "genesys webhook")
    assert {r.status_code for r in warm} == {200}

    admin = await Admin(bridge, acme).sign_in()
    rotated = await admin.post(f"/onboarding/integrations/{integration}/rotate", {})
    assert rotated.status_code == 303, rotated.text
    new = bridge.webhook_secret(integration)
    assert new != old
    [report] = await agents.reply(integration, thread, "Cached: signed with the new secret")
    assert report.outcome == "delivered", report.attempts

    refused_before = {
        id(web): served(web, "webhook signature mismatch") for web in bridge.formation.webs
    }
    late: list[httpx.Response] = []
    for _ in range(40):
        late.append(await reply_signed_with(old))
        if all(
            served(web, "webhook signature mismatch") > refused_before[id(web)]
            for web in bridge.formation.webs
        ):
            break
    assert {r.status_code for r in late} == {401}, [r.status_code for r in late]
    assert all(
        served(web, "webhook signature mismatch") > refused_before[id(web)]
        for web in bridge.formation.webs
    ), "not every web process was asked"
    await bridge.drain()
    delivered = slack_texts(bridge.slack, acme.support_channel, root.ts)
    assert delivered == [*sent[: len(warm)], "Cached: signed with the new secret"]


async def test_each_request_logs_its_one_line_and_the_access_log_stays_off(
    bridge: System,
) -> None:
    """The web runs with `--no-access-log` (Procfile, harness): the app's logging set-up must
    not turn uvicorn's access log back on, so an event costs one log line, its outcome."""
    people = SlackPeople(bridge)
    acme = bridge.acme.spec
    envelope = people.envelope(people.dm_built(acme, "One line: question"))
    answer = await post_event(bridge, envelope)
    assert answer.status_code == 200
    logs = "\n".join(web.log() for web in bridge.formation.webs)
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("slack_event_id") == envelope["event_id"]]
    assert [line["msg"] for line in mine] == ["slack event"]
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]


async def test_an_uninstall_takes_effect_at_once_in_every_web_process(bridge: System) -> None:
    """Runs last in this module: Globex stays uninstalled."""
    people = SlackPeople(bridge)
    globex = bridge.globex.spec
    before: list[str] = []

    async def dm(texts: list[str]) -> httpx.Response:
        built = people.dm_built(globex, f"Uninstall: question {len(texts) + 1}")
        envelope = people.envelope(built)
        texts.append(str(envelope["event_id"]))
        return await post_event(bridge, envelope)

    warm = await until_every_web_served(bridge, lambda: dm(before), "slack event")
    assert {r.status_code for r in warm} == {200}
    await wait_until(
        lambda: len(genesys_texts(bridge.genesys, dm_id(globex, globex.customer))) >= len(before),
        20,
        what="the warm-up DMs to reach Genesys",
    )

    uninstalled = await people.post(
        people.envelope(build_app_uninstalled(bridge.slack, slack_team_id=GLOBEX.slack_team_id))
    )
    assert uninstalled.status_code == 200, uninstalled.text

    after: list[str] = []
    late = await until_every_web_served(bridge, lambda: dm(after), "slack event")
    assert {r.status_code for r in late} == {200}  # acknowledged, and dropped
    assert await stored_messages(bridge.engine, after) == 0
    await bridge.drain()
    assert len(genesys_texts(bridge.genesys, dm_id(globex, globex.customer))) == len(before)
