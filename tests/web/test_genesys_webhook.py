"""`/genesys/webhook` over HTTP: the size cap (checked here, once) and the answer for each
outcome the bridge reports. Signed deliveries that are stored are covered in tests/e2e."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from app.config import Settings
from app.signing import genesys_signature
from app.web.genesys_webhook import MAX_BODY_BYTES
from tests.harness import in_process

PATH = "/genesys/webhook"


def padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes, with no `channel.id`."""
    return b"{" + b" " * (size - 2) + b"}"


async def streamed(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


async def test_the_cap_is_the_web_layers_and_each_outcome_has_its_status(
    app_settings: Settings,
) -> None:
    unknown = json.dumps({"id": "m1", "channel": {"id": "no-such-integration"}}).encode()
    async with in_process(app_settings) as client:
        at_cap = await client.post(PATH, content=padded(MAX_BODY_BYTES))
        over = await client.post(PATH, content=padded(MAX_BODY_BYTES + 1))
        over_streamed = await client.post(PATH, content=streamed(padded(MAX_BODY_BYTES + 1)))
        not_json = await client.post(PATH, content=b"hello")
        stranger = await client.post(
            PATH,
            content=unknown,
            headers={"X-Hub-Signature-256": genesys_signature("guess", unknown)},
        )
    # At the cap the body is read and judged on its content; one byte more is never read.
    assert (at_cap.status_code, at_cap.json()) == (400, {"status": "channel.id is missing"})
    assert (over.status_code, over.json()) == (413, {"status": "body too large"})
    assert over_streamed.status_code == 413
    assert (not_json.status_code, not_json.json()) == (
        400,
        {"status": "body is not a JSON object"},
    )
    assert (stranger.status_code, stranger.json()) == (
        401,
        {"status": "unknown integration or bad signature"},
    )
