"""The agent console of the Genesys sim (`GET /`): a person trying the product sees the sandbox
credentials to paste into onboarding, the integrations and their webhooks, every
conversation, and answers as the agent ("You are: <name>", remembered in a cookie) or ends
the conversation. Plain HTML forms; the only script copies a credential to the clipboard.

Replies are delivered in the background, so a slow or failing bridge never blocks the page;
the delivery report fills in on the next load.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from sandbox.genesys_agent import AgentReply, ConversationEnded, ReplyKind
from sandbox.genesys_auth import world_of
from sandbox.genesys_control import agent_of, base_url_of, credentials_json
from sandbox.genesys_media import fetch_on_open

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

REPLY_KINDS: dict[ReplyKind, str] = {
    "text": "Text",
    "attachment": "Attachment (sample image)",
    "file": "Attachment (sample PDF)",
    "quick_replies": "Quick replies",
    "card": "Card with buttons",
    "date_picker": "Date picker",
    "list_picker": "List picker (the quick replies are its options)",
    "typing": "Typing indicator",
    "receipt": "Receipt",
}
RECENT_DELIVERIES = 15
AGENT_COOKIE = "sandbox_agent_name"
DEFAULT_AGENT_NAME = "Sam Rivera"


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
            "agent_name": unquote(request.cookies.get(AGENT_COOKIE, "")) or DEFAULT_AGENT_NAME,
            "media": world.media,
        },
    )


async def console_media(request: Request) -> Response:
    """The copy of a customer's attachment Genesys fetched, as the agent opens it."""
    found = await fetch_on_open(world_of(request), request.path_params["message_id"])
    if found is None:
        return Response("Not Found", status_code=404, media_type="text/plain")
    mime, content = found
    return Response(content, media_type=mime, headers={"X-Content-Type-Options": "nosniff"})


async def console_reply(request: Request) -> Response:
    form = await request.form()
    conversation_id = str(form.get("conversation_id", ""))
    kind = str(form.get("kind", "text"))
    if kind not in REPLY_KINDS:
        return RedirectResponse("/?error=unknown+reply+kind", status_code=303)
    replies = [
        part.strip() for part in str(form.get("quick_replies", "")).split(",") if part.strip()
    ]
    agent_name = str(form.get("agent_name", "")).strip() or DEFAULT_AGENT_NAME
    try:
        reply = AgentReply.model_validate(
            {
                "conversation_id": conversation_id,
                "agent_name": agent_name,
                "kind": kind,
                "text": str(form.get("text", "")) or None,
                "quick_replies": replies or ["Yes", "No"],
                "duplicate": form.get("duplicate") == "on",
            }
        )
        message_id = agent_of(request).reply_later(reply, base_url=base_url_of(request))
    except ValidationError:
        return RedirectResponse("/?error=agent+name+too+long", status_code=303)
    except ConversationEnded:
        return RedirectResponse("/?error=conversation+has+ended", status_code=303)
    except (LookupError, ValueError):
        return RedirectResponse("/?error=conversation+not+found", status_code=303)
    response = RedirectResponse(
        f"/?sent={message_id}#conversation-{conversation_id}", status_code=303
    )
    response.set_cookie(AGENT_COOKIE, quote(agent_name), max_age=365 * 86400, samesite="lax")
    return response


async def console_end(request: Request) -> Response:
    form = await request.form()
    conversation_id = str(form.get("conversation_id", ""))
    try:
        agent_of(request).end(conversation_id)
    except LookupError:
        return RedirectResponse("/?error=conversation+not+found", status_code=303)
    return RedirectResponse(f"/#conversation-{conversation_id}", status_code=303)


routes = [
    Route("/", console, methods=["GET"]),
    Route("/console/reply", console_reply, methods=["POST"]),
    Route("/console/end", console_end, methods=["POST"]),
    Route("/console/media/{message_id}", console_media, methods=["GET"]),
]
