"""Secrets and message text never reach the logs, whatever path they travel."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from app.config import Settings
from app.logs import REDACTED, JsonFormatter, configure_logging, scrub, trace_id
from sandbox.faults import FaultSpec
from sandbox.genesys_agent import Agent, AgentReply
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from sandbox.slack_events import EventSender
from sandbox.slack_payloads import build_dm
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SANDBOX_CLIENT_SECRET, SANDBOX_SIGNING_SECRET, SlackWorld
from tests.factories import TEST_KEY
from tests.harness import APP_BASE, connect_genesys, drain, in_process, install

SECRET_TEXT = "my card number is 4111-1111-1111-1111"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_formatter_redacts_secret_keys_and_token_shapes(captured: io.StringIO) -> None:
    log = logging.getLogger("app.test")
    token = trace_id.set("trace-1234567")
    try:
        log.info(
            "posting with xoxb-123-456-abcdef and Bearer abc.def.ghi to postgres://u:pw@db/x",
            extra={"client_secret": "hunter2", "text": SECRET_TEXT, "tenant_id": "t-1"},
        )
        try:
            raise ValueError("bad token xoxp-999-secret in ?code=abc123&state=xyz")
        except ValueError:
            log.exception("failed")
    finally:
        trace_id.reset(token)
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert lines[0]["client_secret"] == REDACTED and lines[0]["text"] == REDACTED
    assert lines[0]["tenant_id"] == "t-1" and lines[0]["trace_id"] == "trace-1234567"
    dump = captured.getvalue()
    for secret in ("xoxb-123", "abc.def.ghi", "pw@", "hunter2", "4111", "xoxp-999", "abc123"):
        assert secret not in dump
    assert lines[1]["exc_type"] == "ValueError"


def test_scrub_keeps_ordinary_text() -> None:
    assert scrub("delivered message 42 for tenant t-1") == "delivered message 42 for tenant t-1"


async def test_a_whole_flow_logs_no_secret_and_no_message_text(
    captured: io.StringIO,
    app_settings: Settings,
    slack_world: SlackWorld,
    genesys_world: GenesysWorld,
    genesys_transport: httpx.AsyncBaseTransport,
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        await connect_genesys(
            client,
            mentions=SANDBOX_MENTIONS_INTEGRATION_ID,
            dms=SANDBOX_DMS_INTEGRATION_ID,
            client_id=SANDBOX_ORG_CLIENT_ID,
            client_secret=SANDBOX_ORG_CLIENT_SECRET,
        )
        slack_world.events_url = f"{APP_BASE}/slack/events"
        sender = EventSender(
            slack_world, signing_secret=SANDBOX_SIGNING_SECRET, http=client, time_scale=0.001
        )
        built = build_dm(
            slack_world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text=SECRET_TEXT
        )
        await sender.send(built)
        await sender.send(built, signature="tampered")
        # One failed attempt (a 500 from Genesys) exercises the retry and error paths too.
        genesys_world.faults.arm(FaultSpec(route="inbound.message", kind="status", times=1))
        await drain(app_settings, genesys_transport=genesys_transport)
        genesys_world.faults.clear()
        await drain(app_settings, genesys_transport=genesys_transport)
        from_id = next(r for r in genesys_world.inbound if r.status == 200).body["channel"]["from"]
        await Agent(genesys_world, http=client).reply(
            AgentReply(
                integration_id=SANDBOX_DMS_INTEGRATION_ID, to_id=from_id["id"], text=SECRET_TEXT
            ),
            base_url="http://genesys.sim",
        )
        await client.post("/genesys/webhook", content=b"{not json")
        await drain(app_settings, genesys_transport=genesys_transport)
    dump = captured.getvalue()
    assert dump, "the flow logged something"
    integration = genesys_world.integrations[SANDBOX_DMS_INTEGRATION_ID]
    bot_tokens = [t for t in slack_world.tokens if t.startswith("xoxb-")]
    secrets = [
        SANDBOX_ORG_CLIENT_SECRET,
        SANDBOX_CLIENT_SECRET,
        SANDBOX_SIGNING_SECRET,
        TEST_KEY,
        integration.webhook_secret or "missing",
        *bot_tokens,
        "4111-1111",
    ]
    assert bot_tokens
    for secret in secrets:
        assert secret not in dump, f"a secret leaked into the logs: {secret[:6]}…"
    for line in dump.splitlines():
        json.loads(line)  # every record is one JSON object


def test_exceptions_are_logged_without_their_messages(captured: io.StringIO) -> None:
    log = logging.getLogger("app.test")
    try:
        try:
            raise KeyError("customer said: MESSAGE-TEXT-1")
        except KeyError as inner:
            raise RuntimeError("[parameters: ('MESSAGE-TEXT-2',)]") from inner
    except RuntimeError:
        log.exception("failed")
    line = json.loads(captured.getvalue().splitlines()[-1])
    assert "MESSAGE-TEXT" not in captured.getvalue()
    assert line["exc_type"] == "RuntimeError"
    assert "builtins.KeyError (message withheld)" in line["exc"]
    assert line["exc"].index("KeyError") < line["exc"].index("RuntimeError")
    assert "test_exceptions_are_logged_without_their_messages" in line["exc"]


def test_uvicorn_logs_go_through_the_json_formatter() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            assert logging.getLogger(name).handlers == []
            assert logging.getLogger(name).propagate
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_the_plain_value_shortcut_lets_no_token_shape_through() -> None:
    """IDs skip the patterns; anything a pattern could match still meets all of them."""
    for plain in ("Ev0P0000000001", "4f1c2a9e-0b7d-4c55-9a51-3f8f0f1d2e3a", "accepted", ""):
        assert scrub(plain) == plain
    for secret in (
        "xoxb-123-456-abcdef",
        "xoxe-1-abcdef",
        "Bearer abc.def",
        "sha256=" + "a" * 40,
        "v0=" + "0" * 64,
        "v1:key1:" + "A" * 20,
        "client_secret=hunter2",
        "postgres://user:pw@db/x",
    ):
        assert REDACTED in scrub(secret), secret


def test_timestamps_match_iso_8601_with_milliseconds() -> None:
    record = logging.makeLogRecord({"msg": "tick", "created": 1_796_000_000.0421})
    line = json.loads(JsonFormatter().format(record))
    assert line["ts"] == "2026-11-30T00:53:20.042+00:00"


def test_an_access_log_uvicorn_turned_off_stays_off() -> None:
    root = logging.getLogger()
    access = logging.getLogger("uvicorn.access")
    handlers, level, propagate = root.handlers[:], root.level, access.propagate
    try:
        access.handlers, access.propagate = [], False  # what `--no-access-log` leaves
        configure_logging("INFO")
        assert not access.propagate and not access.hasHandlers()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        access.propagate = propagate
