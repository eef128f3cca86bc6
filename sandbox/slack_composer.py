"""What a person does on the simulated Slack page: write (a mention, a DM, a plain reply in a
thread, with a file or not), edit or delete their own message, click an element of the app's
message, or uninstall the app. Each is the event (or `block_actions`) Slack would send.

The form's choices are the ones used, exactly: an unknown workspace, someone from another
workspace or a channel that is not there is a problem shown on the page, never replaced by a
default, so nobody is made to speak as someone else or somewhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sandbox import slack_mrkdwn
from sandbox.slack_actions import Choice, build_block_actions
from sandbox.slack_events import EventSender
from sandbox.slack_files import describe_file
from sandbox.slack_payloads import (
    BuiltEvent,
    EventInputError,
    add_user_file,
    build_channel_message,
    build_delete,
    build_dm,
    build_edit,
    build_mention,
    build_uninstall,
    share_file,
)
from sandbox.slack_records import SlackMessage, SlackUser
from sandbox.slack_world import SlackWorld

# Files a person attaches on the page; Slack's own limit is far larger.
MAX_PAGE_FILE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    name: str
    content: bytes


def selection(world: SlackWorld, params: dict[str, str]) -> dict[str, str]:
    """What to show: anything unknown falls back to the first workspace, person, channel."""
    team = params.get("team") or ""
    if team not in world.teams:
        team = next(iter(world.teams))
    people = [u for u in world.team_users(team) if not u.is_bot]
    user = params.get("user") or ""
    if user not in {p.slack_user_id for p in people}:
        user = people[0].slack_user_id
    channels = [c.slack_channel_id for c in world.team_channels(team) if not c.is_archived]
    channel = params.get("channel") or ""
    if channel != "dm" and channel not in channels:
        channel = channels[0]
    return {"team": team, "user": user, "channel": channel, "thread": params.get("thread", "")}


def _chosen_exactly(world: SlackWorld, params: dict[str, str]) -> dict[str, str]:
    """What to act on: exactly what the form said, or `EventInputError`; never a fallback,
    so a person is never made to say something as someone else or somewhere else."""
    chosen = {k: params.get(k, "") for k in ("team", "user", "channel", "thread")}
    team = world.teams.get(chosen["team"])
    if team is None:
        raise EventInputError("Pick a workspace.")
    person = world.users.get(chosen["user"])
    if person is None or person.is_bot or person.slack_team_id != team.slack_team_id:
        raise EventInputError(f"Pick someone who belongs to {team.name}.")
    channel = world.channels.get(chosen["channel"])
    if chosen["channel"] != "dm" and (
        channel is None or channel.slack_team_id != team.slack_team_id or channel.is_im
    ):
        raise EventInputError(f"Pick a channel of {team.name}, or the direct message.")
    if (
        channel is not None
        and chosen["channel"] != "dm"
        and person.slack_user_id not in channel.members
    ):
        # Slack shows a guest only the channels they were invited to.
        raise EventInputError(f"{person.real_name} is not a member of #{channel.name}.")
    return chosen


def _mentionable(world: SlackWorld, slack_team_id: str) -> list[SlackUser]:
    """Everyone `@name` may mean, the app's bot user included."""
    return world.team_users(slack_team_id)


def _back(chosen: dict[str, str], **extra: str) -> RedirectResponse:
    query = {k: chosen[k] for k in ("team", "channel", "user") if chosen.get(k)}
    return RedirectResponse("/?" + urlencode({**query, **extra}), status_code=303)


async def _form(request: Request) -> tuple[dict[str, str], Attachment | None]:
    async with request.form(max_part_size=MAX_PAGE_FILE_BYTES) as form:
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            return params, Attachment(upload.filename, await upload.read())
    return params, None


