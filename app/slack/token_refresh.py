"""Refreshing a bot token before the worker posts with it (Slack token rotation).

With token rotation on, bot tokens last 12 hours. Messages alone never pass through Bolt's
authorize, which refreshes for web requests, so the worker refreshes before posting, as Bolt
would, and saves the new token through the installation store. This is the adapter behind the
bridge's `BotTokens` port.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

from app.db.models import SlackInstallation
from app.slack.installation_store import PostgresInstallationStore

log = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN = timedelta(minutes=10)


class BotTokenRefresher:
    def __init__(
        self, installation_store: PostgresInstallationStore, rotator: AsyncTokenRotator
    ) -> None:
        self._installations = installation_store
        self._rotator = rotator

    async def refreshed(self, installation: SlackInstallation) -> str | None:
        expires = installation.bot_token_expires_at
        if (
            expires is None
            or installation.bot_refresh_token_enc is None
            or expires - datetime.now(UTC) > TOKEN_REFRESH_MARGIN
        ):
            return None
        bot = await self._installations.async_find_bot(
            enterprise_id=installation.slack_enterprise_id,
            team_id=installation.slack_team_id,
            is_enterprise_install=installation.is_enterprise_install,
        )
        if bot is None:
            return None
        try:
            refreshed = await self._rotator.perform_bot_token_rotation(
                bot=bot,
                minutes_before_expiration=int(TOKEN_REFRESH_MARGIN.total_seconds() // 60),
            )
        except SlackTokenRotationError:
            log.warning(
                "slack token refresh failed", extra={"tenant_id": str(installation.tenant_id)}
            )
            return None
        if refreshed is None:
            return None
        await self._installations.async_save_bot(refreshed)
        return refreshed.bot_token
