"""The Open Messaging integrations API: what onboarding uses to find, create and point an
integration at the bridge's webhook.

Creation is asynchronous (`createStatus` Initiated, then Completed or Error after
`GenesysConfig.integration_create_delay_seconds`), and the webhook secret must be longer than
15 characters. A PATCH must carry `name`, the one field the update model requires, even
when only the webhook changes. Whether GET returns the secret is UNCONFIRMED;
`return_secret_on_get` decides, default off, so the bridge must keep its own copy. An
integration only exists for clients of its own org: another org's id answers 404, as an
unknown one does.
"""

from __future__ import annotations

import logging
import math
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.genesys_auth import apply_fault, authorize, world_of
from sandbox.genesys_errors import GenesysApiError, bad_request
from sandbox.genesys_world import (
    PERMISSION_ADD,
    PERMISSION_EDIT,
    PERMISSION_VIEW,
    GenesysWorld,
    Integration,
    OAuthClient,
    to_iso,
)

log = logging.getLogger(__name__)

BASE_PATH = "/api/v2/conversations/messaging/integrations/open"
SUPPORTED_CONTENT_PATH = "/api/v2/conversations/messaging/supportedcontent"
MESSAGING_SETTINGS_PATH = "/api/v2/conversations/messaging/settings"
MIN_SECRET_LENGTH = 16
MAX_PAGE_SIZE = 100


def integration_json(integration: Integration, *, include_secret: bool) -> dict[str, Any]:
    self_uri = f"{BASE_PATH}/{integration.id}"
    body: dict[str, Any] = {
        "id": integration.id,
        "name": integration.name,
        "supportedContent": {
            "id": integration.supported_content_id,
            "name": "Default Supported Content Profile",
            "selfUri": f"{SUPPORTED_CONTENT_PATH}/{integration.supported_content_id}",
            "mediaTypes": {
                "allow": {
                    "inbound": [{"type": "*/*"}],
                    "outbound": [
                        {"type": "image/jpeg"},
                        {"type": "image/png"},
                        {"type": "image/gif"},
                    ],
                }
            },
        },
        "messagingSetting": {
            "id": integration.messaging_setting_id,
            "name": "Default Messaging Settings",
            "selfUri": f"{MESSAGING_SETTINGS_PATH}/{integration.messaging_setting_id}",
            "event": {"typing": {"on": {"inbound": "Disabled", "outbound": "Disabled"}}},
        },
        "outboundNotificationWebhookUrl": integration.webhook_url,
        "webhookHeaders": dict(integration.webhook_headers),
        "status": "active",
        "dateCreated": to_iso(integration.date_created),
        "dateModified": to_iso(integration.date_modified),
        "createdBy": {
            "id": integration.created_by,
            "selfUri": f"/api/v2/users/{integration.created_by}",
        },
        "modifiedBy": {
            "id": integration.modified_by,
            "selfUri": f"/api/v2/users/{integration.modified_by}",
        },
        "createStatus": integration.create_status,
        "selfUri": self_uri,
    }
    if include_secret:
        body["outboundNotificationWebhookSignatureSecretToken"] = integration.webhook_secret
    if integration.create_status == "Completed":
        body["recipient"] = {
            "id": integration.recipient_id,
            "name": integration.name,
            "selfUri": f"/api/v2/routing/message/recipients/{integration.recipient_id}",
        }
    if integration.create_status == "Error":
        body["createError"] = {
            "message": "The integration could not be provisioned.",
            "code": "integration.provisioning.failed",
            "status": 500,
        }
    return body


def _own(world: GenesysWorld, client: OAuthClient, integration_id: str) -> Integration:
    integration = world.get_integration(integration_id)
    if integration is None or integration.org_id != client.org_id:
        raise GenesysApiError(404, "not.found", f"Integration {integration_id} not found")
    return integration


def _positive_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise bad_request(f"{name} must be a positive integer", field_name=name)
    return int(raw)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise bad_request() from None
    if not isinstance(body, dict):
        raise bad_request()
    return body