def _typed_message(
    world: SlackWorld, chosen: dict[str, str], params: dict[str, str], upload: Attachment | None
) -> BuiltEvent:
    team, user = chosen["team"], chosen["user"]
    typed = params.get("text", "").strip()
    if not typed and upload is None:
        raise EventInputError("Write something first.")
    text = slack_mrkdwn.compose(typed, _mentionable(world, team))
    thread_ts = chosen["thread"] or None
    file_ids: list[str] | None = None
    file = None
    if upload is not None:
        mimetype, filetype = describe_file(upload.name)
        file = add_user_file(
            world,
            slack_team_id=team,
            slack_user_id=user,
            name=upload.name,
            content=upload.content,
            mimetype=mimetype,
            filetype=filetype,
        )
        file_ids = [file.slack_file_id]
    if chosen["channel"] == "dm":
        built = build_dm(
            world,
            slack_team_id=team,
            slack_user_id=user,
            text=text,
            thread_ts=thread_ts,
            file_ids=file_ids,
        )
    else:
        bot = world.active_installation(team)
        bot_user_id = bot.bot_user_id if bot else world.app_bots[team]
        mentions = f"<@{bot_user_id}>" in text or params.get("mention") == "1"
        build = build_mention if mentions else build_channel_message
        built = build(
            world,
            slack_team_id=team,
            slack_channel_id=chosen["channel"],
            slack_user_id=user,
            text=text,
            thread_ts=thread_ts,
            file_ids=file_ids,
        )
    return share_file(built, file, world) if file is not None else built


def _own_message(world: SlackWorld, params: dict[str, str]) -> SlackMessage:
    message = world.find_message(params.get("channel", ""), params.get("ts", ""))
    if message is None:
        raise EventInputError("That message is gone.")
    if message.user != params.get("user") or message.bot_id is not None:
        raise EventInputError("You can only edit or delete your own messages.")
    return message


def _view(world: SlackWorld, params: dict[str, str]) -> dict[str, str]:
    """Where to go back to after acting on a message in a channel or a DM."""
    channel = world.channels.get(params.get("channel", ""))
    shown = "dm" if channel is not None and channel.is_im else params.get("channel", "")
    return {"team": params.get("team", ""), "user": params.get("user", ""), "channel": shown}


def composer_routes(world: SlackWorld, sender: EventSender) -> list[Route]:
    async def send(request: Request) -> Response:
        params, upload = await _form(request)
        try:
            chosen = _chosen_exactly(world, params)
            built = _typed_message(world, chosen, params, upload)
        except EventInputError as error:
            return _back(selection(world, params), problem=str(error))
        await sender.send(built, background_retries=True)
        return _back(chosen)

    async def edit(request: Request) -> Response:
        params, _ = await _form(request)
        try:
            message = _own_message(world, params)
            text = slack_mrkdwn.compose(
                params.get("text", "").strip(), _mentionable(world, message.slack_team_id)
            )
            if not text:
                raise EventInputError("An edit needs some text; delete the message instead.")
            built = build_edit(
                world, slack_channel_id=message.slack_channel_id, ts=message.ts, text=text
            )
        except EventInputError as error:
            return _back(_view(world, params), problem=str(error))
        await sender.send(built, background_retries=True)
        return _back(_view(world, params))

    async def delete(request: Request) -> Response:
        params, _ = await _form(request)
        try:
            message = _own_message(world, params)
            built = build_delete(world, slack_channel_id=message.slack_channel_id, ts=message.ts)
        except EventInputError as error:
            return _back(_view(world, params), problem=str(error))
        await sender.send(built, background_retries=True)
        return _back(_view(world, params))

    async def act(request: Request) -> Response:
        params, _ = await _form(request)
        option = params.get("option", "")
        try:
            payload = build_block_actions(
                world,
                slack_team_id=params.get("team", ""),
                slack_user_id=params.get("user", ""),
                slack_channel_id=params.get("channel", ""),
                ts=params.get("ts", ""),
                block_id=params.get("block_id", ""),
                action_id=params.get("action_id", ""),
                choice=Choice(
                    option=int(option) if option.isdigit() else None,
                    date=params.get("date") or None,
                ),
            )
        except EventInputError as error:
            return _back(_view(world, params), problem=str(error))
        await sender.send_interaction(payload)
        return _back(_view(world, params))

    async def uninstall(request: Request) -> Response:
        params, _ = await _form(request)
        team = params.get("team", "")
        if team not in world.teams:
            return _back(selection(world, params), problem="Pick a workspace.")
        for built in build_uninstall(world, slack_team_id=team):
            await sender.send(built, background_retries=True)
        return _back(selection(world, params))

    return [
        Route("/send", send, methods=["POST"]),
        Route("/edit", edit, methods=["POST"]),
        Route("/delete", delete, methods=["POST"]),
        Route("/act", act, methods=["POST"]),
        Route("/uninstall", uninstall, methods=["POST"]),
    ]
