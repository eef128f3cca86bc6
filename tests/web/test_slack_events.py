"""`/slack/events` end to end: signatures, the URL check, events nobody handles, tenants.

Messages, mentions and button clicks are stored by `app.web.slack_events` and never reach
Bolt; every other request goes through Bolt's authorization. Both paths are exercised here.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal
from urllib.parse import urlencode

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.signing import slack_signature
from sandbox.slack_events import build_envelope
from sandbox.slack_payloads import (
    BuiltEvent,
    build_app_uninstalled,
    build_delete,
    build_dm,
    build_edit,
    build_mention,
    build_tokens_revoked,
)
from sandbox.slack_seed import ACME_TEAM_ID, GLOBEX_TEAM_ID, INITECH_TEAM_ID
from sandbox.slack_world import (
    SANDBOX_SIGNING_SECRET,
    SANDBOX_VERIFICATION_TOKEN,
    SlackWorld,
)
from tests.harness import in_process, install
from tests.slack.delivery import bare_event, event_sender, post_signed, settle, statuses

SUPPORT = "C0ACMESUPP"
# What Bolt answers (with a 200) when it finds no installation for the event's workspace.
AUTHORIZE_REFUSAL = "your installation with this app is no longer available"


async def snapshot(engine: AsyncEngine) -> dict[str, list[str]]:
    """Every row of every table, as JSON text, to compare before and after."""
    async with engine.connect() as connection:
        tables = (
            await connection.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'alembic_version' ORDER BY 1"
                )
            )
        ).scalars()
        return {
            table: list(
                (
                    await connection.execute(
                        text(f'SELECT row_to_json(t)::text FROM "{table}" t ORDER BY 1')
                    )
                ).scalars()
            )
            for table in list(tables)
        }


def support_mention(world: SlackWorld, text: str) -> BuiltEvent:
    return build_mention(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_channel_id=SUPPORT,
        slack_user_id="U0ACME0003",
        text=text,
    )


def other_events(world: SlackWorld, slack_team_id: str) -> list[BuiltEvent]:
    """Events a workspace may send that no listener of ours claims."""
    channel = next(c for c in world.team_channels(slack_team_id) if c.name == "support")
    people = [u.slack_user_id for u in world.team_users(slack_team_id) if not u.is_bot]
    dm = world.open_dm(slack_team_id, people[2])
    ts = world.new_ts()
    events: list[dict[str, Any]] = [
        {
            "type": "reaction_added",
            "user": people[1],
            "reaction": "eyes",
            "item": {"type": "message", "channel": channel.slack_channel_id, "ts": ts},
            "item_user": people[2],
            "event_ts": ts,
        },
        {
            "type": "member_joined_channel",
            "user": people[1],
            "channel": channel.slack_channel_id,
            "channel_type": "C",
            "team": slack_team_id,
            "event_ts": ts,
        },
        {
            "type": "app_home_opened",
            "user": people[2],
            "channel": dm.slack_channel_id,
            "tab": "messages",
            "event_ts": ts,
        },
    ]
    return [bare_event(world, slack_team_id, event) for event in events]


@pytest.mark.parametrize("signature", ["tampered", "stale"])
async def test_badly_signed_events_are_refused_and_change_nothing(
    app_settings: Settings,
    engine: AsyncEngine,
    slack_world: SlackWorld,
    signature: Literal["tampered", "stale"],
) -> None:
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        before = await snapshot(engine)
        calls = len(slack_world.calls)
        sender = event_sender(slack_world, client)
        forged = [
            build_dm(slack_world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0003", text="x"),
            support_mention(slack_world, "hello"),
            *other_events(slack_world, ACME_TEAM_ID),
            build_app_uninstalled(slack_world, slack_team_id=ACME_TEAM_ID),
            build_tokens_revoked(slack_world, slack_team_id=ACME_TEAM_ID),
        ]
        answers = {}
        for built in forged:
            answers[built.event["type"]] = statuses(await sender.send(built, signature=signature))
        assert await settle() == 0
        calls_after_events = len(slack_world.calls)
        # The page itself may ask Slack for names; only the forged events must not call.
        still_installed = await client.get("/onboarding")
    # Slack retries a refused delivery three times; every retry is refused the same way.
    assert answers == {event["type"]: [401] * 4 for event in (b.event for b in forged)}
    assert await snapshot(engine) == before
    assert calls_after_events == calls
    assert still_installed.status_code == 200


async def test_url_verification_answers_the_challenge_only_when_signed(
    app_settings: Settings,
) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    payload = {
        "token": SANDBOX_VERIFICATION_TOKEN,
        "challenge": challenge,
        "type": "url_verification",
    }
    async with in_process(app_settings) as client:
        answered = await post_signed(client, payload)
        forged = await post_signed(client, payload, secret="not-the-signing-secret")
    assert answered.status_code == 200
    assert answered.json() == {"challenge": challenge}
    assert forged.status_code == 401
    assert challenge not in forged.text


async def test_unhandled_event_types_are_acked_so_slack_does_not_retry(
    app_settings: Settings, slack_world: SlackWorld
) -> None:
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        calls = len(slack_world.calls)
        sender = event_sender(slack_world, client)
        delivered, answered = {}, {}
        for built in other_events(slack_world, ACME_TEAM_ID):
            kind = built.event["type"]
            delivered[kind] = statuses(await sender.send(built))
            # The same event once more, to read the body: an empty ack, not Bolt's apology.
            again = await post_signed(client, build_envelope(slack_world, built))
            answered[kind] = (again.status_code, again.text)
        await settle()
    kinds = ("reaction_added", "member_joined_channel", "app_home_opened")
    assert delivered == {kind: [200] for kind in kinds}
    assert answered == dict.fromkeys(kinds, (200, ""))
    # Each went through Bolt's authorization for this workspace, and passed it.
    auth_tests = [c for c in slack_world.calls[calls:] if c.method == "auth.test"]
    assert [(c.ok, c.slack_team_id) for c in auth_tests] == [(True, ACME_TEAM_ID)] * 6


@pytest.mark.parametrize("stranger", [GLOBEX_TEAM_ID, INITECH_TEAM_ID])
async def test_event_for_a_workspace_that_never_installed_is_refused(
    app_settings: Settings, engine: AsyncEngine, slack_world: SlackWorld, stranger: str
) -> None:
    channel = next(c for c in slack_world.team_channels(stranger) if c.name == "support")
    user = next(u for u in slack_world.team_users(stranger) if not u.is_bot)
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        before = await snapshot(engine)
        calls = len(slack_world.calls)
        refused = [
            await post_signed(client, build_envelope(slack_world, built))
            for built in other_events(slack_world, stranger)
        ]
        mention = build_mention(
            slack_world,
            slack_team_id=stranger,
            slack_channel_id=channel.slack_channel_id,
            slack_user_id=user.slack_user_id,
            text="let me in",
        )
        dm = build_dm(
            slack_world, slack_team_id=stranger, slack_user_id=user.slack_user_id, text="hi"
        )
        dropped = [
            await post_signed(client, build_envelope(slack_world, built)) for built in (mention, dm)
        ]
        (own,) = other_events(slack_world, ACME_TEAM_ID)[:1]
        accepted = await post_signed(client, build_envelope(slack_world, own))
        await settle()
    # Bolt's refusal is a 200 with an apology, so Slack does not retry it either.
    assert [(r.status_code, AUTHORIZE_REFUSAL in r.text) for r in refused] == [(200, True)] * 3
    assert [r.status_code for r in dropped] == [200, 200]
    assert (accepted.status_code, accepted.text) == (200, "")
    assert await snapshot(engine) == before
    assert [(c.method, c.slack_team_id) for c in slack_world.calls[calls:]] == [
        ("auth.test", ACME_TEAM_ID)
    ]


async def post_click(client: Any, *, slack_team_id: str, slack_user_id: str) -> Any:
    """A `block_actions` payload as Slack sends it: form encoded, signed over the raw form."""
    payload = {
        "type": "block_actions",
        "team": {"id": slack_team_id},
        "user": {"id": slack_user_id, "team_id": slack_team_id},
        "channel": {"id": SUPPORT},
        "actions": [
            {
                "type": "button",
                "action_id": "sb_qr_0",
                "block_id": "b",
                "value": "not-a-button-of-ours",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(SANDBOX_SIGNING_SECRET, timestamp, body),
    }
    return await client.post("/slack/events", content=body, headers=headers)


async def test_messages_and_clicks_are_stored_without_reaching_bolt(
    app_settings: Settings, engine: AsyncEngine, slack_world: SlackWorld
) -> None:
    """Bolt authorizes every request it dispatches with `auth.test` (see the test above), so a
    message event or a click that reached Bolt would show up as a call in the simulator."""
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        calls = len(slack_world.calls)
        mention = support_mention(slack_world, "hello")
        ts = str(mention.event["ts"])
        messages = [
            mention,
            build_dm(slack_world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0003", text="x"),
        ]
        answers = [await post_signed(client, build_envelope(slack_world, b)) for b in messages]
        edit = build_edit(slack_world, slack_channel_id=SUPPORT, ts=ts, text="hello again")
        answers.append(await post_signed(client, build_envelope(slack_world, edit)))
        delete = build_delete(slack_world, slack_channel_id=SUPPORT, ts=ts)
        answers.append(await post_signed(client, build_envelope(slack_world, delete)))
        answers.append(
            await post_click(client, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0003")
        )
        fast = [c.method for c in slack_world.calls[calls:]]
        (control,) = other_events(slack_world, ACME_TEAM_ID)[:1]
        through_bolt = await post_signed(client, build_envelope(slack_world, control))
        assert await settle() == 0
    assert [(a.status_code, a.text) for a in answers] == [(200, "")] * 5
    assert fast == []
    assert through_bolt.status_code == 200
    assert [c.method for c in slack_world.calls[calls:]] == ["auth.test"]
    async with engine.connect() as connection:
        stored = (
            await connection.execute(
                text("SELECT kind FROM bridge_message WHERE direction = 'to_genesys' ORDER BY id")
            )
        ).scalars()
        assert list(stored) == ["message", "message", "edit", "delete"]
