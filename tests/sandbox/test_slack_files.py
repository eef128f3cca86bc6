from __future__ import annotations

import httpx
import pytest
from slack_sdk.errors import SlackApiError, SlackRequestError

from sandbox.faults import FaultSpec
from sandbox.slack_payloads import add_user_file, build_dm, share_file
from sandbox.slack_seed import ACME_TEAM_ID, GLOBEX_TEAM_ID
from sandbox.slack_world import SlackWorld
from tests.sandbox.simulators import FILE_FIELDS, SUPPORT, client, install

pytestmark = pytest.mark.usefixtures("base")

FILE_SCOPES = ("chat:write", "files:read", "files:write")


async def download(url: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as http:
        return await http.get(url, headers=headers)


async def test_upload_v2_shares_in_thread_and_downloads_with_bearer(
    world: SlackWorld, base: str
) -> None:
    token = install(world, scopes=FILE_SCOPES)
    slack = client(base, token)
    parent = await slack.chat_postMessage(channel=SUPPORT, text="here comes a file")
    uploaded = await slack.files_upload_v2(
        channel=SUPPORT,
        content=b"%PDF-1.4 pretend",
        filename="invoice.pdf",
        title="Invoice",
        initial_comment="your invoice",
        thread_ts=parent["ts"],
    )
    file = uploaded["file"]
    info = await slack.files_info(file=file["id"])
    assert info["file"]["title"] == "Invoice"
    assert info["file"]["mimetype"] == "application/pdf"
    assert info["file"]["size"] == len(b"%PDF-1.4 pretend")
    assert set(info["file"]) >= FILE_FIELDS
    assert SUPPORT in info["file"]["channels"]
    shared = world.bot_messages(SUPPORT)[-1]
    assert shared.file_ids == [file["id"]]
    assert shared.thread_ts == parent["ts"]
    assert shared.text == "your invoice"
    got = await download(info["file"]["url_private"], token)
    attachment = await download(info["file"]["url_private_download"], token)
    assert got.status_code == 200
    assert got.content == b"%PDF-1.4 pretend"
    assert got.headers["content-type"] == "application/pdf"
    assert attachment.headers["content-disposition"].startswith("attachment")
    assert [c.method for c in world.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "files.info",
    ]


async def test_download_without_usable_bearer_is_an_html_login_page(world: SlackWorld) -> None:
    acme_token = install(world, scopes=FILE_SCOPES)
    globex_token = install(world, team=GLOBEX_TEAM_ID, user="U0GLBX0001", scopes=FILE_SCOPES)
    file = add_user_file(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_user_id="U0ACME0002",
        name="photo.png",
        content=b"\x89PNG fake",
        mimetype="image/png",
        filetype="png",
    )
    built = share_file(
        build_dm(
            world,
            slack_team_id=ACME_TEAM_ID,
            slack_user_id="U0ACME0002",
            text="",
            file_ids=[file.slack_file_id],
        ),
        file,
        world,
    )
    event_file = built.event["files"][0]
    url = event_file["url_private"]
    assert url.startswith(world.public_url)
    assert set(event_file) >= FILE_FIELDS
    for token in (None, "xoxb-bogus", globex_token):
        page = await download(url, token)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert b"PNG" not in page.content
    good = await download(url, acme_token)
    assert good.content == b"\x89PNG fake"
    world.tokens[acme_token].revoked = True
    revoked = await download(url, acme_token)
    assert revoked.headers["content-type"].startswith("text/html")


async def test_complete_upload_rejects_unknown_files(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world, scopes=FILE_SCOPES))
    with pytest.raises(SlackApiError) as info:
        await slack.files_completeUploadExternal(files=[{"id": "F0NOPE", "title": "x"}])
    missing = await slack.files_getUploadURLExternal(filename="a.txt", length=3)
    with pytest.raises(SlackApiError) as not_uploaded:
        await slack.files_completeUploadExternal(files=[{"id": missing["file_id"], "title": "a"}])
    assert info.value.response["error"] == "file_not_found"
    assert not_uploaded.value.response["error"] == "file_not_found"


async def test_upload_url_fault_fails_the_sdk_upload(world: SlackWorld, base: str) -> None:
    world.faults.arm(FaultSpec(route="files.upload", kind="status", status=500, times=1))
    slack = client(base, install(world, scopes=FILE_SCOPES))
    with pytest.raises(SlackRequestError):
        await slack.files_upload_v2(channel=SUPPORT, content=b"abc", filename="a.txt")
    assert world.bot_messages(SUPPORT) == []


async def test_upload_url_takes_exactly_the_promised_length_once(
    world: SlackWorld, base: str
) -> None:
    slack = client(base, install(world, scopes=FILE_SCOPES))
    short = await slack.files_getUploadURLExternal(filename="a.pdf", length=5)
    exact = await slack.files_getUploadURLExternal(filename="b.pdf", length=3)
    async with httpx.AsyncClient() as http:
        wrong = await http.post(short["upload_url"], content=b"abc")
        right = await http.post(exact["upload_url"], content=b"abc")
        again = await http.post(exact["upload_url"], content=b"abc")
    assert (wrong.status_code, right.status_code, again.status_code) == (400, 200, 404)
    with pytest.raises(SlackApiError) as mismatched:
        await slack.files_completeUploadExternal(files=[{"id": short["file_id"], "title": "a"}])
    assert mismatched.value.response["error"] == "file_not_found"


async def test_an_expired_upload_url_takes_nothing(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world, scopes=FILE_SCOPES))
    reserved = await slack.files_getUploadURLExternal(filename="a.txt", length=3)
    upload_id = reserved["upload_url"].rsplit("/", 1)[1]
    file_id, length, _ = world.uploads[upload_id]
    world.uploads[upload_id] = (file_id, length, 0.0)
    async with httpx.AsyncClient() as http:
        late = await http.post(reserved["upload_url"], content=b"abc")
    assert late.status_code == 404
    assert not world.files[file_id].uploaded


async def test_sharing_in_a_thread_needs_the_channel_and_uploading_needs_files_write(
    world: SlackWorld, base: str
) -> None:
    slack = client(base, install(world, scopes=FILE_SCOPES))
    reserved = await slack.files_getUploadURLExternal(filename="a.txt", length=3)
    async with httpx.AsyncClient() as http:
        await http.post(reserved["upload_url"], content=b"abc")
    with pytest.raises(SlackApiError) as no_channel:
        await slack.files_completeUploadExternal(
            files=[{"id": reserved["file_id"], "title": "a"}], thread_ts="1700000000.000100"
        )
    assert no_channel.value.response["error"] == "invalid_arguments"
    reader = client(base, install(world, scopes=("chat:write", "files:read")))
    with pytest.raises(SlackApiError) as no_scope:
        await reader.files_getUploadURLExternal(filename="a.txt", length=3)
    assert no_scope.value.response["error"] == "missing_scope"
