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

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.genesys_auth import apply_fault, authorize, world_of
from sandbox.genesys_control import base_url_of
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
# Where the sim serves profile images itself (real ones sit on a public https host).
IMAGES_PATH = "/profile-images"
# The sizes a `User.images` list holds, smallest first (as the API lists them).
IMAGE_RESOLUTIONS = ("x48", "x96", "x128", "x200", "x300", "x400")


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


def _images(request: Request, world: GenesysWorld, user_id: str) -> list[dict[str, str]]:
    base = world.config.user_image_base_url or f"{base_url_of(request)}{IMAGES_PATH}"
    return [
        {"resolution": size, "imageUri": f"{base.rstrip('/')}/{user_id}/{size}.svg"}
        for size in IMAGE_RESOLUTIONS
    ]


def _agent_name(world: GenesysWorld, user_id: str) -> str | None:
    return next((name for name, known in world.agents.items() if known == user_id), None)


def _works_in(world: GenesysWorld, user_id: str, org_id: str) -> bool:
    """A user belongs to one org: the one whose conversations the agent answered."""
    for conversation in world.conversations.values():
        integration = world.get_integration(conversation.integration_id)
        if integration is None or integration.org_id != org_id:
            continue
        if any(p.user_id == user_id for p in conversation.agents()):
            return True
    return False


async def get_user(request: Request) -> Response:
    """GC-SDK UsersApi `getUser` "Requires NO permissions": any valid token reads a user.
    `images` is part of the `User` model itself (no `expand` value names it)."""
    await apply_fault(request, "users.get")
    client = authorize(request)
    world = world_of(request)
    user_id = request.path_params["user_id"]
    name = _agent_name(world, user_id)
    if name is None or not _works_in(world, user_id, client.org_id):
        raise GenesysApiError(404, "not.found", f"User {user_id} not found")
    return JSONResponse(
        {
            "id": user_id,
            "name": name,
            "state": "active",
            "images": _images(request, world, user_id),
            "selfUri": f"{USERS_PATH}/{user_id}",
        }
    )


async def profile_image(request: Request) -> Response:
    """A public image, as the real profile-image host serves them: the agent's initials."""
    world = world_of(request)
    name = _agent_name(world, request.path_params["user_id"])
    size = request.path_params["resolution"]
    if name is None or size not in IMAGE_RESOLUTIONS:
        raise GenesysApiError(404, "not.found", "Image not found")
    initials = "".join(word[0] for word in name.split()[:2]).upper()
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48">'
        '<rect width="48" height="48" rx="8" fill="#ff4f1f"/>'
        '<text x="24" y="31" font-family="sans-serif" font-size="18" fill="#fff" '
        f'text-anchor="middle">{escape(initials)}</text></svg>'
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"})


routes = [
    Route(f"{BASE_PATH}/{{id}}", get_conversation, methods=["GET"]),
    Route(f"{BASE_PATH}/{{id}}", patch_conversation, methods=["PATCH"]),
    Route(f"{USERS_PATH}/{{user_id}}", get_user, methods=["GET"]),
]
# On no region's API host: a public image host of its own.
image_routes = [
    Route(f"{IMAGES_PATH}/{{user_id}}/{{resolution}}.svg", profile_image, methods=["GET"]),
]
