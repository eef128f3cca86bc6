"""Files on the simulated Slack: the v2 upload dance, `files.info`, and private downloads.

`files.getUploadURLExternal` hands out an upload URL on the simulator itself (real Slack uses a
files.slack.com host), so slack_sdk's `files_upload_v2` works end to end. Downloads want
`Authorization: Bearer`; without a usable token Slack answers 200 with its HTML sign-in page
rather than an error, and so does this, because that is the trap our download code must catch.
"""

from __future__ import annotations

import mimetypes
import time
from pathlib import PurePosixPath

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sandbox.slack_api import (
    ApiError,
    JsonObject,
    Method,
    MethodCall,
    bearer_token,
    fault_response,
    sit_out,
)
from sandbox.slack_methods import resolve_channel
from sandbox.slack_objects import file_object
from sandbox.slack_records import SlackFile, SlackMessage
from sandbox.slack_templates import TEMPLATES
from sandbox.slack_world import SlackWorld


def describe_file(name: str) -> tuple[str, str]:
    """(mimetype, Slack filetype) guessed from the name, as Slack does for uploads."""
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    suffix = PurePosixPath(name).suffix.lstrip(".").lower()
    return mimetype, suffix or "binary"


def _home_team(call: MethodCall) -> str:
    token = call.bearer
    if token.slack_team_id:
        return token.slack_team_id
    team_id = call.arg("team_id")
    if team_id and call.world.covers(token, team_id):
        return team_id
    return call.world.org_home_team(token.slack_enterprise_id or "")


def files_get_upload_url_external(call: MethodCall) -> JsonObject:
    filename = call.arg("filename")
    length = call.arg("length")
    if not filename:
        raise ApiError("invalid_arguments", response_metadata={"messages": ["filename required"]})
    if not length or not length.isdigit() or int(length) <= 0:
        raise ApiError("invalid_length")
    mimetype, filetype = describe_file(filename)
    file = SlackFile(
        slack_file_id=call.world.new_id("F"),
        slack_team_id=_home_team(call),
        user=call.bearer.slack_user_id,
        name=filename,
        title=filename,
        mimetype=mimetype,
        filetype=filetype,
        size=int(length),
        alt_txt=call.arg("alt_txt"),
    )
    upload_id = call.world.reserve_upload(file)
    return {"upload_url": f"{call.base_url}/upload/v1/{upload_id}", "file_id": file.slack_file_id}


def files_complete_upload_external(call: MethodCall) -> JsonObject:
    world, token = call.world, call.bearer
    entries = call.json_arg("files")
    if not isinstance(entries, list) or not entries:
        raise ApiError("invalid_arguments", response_metadata={"messages": ["files required"]})
    files = []
    for entry in entries:
        file = world.files.get(entry.get("id", "")) if isinstance(entry, dict) else None
        if file is None or not file.uploaded or file.user != token.slack_user_id:
            raise ApiError("file_not_found")
        if entry.get("title"):
            file.title = str(entry["title"])
        files.append(file)
    target = call.arg("channel_id") or (call.arg("channels") or "").split(",")[0]
    if call.arg("thread_ts") and not target:
        # A thread is named by its channel: without `channel_id` nothing is shared anywhere.
        raise ApiError("invalid_arguments", response_metadata={"messages": ["channel_id required"]})
    if target:
        channel = resolve_channel(call, target)
        if channel.is_archived:
            raise ApiError("is_archived")
        if not channel.is_im and token.kind == "bot" and not channel.bot_is_member:
            raise ApiError("not_in_channel")
        message = world.add_message(
            SlackMessage(
                ts=world.new_ts(),
                slack_channel_id=channel.slack_channel_id,
                slack_team_id=channel.slack_team_id,
                text=call.arg("initial_comment") or "",
                user=token.slack_user_id,
                bot_id=token.slack_bot_id,
                thread_ts=call.arg("thread_ts"),
                file_ids=[f.slack_file_id for f in files],
            )
        )
        for file in files:
            file.shares[channel.slack_channel_id] = message.ts
    for file in files:
        file.shared = True
    return {"files": [file_object(world, f, base_url=call.base_url) for f in files]}


def files_info(call: MethodCall) -> JsonObject:
    file = call.world.files.get(call.arg("file") or "")
    if file is None or not file.uploaded or not call.world.covers(call.bearer, file.slack_team_id):
        raise ApiError("file_not_found")
    return {
        "file": file_object(call.world, file, base_url=call.base_url),
        "comments": [],
        "response_metadata": {"next_cursor": ""},
    }


def files_upload(call: MethodCall) -> JsonObject:
    raise ApiError("method_deprecated")


METHODS: dict[str, Method] = {
    "files.getUploadURLExternal": Method(files_get_upload_url_external, ("files:write",)),
    "files.completeUploadExternal": Method(files_complete_upload_external, ("files:write",)),
    "files.info": Method(files_info, ("files:read",)),
    "files.upload": Method(files_upload, ("files:write",)),
}


def file_routes(world: SlackWorld) -> list[Route]:
    async def upload(request: Request) -> Response:
        content = await request.body()
        outcome = world.faults.take("files.upload")
        if not await sit_out(request, outcome):
            return Response(status_code=499)
        if outcome.status is not None:
            return fault_response(outcome)
        received = world.receive_upload(request.path_params["upload_id"], content)
        if received == "length_mismatch":
            # The bytes must be the `length` promised; the file is never completed.
            return PlainTextResponse("length does not match", status_code=400)
        if isinstance(received, str):
            return PlainTextResponse("Not Found", status_code=404)
        return PlainTextResponse(f"OK - {len(content)}")

    async def download(request: Request) -> Response:
        outcome = world.faults.take("files.download")
        if not await sit_out(request, outcome):
            return Response(status_code=499)
        if outcome.status is not None:
            return fault_response(outcome)
        slack_team_id, _, slack_file_id = request.path_params["key"].partition("-")
        file = world.files.get(slack_file_id)
        if not _may_download(world, bearer_token(request), file, slack_team_id):
            return TEMPLATES.TemplateResponse(request, "slack_login.html", {"team": slack_team_id})
        assert file is not None
        headers = {}
        if request.path_params.get("variant") == "download":
            headers["Content-Disposition"] = f'attachment; filename="{file.name}"'
        return Response(file.content, media_type=file.mimetype, headers=headers)

    return [
        Route("/upload/v1/{upload_id}", upload, methods=["POST"]),
        Route("/files-pri/{key}/{variant}/{name}", download, methods=["GET"]),
        Route("/files-pri/{key}/{name}", download, methods=["GET"]),
    ]


def _may_download(
    world: SlackWorld, token_value: str | None, file: SlackFile | None, slack_team_id: str
) -> bool:
    token = world.tokens.get(token_value or "")
    if token is None or token.revoked or file is None or not file.uploaded:
        return False
    if token.expires_at is not None and token.expires_at < time.time():
        return False
    if file.slack_team_id != slack_team_id or not world.covers(token, file.slack_team_id):
        return False
    return not world.enforce_scopes or "files:read" in token.scopes