def _apply_fields(world: GenesysWorld, integration: Integration, body: dict[str, Any]) -> None:
    """Validate everything first, then write, so a 400 leaves the integration untouched."""
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise bad_request("name should be a non-empty string", field_name="name")
    url = body.get("outboundNotificationWebhookUrl")
    if url is not None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad_request(
                "outboundNotificationWebhookUrl should be an absolute URL",
                field_name="outboundNotificationWebhookUrl",
            )
        if world.config.require_https_webhook and (
            parts.scheme != "https" or parts.port not in (None, 443)
        ):
            raise bad_request(
                "outboundNotificationWebhookUrl must use HTTPS on port 443",
                field_name="outboundNotificationWebhookUrl",
            )
    secret = body.get("outboundNotificationWebhookSignatureSecretToken")
    if secret is not None and (not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH):
        raise bad_request(
            "outboundNotificationWebhookSignatureSecretToken must be longer than 15 characters",
            field_name="outboundNotificationWebhookSignatureSecretToken",
        )
    headers = body.get("webhookHeaders")
    if headers is not None and (
        not isinstance(headers, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    ):
        raise bad_request("webhookHeaders should be a map of strings", field_name="webhookHeaders")
    for ref_name in ("supportedContent", "messagingSetting"):
        ref = body.get(ref_name)
        if ref is not None and not (isinstance(ref, dict) and isinstance(ref.get("id"), str)):
            raise bad_request(f"{ref_name} should be an object with an id", field_name=ref_name)
    if name is not None:
        integration.name = name
    if url is not None:
        integration.webhook_url = url
    if secret is not None:
        integration.webhook_secret = secret
    if headers is not None:
        integration.webhook_headers = dict(headers)
    if body.get("supportedContent"):
        integration.supported_content_id = body["supportedContent"]["id"]
    if body.get("messagingSetting"):
        integration.messaging_setting_id = body["messagingSetting"]["id"]


async def list_integrations(request: Request) -> Response:
    await apply_fault(request, "integrations.list")
    client = authorize(request, PERMISSION_VIEW)
    world = world_of(request)
    page_size = min(_positive_int(request, "pageSize", 25), MAX_PAGE_SIZE)
    page_number = _positive_int(request, "pageNumber", 1)
    own = [
        integration
        for integration_id in sorted(world.integrations)
        if (integration := world.get_integration(integration_id)) is not None
        and integration.org_id == client.org_id
    ]
    page_count = max(1, math.ceil(len(own) / page_size))
    start = (page_number - 1) * page_size
    include_secret = world.config.return_secret_on_get

    def uri(number: int) -> str:
        return f"{BASE_PATH}?pageSize={page_size}&pageNumber={number}"

    body: dict[str, Any] = {
        "entities": [
            integration_json(i, include_secret=include_secret)
            for i in own[start : start + page_size]
        ],
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": len(own),
        "pageCount": page_count,
        "firstUri": uri(1),
        "selfUri": uri(page_number),
        "lastUri": uri(page_count),
    }
    if page_number < page_count:
        body["nextUri"] = uri(page_number + 1)
    if page_number > 1:
        body["previousUri"] = uri(page_number - 1)
    return JSONResponse(body)


async def get_integration(request: Request) -> Response:
    await apply_fault(request, "integrations.get")
    client = authorize(request, PERMISSION_VIEW)
    world = world_of(request)
    integration = _own(world, client, request.path_params["integration_id"])
    return JSONResponse(
        integration_json(integration, include_secret=world.config.return_secret_on_get)
    )


async def patch_integration(request: Request) -> Response:
    await apply_fault(request, "integrations.patch")
    client = authorize(request, PERMISSION_EDIT)
    world = world_of(request)
    integration = _own(world, client, request.path_params["integration_id"])
    body = await _json_object(request)
    # OpenIntegrationUpdateRequest marks `name` required (every other field is optional).
    if body.get("name") is None:
        raise bad_request("should have required property 'name'", field_name="name")
    _apply_fields(world, integration, body)
    integration.date_modified = world.now()
    integration.modified_by = client.client_id
    log.info("genesys sim integration patched", extra={"genesys_integration_id": integration.id})
    return JSONResponse(
        integration_json(integration, include_secret=world.config.return_secret_on_get)
    )


async def create_integration(request: Request) -> Response:
    await apply_fault(request, "integrations.create")
    client = authorize(request, PERMISSION_ADD)
    world = world_of(request)
    body = await _json_object(request)
    for required in (
        "name",
        "outboundNotificationWebhookUrl",
        "outboundNotificationWebhookSignatureSecretToken",
    ):
        if body.get(required) is None:
            raise bad_request(f"should have required property '{required}'", field_name=required)
    integration = world.add_integration(
        org_id=client.org_id, name=body["name"], created_by=client.client_id
    )
    try:
        _apply_fields(world, integration, body)
    except GenesysApiError:
        del world.integrations[integration.id]
        raise
    log.info("genesys sim integration created", extra={"genesys_integration_id": integration.id})
    return JSONResponse(
        integration_json(integration, include_secret=world.config.return_secret_on_get)
    )


routes = [
    Route(BASE_PATH, list_integrations, methods=["GET"]),
    Route(BASE_PATH, create_integration, methods=["POST"]),
    Route(f"{BASE_PATH}/{{integration_id}}", get_integration, methods=["GET"]),
    Route(f"{BASE_PATH}/{{integration_id}}", patch_integration, methods=["PATCH"]),
]
