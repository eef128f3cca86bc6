"""The page a person uses to play Slack user: pick a workspace, a channel and who you are,
then mention the app, DM it or reply in a thread, edit, delete, attach a file, click the
buttons of the app's messages, or uninstall it; and watch its replies arrive.

The choices on the page are the ones used: Send posts the workspace, channel and person shown
in its own form. Messages are drawn as Slack draws them (`slack_mrkdwn`, `slack_blocks`), and
what is typed is escaped as Slack's composer escapes it. The conversation sits in an iframe
that refreshes itself unless someone is typing in it; the page says plainly when the app
cannot be reached. Every action is the signed event (or `block_actions`) Slack would send.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sandbox import slack_blocks, slack_mrkdwn
from sandbox.slack_composer import composer_routes, selection
from sandbox.slack_events import DeliveryReport, EventSender
from sandbox.slack_records import SlackMessage
from sandbox.slack_templates import TEMPLATES
from sandbox.slack_world import (
    SANDBOX_APP_NAME,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_SIGNING_SECRET,
    SlackWorld,
)

_AVATAR_COLORS = ("#4a154b", "#1264a3", "#2bac76", "#e01e5a", "#ecb22e", "#36c5f0")


@dataclass
class ShownMessage:
    ts: str
    dom_id: str
    author: str
    avatar: str
    is_bot: bool
    clock: str
    body: Markup
    has_blocks: bool
    typed: str
    mine: bool
    edited: bool
    ephemeral: bool
    # (label, link to view it as the page's person) per shared file
    files: list[tuple[str, str]]
    reactions: list[tuple[str, int]]
    replies: list[ShownMessage] = field(default_factory=list)


def _namer(world: SlackWorld) -> slack_mrkdwn.UserName:
    def name(slack_user_id: str) -> str | None:
        person = world.users.get(slack_user_id)
        return person.display_name if person else None

    return name


def _shown(world: SlackWorld, message: SlackMessage, viewer: str | None) -> ShownMessage:
    person = world.users.get(message.user or "")
    author = message.username or (person.real_name if person else "unknown")
    avatar = message.icon_url or f"/avatars/{message.user or 'bot'}/48.svg"
    names = _namer(world)
    has_blocks = slack_blocks.shows_blocks(message.blocks)
    if has_blocks:
        clicker = slack_blocks.Clicker(
            slack_team_id=message.slack_team_id,
            slack_user_id=viewer or "",
            slack_channel_id=message.slack_channel_id,
            ts=message.ts,
        )
        body = slack_blocks.blocks_html(message.blocks or [], clicker, names)
    else:
        body = slack_mrkdwn.to_html(message.text, user_name=names)
    return ShownMessage(
        ts=message.ts,
        dom_id="m" + message.ts.replace(".", "-"),
        author=author,
        avatar=avatar,
        is_bot=message.bot_id is not None,
        clock=time.strftime("%H:%M:%S", time.localtime(float(message.ts))),
        body=body,
        has_blocks=has_blocks,
        typed=slack_mrkdwn.as_typed(message.text, names),
        mine=viewer is not None and message.user == viewer and message.bot_id is None,
        edited=message.edited is not None,
        ephemeral=message.ephemeral_to is not None,
        files=[
            (
                f"{world.files[f].name} ({world.files[f].size} bytes)",
                f"/view-file/{f}?" + urlencode({"team": message.slack_team_id}),
            )
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
    top = [_shown(world, m, viewer) for m in messages if not m.is_reply]
    by_ts = {m.ts: m for m in top}
    for message in messages:
        if message.is_reply and message.thread_ts in by_ts:
            by_ts[message.thread_ts].replies.append(_shown(world, message, viewer))
    return top


def _what(report: DeliveryReport) -> str:
    """`message_changed` says more than `message`, so the subtype is named when there is one."""
    event = report.envelope.get("event")
    subtype = event.get("subtype") if isinstance(event, dict) else None
    return f"{report.event_type} ({subtype})" if subtype else report.event_type


def delivery_notice(report: DeliveryReport | None) -> tuple[str, str] | None:
    """(level, sentence) about the last event sent to the app, for the status banner."""
    if report is None:
        return None
    if report.error in ("events_url_not_set", "interactivity_url_not_set"):
        return "error", "Nothing was sent: the events URL is not set."
    if report.error == "app_rate_limited":
        return (
            "error",
            f"Not sent, over the hourly event limit: {_what(report)}.",
        )
    last = report.attempts[-1] if report.attempts else None
    if report.delivered:
        return "ok", f"Delivered {_what(report)} ({report.event_id})."
    if last is None:
        return "warn", f"Sending {_what(report)}…"
    what = (
        "timed out after 3 s"
        if last.outcome == "http_timeout"
        else (f"answered HTTP {last.status}" if last.status else "could not be reached")
    )
    retrying = "" if report.done or report.form else " Slack will retry."
    return "error", f"Your app {what} for {_what(report)}.{retrying}"


def page_routes(world: SlackWorld, sender: EventSender) -> list[Route]:
    async def home(request: Request) -> Response:
        chosen = selection(world, dict(request.query_params))
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
            "credentials": [
                ("client-id", "Client ID", SANDBOX_CLIENT_ID),
                ("client-secret", "Client secret", SANDBOX_CLIENT_SECRET),
                ("signing-secret", "Signing secret", SANDBOX_SIGNING_SECRET),
            ],
        }
        return TEMPLATES.TemplateResponse(request, "slack_page.html", context)

    async def frame(request: Request) -> Response:
        chosen = selection(world, dict(request.query_params))
        channel = (
            world.open_dm(chosen["team"], chosen["user"]).slack_channel_id
            if chosen["channel"] == "dm"
            else chosen["channel"]
        )
        context = {
            "messages": conversation(world, channel, chosen["user"]),
            "notice": delivery_notice(world.last_delivery),
            "chosen": chosen,
            "channel": channel,
        }
        return TEMPLATES.TemplateResponse(request, "slack_conversation.html", context)

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

    async def view_file(request: Request) -> Response:
        """A shared file as a person of its workspace sees it in Slack's client (the page's
        stand-in for a signed-in browser); apps must use `url_private` with a token."""
        file = world.files.get(request.path_params["file_id"])
        team = request.query_params.get("team", "")
        if file is None or not file.uploaded or not file.shared or file.slack_team_id != team:
            return Response("Not Found", status_code=404, media_type="text/plain")
        disposition = f'inline; filename="{file.name.replace(chr(34), "")}"'
        headers = {"Content-Disposition": disposition}
        return Response(file.content, media_type=file.mimetype, headers=headers)

    return [
        Route("/", home, methods=["GET"]),
        Route("/view-file/{file_id}", view_file, methods=["GET"]),
        Route("/conversation", frame, methods=["GET"]),
        *composer_routes(world, sender),
        Route("/settings", settings, methods=["POST"]),
        Route("/avatars/{user}/{size:int}.svg", avatar, methods=["GET"]),
        Route("/archives/{channel}/{message}", archive, methods=["GET"]),
    ]
