"""Re-encrypt every stored secret under the newest key (`python -m app keys rotate`).

Put the new key first in `ENCRYPTION_KEYS`, keep the old ones after it, deploy, run this, and
only then remove the old keys. Rows are rewritten in small transactions so a long rotation
never holds locks on the whole table; running it twice is harmless.

Message payloads (`app.db.sealed`) are rotated the same way, and rows stored before payloads
were sealed (plaintext columns, no ciphertext) are sealed on the way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBox
from app.db import sealed
from app.db.base import Base
from app.db.models import BridgeMessage, GenesysConnection, GenesysIntegration, SlackInstallation
from app.tenants.purposes import (
    GENESYS_CLIENT_SECRET,
    GENESYS_WEBHOOK_SECRET,
    SLACK_BOT_REFRESH_TOKEN,
    SLACK_BOT_TOKEN,
)

# (model, primary-key attribute, encrypted attribute, purpose): every secret column.
ENCRYPTED_COLUMNS: list[tuple[type[Base], str, str, str]] = [
    (SlackInstallation, "tenant_id", "bot_token_enc", SLACK_BOT_TOKEN),
    (SlackInstallation, "tenant_id", "bot_refresh_token_enc", SLACK_BOT_REFRESH_TOKEN),
    (GenesysConnection, "tenant_id", "client_secret_enc", GENESYS_CLIENT_SECRET),
    (GenesysIntegration, "genesys_integration_id", "webhook_secret_enc", GENESYS_WEBHOOK_SECRET),
    (
        GenesysIntegration,
        "genesys_integration_id",
        "previous_webhook_secret_enc",
        GENESYS_WEBHOOK_SECRET,
    ),
]


@dataclass
class RotationReport:
    examined: int = 0
    rotated: int = 0
    # Message rows: re-encrypted under the current key, and sealed from plaintext.
    payloads_rotated: int = 0
    payloads_sealed: int = 0


async def rotate_all(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, *, batch: int = 200
) -> RotationReport:
    report = RotationReport()
    for model, key, attribute, purpose in ENCRYPTED_COLUMNS:
        column = getattr(model, attribute)
        key_column = getattr(model, key)
        after: object = None
        while True:
            async with sessions.begin() as session:
                query = select(model).where(column.is_not(None)).order_by(key_column)
                if after is not None:
                    query = query.where(key_column > after)
                rows = (
                    (await session.execute(query.limit(batch).with_for_update(skip_locked=False)))
                    .scalars()
                    .all()
                )
                for row in rows:
                    report.examined += 1
                    stored: str = getattr(row, attribute)
                    if box.needs_rotation(stored):
                        setattr(
                            row,
                            attribute,
                            box.rotate(stored, tenant_id=row.tenant_id, purpose=purpose),  # type: ignore[attr-defined]
                        )
                        report.rotated += 1
            if len(rows) < batch:
                break
            after = getattr(rows[-1], key)
    await rotate_payloads(sessions, box, report, batch=batch)
    return report


async def rotate_payloads(
    sessions: async_sessionmaker[AsyncSession],
    box: SecretBox,
    report: RotationReport,
    *,
    batch: int = 200,
) -> None:
    """Every message row under the current key, sealed; in batches by id, one short
    transaction each. Columns are read as stored (no ORM opening), so only rows that need it
    are decrypted."""
    m = BridgeMessage
    after = 0
    while True:
        async with sessions.begin() as session:
            rows = (
                await session.execute(
                    select(
                        m.id,
                        m.tenant_id,
                        m.payload_plain,
                        m.normalized_plain,
                        m.payload_enc,
                        m.normalized_enc,
                    )
                    .where(m.id > after)
                    .order_by(m.id)
                    .limit(batch)
                    .with_for_update()
                )
            ).all()
            for row_id, tenant_id, payload, parsed, payload_enc, normalized_enc in rows:
                values: dict[str, object] = {}
                if payload_enc is None:
                    values = {
                        "payload_enc": sealed.seal(
                            box, payload, tenant_id=tenant_id, purpose=sealed.PAYLOAD
                        ),
                        "normalized_enc": sealed.seal(
                            box, parsed, tenant_id=tenant_id, purpose=sealed.NORMALIZED
                        ),
                        "payload_plain": None,
                        "normalized_plain": None,
                    }
                    report.payloads_sealed += 1
                elif box.needs_rotation(payload_enc) or (
                    normalized_enc is not None and box.needs_rotation(normalized_enc)
                ):
                    values = {
                        "payload_enc": box.rotate(
                            payload_enc, tenant_id=tenant_id, purpose=sealed.PAYLOAD
                        ),
                        "normalized_enc": None
                        if normalized_enc is None
                        else box.rotate(
                            normalized_enc, tenant_id=tenant_id, purpose=sealed.NORMALIZED
                        ),
                    }
                    report.payloads_rotated += 1
                if values:
                    await session.execute(update(m).where(m.id == row_id).values(**values))
        if len(rows) < batch:
            return
        after = rows[-1][0]
