"""Peak ingest: closed-loop saturation with a minimal HTTP/1.1 client.

The open-loop generator measures latency at a given load; this measures how many signed
events per second one web process can take at all, for our app and for the floor. `wrk`
would do it, but is not always installed; aiohttp would spend more CPU per request than the
floor does. So: pre-signed requests, keep-alive connections, a parser that reads only the
status line and `Content-Length`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from app.signing import slack_headers


@dataclass(frozen=True)
class ProbeResult:
    completed: int
    seconds: float
    statuses: dict[str, int]
    latencies: list[float]
    exhausted: bool

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


def raw_request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def signed_events(
    envelopes: Sequence[dict[str, object]], *, host: str, signing_secret: str
) -> list[bytes]:
    requests = []
    for envelope in envelopes:
        body = json.dumps(envelope, separators=(",", ":")).encode()
        requests.append(
            raw_request(host, "/slack/events", body, slack_headers(signing_secret, body))
        )
    return requests


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def saturate(
    host: str, port: int, requests: Sequence[bytes], *, concurrency: int, seconds: float
) -> ProbeResult:
    source: Iterator[bytes] = iter(requests)
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    exhausted = False
    started = time.monotonic()
    deadline = started + seconds

    async def connection() -> None:
        nonlocal exhausted
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.monotonic() < deadline:
                request = next(source, None)
                if request is None:
                    exhausted = True
                    return
                sent = time.monotonic()
                writer.write(request)
                status = await _read_response(reader)
                latencies.append(time.monotonic() - sent)
                statuses[str(status)] += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    return ProbeResult(sum(statuses.values()), elapsed, dict(statuses), latencies, exhausted)
