"""Message payloads at rest: the JSON of a `bridge_message` row sealed with `app.crypto.SecretBox`.

The same keys and the same binding as the other secrets: the associated data is the row's
tenant and the column's purpose, so a payload copied into another tenant's row, or from the
payload column into the parsed one, fails to open. Writers seal (`seal`); the ORM opens every
loaded row once (`open_loaded`, wired in `app.db.models`) with the box its session carries in
`Session.info[BOX]` (`app.db.session.create_sessions`), so readers keep using
`BridgeMessage.payload` and `.normalized` as before.

Rows written before sealing keep their JSON in the plaintext columns and no ciphertext: they
are read as they are, and `python -m app keys rotate` seals them (a lazy migration whose
marker is `payload_enc IS NULL`).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import orjson

from app.crypto import SecretBox

# Purpose labels bound into the ciphertexts; like `app.tenants.purposes`, never changed.
PAYLOAD = "bridge.payload"
NORMALIZED = "bridge.normalized"
# The key of `Session.info` holding the box rows of that session are opened with.
BOX = "secret_box"
# Where an opened row keeps its plaintext (instance attributes, never columns).
OPENED_PAYLOAD = "_opened_payload"
OPENED_NORMALIZED = "_opened_normalized"


class NoBoxForPayloads(RuntimeError):
    """A message row was loaded through a session created without the box to open it."""


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, which the standard library can write
        return json.dumps(value)


def seal(box: SecretBox, value: Any, *, tenant_id: UUID, purpose: str) -> str | None:
    if value is None:
        return None
    return box.encrypt(dumps(value), tenant_id=tenant_id, purpose=purpose)


def unseal(box: SecretBox, stored: str | None, *, tenant_id: UUID, purpose: str) -> Any:
    if stored is None:
        return None
    return orjson.loads(box.decrypt(stored, tenant_id=tenant_id, purpose=purpose))


def box_of(info: dict[Any, Any]) -> SecretBox:
    box = info.get(BOX)
    if not isinstance(box, SecretBox):
        raise NoBoxForPayloads("this session has no SecretBox to open message payloads")
    return box


def open_loaded(target: Any, info: dict[Any, Any]) -> None:
    """Put a just-loaded row's plaintext beside its columns; legacy rows need no box."""
    state = target.__dict__
    payload_enc = state.get("payload_enc")
    normalized_enc = state.get("normalized_enc")
    if payload_enc is None and normalized_enc is None:
        state[OPENED_PAYLOAD] = state.get("payload_plain")
        state[OPENED_NORMALIZED] = state.get("normalized_plain")
        return
    box = box_of(info)
    tenant_id = state["tenant_id"]
    state[OPENED_PAYLOAD] = unseal(box, payload_enc, tenant_id=tenant_id, purpose=PAYLOAD)
    state[OPENED_NORMALIZED] = (
        unseal(box, normalized_enc, tenant_id=tenant_id, purpose=NORMALIZED)
        if normalized_enc is not None
        else state.get("normalized_plain")
    )
