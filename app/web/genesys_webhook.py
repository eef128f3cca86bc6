"""`POST /genesys/webhook`: Genesys' outbound notifications (agent replies, typing, receipts).

Served by `app.web.front` before the page middlewares. The raw body is read with a size cap
(the only size check), then handed to the bridge, which verifies `X-Hub-Signature-256` with
the integration's own secret and commits the message before we answer. Genesys retries only
429, 5xx and timeouts, and a non-2xx on a message "fails the chat", so anything accepted gets
a fast 200; only bad signatures (401) and malformed bodies (400, 413) get errors. The bridge
says what happened; `answer` alone turns that into HTTP.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from app.bridge.messages import BUSY, TOO_LARGE, IngestOutcome, IngestOutcomeKind
from app.web.front import Inbound, IngestEndpoint, Reply

if TYPE_CHECKING:
    from app.main import AppState

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
# The answers to the outcomes with a fixed detail, built once; the rest (a malformed body's
# first problem, an ignored webhook's reason) are built per request.
_BUILT: dict[IngestOutcome, Reply] = {}


def answer(outcome: IngestOutcome) -> Reply:
    """The one place an ingest outcome becomes an HTTP answer for Genesys.

    Accepted, recorded, duplicate, ignored or outside its tenant: 200, so Genesys neither
    retries nor fails the chat; unknown integration or bad signature: 401; not a webhook we
    can read: 400; over the cap: 413; not stored in time: 503 (Genesys retries it). The body
    names the reason, never message text.
    """
    built = _BUILT.get(outcome)
    if built is not None:
        return built
    status = _STATUS.get(outcome.kind, 200)
    reply = Reply.json(status, {"status": outcome.detail}, retry_after=status == 503)
    if outcome.kind != IngestOutcomeKind.MALFORMED and len(_BUILT) < MAX_BUILT_ANSWERS:
        _BUILT[outcome] = reply
    return reply


# Apart from a malformed body's problem (never kept), details come from a short list in the
# bridge; the bound is a second guard.
MAX_BUILT_ANSWERS = 64


async def handle(state: AppState, request: Inbound) -> Reply:
    """A POST to `/genesys/webhook`, its body read under `MAX_BODY_BYTES` (`WEBHOOK`)."""
    outcome = await state.admission.run(
        state.ingest.genesys_webhook(request.body, request.header(b"x-hub-signature-256"))
    )
    outcome = outcome or BUSY
    log.info("genesys webhook", extra={"outcome": outcome.kind.value})
    return answer(outcome)


WEBHOOK = IngestEndpoint(
    source="genesys",
    limit=MAX_BODY_BYTES,
    busy=answer(BUSY),
    too_large=answer(TOO_LARGE),
    handler=handle,
)
