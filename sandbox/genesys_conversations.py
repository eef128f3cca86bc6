"""The Conversations API the product could watch: a message conversation's state and who is
in it, the agent's user record, and the customer side ending a conversation.

The webhook carries neither the agent's name nor the end of a conversation
(external-contracts §G6, §G8), so these are where a client finds them:
`GET /api/v2/conversations/messages/{id}` lists participants (`purpose` customer or agent,
`state` connected or disconnected, the agent's `userId`), `GET /api/v2/users/{userId}` names
the agent, and `PATCH …/{id}` with `{"state": "disconnected"}` ends it (external-contracts
§G8). The bodies keep to the fields those SDK models share; the permission for reading is
UNCONFIRMED (see `PERMISSION_CONVERSATION_VIEW`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.genesys_auth import apply_fault, authorize, world_of
from sandbox.genesys_errors import GenesysApiError, bad_request
from sandbox.genesys_world import (
    PERMISSION_CONVERSATION_VIEW,
    PERMISSION_DISCONNECT,
    Conversation,
    GenesysWorld,
    OAuthClient,
    Participant,
)

BASE_PATH = "/api/v2/conversations/messages"
USERS_PATH = "/api/v2/users"


def _participant_json(participant: Participant) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": participant.id,
        "purpose": participant.purpose,
        "state": participant.state,
        "connectedTime": participant.connected_at,
    }
    if participant.name is not None:
        body["name"] = participant.name
    if participant.user_id is not None:
        body["userId"] = participant.user_id
    if participant.ended_at is not None:
        body["endTime"] = participant.ended_at
    return body


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": conversation.id,
        "startTime": conversation.started_at,
        "participants": [_participant_json(p) for p in conversation.participants],
        "selfUri": f"{BASE_PATH}/{conversation.id}",
    }
    if conversation.ended_at is not None:
        body["endTime"] = conversation.ended_at
    return body


def _own(world: GenesysWorld, client: OAuthClient, conversation_id: str) -> Conversation:
    conversation = world.conversations.get(conversation_id)
    integration = world.get_integration(conversation.integration_id) if conversation else None
    if conversation is None or integration is None or integration.org_id != client.org_id:
        raise GenesysApiError(404, "not.found", f"Conversation {conversation_id} not found")
    return conversation


async def get_conversation(request: Request) -> Response:
    await apply_fault(request, "conversations.get")
    client = authorize(request, PERMISSION_CONVERSATION_VIEW)
    world = world_of(request)
    return JSONResponse(conversation_json(_own(world, client, request.path_params["id"])))


async def patch_conversation(request: Request) -> Response:
    await apply_fault(request, "conversations.patch")
    client = authorize(request, PERMISSION_DISCONNECT)
    world = world_of(request)
    conversation = _own(world, client, request.path_params["id"])
    try:
        body = await request.json()
    except ValueError:
        raise bad_request() from None
    if not isinstance(body, dict) or body.get("state") != "disconnected":
        raise bad_request("state should be equal to one of the allowed values: disconnected")
    conversation.end(world.now_iso())
    return JSONResponse(conversation_json(conversation))


async def get_user(request: Request) -> Response:
    await apply_fault(request, "users.get")
    authorize(request)
    world = world_of(request)
    user_id = request.path_params["user_id"]
    name = next((name for name, known in world.agents.items() if known == user_id), None)
    if name is None:
        raise GenesysApiError(404, "not.found", f"User {user_id} not found")
    return JSONResponse(
        {"id": user_id, "name": name, "state": "active", "selfUri": f"{USERS_PATH}/{user_id}"}
    )


routes = [
    Route(f"{BASE_PATH}/{{id}}", get_conversation, methods=["GET"]),
    Route(f"{BASE_PATH}/{{id}}", patch_conversation, methods=["PATCH"]),
    Route(f"{USERS_PATH}/{{user_id}}", get_user, methods=["GET"]),
]
