"""Whether a message conversation has ended, and ending it from the customer's side.

Open Messaging sends no end event to the webhook (docs/external-contracts.md §G6, §G10), so
the state is read from `GET /api/v2/conversations/messages/{conversationId}`: the conversation
has ended once it has an `endTime`, or once its customer participant is `disconnected` (an
agent leaving alone may be a transfer; the customer side is what ends with the
conversation). `PATCH` on the same path with `{"state": "disconnected"}` ends it; that needs
`conversation:communication:disconnect`.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from app.genesys.client import GenesysClient

CONVERSATIONS_PATH = "/api/v2/conversations/messages"
# Reading the conversation (as for agent names); ending it.
VIEW_PERMISSION = "conversation:message:view"
DISCONNECT_PERMISSION = "conversation:communication:disconnect"

ConversationState = Literal["open", "ended"]


def state_of(conversation: dict[str, Any]) -> ConversationState:
    """Pure: the state a Conversations API body describes."""
    if isinstance(conversation.get("endTime"), str) and conversation["endTime"]:
        return "ended"
    customers = [
        p
        for p in conversation.get("participants") or []
        if isinstance(p, dict) and p.get("purpose") == "customer"
    ]
    if customers and all(p.get("state") == "disconnected" for p in customers):
        return "ended"
    return "open"


def _path(conversation_id: str) -> str:
    return f"{CONVERSATIONS_PATH}/{quote(conversation_id, safe='')}"


async def conversation_state(client: GenesysClient, conversation_id: str) -> ConversationState:
    response = await client.request(
        "GET", _path(conversation_id), operation="get conversation state"
    )
    try:
        body = response.json()
    except ValueError:
        return "open"
    return state_of(body) if isinstance(body, dict) else "open"


async def disconnect(client: GenesysClient, conversation_id: str) -> None:
    await client.request(
        "PATCH",
        _path(conversation_id),
        operation="disconnect conversation",
        json={"state": "disconnected"},
    )
