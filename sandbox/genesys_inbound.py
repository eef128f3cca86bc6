"""Open Messaging inbound endpoints: what the bridge calls to put a Slack message into Genesys.

Every call is recorded (accepted or not, with the endpoint and status) so tests can assert
order, duplicates and that the deprecated `/inbound/open` endpoint is never used. A call runs:
fault, token and `conversation:message:receive`, JSON schema, integration lookup, then the
effect on the conversation (schema before permission with
`GenesysConfig.inbound_body_checked_before_permission`, as that order is UNCONFIRMED).

An integration whose creation is still `Initiated` (or ended in `Error`) cannot take messages.
Which status Genesys answers then is not documented; the sim answers
`GenesysConfig.initiated_integration_status`, default 404, because until provisioning
finishes the messaging service has no such integration to route to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import genesys_schema as schema
from sandbox.genesys_auth import apply_fault, authorize, world_of
from sandbox.genesys_errors import GenesysApiError, bad_request
from sandbox.genesys_media import fetch_attachments
from sandbox.genesys_records import InboundEndpoint, InboundRecord
from sandbox.genesys_world import (
    PERMISSION_RECEIVE,
    Conversation,
    ConversationMessage,
    GenesysWorld,
    Integration,
    OAuthClient,
    new_message_id,
)

log = logging.getLogger(__name__)

_UNPARSEABLE = object()


@dataclass
class _Call:
    world: GenesysWorld
    integration: Integration
    body: dict[str, Any]
    prefetch: bool


@dataclass
class _Accepted:
    body: dict[str, Any]
    conversation_id: str | None
    # A new message with an attachment, for Genesys to fetch.
    fetch: ConversationMessage | None = None


def _resolve(world: GenesysWorld, client: OAuthClient, integration_id: str) -> Integration:
    integration = world.get_integration(integration_id)
    if integration is None or integration.org_id != client.org_id:
        raise GenesysApiError(404, "not.found", f"Integration {integration_id} not found")
    if integration.create_status != "Completed":
        status = world.config.initiated_integration_status
        message = (
            f"Integration {integration_id} is not ready (createStatus {integration.create_status})"
        )
        raise GenesysApiError(status, "bad.request" if status == 400 else "not.found", message)
    return integration


def _channel_out(call: _Call, *, side: str, time: str) -> dict[str, Any]:
    channel_in: dict[str, Any] = call.body["channel"]
    channel: dict[str, Any] = {"id": call.integration.id, "platform": "Open", "type": "Private"}
    if "messageId" in channel_in:
        channel["messageId"] = channel_in["messageId"]
    channel[side] = channel_in[side]
    channel["time"] = time
    if "metadata" in channel_in:
        channel["metadata"] = channel_in["metadata"]
    return channel


def _conversation_id(call: _Call, conversation_id: str) -> str | None:
    if call.world.config.conversation_id_only_when_prefetch and not call.prefetch:
        return None
    return conversation_id


def _sender_conversation(call: _Call) -> Conversation:
    sender: dict[str, Any] = call.body["channel"]["from"]
    return call.world.conversation_for(
        integration_id=call.integration.id,
        external_id=sender["id"],
        id_type=sender.get("idType", "Opaque"),
        nickname=sender.get("nickname"),
    )


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_text_limit(call: _Call) -> None:
    limit = call.world.config.inbound_text_limit
    text = call.body.get("text")
    if limit is not None and isinstance(text, str) and utf16_length(text) > limit:
        raise bad_request(f"text should NOT be longer than {limit} characters", field_name="text")


def _accept_text(call: _Call) -> _Accepted:
    _check_text_limit(call)
    world, body = call.world, call.body
    conversation = _sender_conversation(call)
    external_id = body["channel"].get("messageId")
    if world.config.dedupe_inbound_message_id and external_id is not None:
        for earlier in conversation.messages:
            if earlier.direction == "Inbound" and earlier.external_message_id == external_id:
                return _Accepted(earlier.detail["response"], conversation.id)
    attributes = (body["channel"].get("metadata") or {}).get("customAttributes") or {}
    conversation.participant_data.update(attributes)
    time = body["channel"].get("time") or world.now_iso()
    response: dict[str, Any] = {
        "id": new_message_id(),
        "channel": _channel_out(call, side="from", time=time),
        "type": "Text",
    }
    for name in ("text", "content", "metadata"):
        if name in body:
            response[name] = body[name]
    conversation_id = _conversation_id(call, conversation.id)
    if conversation_id is not None:
        response["conversationId"] = conversation_id
    message = ConversationMessage(
        id=response["id"],
        direction="Inbound",
        type="Text",
        time=time,
        text=body.get("text"),
        detail={
            "content": body.get("content", []),
            "customAttributes": attributes,
            "response": response,
        },
        external_message_id=external_id,
    )
    conversation.messages.append(message)
    return _Accepted(response, conversation.id, fetch=message if body.get("content") else None)


def _accept_event(call: _Call) -> _Accepted:
    world, body = call.world, call.body
    conversation = _sender_conversation(call)
    time = body["channel"].get("time") or world.now_iso()
    response = {
        "id": new_message_id(),
        "channel": _channel_out(call, side="from", time=time),
        "type": "Event",
        "events": body["events"],
    }
    conversation.messages.append(
        ConversationMessage(id=response["id"], direction="Inbound", type="Event", time=time)
    )
    return _Accepted(response, conversation.id)


def _accept_receipt(call: _Call) -> _Accepted:
    """A receipt for an agent message the sim never sent still answers 2xx, but with
    `status: Failed` and `UnknownMessage` in the body; Genesys is reported to do the same,
    which is why clients must read the body and not only the status code."""
    world, body = call.world, call.body
    time = body["channel"].get("time") or world.now_iso()
    response: dict[str, Any] = {
        "id": body["id"],
        "channel": _channel_out(call, side="to", time=time),
        "type": "Receipt",
        "status": body["status"],
        "direction": body.get("direction", "Outbound"),
        "isFinalReceipt": body.get("isFinalReceipt", False),
    }
    if body.get("reasons"):
        response["reasons"] = body["reasons"]
    found = world.find_message(integration_id=call.integration.id, message_id=body["id"])
    if found is None or found[1].direction != "Outbound":
        response["status"] = "Failed"
        response["reasons"] = [
            {"code": "UnknownMessage", "message": "No outbound message with this id"}
        ]
        return _Accepted(response, None)
    conversation, message = found
    message.receipts.append(
        {
            "status": body["status"],
            "reasons": body.get("reasons", []),
            "isFinalReceipt": body.get("isFinalReceipt", False),
            "time": time,
        }
    )
    return _Accepted(response, conversation.id)


def _accept_structured(call: _Call) -> _Accepted:
    world, body = call.world, call.body
    conversation = _sender_conversation(call)
    time = body["channel"].get("time") or world.now_iso()
    button = body["buttonResponse"]
    response: dict[str, Any] = {
        "id": new_message_id(),
        "channel": _channel_out(call, side="from", time=time),
        "type": "Structured",
        "direction": "Inbound",
        "content": [{"contentType": "ButtonResponse", "buttonResponse": button}],
    }
    if "originatingMessageId" in body:
        response["originatingMessageId"] = body["originatingMessageId"]
    conversation_id = _conversation_id(call, conversation.id)
    if conversation_id is not None:
        response["conversationId"] = conversation_id
    conversation.messages.append(
        ConversationMessage(
            id=response["id"],
            direction="Inbound",
            type="Structured",
            time=time,
            text=button.get("text"),
            detail={"buttonResponse": button},
            external_message_id=body["channel"].get("messageId"),
        )
    )
    return _Accepted(response, conversation.id)


def _accept_legacy(call: _Call) -> _Accepted:
    if call.body["type"] == "Receipt":
        response = {**call.body, "id": call.body.get("id") or new_message_id()}
        return _Accepted(response, None)
    accepted = _accept_text(call)
    accepted.body.pop("conversationId", None)
    accepted.body["direction"] = "Inbound"
    return accepted


Check = Callable[[Any], dict[str, Any]]
Accept = Callable[[_Call], _Accepted]


async def _handle(
    request: Request, *, endpoint: InboundEndpoint, route: str, check: Check, accept: Accept
) -> Response:
    world = world_of(request)
    raw = await request.body()
    try:
        body: Any = json.loads(raw) if raw else _UNPARSEABLE
    except ValueError:
        body = _UNPARSEABLE
    path_integration_id = request.path_params.get("integration_id")
    prefetch = request.query_params.get("prefetchConversationId", "false").lower() == "true"
    record = InboundRecord(
        seq=world.next_inbound_seq(),
        endpoint=endpoint,
        integration_id=path_integration_id,
        client_id=None,
        body=None if body is _UNPARSEABLE else body,
        status=0,
        at=world.now_iso(),
        prefetch_conversation_id=prefetch,
        deprecated=endpoint == "legacy",
    )
    try:
        await apply_fault(request, route)
        if endpoint == "message" and isinstance(body, dict) and body.get("content"):
            # Lets a test fail only the messages that carry a file.
            await apply_fault(request, f"{route}.attachment")
        if world.config.inbound_body_checked_before_permission:
            record.client_id = authorize(request).client_id
            if body is _UNPARSEABLE:
                raise bad_request()
            checked = check(body)
        client = authorize(request, PERMISSION_RECEIVE)
        record.client_id = client.client_id
        if not world.config.inbound_body_checked_before_permission:
            if body is _UNPARSEABLE:
                raise bad_request()
            checked = check(body)
        integration_id = path_integration_id or checked["channel"]["to"]["id"]
        record.integration_id = integration_id
        integration = _resolve(world, client, integration_id)
        accepted = accept(_Call(world, integration, checked, prefetch))
    except GenesysApiError as exc:
        record.status = exc.status
        world.record_inbound(record)
        log.info(
            "genesys sim inbound refused",
            extra={"endpoint": endpoint, "status": exc.status, "context_id": exc.context_id},
        )
        return exc.response()
    record.status = world.config.inbound_status
    record.response_id = accepted.body.get("id")
    if world.config.inbound_answer_without_id and endpoint in ("message", "structured"):
        accepted.body = {key: value for key, value in accepted.body.items() if key != "id"}
    record.conversation_id = accepted.conversation_id
    world.record_inbound(record)
    if accepted.fetch is not None:
        fetch_attachments(world, accepted.fetch)
    log.info(
        "genesys sim inbound accepted",
        extra={
            "endpoint": endpoint,
            "genesys_integration_id": record.integration_id,
            "genesys_conversation_id": accepted.conversation_id,
        },
    )
    return JSONResponse(accepted.body, status_code=record.status)


def _endpoint(
    endpoint: InboundEndpoint, *, route: str, check: Check, accept: Accept
) -> Callable[[Request], Awaitable[Response]]:
    """The inbound routes differ only in what they check and accept; `_handle` does the rest."""

    async def handle(request: Request) -> Response:
        return await _handle(request, endpoint=endpoint, route=route, check=check, accept=accept)

    # Starlette names each route after its endpoint function; keep the names `inbound_<endpoint>`.
    handle.__name__ = handle.__qualname__ = f"inbound_{endpoint}"
    return handle


inbound_message = _endpoint(
    "message", route="inbound.message", check=schema.check_message, accept=_accept_text
)
inbound_event = _endpoint(
    "event", route="inbound.event", check=schema.check_event, accept=_accept_event
)
inbound_receipt = _endpoint(
    "receipt", route="inbound.receipt", check=schema.check_receipt, accept=_accept_receipt
)
inbound_structured = _endpoint(
    "structured",
    route="inbound.structured",
    check=schema.check_structured,
    accept=_accept_structured,
)
# Deprecated, still served (the blueprints use it), and flagged in the record.
inbound_legacy = _endpoint(
    "legacy", route="inbound.message", check=schema.check_legacy, accept=_accept_legacy
)


_BASE = "/api/v2/conversations/messages"

routes = [
    Route(f"{_BASE}/{{integration_id}}/inbound/open/message", inbound_message, methods=["POST"]),
    Route(f"{_BASE}/{{integration_id}}/inbound/open/event", inbound_event, methods=["POST"]),
    Route(f"{_BASE}/{{integration_id}}/inbound/open/receipt", inbound_receipt, methods=["POST"]),
    Route(
        f"{_BASE}/{{integration_id}}/inbound/open/structured/response",
        inbound_structured,
        methods=["POST"],
    ),
    Route(f"{_BASE}/inbound/open", inbound_legacy, methods=["POST"]),
]
