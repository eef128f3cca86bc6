"""The ingest endpoints served in front of the page stack keep what the stack gave them: the
trace ID header, clear answers for every failure, and nothing of the pages' cookies."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from app.config import Settings
from app.main import create_app
from app.signing import genesys_signature
from sandbox.slack_world import SANDBOX_VERIFICATION_TOKEN
from tests.harness import APP_BASE, in_process
from tests.slack.delivery import post_signed

MESSAGE_EVENT = {
    "type": "event_callback",
    "team_id": "T0NOSUCH01",
    "api_app_id": "A0SWITCHBD",
    "event_id": "Ev0FRONT0001",
    "event_time": 1_700_000_000,
    "event": {
        "type": "message",
        "channel": "D0FRONT001",
        "channel_type": "im",
        "user": "U0FRONT001",
        "text": "hello",
        "ts": "1700000000.000100",
    },
}


@asynccontextmanager
async def unreachable_database(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a database nobody answers at: storing anything raises."""
    url = re.sub(r"@[^/]+/", "@127.0.0.1:1/", settings.database_url.get_secret_value())
    app = create_app(settings.model_copy(update={"database_url": SecretStr(url)}))
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope, receive, send):  # type: ignore[no-untyped-def]
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=APP_BASE) as client:
            yield client


async def test_ingest_answers_carry_the_trace_id_and_no_page_cookie(
    app_settings: Settings,
) -> None:
    url_check = {
        "token": SANDBOX_VERIFICATION_TOKEN,
        "challenge": "c" * 20,
        "type": "url_verification",
    }
    async with in_process(app_settings) as client:
        # Answered by the lean path itself, by Bolt behind it, and by the bridge's outcome.
        forged = await post_signed(client, MESSAGE_EVENT, secret="not-the-signing-secret")
        challenged = await post_signed(client, url_check)
        webhook = await client.post(
            "/genesys/webhook",
            content=b"{}",
            headers={"x-request-id": "trace-front-0001", "x-hub-signature-256": "sha256=00"},
        )
        invalid_id = await client.post(
            "/genesys/webhook", content=b"{}", headers={"x-request-id": "no spaces allowed"}
        )
    assert forged.status_code == 401 and forged.json() == {"error": "invalid request"}
    assert challenged.status_code == 200 and challenged.json() == {"challenge": "c" * 20}
    assert webhook.status_code == 400
    assert webhook.headers["x-request-id"] == "trace-front-0001"
    for answer in (forged, challenged, invalid_id):
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    for answer in (forged, challenged, webhook, invalid_id):
        assert answer.headers.get_list("x-request-id") == [answer.headers["x-request-id"]]
        assert "set-cookie" not in answer.headers
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_a_database_that_is_down_gets_a_503_to_retry_never_a_500(
    app_settings: Settings,
) -> None:
    body = json.dumps({"id": "m1", "channel": {"id": "some-integration"}}).encode()
    async with unreachable_database(app_settings) as client:
        event = await post_signed(client, MESSAGE_EVENT)
        webhook = await client.post(
            "/genesys/webhook",
            content=body,
            headers={"x-hub-signature-256": genesys_signature("guess", body)},
        )
    assert (event.status_code, event.json()) == (503, {"error": "busy, retry later"})
    assert (webhook.status_code, webhook.json()) == (503, {"status": "busy, retry later"})
    for answer in (event, webhook):
        assert answer.headers["retry-after"] == "1"
        assert "Traceback" not in answer.text and "asyncpg" not in answer.text


async def test_other_methods_on_the_ingest_paths_still_reach_the_router(
    app_settings: Settings,
) -> None:
    async with in_process(app_settings) as client:
        listed = await client.get("/slack/events", headers={"accept": "*/*"})
        put = await client.put("/genesys/webhook", content=b"{}")
    assert listed.status_code == 405 and listed.headers["allow"] == "POST"
    assert put.status_code == 405
