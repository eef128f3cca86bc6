"""`POST /slack/events` and `POST /genesys/webhook` served in front of the page stack.

Nearly every request the web process gets is one of these two, and none of them is a page:
no session cookie, no CSRF, no template, no page security headers. Starlette's request cycle
and the five page middlewares cost about as much CPU as the one statement that stores the
event, so `WebApp` hands these two paths straight to a lean ASGI endpoint and everything else
(pages, the OAuth flow, health, metrics, files) to Starlette as before.

What the lean path keeps: the trace ID and its `X-Request-ID` answer header, the admission
check (503 before the body is read) and the ack deadline, the size cap (413 unread when the
declared length is over it), the ingest latency histogram of `/metrics`, and an answer for
every failure: an error while storing is logged (type and frames, no message) and answered
503 with `Retry-After`, which Slack and Genesys retry, never a 500 with a stack.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from app.logs import request_trace_id, trace_id
from app.web.bodies import ClientGone, read_capped

if TYPE_CHECKING:
    from app.main import AppState

log = logging.getLogger(__name__)

Headers = tuple[tuple[bytes, bytes], ...]
# The one page security header that means anything to a machine reading a JSON answer.
NOSNIFF = (b"x-content-type-options", b"nosniff")


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete answer, its headers (content length included) built once."""

    status: int
    body: bytes
    headers: Headers

    @classmethod
    def json(cls, status: int, content: object, *, retry_after: bool = False) -> Reply:
        body = orjson.dumps(content)
        headers: Headers = (
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            NOSNIFF,
        )
        if retry_after:
            headers += ((b"retry-after", b"1"),)
        return cls(status, body, headers)

    @classmethod
    def empty(cls, status: int) -> Reply:
        return cls(status, b"", ((b"content-length", b"0"), NOSNIFF))


@dataclass(frozen=True, slots=True)
class Inbound:
    """One ingest request, its body read under the cap."""

    scope: Scope
    headers: dict[bytes, bytes]
    body: bytes

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    def as_request(self) -> Request:
        """A Starlette request replaying the body, for a handler that reads it (Bolt)."""
        body = self.body

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        return Request(self.scope, receive)


Handler = Callable[["AppState", Inbound], Awaitable[Reply | Response]]


class IngestEndpoint:
    """One ingest path as bare ASGI: trace ID, admission, capped body, handler, answer."""

    def __init__(
        self, *, source: str, limit: int, busy: Reply, too_large: Reply, handler: Handler
    ) -> None:
        self.source = source
        self.limit = limit
        self.busy = busy
        self.too_large = too_large
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        state: AppState = scope["state"]["app"]
        headers = dict(scope["headers"])
        trace = request_trace_id(headers.get(b"x-request-id"))
        token = trace_id.set(trace)
        # Where the server-error page would look for it, as `RequestTrace` leaves it.
        scope["trace_id"] = trace
        try:
            try:
                reply = await self._reply(state, scope, receive, headers)
            except ClientGone:
                return
            except Exception:
                # Logged as type and frames only (app.logs); the sender retries a 503.
                log.warning("ingest failed", exc_info=True, extra={"source": self.source})
                reply = self.busy
            trace_header = (b"x-request-id", trace.encode())
            if isinstance(reply, Reply):
                state.ingest_metrics.observe(
                    self.source, reply.status, time.perf_counter() - started
                )
                await send(
                    {
                        "type": "http.response.start",
                        "status": reply.status,
                        "headers": [*reply.headers, trace_header],
                    }
                )
                await send({"type": "http.response.body", "body": reply.body})
                return

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), NOSNIFF, trace_header]
                    state.ingest_metrics.observe(
                        self.source, message["status"], time.perf_counter() - started
                    )
                await send(message)

            await reply(scope, receive, send_traced)
        finally:
            trace_id.reset(token)

    async def _reply(
        self, state: AppState, scope: Scope, receive: Receive, headers: dict[bytes, bytes]
    ) -> Reply | Response:
        if state.admission.full:
            return self.busy
        body = await read_capped(receive, headers.get(b"content-length"), self.limit)
        if body is None:
            return self.too_large
        return await self.handler(state, Inbound(scope, headers, body))


class WebApp(Starlette):
    """Starlette, with the ingest endpoints answered before its middleware stack."""

    def __init__(self, *, ingest: dict[str, IngestEndpoint], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ingest = ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.ingest.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
