"""`SlackSender.update_message` and `.upload_files` against the simulated Slack, which refuses
what Slack refuses."""

from __future__ import annotations

from typing import Literal

import pytest

from app.config import Settings
from app.retry import RetryableError
from app.slack import sender as sender_module
from app.slack.directory import ConnectOrg
from app.slack.errors import SlackError, SlackRateLimited, SlackRejected, SlackUnavailable
from app.slack.sender import SlackSender
from app.slack.uploads import UploadFile
from sandbox.faults import FaultSpec
from sandbox.runner import ServerThread
from sandbox.slack_seed import ACME_TEAM_ID, GLOBEX_TEAM_ID
from sandbox.slack_world import SlackWorld
from tests.factories import make_settings
from tests.sandbox.simulators import SUPPORT, install


@pytest.fixture
def sender_settings(database_url: str, slack_sim: ServerThread) -> Settings:
    return make_settings(database_url, slack_api_url=f"{slack_sim.url}/api/")


async def test_update_message_rewrites_the_bots_own_post_and_refuses_others(
    sender_settings: Settings, slack_world: SlackWorld
) -> None:
    token = install(slack_world)
    sender = SlackSender(sender_settings)
    try:
        ts = await sender.post_message(token, team_id=None, channel=SUPPORT, text="failed")
        await sender.update_message(
            token, team_id=None, channel=SUPPORT, ts=ts, text="delivered after all"
        )
        updated = slack_world.find_message(SUPPORT, ts)
        assert updated is not None
        assert updated.text == "delivered after all"
        assert updated.edited is not None

        updated.user = "U0ACME0002"  # someone else's message now
        with pytest.raises(SlackError) as refused:
            await sender.update_message(token, team_id=None, channel=SUPPORT, ts=ts, text="x")
        assert refused.value.error == "cant_update_message"
        assert isinstance(refused.value, SlackRejected)
        assert not isinstance(refused.value, RetryableError)
        with pytest.raises(SlackError) as missing:
            await sender.update_message(
                token, team_id=None, channel=SUPPORT, ts="1.000001", text="x"
            )
        assert missing.value.error == "message_not_found"
        unscoped = install(slack_world, scopes=("users:read",))
        with pytest.raises(SlackError) as scope:
            await sender.update_message(unscoped, team_id=None, channel=SUPPORT, ts=ts, text="x")
        assert scope.value.error == "missing_scope"
        assert isinstance(scope.value, SlackRejected)
    finally:
        await sender.aclose()


async def test_upload_files_shares_the_bytes_in_the_thread_in_one_message(
    sender_settings: Settings, slack_world: SlackWorld
) -> None:
    token = install(slack_world, scopes=("chat:write", "files:write"))
    sender = SlackSender(sender_settings)
    try:
        parent = await sender.post_message(token, team_id=None, channel=SUPPORT, text="thread")
        ts = await sender.upload_files(
            token,
            team_id=None,
            channel=SUPPORT,
            files=[UploadFile("a.pdf", b"%PDF-1.4 a"), UploadFile("b.png", b"\x89PNG b")],
            thread_ts=parent,
            initial_comment="two files",
        )
        shared = slack_world.find_message(SUPPORT, ts or "")
        assert shared is not None
        assert (shared.thread_ts, shared.text) == (parent, "two files")
        files = [slack_world.files[f] for f in shared.file_ids]
        assert [(f.name, f.content) for f in files] == [
            ("a.pdf", b"%PDF-1.4 a"),
            ("b.png", b"\x89PNG b"),
        ]
    finally:
        await sender.aclose()


async def test_upload_failures_keep_their_meaning(
    sender_settings: Settings, slack_world: SlackWorld
) -> None:
    token = install(slack_world, scopes=("chat:write", "files:write"))
    sender = SlackSender(sender_settings)
    one = [UploadFile("a.txt", b"abc")]
    try:
        slack_world.faults.arm(FaultSpec(route="files.upload", kind="status", status=503, times=1))
        with pytest.raises(SlackUnavailable):
            await sender.upload_files(token, team_id=None, channel=SUPPORT, files=one)
        slack_world.faults.arm(
            FaultSpec(route="files.upload", kind="rate_limit", retry_after=3, times=1)
        )
        with pytest.raises(SlackRateLimited) as limited:
            await sender.upload_files(token, team_id=None, channel=SUPPORT, files=one)
        assert limited.value.retry_after == 3
        unscoped = install(slack_world, scopes=("chat:write",))
        with pytest.raises(SlackRejected) as scope:
            await sender.upload_files(unscoped, team_id=None, channel=SUPPORT, files=one)
        assert scope.value.error == "missing_scope"
        assert slack_world.bot_messages(SUPPORT) == []
    finally:
        await sender.aclose()


