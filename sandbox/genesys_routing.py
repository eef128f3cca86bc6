"""Message routing recipients: where Genesys says which inbound message flow an integration's
messages go to.

Each Open Messaging integration has a recipient (its `recipient` reference points here); an
Architect inbound message flow must be bound to it, or messages are accepted and never reach
an agent. Reading a recipient needs `routing:message:manage` (SDK `RoutingApi`), and the body
follows the SDK's `Recipient` model: `flow` is absent while nothing is bound.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.genesys_auth import apply_fault, authorize, world_of
from sandbox.genesys_errors import GenesysApiError
from sandbox.genesys_world import PERMISSION_ROUTING, Integration, to_iso

BASE_PATH = "/api/v2/routing/message/recipients"
FLOWS_PATH = "/api/v2/flows"


def recipient_json(integration: Integration) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": integration.recipient_id,
        "name": integration.name,
        "messengerType": "open",
        "dateCreated": to_iso(integration.date_created),
        "dateModified": to_iso(integration.date_modified),
        "selfUri": f"{BASE_PATH}/{integration.recipient_id}",
    }
    if integration.flow is not None:
        body["flow"] = {
            "id": integration.flow.id,
            "name": integration.flow.name,
            "selfUri": f"{FLOWS_PATH}/{integration.flow.id}",
        }
    return body


async def get_recipient(request: Request) -> Response:
    await apply_fault(request, "routing.recipient")
    client = authorize(request, PERMISSION_ROUTING)
    world = world_of(request)
    recipient_id = request.path_params["recipient_id"]
    for integration_id in list(world.integrations):
        integration = world.get_integration(integration_id)
        if (
            integration is not None
            and integration.recipient_id == recipient_id
            and integration.org_id == client.org_id
            and integration.create_status == "Completed"
        ):
            return JSONResponse(recipient_json(integration))
    raise GenesysApiError(404, "not.found", f"Recipient {recipient_id} not found")


routes = [Route(f"{BASE_PATH}/{{recipient_id}}", get_recipient, methods=["GET"])]
