"""The ✓ reaction, off the delivery path and within `reactions.add`'s rate tier.

A delivery only *offers* a reaction here and moves on to the next message. Each workspace has
its own small queue, drained by one task at most `PER_MINUTE` calls a rolling minute (Slack's
Tier 3, "50+ per minute", per method per workspace; external-contracts §S2). The ✓ is
cosmetic, so a reaction is dropped rather than allowed to pile up: when the workspace's queue
is full, when it waited longer than `MAX_WAIT_SECONDS`, or when Slack answered 429 (the queue
then also pauses for `Retry-After`). The queue lives in the worker's memory: a reaction lost
with a crashed worker is acceptable; a delayed message is not.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.bridge.ports import SlackSender
from app.slack.errors import SlackRateLimited

log = logging.getLogger(__name__)

ACK_REACTION = "white_check_mark"
PER_MINUTE = 50
WINDOW_SECONDS = 60.0
QUEUE_LIMIT = 200
MAX_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class _Reaction:
    token: str
    team_id: str | None
    channel: str
    ts: str
    offered_at: float


class _Workspace:
    def __init__(self) -> None:
        self.queue: collections.deque[_Reaction] = collections.deque()
        self.sent: collections.deque[float] = collections.deque()
        self.paused_until = 0.0
        self.task: asyncio.Task[None] | None = None


class ReactionPacer:
    def __init__(
        self,
        slack: SlackSender,
        *,
        per_minute: int = PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slack = slack
        self._per_minute = per_minute
        self._clock = clock
        self._workspaces: dict[str, _Workspace] = {}
        self.dropped = 0

    def offer(self, token: str, *, team_id: str | None, channel: str, ts: str) -> None:
        """Queue a ✓ for the customer's message; never waits."""
        key = team_id or ""
        workspace = self._workspaces.setdefault(key, _Workspace())
        if len(workspace.queue) >= QUEUE_LIMIT:
            self._drop("queue_full")
            return
        workspace.queue.append(_Reaction(token, team_id, channel, ts, self._clock()))
        if workspace.task is None or workspace.task.done():
            workspace.task = asyncio.create_task(self._drain(workspace))

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        log.info("reaction dropped", extra={"reason": reason})

    def _wait_for_turn(self, workspace: _Workspace) -> float:
        """Seconds until the next call fits the tier (0: now)."""
        now = self._clock()
        while workspace.sent and workspace.sent[0] <= now - WINDOW_SECONDS:
            workspace.sent.popleft()
        wait = max(0.0, workspace.paused_until - now)
        if len(workspace.sent) >= self._per_minute:
            wait = max(wait, workspace.sent[0] + WINDOW_SECONDS - now)
        return wait

    async def _drain(self, workspace: _Workspace) -> None:
        while workspace.queue:
            wait = self._wait_for_turn(workspace)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            reaction = workspace.queue.popleft()
            if self._clock() - reaction.offered_at > MAX_WAIT_SECONDS:
                self._drop("too_late")
                continue
            workspace.sent.append(self._clock())
            try:
                await self._slack.add_reaction(
                    reaction.token,
                    team_id=reaction.team_id,
                    channel=reaction.channel,
                    ts=reaction.ts,
                    name=ACK_REACTION,
                )
            except SlackRateLimited as exc:
                workspace.paused_until = self._clock() + (exc.retry_after or WINDOW_SECONDS)
                self._drop("rate_limited")

    async def wait_idle(self, within: float = 5.0) -> None:
        """Wait (bounded) for every queued reaction to be sent: tests and graceful shutdown."""
        tasks = [w.task for w in self._workspaces.values() if w.task and not w.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=within)

    async def aclose(self, within: float = 5.0) -> None:
        await self.wait_idle(within)
        for workspace in self._workspaces.values():
            if workspace.task is not None and not workspace.task.done():
                workspace.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await workspace.task
        self._workspaces.clear()
