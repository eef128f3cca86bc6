"""`POST /genesys/webhook`: Genesys' outbound notifications (agent replies, typing, receipts).

The raw body is read with a size cap, handed to the bridge, which verifies
`X-Hub-Signature-256` with the integration's own secret and commits the message before we
answer. Genesys retries only 429, 5xx and timeouts, and a non-2xx on a message "fails the
chat", so anything accepted gets a fast 200; only bad signatures (401) and malformed bodies
(400, 413) get errors.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.bridge.ingest import MAX_WEBHOOK_BYTES, WebhookAnswer
from app.web.views import state_of


async def _read_capped(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: Request) -> Response:
    raw = await _read_capped(request)
    if raw is None:
        answer = WebhookAnswer(413, "body too large")
    else:
        answer = await state_of(request).ingest.genesys_webhook(
            raw, request.headers.get("x-hub-signature-256")
        )
    return JSONResponse({"status": answer.detail}, status_code=answer.status)
