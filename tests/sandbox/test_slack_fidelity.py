"""Each rule the simulated Slack enforces, against what Slack documents (docs/decisions.md,
"The simulated Slack (issue 14)"): scopes, rate-limit tiers, revoked tokens, chat.update in
place, the block_actions payload and its response_url, and the composer's escaping."""

from __future__ import annotations

import httpx
import pytest

from sandbox import snapshot
from sandbox.genesys_world import GenesysWorld
from sandbox.slack_actions import Choice, ResponseUrl, build_block_actions
from sandbox.slack_mrkdwn import compose, to_html
from sandbox.slack_payloads import build_uninstall
from sandbox.slack_seed import ACME_TEAM_ID, GLOBEX_TEAM_ID
from sandbox.slack_world import RevokedBotTokenError, SlackWorld
from tests.sandbox.simulators import SUPPORT, client, error_of, install

pytestmark = pytest.mark.usefixtures("base")


@pytest.mark.parametrize(
    ("method", "args", "needed"),
    [
        ("chat_update", {"channel": SUPPORT, "ts": "1.1", "text": "x"}, "chat:write"),
        ("users_info", {"user": "U0ACME0003"}, "users:read"),
        ("reactions_add", {"channel": SUPPORT, "timestamp": "1.1", "name": "x"}, "reactions:write"),
        ("conversations_open", {"users": "U0ACME0003"}, "im:write"),
        ("files_info", {"file": "F1"}, "files:read"),
    ],
)
async def test_a_method_without_its_scope_is_missing_scope(
    world: SlackWorld, base: str, method: str, args: dict[str, str], needed: str
) -> None:
    slack = client(base, install(world, scopes=("channels:read",)))
    error = await error_of(getattr(slack, method)(**args))
    assert error.response.status_code == 200
    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == needed
    assert error.response["provided"] == "channels:read"


@pytest.mark.parametrize("enforced", [True, False], ids=["tiers", "relaxed"])
async def test_tier_3_allows_a_minute_of_calls_then_429_with_retry_after(
    world: SlackWorld, base: str, enforced: bool
) -> None:
    world.method_rate_limits = enforced
    slack = client(base, install(world))
    for _ in range(50):
        await slack.conversations_info(channel=SUPPORT)
    if not enforced:
        assert (await slack.conversations_info(channel=SUPPORT))["ok"] is True
        return
    limited = await error_of(slack.conversations_info(channel=SUPPORT))
    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert int(limited.response.headers["Retry-After"]) >= 1
    assert (await slack.users_info(user="U0ACME0003"))["ok"] is True, "tiers are per method"


async def test_reactions_add_is_tier_3_per_workspace(world: SlackWorld, base: str) -> None:
    """external-contracts S2: `reactions.add` is Tier 3 (about 50 a minute), then 429 with
    `Retry-After`; the count is per workspace, so another workspace still reacts."""
    slack = client(base, install(world))
    posted = await slack.chat_postMessage(channel=SUPPORT, text="react to me")
    for n in range(50):
        await slack.reactions_add(channel=SUPPORT, timestamp=posted["ts"], name=f"emoji_{n}")
    limited = await error_of(
        slack.reactions_add(channel=SUPPORT, timestamp=posted["ts"], name="one_too_many")
    )
    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert int(limited.response.headers["Retry-After"]) >= 1
    assert world.limits.take_method("reactions.add", GLOBEX_TEAM_ID) is None


async def test_chat_post_message_allows_a_burst_then_one_per_second(
    world: SlackWorld, base: str
) -> None:
    slack = client(base, install(world))
    for n in range(world.post_burst):
        await slack.chat_postMessage(channel=SUPPORT, text=f"burst {n}")
    limited = await error_of(slack.chat_postMessage(channel=SUPPORT, text="one too many"))
    assert limited.response.status_code == 429
    assert limited.response.headers["Retry-After"] == "1"


