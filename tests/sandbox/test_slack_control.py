from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.runner import ServerThread
from sandbox.slack_app import create_slack_sandbox
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SlackWorld
from tests.sandbox.simulators import SUPPORT

SCOPES = ["chat:write", "users:read", "im:history", "im:write"]


class App:
    """Our app's stand-in for events: records bodies and answers with `status`."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[dict[str, Any]] = []

    def asgi(self) -> Starlette:
        async def events(request: Request) -> Response:
            self.received.append(await request.json())
            return Response(status_code=self.status)

        return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[SlackWorld, str, App, str]]:
    world = SlackWorld.seeded()
    app = App()
    with ServerThread(create_slack_sandbox(world)) as server, ServerThread(app.asgi()) as ours:
        world.public_url = server.url
        yield world, server.url, app, f"{ours.url}/slack/events"


@pytest.fixture
async def http(sim: tuple[SlackWorld, str, App, str]) -> AsyncIterator[httpx.AsyncClient]:
    _, url, app, _ = sim
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.post("/_sandbox/reset")).json() == {"ok": True}
        app.status, app.received = 200, []
        yield client


@pytest.fixture
def events_url(sim: tuple[SlackWorld, str, App, str]) -> str:
    return sim[3]


@pytest.fixture
def app(sim: tuple[SlackWorld, str, App, str]) -> App:
    return sim[2]


async def bot_token(http: httpx.AsyncClient) -> str:
    installed = await http.post("/_sandbox/install", json={"team": ACME_TEAM_ID, "scopes": SCOPES})
    body = installed.json()
    assert body["team"] == {"id": ACME_TEAM_ID, "name": "Acme Corp"}
    return str(body["access_token"])


@pytest.mark.parametrize(
    ("wanted", "undeclared"),
    [
        pytest.param(
            {"scopes": [*SCOPES, "usergroups:write"]}, ["usergroups:write"], id="bot-scope"
        ),
        pytest.param(
            {"scopes": SCOPES, "user_scopes": ["users:read"]}, ["users:read"], id="user-scope"
        ),
    ],
)
async def test_the_install_shortcut_refuses_scopes_the_manifest_does_not_declare(
    sim: tuple[SlackWorld, str, App, str],
    http: httpx.AsyncClient,
    wanted: dict[str, list[str]],
    undeclared: list[str],
) -> None:
    """Skipping the consent page skips no rule: `/oauth/v2/authorize` refuses an undeclared
    scope (`invalid_scope`, slack-platform §6; external-contracts S1), and so does this."""
    world = sim[0]
    refused = await http.post("/_sandbox/install", json={"team": ACME_TEAM_ID, **wanted})
    assert refused.status_code == 400
    assert refused.json() == {"ok": False, "error": "invalid_scope", "undeclared": undeclared}
    assert world.installations == [] and world.tokens == {}
    assert await bot_token(http), "the declared scopes alone still install"


async def test_the_control_uninstall_sends_both_events_and_revokes_the_tokens(
    http: httpx.AsyncClient, events_url: str, app: App
) -> None:
    """As the page's Uninstall button: `app_uninstalled` and `tokens_revoked`, tokens revoked."""
    auth = {"Authorization": f"Bearer {await bot_token(http)}"}
    await http.patch("/_sandbox/config", json={"events_url": events_url})
    sent = await http.post("/_sandbox/events", json={"kind": "uninstall", "team": ACME_TEAM_ID})
    assert sent.status_code == 200, sent.text
    assert [d["event_type"] for d in sent.json()["deliveries"]] == [
        "app_uninstalled",
        "tokens_revoked",
    ]
    assert [r["event"]["type"] for r in app.received] == ["app_uninstalled", "tokens_revoked"]
    assert app.received[1]["event"]["tokens"] == {"oauth": [], "bot": ["U0ACMEBOT1"]}
    after = await http.post("/api/auth.test", headers=auth)
    assert after.json() == {"ok": False, "error": "account_inactive"}


@pytest.mark.parametrize("per_hour", [2, 30_000], ids=["lowered", "slack-default"])
async def test_over_the_hourly_event_limit_events_are_dropped_with_one_app_rate_limited(
    http: httpx.AsyncClient, events_url: str, app: App, per_hour: int
) -> None:
    """external-contracts S2: at most 30,000 events per workspace per hour, then
    `app_rate_limited` (its own shape, no `event_callback` envelope), once; configurable."""
    await bot_token(http)
    await http.patch("/_sandbox/config", json={"events_url": events_url, "events_per_hour": 2})
    if per_hour != 2:
        await http.patch("/_sandbox/config", json={"events_per_hour": per_hour})
    mention = {"kind": "mention", "team": ACME_TEAM_ID, "channel": SUPPORT, "user": "U0ACME0003"}
    sent = [
        (await http.post("/_sandbox/events", json={**mention, "text": f"n{n}"})).json()
        for n in range(4)
    ]
    errors = [s["delivery"].get("error") for s in sent]
    kinds = [body.get("type") for body in app.received]
    if per_hour == 30_000:
        assert errors == [None] * 4
        assert kinds == ["event_callback"] * 4
        return
    assert errors == [None, None, "app_rate_limited", "app_rate_limited"]
    assert kinds == ["event_callback", "event_callback", "app_rate_limited"]
    notice = app.received[2]
    assert notice["team_id"] == ACME_TEAM_ID
    assert notice["minute_rate_limited"] % 60 == 0
    assert {"token", "api_app_id"} <= notice.keys() and "event" not in notice


