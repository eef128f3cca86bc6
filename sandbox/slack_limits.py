"""Slack's Web API rate limits: a tier per method, per workspace per app, and one post per
second per channel for `chat.postMessage`, each allowing short bursts.

Tiers allow about 1 (Tier 1), 20 (Tier 2), 50 (Tier 3) and 100 (Tier 4) calls a minute and
tolerate bursts; methods Slack rates "special" (`auth.test`, the OAuth exchanges) are not
limited here. A call over its limit answers HTTP 429, `{"ok": false, "error": "ratelimited"}`
and `Retry-After` in whole seconds. Modelled as token buckets: a full minute's allowance may be
spent at once, then it refills evenly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

TIER_PER_MINUTE = {1: 1.0, 2: 20.0, 3: 50.0, 4: 100.0}
METHOD_TIERS = {
    "apps.uninstall": 1,
    "auth.revoke": 3,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "users.info": 4,
    "users.list": 2,
    "conversations.info": 3,
    "conversations.open": 3,
    "conversations.replies": 3,
    "conversations.list": 2,
    "team.info": 3,
    "reactions.add": 3,
    "reactions.remove": 2,
    "files.info": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
}
# Since 2025 an app not approved for the Slack Marketplace may read history
# (`conversations.history`, `conversations.replies`) once a minute per workspace, at most 15
# messages a call; an approved one at Tier 3 and up to 1000 (`SlackWorld.marketplace_approved`).
HISTORY_METHODS = frozenset({"conversations.history", "conversations.replies"})
NON_MARKETPLACE_HISTORY_PER_MINUTE = 1.0
NON_MARKETPLACE_HISTORY_LIMIT = 15
# chat.postMessage: about one message per second per channel, with short bursts.
POST_RATE_PER_CHANNEL = 1.0
POST_BURST = 3


@dataclass
class Bucket:
    capacity: float
    per_second: float
    tokens: float
    at: float

    def take(self, now: float) -> float | None:
        """Seconds to wait before a call may go, or None when it may go now (and is counted)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.per_second


@dataclass
class RateLimits:
    _buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)

    def _take(self, key: tuple[str, str], *, capacity: float, per_second: float) -> float | None:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None or bucket.capacity != capacity or bucket.per_second != per_second:
            bucket = self._buckets[key] = Bucket(capacity, per_second, capacity, now)
        return bucket.take(now)

    def take_method(
        self, method: str, workspace: str, *, per_minute: float | None = None
    ) -> float | None:
        tier = METHOD_TIERS.get(method)
        if tier is None:
            return None
        per_minute = per_minute or TIER_PER_MINUTE[tier]
        return self._take((method, workspace), capacity=per_minute, per_second=per_minute / 60)

    def take_post(self, slack_channel_id: str, *, per_second: float, burst: int) -> float | None:
        return self._take(
            ("chat.postMessage", slack_channel_id), capacity=max(1, burst), per_second=per_second
        )


def retry_after_seconds(wait: float) -> int:
    """Slack sends whole seconds, never 0 for a refused call."""
    return max(1, math.ceil(wait))
