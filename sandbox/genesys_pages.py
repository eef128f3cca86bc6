"""The agent console of the Genesys sim (`GET /`): a person trying the product sees the sandbox
credentials to paste into onboarding, the integrations and their webhooks, every
conversation, and answers as the agent. Plain HTML forms, no JavaScript.

Replies are delivered in the background, so a slow or failing bridge never blocks the page;
the delivery report fills in on the next load.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from sandbox.genesys_agent import AgentReply, ReplyKind
from sandbox.genesys_auth import world_of
from sandbox.genesys_control import agent_of, base_url_of, credentials_json

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

REPLY_KINDS: dict[ReplyKind, str] = {
    "text": "Text",
    "attachment": "Attachment (sample image)",
    "quick_replies": "Quick replies",
    "card": "Card with buttons",
    "typing": "Typing indicator",
    "receipt": "Receipt",
}
RECENT_DELIVERIES = 15


async def console(request: Request) -> Response:
    world = world_of(request)
    integrations = {i.id: i for i in world.integrations.values()}
    return templates.TemplateResponse(
        request,
        "genesys_console.html",
        {
            "orgs": credentials_json(world),
            "conversations": list(world.conversations.values()),
            "integrations": integrations,
            "deliveries": list(reversed(world.deliveries[-RECENT_DELIVERIES:])),
            "reply_kinds": REPLY_KINDS,
            "sent": request.query_params.get("sent"),
            "error": request.query_params.get("error"),
        },
    )


async def console_reply(request: Request) -> Response:
    form = await request.form()
    conversation_id = str(form.get("conversation_id", ""))
    kind = str(form.get("kind", "text"))
    if kind not in REPLY_KINDS:
        return RedirectResponse("/?error=unknown+reply+kind", status_code=303)
    replies = [
        part.strip() for part in str(form.get("quick_replies", "")).split(",") if part.strip()
    ]
    reply = AgentReply.model_validate(
        {
            "conversation_id": conversation_id,
            "kind": kind,
            "text": str(form.get("text", "")) or None,
            "quick_replies": replies or ["Yes", "No"],
            "duplicate": form.get("duplicate") == "on",
        }
    )
    try:
        message_id = agent_of(request).reply_later(reply, base_url=base_url_of(request))
    except (LookupError, ValueError):
        return RedirectResponse("/?error=conversation+not+found", status_code=303)
    return RedirectResponse(f"/?sent={message_id}#conversation-{conversation_id}", status_code=303)


routes = [
    Route("/", console, methods=["GET"]),
    Route("/console/reply", console_reply, methods=["POST"]),
]