@pytest.mark.parametrize("answer", ["account_inactive", "token_revoked"])
async def test_uninstall_revokes_tokens_and_a_revoked_bot_token_answers_as_configured(
    world: SlackWorld, base: str, answer: RevokedBotTokenError
) -> None:
    """Removing the app sends both events (in no guaranteed order, slack-platform §3.8) and
    revokes its tokens. Slack documents `account_inactive` for a bot token of a deleted
    workspace and `token_revoked` for a user token once the app is removed; which one a bot
    token answers after an uninstall is UNCONFIRMED (reports show `account_inactive`), so
    `uninstalled_bot_token_error` chooses. A token revoked by `auth.revoke` is `token_revoked`."""
    world.uninstalled_bot_token_error = answer
    token = install(world, user_scopes=("openid",))
    [installation] = world.installations
    assert installation.user_token is not None
    user_token = installation.user_token.value
    events = build_uninstall(world, slack_team_id=ACME_TEAM_ID)
    assert [e.event["type"] for e in events] == ["app_uninstalled", "tokens_revoked"]
    assert events[1].event["tokens"] == {"oauth": ["U0ACME0001"], "bot": ["U0ACMEBOT1"]}
    revoked = await error_of(client(base, token).auth_test())
    revoked_user = await error_of(client(base, user_token).auth_test())
    unknown = await error_of(client(base, "xoxb-1-2-never-issued").auth_test())
    assert revoked.response["error"] == answer
    assert revoked_user.response["error"] == "token_revoked"
    assert unknown.response["error"] == "invalid_auth"


async def test_chat_update_changes_the_message_in_place(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    posted = await slack.chat_postMessage(channel=SUPPORT, text="draft")
    await slack.chat_update(channel=SUPPORT, ts=posted["ts"], text="final")
    [message] = world.bot_messages(SUPPORT)
    assert (message.ts, message.text) == (posted["ts"], "final")
    missing = await error_of(slack.chat_update(channel=SUPPORT, ts="1.000001", text="x"))
    assert missing.response["error"] == "message_not_found"


async def test_block_actions_payload_and_response_url(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    blocks = [
        {
            "type": "actions",
            "block_id": "b1",
            "elements": [
                {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}},
                {
                    "type": "static_select",
                    "action_id": "pick",
                    "options": [{"text": {"type": "plain_text", "text": "A"}, "value": "a"}],
                },
            ],
        }
    ]
    posted = await slack.chat_postMessage(channel=SUPPORT, text="choose", blocks=blocks)
    payload = build_block_actions(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_user_id="U0ACME0003",
        slack_channel_id=SUPPORT,
        ts=posted["ts"],
        block_id="b1",
        action_id="pick",
        choice=Choice(option=0),
    )
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0ACME0003"
    assert payload["team"]["id"] == ACME_TEAM_ID
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": SUPPORT,
        "is_ephemeral": False,
    }
    [action] = payload["actions"]
    assert action["selected_option"]["value"] == "a"
    assert {"action_id", "block_id", "action_ts"} <= action.keys()
    assert payload["trigger_id"] and payload["message"]["ts"] == posted["ts"]
    async with httpx.AsyncClient() as http:
        replaced = await http.post(
            payload["response_url"], json={"replace_original": True, "text": "chosen"}
        )
        assert replaced.status_code == 200
        for _ in range(4):
            await http.post(payload["response_url"], json={"text": "again"})
        spent = await http.post(payload["response_url"], json={"text": "sixth"})
    assert world.bot_messages(SUPPORT)[0].text == "chosen"
    assert spent.status_code == 404, "a response_url serves five posts"


def test_composer_escapes_and_mentions_and_the_page_shows_characters(world: SlackWorld) -> None:
    people = world.team_users(ACME_TEAM_ID)
    text = compose("<b>hi</b> & @grace, @nobody", people)
    assert text == "&lt;b&gt;hi&lt;/b&gt; &amp; <@U0ACME0002>, @nobody"
    html = to_html(text, user_name=lambda u: world.users[u].display_name)
    assert str(html) == ('&lt;b&gt;hi&lt;/b&gt; &amp; <span class="mention">@grace</span>, @nobody')
    assert "<script" not in str(to_html("<script>x</script>", user_name=lambda u: None))


def test_a_snapshot_keeps_response_urls_and_drops_rate_limit_counters(world: SlackWorld) -> None:
    """`make dev` restarts keep what Slack keeps; a counter on the monotonic clock is not it."""
    world.response_urls["k"] = ResponseUrl("C0ACMESUPP", "1.2", "U0ACME0003", None, 2e9)
    world.limits.take_method("reactions.add", ACME_TEAM_ID)
    world.events_per_hour = 7
    text = snapshot.dump(world, GenesysWorld.seeded())
    restored = SlackWorld.seeded()
    snapshot.load(text, restored, GenesysWorld.seeded())
    assert restored.response_urls["k"].uses_left == 5
    assert restored.events_per_hour == 7
    assert '"limits"' not in text and '"event_times"' not in text
