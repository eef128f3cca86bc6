"""`POST /genesys/webhook`: Genesys' outbound notifications (agent replies, typing, receipts).

The raw body is read with a size cap and parsed here; the bridge verifies
`X-Hub-Signature-256` with the integration's own secret and commits the message before we
answer. Genesys retries only 429, 5xx and timeouts, and a non-2xx on a message "fails the
chat", so anything accepted gets a fast 200; only bad signatures (401) and malformed bodies
(400, 413) get errors.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.bridge.messages import TOO_LARGE, IngestOutcome, IngestOutcomeKind, malformed
from app.web.bodies import json_object, read_capped
from app.web.views import state_of

MAX_WEBHOOK_BYTES = 256 * 1024

_STATUS = {
    IngestOutcomeKind.UNSIGNED: 401,
    IngestOutcomeKind.MALFORMED: 400,
    IngestOutcomeKind.TOO_LARGE: 413,
}


def http_status(outcome: IngestOutcome) -> int:
    """Everything the bridge took (or chose to drop) is a 200: a retry cannot change it."""
    return _STATUS.get(outcome.kind, 200)


async def receive(request: Request) -> Response:
    raw = await read_capped(request, MAX_WEBHOOK_BYTES)
    if raw is None:
        outcome = TOO_LARGE
    elif (payload := json_object(raw)) is None:
        outcome = malformed("body is not a JSON object")
    else:
        outcome = await state_of(request).ingest.genesys_webhook(
            payload, raw=raw, signature=request.headers.get("x-hub-signature-256")
        )
    return JSONResponse({"status": outcome.detail}, status_code=http_status(outcome))
