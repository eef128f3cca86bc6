"""A person clicking a button (or choosing an option or a date) in an app's message.

Slack POSTs the app's interactivity Request URL a form body, `payload=<JSON>`, signed like an
event (`v0` over the raw form body), with `type: block_actions`, who clicked (`user`, `team`),
where (`container`, `channel`), the whole `message`, the `actions` (each with `action_id`,
`block_id`, the button's `value`, the select's `selected_option` or the picker's
`selected_date`, and `action_ts`), a `response_url` and a `trigger_id`. Interactivity is not
retried: a click the app does not answer with 200 within 3 seconds shows the person an error.

The `response_url` works here as in Slack: up to 5 posts within 30 minutes, each either a new
message (ephemeral unless `response_type: in_channel`), or `replace_original` /
`delete_original` of the message clicked.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sandbox.slack_objects import message_object
from sandbox.slack_payloads import EventInputError
from sandbox.slack_records import SlackMessage
from sandbox.slack_world import SANDBOX_APP_ID, SANDBOX_VERIFICATION_TOKEN, SlackWorld

JsonObject = dict[str, Any]
RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60


@dataclass
class ResponseUrl:
    slack_channel_id: str
    ts: str
    slack_user_id: str
    thread_ts: str | None
    expires_at: float
    uses_left: int = RESPONSE_URL_USES


@dataclass(frozen=True)
class Choice:
    """What the person picked: nothing for a button, an option index, or a date."""

    option: int | None = None
    date: str | None = None


def _find_element(message: SlackMessage, block_id: str, action_id: str) -> JsonObject:
    for block in message.blocks or []:
        if not isinstance(block, dict) or str(block.get("block_id") or "") != block_id:
            continue
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    raise EventInputError(f"no element {action_id} in block {block_id} of {message.ts}")


def _action(element: JsonObject, block_id: str, choice: Choice) -> JsonObject:
    kind = element.get("type")
    action: JsonObject = {
        "type": kind,
        "action_id": element["action_id"],
        "block_id": block_id,
        "action_ts": f"{time.time():.6f}",
    }
    if kind == "button":
        action["text"] = element.get("text")
        if "value" in element:
            action["value"] = element["value"]
        if element.get("style"):
            action["style"] = element["style"]
    elif kind == "static_select":
        options = [o for o in element.get("options") or [] if isinstance(o, dict)]
        for group in element.get("option_groups") or []:
            options += [o for o in (group or {}).get("options") or [] if isinstance(o, dict)]
        if choice.option is None or not 0 <= choice.option < len(options):
            raise EventInputError("choose one of the options")
        action["selected_option"] = options[choice.option]
        if isinstance(element.get("placeholder"), dict):
            action["placeholder"] = element["placeholder"]
    elif kind == "datepicker":
        if not choice.date:
            raise EventInputError("pick a date")
        action["selected_date"] = choice.date
        if element.get("initial_date"):
            action["initial_date"] = element["initial_date"]
    else:
        raise EventInputError(f"a {kind} cannot be clicked")
    return action


def build_block_actions(
    world: SlackWorld,
    *,
    slack_team_id: str,
    slack_user_id: str,
    slack_channel_id: str,
    ts: str,
    block_id: str,
    action_id: str,
    choice: Choice = Choice(),
) -> JsonObject:
    """The `block_actions` payload of one click, and a live `response_url` for it."""
    channel = world.channels.get(slack_channel_id)
    user = world.users.get(slack_user_id)
    if channel is None or channel.slack_team_id != slack_team_id:
        raise EventInputError(f"no channel {slack_channel_id} in {slack_team_id}")
    if user is None or user.is_bot or user.slack_team_id != slack_team_id:
        raise EventInputError(f"no person {slack_user_id} in {slack_team_id}")
    message = world.find_message(slack_channel_id, ts)
    if message is None:
        raise EventInputError(f"no message {ts} in {slack_channel_id}")
    action = _action(_find_element(message, block_id, action_id), block_id, choice)
    team = world.teams[slack_team_id]
    installation = world.active_installation(slack_team_id)
    key = secrets.token_hex(12)
    world.response_urls[key] = ResponseUrl(
        slack_channel_id=slack_channel_id,
        ts=ts,
        slack_user_id=slack_user_id,
        thread_ts=message.thread_ts,
        expires_at=time.time() + RESPONSE_URL_SECONDS,
    )
    enterprise = world.enterprises.get(team.slack_enterprise_id or "")
    return {
        "type": "block_actions",
        "user": {
            "id": user.slack_user_id,
            "username": user.name,
            "name": user.name,
            "team_id": slack_team_id,
        },
        "api_app_id": SANDBOX_APP_ID,
        "token": SANDBOX_VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": slack_channel_id,
            "is_ephemeral": message.ephemeral_to is not None,
            **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
        },
        "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**12)}.{uuid.uuid4().hex}",
        "team": {"id": slack_team_id, "domain": team.domain},
        "enterprise": (
            {"id": enterprise.slack_enterprise_id, "name": enterprise.name} if enterprise else None
        ),
        "is_enterprise_install": bool(installation and installation.is_enterprise_install),
        "channel": {"id": slack_channel_id, "name": channel.name or "directmessage"},
        "message": message_object(world, message, base_url=world.public_url),
        "state": {"values": {}},
        "response_url": f"{world.public_url}/actions/{slack_team_id}/{key}",
        "actions": [action],
    }


def _respond(world: SlackWorld, hook: ResponseUrl, body: JsonObject) -> str | None:
    """Apply one `response_url` post; the error Slack would answer, or None."""
    original = world.find_message(hook.slack_channel_id, hook.ts)
    if body.get("delete_original") in (True, "true"):
        if original is None:
            return "message_not_found"
        original.deleted = True
        return None
    text = str(body["text"]) if isinstance(body.get("text"), str) else ""
    blocks = body.get("blocks") if isinstance(body.get("blocks"), list) else None
    if not text and not blocks:
        return "no_text"
    if body.get("replace_original") in (True, "true"):
        if original is None:
            return "message_not_found"
        original.text, original.blocks = text, blocks
        return None
    bot = world.app_bot_user(world.channels[hook.slack_channel_id].slack_team_id)
    world.add_message(
        SlackMessage(
            ts=world.new_ts(),
            slack_channel_id=hook.slack_channel_id,
            slack_team_id=bot.slack_team_id,
            text=text,
            user=bot.slack_user_id,
            bot_id=bot.slack_bot_id,
            thread_ts=hook.thread_ts if body.get("thread_ts") is None else str(body["thread_ts"]),
            blocks=blocks,
            ephemeral_to=None if body.get("response_type") == "in_channel" else hook.slack_user_id,
        )
    )
    return None


def action_routes(world: SlackWorld) -> list[Route]:
    async def respond(request: Request) -> Response:
        hook = world.response_urls.get(request.path_params["key"])
        if hook is None or hook.expires_at < time.time() or hook.uses_left <= 0:
            return PlainTextResponse("expired_url", status_code=404)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        hook.uses_left -= 1
        error = _respond(world, hook, body)
        if error is not None:
            return JSONResponse({"ok": False, "error": error}, status_code=400)
        return JSONResponse({"ok": True})

    return [Route("/actions/{team}/{key}", respond, methods=["POST"])]
