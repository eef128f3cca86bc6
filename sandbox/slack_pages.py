"""The page a person uses to play Slack user: pick a workspace, a channel and who you are, then
mention the app or DM it, and watch its replies arrive in threads.

Plain HTML forms, no JavaScript: the conversation sits in an iframe that refreshes itself, so
the text being typed is never lost. The page says plainly when the app cannot be reached.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from sandbox.slack_events import DeliveryReport, EventSender
from sandbox.slack_payloads import EventInputError, build_dm, build_mention
from sandbox.slack_records import SlackMessage
from sandbox.slack_world import SANDBOX_APP_NAME, SlackWorld

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")
_LINK = re.compile(r"&lt;(https?://[^|&]+)(?:\|([^&]*))?&gt;")
_AVATAR_COLORS = ("#4a154b", "#1264a3", "#2bac76", "#e01e5a", "#ecb22e", "#36c5f0")


@dataclass
class ShownMessage:
    ts: str
    author: str
    avatar: str
    is_bot: bool
    clock: str
    text: Markup
    edited: bool
    ephemeral: bool
    files: list[str]
    reactions: list[tuple[str, int]]
    replies: list[ShownMessage] = field(default_factory=list)


def _render_text(world: SlackWorld, text: str) -> Markup:
    def user(match: re.Match[str]) -> str:
        person = world.users.get(match.group(1))
        name = escape(person.display_name if person else match.group(1))
        return f'<span class="mention">@{name}</span>'

    escaped = str(escape(text))
    escaped = _MENTION.sub(user, escaped)
    escaped = _LINK.sub(lambda m: f'<a href="{m.group(1)}">{m.group(2) or m.group(1)}</a>', escaped)
    return Markup(escaped.replace("\n", "<br>"))


def _shown(world: SlackWorld, message: SlackMessage) -> ShownMessage:
    person = world.users.get(message.user or "")
    author = message.username or (person.real_name if person else "unknown")
    avatar = message.icon_url or f"/avatars/{message.user or 'bot'}/48.svg"
    return ShownMessage(
        ts=message.ts,
        author=author,
        avatar=avatar,
        is_bot=message.bot_id is not None,
        clock=time.strftime("%H:%M:%S", time.localtime(float(message.ts))),
        text=_render_text(world, message.text),
        edited=message.edited is not None,
        ephemeral=message.ephemeral_to is not None,
        files=[
            f"{world.files[f].name} ({world.files[f].size} bytes)"
            for f in message.file_ids
            if f in world.files
        ],
        reactions=[(name, len(users)) for name, users in message.reactions.items()],
    )


def conversation(
    world: SlackWorld, slack_channel_id: str, viewer: str | None
) -> list[ShownMessage]:
    messages = [
        m
        for m in world.channel_messages(slack_channel_id)
        if m.ephemeral_to is None or m.ephemeral_to == viewer
    ]
    top = [_shown(world, m) for m in messages if not m.is_reply]
    by_ts = {m.ts: m for m in top}
    for message in messages:
        if message.is_reply and message.thread_ts in by_ts:
            by_ts[message.thread_ts].replies.append(_shown(world, message))
    return top


def delivery_notice(report: DeliveryReport | None) -> tuple[str, str] | None:
    """(level, sentence) about the last event sent to the app, for the status banner."""
    if report is None:
        return None
    if report.error == "events_url_not_set":
        return "error", "Nothing was sent: the events URL is not set."
    last = report.attempts[-1] if report.attempts else None
    if report.delivered:
        return "ok", f"Delivered {report.event_type} ({report.event_id})."
    if last is None:
        return "warn", f"Sending {report.event_type}…"
    what = (
        "timed out after 3 s"
        if last.outcome == "http_timeout"
        else (f"answered HTTP {last.status}" if last.status else "could not be reached")
    )
    retrying = "" if report.done else " Slack will retry."
    return "error", f"Your app {what} for {report.event_type}.{retrying}"


def _selection(world: SlackWorld, params: dict[str, str]) -> dict[str, str]:
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


def page_routes(world: SlackWorld, sender: EventSender) -> list[Route]:
    async def home(request: Request) -> Response:
        chosen = _selection(world, dict(request.query_params))
        team = chosen["team"]
        dm = world.open_dm(team, chosen["user"]) if chosen["channel"] == "dm" else None
        channel_id = dm.slack_channel_id if dm else chosen["channel"]
        context: dict[str, Any] = {
            "app_name": SANDBOX_APP_NAME,
            "world": world,
            "chosen": chosen,
            "teams": list(world.teams.values()),
            "people": [u for u in world.team_users(team) if not u.is_bot],
            "channels": [c for c in world.team_channels(team) if not c.is_archived],
            "threads": conversation(world, channel_id, chosen["user"])[-15:],
            "installed": world.active_installation(team) is not None,
            "notice": delivery_notice(world.last_delivery),
            "problem": request.query_params.get("problem"),
            "frame": "/conversation?" + urlencode(chosen),
        }
        return TEMPLATES.TemplateResponse(request, "slack_page.html", context)

    async def frame(request: Request) -> Response:
        chosen = _selection(world, dict(request.query_params))
        channel = (
            world.open_dm(chosen["team"], chosen["user"]).slack_channel_id
            if chosen["channel"] == "dm"
            else chosen["channel"]
        )
        context = {
            "messages": conversation(world, channel, chosen["user"]),
            "notice": delivery_notice(world.last_delivery),
        }
        return TEMPLATES.TemplateResponse(request, "slack_conversation.html", context)

    async def send(request: Request) -> Response:
        async with request.form() as form:
            params = {k: v for k, v in form.items() if isinstance(v, str)}
        chosen = _selection(world, params)
        text = params.get("text", "").strip()
        back = {k: v for k, v in chosen.items() if k != "thread"}
        if not text:
            return RedirectResponse(
                "/?" + urlencode({**back, "problem": "Write something first."}), 303
            )
        thread_ts = chosen["thread"] or None
        try:
            if chosen["channel"] == "dm":
                built = build_dm(
                    world,
                    slack_team_id=chosen["team"],
                    slack_user_id=chosen["user"],
                    text=text,
                    thread_ts=thread_ts,
                )
            else:
                built = build_mention(
                    world,
                    slack_team_id=chosen["team"],
                    slack_channel_id=chosen["channel"],
                    slack_user_id=chosen["user"],
                    text=text,
                    thread_ts=thread_ts,
                )
        except EventInputError as error:
            return RedirectResponse("/?" + urlencode({**back, "problem": str(error)}), 303)
        await sender.send(built, background_retries=True)
        return RedirectResponse("/?" + urlencode(back), status_code=303)

    async def settings(request: Request) -> Response:
        async with request.form() as form:
            url = form.get("events_url")
        world.events_url = url.strip() if isinstance(url, str) and url.strip() else None
        return RedirectResponse("/", status_code=303)

    async def avatar(request: Request) -> Response:
        user = world.users.get(request.path_params["user"])
        size = min(int(request.path_params["size"]), 1024)
        initials = "".join(p[0] for p in (user.real_name.split() if user else ["?"]))[:2]
        color = _AVATAR_COLORS[sum(map(ord, request.path_params["user"])) % len(_AVATAR_COLORS)]
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
            f'viewBox="0 0 48 48"><rect width="48" height="48" rx="8" fill="{color}"/>'
            f'<text x="24" y="31" font-family="sans-serif" font-size="18" fill="#fff" '
            f'text-anchor="middle">{escape(initials)}</text></svg>'
        )
        return Response(svg, media_type="image/svg+xml")

    async def archive(request: Request) -> Response:
        channel = world.channels.get(request.path_params["channel"])
        if channel is None:
            return RedirectResponse("/", status_code=303)
        target = "dm" if channel.is_im else channel.slack_channel_id
        query = {"team": channel.slack_team_id, "channel": target}
        if channel.im_user:
            query["user"] = channel.im_user
        return RedirectResponse("/?" + urlencode(query), status_code=303)

    return [
        Route("/", home, methods=["GET"]),
        Route("/conversation", frame, methods=["GET"]),
        Route("/send", send, methods=["POST"]),
        Route("/settings", settings, methods=["POST"]),
        Route("/avatars/{user}/{size:int}.svg", avatar, methods=["GET"]),
        Route("/archives/{channel}/{message}", archive, methods=["GET"]),
    ]
