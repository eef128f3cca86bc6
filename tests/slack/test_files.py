"""Downloading a customer's file from the simulated Slack: `files.info` with `files:read`,
the bytes only from the allowed origin, redirects checked, the sign-in page refused."""

from __future__ import annotations

import dataclasses

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.config import Settings
from app.slack.errors import SlackRejected
from app.slack.files import FileUnavailable, SlackFileHost, SlackFileInfo
from app.slack.sender import SlackSender
from sandbox.runner import ServerThread
from sandbox.slack_payloads import add_user_file
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SlackWorld
from tests.factories import make_settings
from tests.sandbox.simulators import BOT_SCOPES, install

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


@pytest.fixture
def settings(database_url: str, slack_sim: ServerThread) -> Settings:
    return make_settings(
        database_url, slack_api_url=f"{slack_sim.url}/api/", slack_files_url=f"{slack_sim.url}/"
    )


def upload(world: SlackWorld) -> str:
    file = add_user_file(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_user_id="U0ACME0001",
        name="shot.png",
        content=PNG,
        mimetype="image/png",
        filetype="png",
    )
    return file.slack_file_id


async def read(host: SlackFileHost, info: object, token: str) -> bytes:
    download = await host.open(info, token=token)  # type: ignore[arg-type]
    return b"".join([chunk async for chunk in download.chunks(10_000)])


async def test_a_file_is_streamed_from_slack_with_its_type(
    settings: Settings, slack_world: SlackWorld
) -> None:
    token = install(slack_world)
    sender, host = SlackSender(settings), SlackFileHost(settings)
    try:
        info = await sender.file_info(token, team_id=None, slack_file_id=upload(slack_world))
        assert info is not None and info.hosted
        assert (info.name, info.mimetype, info.size) == ("shot.png", "image/png", len(PNG))
        download = await host.open(info, token=token)
        assert download.content_type == "image/png"
        assert b"".join([c async for c in download.chunks(10_000)]) == PNG
        # Cut off past the limit, whatever Slack said.
        assert len(await _limited(host, info, token, 50)) <= 50
        assert await sender.file_info(token, team_id=None, slack_file_id="F0NOSUCH") is None
    finally:
        await host.aclose()
        await sender.aclose()


async def _limited(host: SlackFileHost, info: object, token: str, limit: int) -> bytes:
    download = await host.open(info, token=token)  # type: ignore[arg-type]
    return b"".join([chunk async for chunk in download.chunks(limit)])


async def test_only_the_allowed_origin_is_fetched(
    settings: Settings, slack_world: SlackWorld, slack_sim: ServerThread
) -> None:
    token = install(slack_world)
    sender, host = SlackSender(settings), SlackFileHost(settings)
    try:
        info = await sender.file_info(token, team_id=None, slack_file_id=upload(slack_world))
        assert info is not None and info.download_url
        url = info.download_url
        other_host = (
            url.replace("127.0.0.1", "localhost")
            if "127.0.0.1" in url
            else url.replace("localhost", "127.0.0.1")
        )
        assert other_host != url
        for elsewhere in (
            other_host,
            url.replace("http://", "https://"),
            "http://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
        ):
            with pytest.raises(FileUnavailable) as refused:
                await host.open(dataclasses.replace(info, download_url=elsewhere), token=token)
            assert refused.value.reason == "host_not_allowed"
        assert not host.allowed(None)
        assert host.allowed(info.download_url)
    finally:
        await host.aclose()
        await sender.aclose()


async def test_slacks_sign_in_page_is_not_a_file(
    settings: Settings, slack_world: SlackWorld
) -> None:
    """Without `files:read` Slack answers the download with 200 and its HTML sign-in page."""
    token = install(slack_world)
    sender, host = SlackSender(settings), SlackFileHost(settings)
    try:
        info = await sender.file_info(token, team_id=None, slack_file_id=upload(slack_world))
        assert info is not None
        with pytest.raises(FileUnavailable) as refused:
            await host.open(info, token="xoxb-not-a-token")
        assert refused.value.reason == "sign_in_page"
        narrow = install(slack_world, scopes=tuple(s for s in BOT_SCOPES if s != "files:read"))
        with pytest.raises(SlackRejected):
            await sender.file_info(narrow, team_id=None, slack_file_id=info.slack_file_id)
    finally:
        await host.aclose()
        await sender.aclose()


async def test_redirects_are_followed_only_within_the_allowed_origin(database_url: str) -> None:
    """A same-origin redirect is followed (with the token); one to any other host is not."""
    seen: list[str | None] = []

    async def hop(request: Request) -> Response:
        seen.append(request.headers.get("authorization"))
        target = request.path_params["target"]
        if target == "same":
            return RedirectResponse("/file", status_code=302)
        return RedirectResponse(f"http://localhost:{request.url.port}/file", status_code=302)

    async def file(request: Request) -> Response:
        seen.append(request.headers.get("authorization"))
        return Response(PNG, media_type="image/png")

    app = Starlette(routes=[Route("/hop/{target}", hop), Route("/file", file)])
    with ServerThread(app) as server:
        host = SlackFileHost(make_settings(database_url, slack_files_url=f"{server.url}/"))
        try:
            info = SlackFileInfo(
                "F0R", "r.png", "image/png", len(PNG), f"{server.url}/hop/same", True
            )
            assert await read(host, info, "xoxb-1") == PNG
            assert seen == ["Bearer xoxb-1", "Bearer xoxb-1"]
            seen.clear()
            elsewhere = dataclasses.replace(info, download_url=f"{server.url}/hop/other")
            with pytest.raises(FileUnavailable) as refused:
                await host.open(elsewhere, token="xoxb-1")
            assert refused.value.reason == "host_not_allowed"
            assert seen == ["Bearer xoxb-1"]  # the other host never saw the token
        finally:
            await host.aclose()