async def test_update_message_replaces_blocks_and_post_ephemeral_reaches_one_person(
    sender_settings: Settings, slack_world: SlackWorld
) -> None:
    token = install(slack_world)
    sender = SlackSender(sender_settings)
    button = {
        "type": "button",
        "action_id": "sb_qr_0",
        "text": {"type": "plain_text", "text": "Yes"},
        "value": "yes",
    }
    chosen = {"type": "context", "elements": [{"type": "mrkdwn", "text": "chose *Yes*"}]}
    try:
        ts = await sender.post_message(
            token,
            team_id=None,
            channel=SUPPORT,
            text="Did that help?",
            blocks=[{"type": "actions", "elements": [button]}],
        )
        await sender.update_message(
            token, team_id=None, channel=SUPPORT, ts=ts, text="Did that help?", blocks=[chosen]
        )
        updated = slack_world.find_message(SUPPORT, ts)
        assert updated is not None and updated.blocks is not None
        assert [block["type"] for block in updated.blocks] == ["context"]

        await sender.post_ephemeral(
            token,
            team_id=None,
            channel=SUPPORT,
            slack_user_id="U0ACME0002",
            text="Only for Grace",
            thread_ts=ts,
        )
        [note] = [m for m in slack_world.bot_messages(SUPPORT) if m.text == "Only for Grace"]
        assert (note.ephemeral_to, note.thread_ts) == ("U0ACME0002", ts)
        with pytest.raises(SlackError) as stranger:
            await sender.post_ephemeral(
                token, team_id=None, channel=SUPPORT, slack_user_id="U0GLBX0001", text="x"
            )
        assert isinstance(stranger.value, SlackRejected)
    finally:
        await sender.aclose()


@pytest.mark.parametrize("lists", ["connected", "shared_only"])
async def test_a_connect_channel_names_its_external_organisation(
    sender_settings: Settings, slack_world: SlackWorld, lists: Literal["connected", "shared_only"]
) -> None:
    slack_world.connect_team_lists = lists
    token = install(slack_world)
    sender = SlackSender(sender_settings)
    try:
        info = await sender.channel_info(
            token, team_id=None, scope=ACME_TEAM_ID, channel="C0ACMEXTSH"
        )
        plain = await sender.channel_info(token, team_id=None, scope=ACME_TEAM_ID, channel=SUPPORT)
        choices = await sender.list_channels(token, team_id=None, scope=ACME_TEAM_ID)
    finally:
        await sender.aclose()
    assert info.is_shared is True
    assert info.connect_orgs == (ConnectOrg(GLOBEX_TEAM_ID, "Globex"),)
    assert plain.connect_orgs == ()
    assert [c.name for c in choices] == ["billing", "ext-partners", "general", "random", "support"]
    shared = next(c for c in choices if c.name == "ext-partners")
    assert shared.connect_orgs == (ConnectOrg(GLOBEX_TEAM_ID, "Globex"),)
    # team.info once for the organisation, whatever asked for it.
    assert len([c for c in slack_world.calls if c.method == "team.info"]) == 1


async def test_without_team_read_the_organisation_is_sent_by_id(
    sender_settings: Settings, slack_world: SlackWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = install(slack_world, scopes=("channels:read", "groups:read"))
    monkeypatch.setattr(sender_module, "CHANNEL_PAGE_SIZE", 2)
    sender = SlackSender(sender_settings)
    try:
        info = await sender.channel_info(
            token, team_id=None, scope=ACME_TEAM_ID, channel="C0ACMEXTSH"
        )
        choices = await sender.list_channels(token, team_id=None, scope=ACME_TEAM_ID)
        cached = await sender.list_channels(token, team_id=None, scope=ACME_TEAM_ID)
    finally:
        await sender.aclose()
    assert info.connect_orgs == (ConnectOrg(GLOBEX_TEAM_ID, None),)
    assert len(choices) == 5 and cached == choices
    # Paged by two; the second listing came from the cache.
    assert len([c for c in slack_world.calls if c.method == "conversations.list"]) == 3
