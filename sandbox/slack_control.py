"""`/_sandbox/…`: the JSON control surface other processes use to drive the simulated Slack.

The benchmark and end-to-end tests run our app as a separate process, so they cannot touch
`SlackWorld` directly; they arm faults, read recorded calls and bot posts, reconfigure the world
and make people "type" in Slack through these endpoints instead.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.faults import FaultSpec
from sandbox.slack_events import EventSender, Signature
from sandbox.slack_files import describe_file
from sandbox.slack_oauth import installation_response
from sandbox.slack_objects import message_object
from sandbox.slack_payloads import (
    BuiltEvent,
    EventInputError,
    add_user_file,
    build_bot_message,
    build_delete,
    build_dm,
    build_edit,
    build_mention,
    build_tokens_revoked,
    build_uninstall,
    share_file,
)
from sandbox.slack_world import RevokedBotTokenError, SlackWorld

EventKind = Literal[
    "mention", "dm", "edit", "delete", "file", "bot_message", "uninstall", "tokens_revoked"
]


class EventRequest(BaseModel):
    kind: EventKind
    team: str
    channel: str | None = Field(default=None, description="C… for channels; DMs need none")
    user: str | None = None
    text: str = ""
    thread_ts: str | None = None
    ts: str | None = Field(default=None, description="the message to edit or delete")
    file_name: str = "note.txt"
    file_content: str = Field(default="", description="UTF-8 text, or base64 when prefixed b64:")
    users: list[str] | None = Field(default=None, description="tokens_revoked: only these users")
    signature: Signature = "valid"
    wait: Literal["first", "all"] = "first"


# Only these settings mean something when null ("no app URL", "no rate limit").
_NULLABLE_CONFIG = {"events_url", "post_rate_per_channel", "interactivity_url"}


class ConfigPatch(BaseModel):
    events_url: str | None = None
    public_url: str | None = None
    token_rotation: bool | None = None
    token_lifetime_seconds: float | None = Field(default=None, gt=0)
    post_rate_per_channel: float | None = Field(default=None, ge=0)
    post_burst: int | None = Field(default=None, ge=1)
    method_rate_limits: bool | None = None
    events_per_hour: int | None = Field(default=None, ge=0)
    interactivity_url: str | None = None
    enforce_scopes: bool | None = None
    retry_time_scale: float | None = Field(default=None, gt=0)
    marketplace_approved: bool | None = None
    uninstalled_bot_token_error: RevokedBotTokenError | None = None
    connect_team_lists: Literal["connected", "shared_only"] | None = None


class InstallRequest(BaseModel):
    team: str
    user: str | None = None
    scopes: list[str]
    user_scopes: list[str] = []


class ChannelPatch(BaseModel):
    bot_is_member: bool | None = None
    is_archived: bool | None = None


def _config(world: SlackWorld) -> dict[str, Any]:
    return {
        "events_url": world.events_url,
        "public_url": world.public_url,
        "token_rotation": world.token_rotation,
        "token_lifetime_seconds": world.token_lifetime_seconds,
        "post_rate_per_channel": world.post_rate_per_channel,
        "post_burst": world.post_burst,
        "method_rate_limits": world.method_rate_limits,
        "events_per_hour": world.events_per_hour,
        "interactivity_url": world.interactivity_url,
        "enforce_scopes": world.enforce_scopes,
        "retry_time_scale": world.retry_time_scale,
        "marketplace_approved": world.marketplace_approved,
        "uninstalled_bot_token_error": world.uninstalled_bot_token_error,
        "connect_team_lists": world.connect_team_lists,
    }


def _file_bytes(value: str) -> bytes:
    if value.startswith("b64:"):
        return base64.b64decode(value[4:], validate=True)
    return value.encode()


def _user_message(
    world: SlackWorld, request: EventRequest, *, in_channel: bool, file_ids: list[str] | None = None
) -> BuiltEvent:
    """A person writing to the bot: an `app_mention` in a channel, otherwise a DM."""
    team, user = request.team, request.user or ""
    if in_channel:
        return build_mention(
            world,
            slack_team_id=team,
            slack_channel_id=request.channel or "",
            slack_user_id=user,
            text=request.text,
            thread_ts=request.thread_ts,
            file_ids=file_ids,
        )
    return build_dm(
        world,
        slack_team_id=team,
        slack_user_id=user,
        text=request.text,
        thread_ts=request.thread_ts,
        file_ids=file_ids,
    )


def build_requested(world: SlackWorld, request: EventRequest) -> list[BuiltEvent]:
    """The events Slack sends for it: two for an uninstall, one for everything else."""
    if request.kind == "uninstall":
        return build_uninstall(world, slack_team_id=request.team)
    return [_build_one(world, request)]


def _build_one(world: SlackWorld, request: EventRequest) -> BuiltEvent:
    team, user, channel = request.team, request.user or "", request.channel or ""
    if request.kind in ("mention", "dm"):
        return _user_message(world, request, in_channel=request.kind == "mention")
    if request.kind in ("edit", "delete"):
        if not channel or not request.ts:
            raise EventInputError("edit and delete need channel and ts")
        if request.kind == "edit":
            return build_edit(world, slack_channel_id=channel, ts=request.ts, text=request.text)
        return build_delete(world, slack_channel_id=channel, ts=request.ts)
    if request.kind == "file":
        mimetype, filetype = describe_file(request.file_name)
        file = add_user_file(
            world,
            slack_team_id=team,
            slack_user_id=user,
            name=request.file_name,
            content=_file_bytes(request.file_content),
            mimetype=mimetype,
            filetype=filetype,
        )
        in_channel = bool(channel) and not channel.startswith("D")
        built = _user_message(world, request, in_channel=in_channel, file_ids=[file.slack_file_id])
        return share_file(built, file, world)
    if request.kind == "bot_message":
        return build_bot_message(
            world, slack_team_id=team, slack_channel_id=channel, text=request.text
        )
    return build_tokens_revoked(
        world, slack_team_id=team, slack_user_ids=set(request.users) if request.users else None
    )


async def _body(request: Request, model: type[BaseModel]) -> Any:
    return model.model_validate_json(await request.body() or b"{}")


def control_routes(world: SlackWorld, sender: EventSender) -> list[Route]:
    async def arm_fault(request: Request) -> Response:
        spec = await _body(request, FaultSpec)
        world.faults.arm(spec)
        return JSONResponse({"ok": True, "armed": [s.model_dump() for s in world.faults.list()]})

    async def list_faults(request: Request) -> Response:
        faults = [s.model_dump() for s in world.faults.list()]
        return JSONResponse({"armed": faults, "hits": world.faults.hits})

    async def clear_faults(request: Request) -> Response:
        world.faults.clear()
        return JSONResponse({"ok": True})

    async def calls(request: Request) -> Response:
        method = request.query_params.get("method")
        shown = [c.to_json() for c in world.calls if method is None or c.method == method]
        return JSONResponse({"calls": shown})

    async def reset(request: Request) -> Response:
        world.reset()
        sender.time_scale = world.retry_time_scale
        return JSONResponse({"ok": True})

    async def events(request: Request) -> Response:
        wanted: EventRequest = await _body(request, EventRequest)
        try:
            all_built = build_requested(world, wanted)
        except (EventInputError, binascii.Error) as error:
            return JSONResponse({"ok": False, "error": str(error)}, status_code=400)
        reports = [
            await sender.send(
                built, signature=wanted.signature, background_retries=wanted.wait == "first"
            )
            for built in all_built
        ]
        body: dict[str, Any] = {
            "ok": True,
            "delivery": reports[0].to_json(),
            "deliveries": [report.to_json() for report in reports],
        }
        built = all_built[0]
        if built.message is not None:
            body["ts"] = built.message.ts
            body["channel"] = built.message.slack_channel_id
        return JSONResponse(body)

    async def delivery(request: Request) -> Response:
        report = world.deliveries.get(request.path_params["event_id"])
        if report is None:
            return JSONResponse({"ok": False, "error": "unknown_event"}, status_code=404)
        return JSONResponse({"ok": True, "delivery": report.to_json()})

    async def messages(request: Request) -> Response:
        channel = request.query_params.get("channel")
        everyone = request.query_params.get("all") in ("1", "true")
        if everyone and channel:
            found = world.channel_messages(channel)
        else:
            found = world.bot_messages(channel)
        thread = request.query_params.get("thread_ts")
        if thread:
            found = [m for m in found if thread in (m.thread_ts, m.ts)]
        shown = [
            {"channel": m.slack_channel_id, **message_object(world, m, base_url=world.public_url)}
            for m in found
        ]
        return JSONResponse({"messages": shown})

    async def config(request: Request) -> Response:
        if request.method == "PATCH":
            patch: ConfigPatch = await _body(request, ConfigPatch)
            for name, value in patch.model_dump(exclude_unset=True).items():
                if value is not None or name in _NULLABLE_CONFIG:
                    setattr(world, name, value)
            sender.time_scale = world.retry_time_scale
        return JSONResponse(_config(world))

    async def install(request: Request) -> Response:
        """The consent page skipped, not Slack's rules: a scope the manifest does not declare
        is refused here as `/oauth/v2/authorize` refuses it (`invalid_scope`)."""
        wanted: InstallRequest = await _body(request, InstallRequest)
        team = world.teams.get(wanted.team)
        if team is None:
            return JSONResponse({"ok": False, "error": "team_not_found"}, status_code=400)
        undeclared = sorted(set(wanted.scopes) - world.declared.bot) + sorted(
            set(wanted.user_scopes) - world.declared.user
        )
        if undeclared:
            return JSONResponse(
                {"ok": False, "error": "invalid_scope", "undeclared": undeclared},
                status_code=400,
            )
        if not wanted.scopes and not wanted.user_scopes:
            return JSONResponse({"ok": False, "error": "invalid_scope"}, status_code=400)
        people = [u for u in world.team_users(team.slack_team_id) if not u.is_bot]
        grant = world.issue_grant(
            flow="oauth",
            slack_user_id=wanted.user or people[0].slack_user_id,
            slack_team_id=team.slack_team_id,
            slack_enterprise_id=team.slack_enterprise_id,
            scopes=tuple(wanted.scopes),
            user_scopes=tuple(wanted.user_scopes),
            redirect_uri="",
        )
        grant.used = True
        installation = world.install(grant)
        return JSONResponse(
            {"ok": True, **installation_response(world, installation, world.public_url)}
        )

    async def channel(request: Request) -> Response:
        found = world.channels.get(request.path_params["channel"])
        if found is None:
            return JSONResponse({"ok": False, "error": "channel_not_found"}, status_code=404)
        patch: ChannelPatch = await _body(request, ChannelPatch)
        for name, value in patch.model_dump(exclude_unset=True).items():
            setattr(found, name, value)
        return JSONResponse({"ok": True})

    async def directory(request: Request) -> Response:
        return JSONResponse(
            {
                "teams": [
                    {
                        "id": t.slack_team_id,
                        "name": t.name,
                        "enterprise_id": t.slack_enterprise_id,
                        "bot_user_id": world.app_bots[t.slack_team_id],
                        "users": [u.slack_user_id for u in world.team_users(t.slack_team_id)],
                        "channels": {
                            c.name: c.slack_channel_id for c in world.team_channels(t.slack_team_id)
                        },
                    }
                    for t in world.teams.values()
                ]
            }
        )

    return [
        Route("/_sandbox/faults", arm_fault, methods=["POST"]),
        Route("/_sandbox/faults", list_faults, methods=["GET"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/calls", calls, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/events", events, methods=["POST"]),
        Route("/_sandbox/deliveries/{event_id}", delivery, methods=["GET"]),
        Route("/_sandbox/messages", messages, methods=["GET"]),
        Route("/_sandbox/config", config, methods=["GET", "PATCH"]),
        Route("/_sandbox/install", install, methods=["POST"]),
        Route("/_sandbox/channels/{channel}", channel, methods=["PATCH"]),
        Route("/_sandbox/world", directory, methods=["GET"]),
    ]


def validation_error(request: Request, exc: Exception) -> Response:
    """Bad control bodies are the caller's mistake: 422 with pydantic's explanation."""
    assert isinstance(exc, ValidationError)
    return JSONResponse({"ok": False, "error": "invalid_body", "detail": exc.errors()}, 422)
