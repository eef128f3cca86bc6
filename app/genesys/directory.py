"""Who the agent is: the webhook names only the integration (`channel.from.nickname`,
docs/external-contracts.md), so the agent's name comes from the Conversations API (the
conversation's connected agent participant and its `userId`) and the Users API (that user's
`name` and, where set, an avatar image). Reading the conversation needs
`conversation:message:view`; a failure here only loses the name, never the message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from app.genesys.client import GenesysClient

CONVERSATIONS_PATH = "/api/v2/conversations/messages"
USERS_PATH = "/api/v2/users"
# The permission the look-up needs (Test connection warns when it is missing).
NAME_PERMISSION = "conversation:message:view"
USER_TTL_SECONDS = 600.0
CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class AgentIdentity:
    name: str
    icon_url: str | None = None


def _connected_agent_user(conversation: dict[str, Any]) -> str | None:
    """The user id of the agent most recently connected to the conversation."""
    found: str | None = None
    for participant in conversation.get("participants") or []:
        if not isinstance(participant, dict) or participant.get("purpose") != "agent":
            continue
        user_id = participant.get("userId")
        if isinstance(user_id, str) and user_id and participant.get("state") != "disconnected":
            found = user_id
    return found


def _identity(user: dict[str, Any]) -> AgentIdentity | None:
    name = user.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    icon: str | None = None
    for image in user.get("images") or []:
        uri = image.get("imageUri") if isinstance(image, dict) else None
        if isinstance(uri, str) and uri.startswith("https://"):
            icon = uri
    return AgentIdentity(name=name.strip()[:80], icon_url=icon)


async def _get_json(client: GenesysClient, path: str, *, operation: str) -> dict[str, Any]:
    # The client's own request path (token, one retry on 401, errors as `genesys.errors`);
    # these read-only verbs live here to keep `client.py` to delivery and setup.
    response = await client.request("GET", path, operation=operation)
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class AgentDirectory:
    """Per process: a user is looked up once per `USER_TTL_SECONDS`; the conversation is read
    on each agent message, since another agent may have taken it over."""

    def __init__(self) -> None:
        self._users: dict[tuple[str, str], tuple[float, AgentIdentity | None]] = {}

    async def agent_of(
        self, client: GenesysClient, *, org_key: str, conversation_id: str
    ) -> AgentIdentity | None:
        response = await _get_json(
            client,
            f"{CONVERSATIONS_PATH}/{quote(conversation_id, safe='')}",
            operation="get conversation",
        )
        user_id = _connected_agent_user(response)
        if user_id is None:
            return None
        key = (org_key, user_id)
        hit = self._users.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        user = await _get_json(
            client, f"{USERS_PATH}/{quote(user_id, safe='')}", operation="get user"
        )
        identity = _identity(user)
        if len(self._users) > CACHE_LIMIT:
            self._users.clear()
        self._users[key] = (time.monotonic() + USER_TTL_SECONDS, identity)
        return identity
