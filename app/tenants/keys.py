"""Re-encrypt every stored secret under the newest key (`python -m app keys rotate`).

Put the new key first in `ENCRYPTION_KEYS`, keep the old ones after it, deploy, run this, and
only then remove the old keys. Rows are rewritten in small transactions so a long rotation
never holds locks on the whole table; running it twice is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBox
from app.db.base import Base
from app.db.models import GenesysConnection, GenesysIntegration, SlackInstallation
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
    return report
