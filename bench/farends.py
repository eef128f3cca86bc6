"""The simulators as the benchmark sees them: a child process driven over HTTP.

Faults and configuration go through the simulators' own `/_sandbox/*` control APIs; what
arrived, and every call counted by route and status, comes from the recorder's `/_bench/*`.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devkit.cluster import free_port
from devkit.harness.ledger import Arrival
from devkit.harness.processes import PYTHON, ROOT, AppProcess, Placement
from sandbox.faults import FaultSpec


@dataclass
class Side:
    """One simulator: its URL and what the recorder has handed over so far."""

    name: str
    url: str
    records: list[list[Any]] = field(default_factory=list)
    _next: int = 0

    async def pull(self, http: httpx.AsyncClient) -> None:
        response = await http.get(f"{self.url}/_bench/ledger", params={"from": self._next})
        response.raise_for_status()
        data = response.json()
        self.records.extend(data["records"])
        self._next = int(data["next"])

    def arrivals(self, seqs: set[int]) -> list[Arrival]:
        """Successful deliveries of these messages (seq, when, Genesys message id)."""
        return [
            Arrival(seq=r[0], at=r[3], message_id=r[2])
            for r in self.records
            if r[4] and r[0] in seqs
        ]

    def attempts(self, seqs: set[int]) -> int:
        return sum(1 for r in self.records if r[0] in seqs)

    async def counters(self, http: httpx.AsyncClient) -> Counter[str]:
        response = await http.get(f"{self.url}/_bench/counters")
        response.raise_for_status()
        return Counter({k: int(v) for k, v in response.json().items()})


@dataclass
class FarEnds:
    process: AppProcess
    slack: Side
    genesys: Side
    http: httpx.AsyncClient

    async def pull(self) -> None:
        await asyncio.gather(self.slack.pull(self.http), self.genesys.pull(self.http))

    async def trim(self) -> None:
        for side in (self.slack, self.genesys):
            (await self.http.post(f"{side.url}/_bench/trim")).raise_for_status()

    async def register_messages(self, messages: list[list[str | None]]) -> None:
        """Customer messages about to be sent, so the Slack simulator holds them as Slack would."""
        for start in range(0, len(messages), 5000):
            response = await self.http.post(
                f"{self.slack.url}/_bench/messages", json=messages[start : start + 5000]
            )
            response.raise_for_status()

    async def arm(self, side: Side, spec: FaultSpec) -> None:
        response = await self.http.post(
            f"{side.url}/_sandbox/faults", content=spec.model_dump_json()
        )
        response.raise_for_status()

    async def clear_faults(self) -> None:
        for side in (self.slack, self.genesys):
            (await self.http.delete(f"{side.url}/_sandbox/faults")).raise_for_status()

    async def genesys_stats(self) -> dict[str, Any]:
        response = await self.http.get(f"{self.genesys.url}/_sandbox/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    async def counters(self) -> dict[str, Counter[str]]:
        slack, genesys = await asyncio.gather(
            self.slack.counters(self.http), self.genesys.counters(self.http)
        )
        return {"slack": slack, "genesys": genesys}

    async def close(self) -> None:
        await self.http.aclose()
        self.process.stop(timeout=10)


async def start_far_ends(
    log_dir: Path, placement: Placement, *, channels: int, users: int, post_rate: float
) -> FarEnds:
    slack_port, genesys_port = free_port(), free_port()
    log_path = log_dir / "simulators.log"
    with log_path.open("wb") as log_file:
        popen = subprocess.Popen(  # noqa: ASYNC220  (returns at once; the child runs on)
            [
                PYTHON,
                "-m",
                "bench.simulators",
                "--slack-port",
                str(slack_port),
                "--genesys-port",
                str(genesys_port),
                "--channels",
                str(channels),
                "--users",
                str(users),
                "--post-rate",
                str(post_rate),
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    placement.pin(popen.pid, placement.harness)
    process = AppProcess("simulators", "simulators", popen, log_path)
    # uvicorn closes an idle connection after 5 s and httpx keeps one for 5 s too: reusing it
    # at that moment got a ReadError while arming a fault after a long drain. Let ours expire
    # first, so the client never writes into a connection the server is closing.
    http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(keepalive_expiry=2.0))
    far = FarEnds(
        process,
        Side("slack", f"http://127.0.0.1:{slack_port}"),
        Side("genesys", f"http://127.0.0.1:{genesys_port}"),
        http,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            await far.counters()
            return far
        except httpx.HTTPError:
            if not process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"simulators did not start:\n{process.tail()}") from None
            await asyncio.sleep(0.1)
