"""`GET /api/v2/authorization/subjects/me`: the roles and permission policies of the caller.

The SDK documents it as needing no permission and answering an `AuthzSubject` whose grants
carry each role's policies (`domain`, `entityName`, `actions`), which is how a client can
learn what its roles allow without trying each call. It is described as "for the currently
authenticated user"; whether it answers a client-credentials token (which has no user) is
UNCONFIRMED, so `GenesysConfig.subjects_me_answers_client_credentials` decides. When off, it
answers 400 the way Genesys answers user-only resources called with client credentials.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.genesys_auth import apply_fault, authorize, world_of
from sandbox.genesys_errors import GenesysApiError
from sandbox.genesys_world import OAuthClient, to_iso

PATH = "/api/v2/authorization/subjects/me"
HOME_DIVISION_ID = "3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
USER_CONTEXT_REQUIRED = (
    "This request requires a user context. Client credentials cannot be used for requests "
    "to this resource."
)


def _policies(permissions: frozenset[str]) -> list[dict[str, Any]]:
    """One policy per permission `domain:entity:action`, as a role holding each alone."""
    policies = []
    for permission in sorted(permissions):
        domain, entity, action = permission.split(":", 2)
        policies.append({"domain": domain, "entityName": entity, "actions": [action]})
    return policies


def subject_json(client: OAuthClient, *, granted_at: float) -> dict[str, Any]:
    role_id = f"role-{client.client_id}"
    return {
        "id": client.client_id,
        "name": client.name,
        "grants": [
            {
                "subjectId": client.client_id,
                "division": {"id": HOME_DIVISION_ID, "name": "Home"},
                "role": {
                    "id": role_id,
                    "name": f"{client.name} role",
                    "policies": _policies(client.permissions),
                    "default": False,
                    "selfUri": f"/api/v2/authorization/roles/{role_id}",
                },
                "grantMadeAt": to_iso(granted_at),
            }
        ],
        "version": 1,
        "selfUri": f"/api/v2/authorization/subjects/{client.client_id}",
    }


async def subjects_me(request: Request) -> Response:
    await apply_fault(request, "authorization.subjects_me")
    client = authorize(request)
    world = world_of(request)
    if not world.config.subjects_me_answers_client_credentials:
        raise GenesysApiError(400, "bad.request", USER_CONTEXT_REQUIRED)
    return JSONResponse(subject_json(client, granted_at=world.now()))


routes = [Route(PATH, subjects_me, methods=["GET"])]
