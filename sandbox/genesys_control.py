"""`/_sandbox/*`: the JSON control API tests, the benchmark and the dev launcher drive the
Genesys sim with (faults, reset, recorded traffic, agent replies, config switches, counters,
and an org admin's edits: a client's permissions, an integration's flow binding and webhook).

Not part of Genesys; nothing here needs a token.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.faults import FaultSpec
from sandbox.genesys_agent import Agent, AgentReply, ConversationEnded
from sandbox.genesys_auth import world_of
from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import ALL_PERMISSIONS, Flow, GenesysWorld

_M = TypeVar("_M", bound=BaseModel)


class BadInput(Exception):
    def __init__(self, detail: Any) -> None:
        self.detail = detail
        super().__init__("bad input")


async def _parse(request: Request, model: type[_M]) -> _M:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise BadInput(json.loads(exc.json(include_url=False))) from None


def agent_of(request: Request) -> Agent:
    return cast(Agent, request.app.state.agent)


def base_url_of(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def credentials_json(world: GenesysWorld) -> list[dict[str, Any]]:
    """Sandbox-only credentials, listed on purpose so a person can paste them into onboarding."""
    return [
        {
            "org_id": org.id,
            "org_name": org.name,
            "region": org.domain,
            "clients": [
                {
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                    "name": client.name,
                    "permissions": sorted(client.permissions),
                }
                for client in world.clients.values()
                if client.org_id == org.id
            ],
            "integrations": [
                {
                    "id": integration.id,
                    "name": integration.name,
                    "createStatus": integration.create_status,
                    "outboundNotificationWebhookUrl": integration.webhook_url,
                }
                for integration_id in list(world.integrations)
                if (integration := world.get_integration(integration_id)) is not None
                and integration.org_id == org.id
            ],
        }
        for org in world.orgs.values()
    ]


def stats_json(world: GenesysWorld) -> dict[str, Any]:
    stats = world.stats
    messages = stats.inbound_accepted.get("message", 0) + stats.inbound_accepted.get("legacy", 0)
    grants = sum(stats.token_grants.values())
    return {
        "token_grants": dict(stats.token_grants),
        "inbound_calls": dict(stats.inbound_calls),
        "inbound_accepted": dict(stats.inbound_accepted),
        "api_calls": dict(stats.api_calls),
        "rate_limited": stats.rate_limited,
        "tokens_per_message": grants / messages if messages else None,
        "webhook_deliveries": len(world.deliveries),
    }


async def arm_fault(request: Request) -> Response:
    world = world_of(request)
    world.faults.arm(await _parse(request, FaultSpec))
    return JSONResponse({"armed": [spec.model_dump() for spec in world.faults.list()]})


async def list_faults(request: Request) -> Response:
    return JSONResponse({"armed": [spec.model_dump() for spec in world_of(request).faults.list()]})


async def clear_faults(request: Request) -> Response:
    world_of(request).faults.clear()
    return JSONResponse({"armed": []})


async def reset(request: Request) -> Response:
    world_of(request).reset()
    return JSONResponse({"reset": True})


async def inbound(request: Request) -> Response:
    endpoint = request.query_params.get("endpoint")
    records = [
        asdict(record)
        for record in world_of(request).inbound
        if endpoint is None or record.endpoint == endpoint
    ]
    return JSONResponse({"inbound": records})


async def conversations(request: Request) -> Response:
    return JSONResponse(
        {"conversations": [asdict(c) for c in world_of(request).conversations.values()]}
    )


async def deliveries(request: Request) -> Response:
    return JSONResponse({"deliveries": [asdict(report) for report in world_of(request).deliveries]})


async def agent_reply(request: Request) -> Response:
    """Waits for the whole delivery (retries included) unless `wait` is false."""
    reply = await _parse(request, AgentReply)
    agent = agent_of(request)
    try:
        if not reply.wait:
            message_id = agent.reply_later(reply, base_url=base_url_of(request))
            return JSONResponse({"message_id": message_id, "reports": []}, status_code=202)
        reports = await agent.reply(reply, base_url=base_url_of(request))
    except LookupError as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except ConversationEnded as exc:
        return JSONResponse({"error": str(exc)}, status_code=409)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(
        {"message_id": reports[0].message_id, "reports": [asdict(report) for report in reports]}
    )


async def end_conversation(request: Request) -> Response:
    """The agent ends a conversation (as the console's "End conversation" does)."""
    try:
        conversation = agent_of(request).end(request.path_params["conversation_id"])
    except LookupError as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    return JSONResponse({"id": conversation.id, "state": conversation.state})


async def get_config(request: Request) -> Response:
    return JSONResponse(world_of(request).config.model_dump())


async def patch_config(request: Request) -> Response:
    world = world_of(request)
    try:
        patch = json.loads(await request.body())
    except ValueError:
        raise BadInput("body must be a JSON object") from None
    if not isinstance(patch, dict):
        raise BadInput("body must be a JSON object")
    try:
        world.config = GenesysConfig.model_validate({**world.config.model_dump(), **patch})
    except ValidationError as exc:
        raise BadInput(json.loads(exc.json(include_url=False))) from None
    return JSONResponse(world.config.model_dump())


async def stats(request: Request) -> Response:
    return JSONResponse(stats_json(world_of(request)))


async def credentials(request: Request) -> Response:
    return JSONResponse({"orgs": credentials_json(world_of(request))})


class ClientPatch(BaseModel):
    """What an org admin changes on an OAuth client's roles: the permissions it holds."""

    model_config = ConfigDict(extra="forbid")

    permissions: list[str] | None = None
    remove_permissions: list[str] = Field(default_factory=list)
    add_permissions: list[str] = Field(default_factory=list)


class FlowRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class IntegrationPatch(BaseModel):
    """What an org admin changes in Genesys behind the bridge's back: the flow bound under
    Admin > Message Routing (`null` unbinds it), or the webhook URL and secret by hand."""

    model_config = ConfigDict(extra="forbid")

    flow: FlowRef | None = None
    webhook_url: str | None = Field(default=None, max_length=2000)
    webhook_secret: str | None = Field(default=None, max_length=200)


async def patch_client(request: Request) -> Response:
    world = world_of(request)
    client = world.clients.get(request.path_params["client_id"])
    if client is None:
        return JSONResponse({"error": "no such client"}, status_code=404)
    patch = await _parse(request, ClientPatch)
    named = {*(patch.permissions or []), *patch.remove_permissions, *patch.add_permissions}
    unknown = sorted(named - ALL_PERMISSIONS)
    if unknown:
        raise BadInput(f"unknown permissions: {', '.join(unknown)}")
    held = set(client.permissions if patch.permissions is None else patch.permissions)
    client.permissions = frozenset(
        (held - set(patch.remove_permissions)) | set(patch.add_permissions)
    )
    return JSONResponse({"client_id": client.client_id, "permissions": sorted(client.permissions)})


async def patch_integration(request: Request) -> Response:
    world = world_of(request)
    integration = world.get_integration(request.path_params["integration_id"])
    if integration is None:
        return JSONResponse({"error": "no such integration"}, status_code=404)
    patch = await _parse(request, IntegrationPatch)
    if "flow" in patch.model_fields_set:
        integration.flow = None if patch.flow is None else Flow(patch.flow.id, patch.flow.name)
    if "webhook_url" in patch.model_fields_set:
        integration.webhook_url = patch.webhook_url
    if "webhook_secret" in patch.model_fields_set:
        integration.webhook_secret = patch.webhook_secret
    integration.date_modified = world.now()
    return JSONResponse(
        {
            "id": integration.id,
            "flow": None if integration.flow is None else asdict(integration.flow),
            "outboundNotificationWebhookUrl": integration.webhook_url,
        }
    )


async def bad_input(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadInput)
    return JSONResponse({"error": "invalid request", "detail": exc.detail}, status_code=422)


routes = [
    Route("/_sandbox/faults", arm_fault, methods=["POST"]),
    Route("/_sandbox/faults", list_faults, methods=["GET"]),
    Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
    Route("/_sandbox/reset", reset, methods=["POST"]),
    Route("/_sandbox/inbound", inbound, methods=["GET"]),
    Route("/_sandbox/conversations", conversations, methods=["GET"]),
    Route("/_sandbox/deliveries", deliveries, methods=["GET"]),
    Route("/_sandbox/agent/reply", agent_reply, methods=["POST"]),
    Route("/_sandbox/conversations/{conversation_id}/end", end_conversation, methods=["POST"]),
    Route("/_sandbox/config", get_config, methods=["GET"]),
    Route("/_sandbox/config", patch_config, methods=["PATCH"]),
    Route("/_sandbox/stats", stats, methods=["GET"]),
    Route("/_sandbox/credentials", credentials, methods=["GET"]),
    Route("/_sandbox/clients/{client_id}", patch_client, methods=["PATCH"]),
    Route("/_sandbox/integrations/{integration_id}", patch_integration, methods=["PATCH"]),
]
