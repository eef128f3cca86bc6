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
from app.web.bodies import read_capped
from app.web.views import state_of


async def receive(request: Request) -> Response:
    raw = await read_capped(request, MAX_WEBHOOK_BYTES)
    if raw is None:
        answer = WebhookAnswer(413, "body too large")
    else:
        answer = await state_of(request).ingest.genesys_webhook(
            raw, request.headers.get("x-hub-signature-256")
        )
    return JSONResponse({"status": answer.detail}, status_code=answer.status)
