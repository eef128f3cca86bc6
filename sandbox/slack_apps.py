"""`apps.uninstall`: an app removing itself from a workspace, as Slack does it.

Slack's method takes the app's `client_id` and `client_secret` with a token of the install;
it revokes every token of the install and then, like a removal from Slack's own admin
pages, sends `app_uninstalled` and `tokens_revoked` to the app's events URL. The events go
out after the answer (Slack does not hold the call for them), so the app must not rely on
them arriving before its own clean-up finishes.
"""

from __future__ import annotations

import asyncio

from sandbox.slack_api import ApiError, JsonObject, Method, MethodCall
from sandbox.slack_events import EventSender
from sandbox.slack_oauth import check_client
from sandbox.slack_payloads import build_uninstall

# Tasks in flight, so they are not garbage-collected before they finish.
_PENDING: set[asyncio.Task[None]] = set()


def apps_methods(sender: EventSender) -> dict[str, Method]:
    def apps_uninstall(call: MethodCall) -> JsonObject:
        check_client(call)
        token = call.bearer
        team = token.slack_team_id
        if team is None:
            raise ApiError("invalid_auth")
        built = build_uninstall(call.world, slack_team_id=team)

        async def deliver() -> None:
            for event in built:
                await sender.send(event, background_retries=True)

        task = asyncio.get_running_loop().create_task(deliver())
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)
        return {}

    return {"apps.uninstall": Method(apps_uninstall)}