async def test_config_round_trip_and_reset_keeps_events_url(
    http: httpx.AsyncClient, events_url: str
) -> None:
    patched = await http.patch(
        "/_sandbox/config",
        json={
            "events_url": events_url,
            "post_rate_per_channel": None,
            "token_rotation": True,
            "method_rate_limits": False,
            "events_per_hour": 5,
        },
    )
    assert patched.json()["post_rate_per_channel"] is None
    assert patched.json()["token_rotation"] is True
    assert patched.json()["method_rate_limits"] is False
    assert patched.json()["events_per_hour"] == 5
    await http.post("/_sandbox/reset")
    config = (await http.get("/_sandbox/config")).json()
    assert config["events_url"] == events_url
    assert config["token_rotation"] is False
    assert config["post_rate_per_channel"] == 1.0
    assert config["post_burst"] == 3
    assert config["method_rate_limits"] is True
    assert config["events_per_hour"] == 30_000


async def test_faults_calls_and_messages(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {await bot_token(http)}"}
    armed = await http.post(
        "/_sandbox/faults",
        json={"route": "chat.postMessage", "kind": "rate_limit", "retry_after": 3, "times": 1},
    )
    limited = await http.post(
        "/api/chat.postMessage", headers=auth, json={"channel": SUPPORT, "text": "a"}
    )
    posted = await http.post(
        "/api/chat.postMessage", headers=auth, json={"channel": SUPPORT, "text": "b"}
    )
    listed = (await http.get("/_sandbox/faults")).json()
    await http.post("/_sandbox/faults", json={"route": "*", "kind": "status", "status": 500})
    cleared = await http.delete("/_sandbox/faults")
    after = await http.post("/api/auth.test", headers=auth)
    calls = (await http.get("/_sandbox/calls", params={"method": "chat.postMessage"})).json()
    messages = (await http.get("/_sandbox/messages", params={"channel": SUPPORT})).json()
    assert armed.status_code == 200
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert posted.json()["ok"] is True
    assert listed["hits"] == {"chat.postMessage": 1}
    assert cleared.status_code == 200
    assert after.json()["ok"] is True
    assert [(c["status"], c["params"].get("text")) for c in calls["calls"]] == [
        (429, "a"),
        (200, "b"),
    ]
    assert calls["calls"][1]["team_id"] == ACME_TEAM_ID
    assert [m["text"] for m in messages["messages"]] == ["b"]
    assert messages["messages"][0]["channel"] == SUPPORT


async def test_events_endpoint_drives_a_conversation(
    http: httpx.AsyncClient, events_url: str, app: App
) -> None:
    await bot_token(http)
    await http.patch("/_sandbox/config", json={"events_url": events_url})
    mention = (
        await http.post(
            "/_sandbox/events",
            json={
                "kind": "mention",
                "team": ACME_TEAM_ID,
                "channel": SUPPORT,
                "user": "U0ACME0002",
                "text": "hi",
            },
        )
    ).json()
    edit = (
        await http.post(
            "/_sandbox/events",
            json={
                "kind": "edit",
                "team": ACME_TEAM_ID,
                "channel": SUPPORT,
                "ts": mention["ts"],
                "text": "hey",
            },
        )
    ).json()
    dm_file = (
        await http.post(
            "/_sandbox/events",
            json={
                "kind": "file",
                "team": ACME_TEAM_ID,
                "user": "U0ACME0003",
                "file_name": "log.txt",
                "file_content": "b64:aGVsbG8=",
            },
        )
    ).json()
    assert mention["delivery"]["delivered"] is True
    assert mention["delivery"]["attempts"][0]["status"] == 200
    assert mention["channel"] == SUPPORT
    assert edit["delivery"]["envelope"]["event"]["subtype"] == "message_changed"
    assert [body["event"]["type"] for body in app.received] == ["app_mention", "message", "message"]
    shared = app.received[2]["event"]
    assert shared["subtype"] == "file_share"
    assert shared["files"][0]["size"] == 5
    assert dm_file["channel"].startswith("D")


async def test_failing_app_is_reported_and_retried_in_background(
    http: httpx.AsyncClient, events_url: str, app: App
) -> None:
    await http.patch(
        "/_sandbox/config", json={"events_url": events_url, "retry_time_scale": 0.0001}
    )
    app.status = 500
    sent = (
        await http.post(
            "/_sandbox/events",
            json={"kind": "dm", "team": ACME_TEAM_ID, "user": "U0ACME0002", "text": "hello?"},
        )
    ).json()
    delivery = sent["delivery"]
    assert delivery["delivered"] is False
    assert delivery["attempts"][0]["status"] == 500
    page = await http.get("/")
    assert "answered HTTP 500" in page.text
    for _ in range(100):
        later = (await http.get(f"/_sandbox/deliveries/{delivery['event_id']}")).json()["delivery"]
        if later["done"]:
            break
        await asyncio.sleep(0.02)
    assert [a["retry_num"] for a in later["attempts"]] == [0, 1, 2, 3]
    assert {body["event_id"] for body in app.received} == {delivery["event_id"]}


async def test_bad_control_requests(http: httpx.AsyncClient) -> None:
    invalid = await http.post("/_sandbox/faults", json={"route": "x", "kind": "explode"})
    unknown_user = await http.post(
        "/_sandbox/events",
        json={"kind": "dm", "team": ACME_TEAM_ID, "user": "U0NOBODY", "text": "x"},
    )
    missing = await http.get("/_sandbox/deliveries/Ev0NOPE")
    assert invalid.status_code == 422
    assert unknown_user.status_code == 400
    assert missing.status_code == 404


async def test_channel_patch_removes_bot(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {await bot_token(http)}"}
    await http.patch(f"/_sandbox/channels/{SUPPORT}", json={"bot_is_member": False})
    response = await http.post(
        "/api/chat.postMessage", headers=auth, json={"channel": SUPPORT, "text": "x"}
    )
    assert response.json()["error"] == "not_in_channel"


async def test_world_directory_lists_ids(http: httpx.AsyncClient) -> None:
    teams = {t["id"]: t for t in (await http.get("/_sandbox/world")).json()["teams"]}
    assert teams[ACME_TEAM_ID]["channels"]["support"] == SUPPORT
    assert teams[ACME_TEAM_ID]["bot_user_id"] == "U0ACMEBOT1"
    assert teams["T0SANDBOX3"]["enterprise_id"] == "E0SANDBOX1"


async def test_human_page_hints_when_events_url_missing(http: httpx.AsyncClient) -> None:
    await http.patch("/_sandbox/config", json={"events_url": None})
    page = await http.get("/")
    assert page.status_code == 200
    assert 'id="events-url-missing"' in page.text
    assert 'id="not-installed"' in page.text
    for control in ('name="team"', 'name="channel"', 'name="user"', 'name="text"', 'name="thread"'):
        assert control in page.text
    assert '<label for="text">' in page.text


async def test_human_page_sends_dm_and_shows_bot_reply_in_thread(
    http: httpx.AsyncClient, events_url: str, app: App
) -> None:
    auth = {"Authorization": f"Bearer {await bot_token(http)}"}
    saved = await http.post("/settings", data={"events_url": events_url})
    sent = await http.post(
        "/send",
        data={"team": ACME_TEAM_ID, "channel": "dm", "user": "U0ACME0002", "text": "I need <help>"},
    )
    event = app.received[0]["event"]
    await http.post(
        "/api/chat.postMessage",
        headers=auth,
        json={
            "channel": event["channel"],
            "text": "Agent here",
            "thread_ts": event["ts"],
            "username": "Dana",
        },
    )
    frame = await http.get(
        "/conversation", params={"team": ACME_TEAM_ID, "channel": "dm", "user": "U0ACME0002"}
    )
    page = await http.get("/", params={"team": ACME_TEAM_ID, "channel": "dm", "user": "U0ACME0002"})
    assert saved.status_code == 303
    assert sent.status_code == 303
    assert event["channel_type"] == "im"
    assert event["text"] == "I need &lt;help&gt;", "Slack's composer escapes < > &"
    assert 'http-equiv="refresh"' in frame.text
    assert "I need &lt;help&gt;" in frame.text
    assert 'class="thread"' in frame.text
    assert "Agent here" in frame.text
    assert "Dana" not in frame.text  # username needs chat:write.customize
    assert "Delivered message" in page.text
    assert f'<option value="{event["ts"]}"' in page.text


async def test_human_page_mention_in_channel_and_problem_notice(
    http: httpx.AsyncClient, events_url: str, app: App
) -> None:
    await http.patch("/_sandbox/config", json={"events_url": events_url})
    sent = await http.post(
        "/send",
        data={
            "team": ACME_TEAM_ID,
            "channel": SUPPORT,
            "user": "U0ACME0003",
            "text": "hello",
            "mention": "1",
        },
    )
    refused = await http.post(
        "/send",
        data={
            "team": ACME_TEAM_ID,
            "channel": "C0ACMERAND",
            "user": "U0ACME0003",
            "text": "hello",
            "mention": "1",
        },
        follow_redirects=True,
    )
    assert sent.status_code == 303
    assert app.received[0]["event"]["type"] == "app_mention"
    assert app.received[0]["event"]["text"] == "<@U0ACMEBOT1> hello"
    assert 'id="problem"' in refused.text
    assert len(app.received) == 1
