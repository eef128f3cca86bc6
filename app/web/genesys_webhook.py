"""`POST /genesys/webhook`: Genesys' outbound notifications (agent replies, typing, receipts).

The raw body is read with a size cap (the only size check), then handed to the bridge, which
verifies `X-Hub-Signature-256` with the integration's own secret and commits the message
before we answer. Genesys retries only 429, 5xx and timeouts, and a non-2xx on a message
"fails the chat", so anything accepted gets a fast 200; only bad signatures (401) and
malformed bodies (400, 413) get errors. The bridge says what happened; `answer` alone turns
that into HTTP.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.bridge.messages import BUSY, TOO_LARGE, IngestOutcome, IngestOutcomeKind
from app.web.bodies import read_capped
from app.web.views import state_of

# Genesys' Open Messaging bodies are a few KB (agent text is at most 4,000 characters, plus
# quick replies or a card); 256 KiB leaves ample room and bounds what a stranger can make us read.
MAX_BODY_BYTES = 256 * 1024

log = logging.getLogger(__name__)


_STATUS = {
    IngestOutcomeKind.UNSIGNED: 401,
    IngestOutcomeKind.MALFORMED: 400,
    IngestOutcomeKind.TOO_LARGE: 413,
    IngestOutcomeKind.BUSY: 503,
}


def answer(outcome: IngestOutcome) -> Response:
    """The one place an ingest outcome becomes an HTTP answer for Genesys.

    Accepted, recorded, duplicate, ignored or outside its tenant: 200, so Genesys neither
    retries nor fails the chat; unknown integration or bad signature: 401; not a webhook we
    can read: 400; over the cap: 413; not stored in time: 503 (Genesys retries it). The body
    names the reason, never message text.
    """
    status = _STATUS.get(outcome.kind, 200)
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse({"status": outcome.detail}, status_code=status, headers=headers)


async def receive(request: Request) -> Response:
    state = state_of(request)
    if state.admission.full:
        return answer(BUSY)
    raw = await read_capped(request, MAX_BODY_BYTES)
    if raw is None:
        return answer(TOO_LARGE)
    outcome = await state.admission.run(
        state.ingest.genesys_webhook(raw, request.headers.get("x-hub-signature-256"))
    )
    outcome = outcome or BUSY
    log.info("genesys webhook", extra={"outcome": outcome.kind.value})
    return answer(outcome)
