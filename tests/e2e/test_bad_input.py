"""Bad input from anyone on the internet: every answer is a clear 4xx, never a 500, and
nothing a request carries can make the web process read or hold more than the body cap.

Requests go to the real web processes over a socket, as Slack, Genesys or an attacker would
send them; the app's own answer is what is asserted, not a client-side error.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from app.signing import genesys_signature, slack_headers
from sandbox.slack_world import SANDBOX_SIGNING_SECRET
from tests.e2e.stack import System

DEEP = 100_000
_HEADER_BYTES = [*range(0x21, 0x7F), *range(0xA0, 0x100)]


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str | bytes], ...] = ()


def _signed(body: bytes, content_type: str = "application/json") -> tuple[tuple[str, str], ...]:
    headers = slack_headers(SANDBOX_SIGNING_SECRET, body)
    headers["Content-Type"] = content_type
    return tuple(headers.items())


def _deep_event() -> bytes:
    inner = "[" * DEEP + "]" * DEEP
    return (
        '{"type":"event_callback","team_id":"T0ACME0001",'
        f'"event":{{"type":"message","text":"x","deep":{inner}}}}}'
    ).encode()


def slack_probes() -> list[Probe]:
    path = "/slack/events"
    deep = _deep_event()
    deep_array = ("[" * DEEP + "]" * DEEP).encode()
    form_garbage = b"payload=%7B%22type%22%3A&\xff\xfe=%%%zz"
    fresh = str(int(time.time()))
    probes = [
        Probe(
            "unsigned non-JSON", "POST", path, b"hello, world", (("Content-Type", "text/plain"),)
        ),
        Probe("unsigned deep JSON", "POST", path, deep, (("Content-Type", "application/json"),)),
        Probe("signed deep JSON event", "POST", path, deep, _signed(deep)),
        Probe("signed deep JSON array", "POST", path, deep_array, _signed(deep_array)),
        Probe("signed non-JSON", "POST", path, b"{not json", _signed(b"{not json")),
        Probe(
            "signed invalid UTF-8", "POST", path, b'{"a":"\xff\xfe"}', _signed(b'{"a":"\xff\xfe"}')
        ),
        Probe("signed JSON null", "POST", path, b"null", _signed(b"null")),
        Probe("signed JSON list", "POST", path, b"[1,2]", _signed(b"[1,2]")),
        Probe("signed empty body", "POST", path, b"", _signed(b"")),
        Probe(
            "signed form garbage",
            "POST",
            path,
            form_garbage,
            _signed(form_garbage, "application/x-www-form-urlencoded"),
        ),
        Probe(
            "signed form payload not JSON",
            "POST",
            path,
            b"payload=%7Bnope",
            _signed(b"payload=%7Bnope", "application/x-www-form-urlencoded"),
        ),
        Probe(
            "signed multipart without boundary",
            "POST",
            path,
            b"--x\r\n",
            _signed(b"--x\r\n", "multipart/form-data"),
        ),
        Probe(
            "non-ASCII signature",
            "POST",
            path,
            b'{"type":"event_callback","event":{"type":"message"}}',
            (
                ("Content-Type", "application/json"),
                ("X-Slack-Request-Timestamp", fresh),
                ("X-Slack-Signature", "v0=caf\u00e9".encode("latin-1") + b"\xff" * 60),
            ),
        ),
        Probe(
            "non-ASCII signature on another event",
            "POST",
            path,
            b'{"type":"event_callback","event":{"type":"reaction_added"}}',
            (
                ("Content-Type", "application/json"),
                ("X-Slack-Request-Timestamp", fresh),
                ("X-Slack-Signature", b"v0=\xe9\xe9\xe9"),
            ),
        ),
        Probe(
            "non-ASCII timestamp",
            "POST",
            path,
            b"{}",
            (
                ("Content-Type", "application/json"),
                ("X-Slack-Request-Timestamp", b"\xd9\xa1\xd9\xa2"),
                ("X-Slack-Signature", "v0=" + "0" * 64),
            ),
        ),
        Probe(
            "huge timestamp",
            "POST",
            path,
            b"{}",
            (
                ("Content-Type", "application/json"),
                ("X-Slack-Request-Timestamp", "9" * 400),
                ("X-Slack-Signature", "v0=" + "0" * 64),
            ),
        ),
    ]
    return probes


def genesys_probes(system: System) -> list[Probe]:
    path = "/genesys/webhook"
    integration = system.acme.spec.mentions_integration_id
    secret = system.webhook_secret(integration)

    def signed(body: bytes) -> tuple[tuple[str, str], ...]:
        return (
            ("Content-Type", "application/json"),
            ("X-Hub-Signature-256", genesys_signature(secret, body)),
        )

    deep = (
        '{"id":"m1","type":"Text","channel":{"id":"'
        + integration
        + '"},"x":'
        + "[" * DEEP
        + "]" * DEEP
        + "}"
    ).encode()
    wrong_shapes = [
        b'{"id":"m1","type":"Text","channel":{"id":"%s","to":{"id":5}}}',
        b'{"id":["m1"],"type":"Text","channel":{"id":"%s"}}',
        b'{"id":"m1","type":"Text","channel":{"id":"%s","to":{"id":"T:U"}},"content":"x"}',
        b'{"id":"m1","type":"Structured","channel":{"id":"%s","to":{"id":"T:U"}},'
        b'"content":[{"contentType":"Card","card":{"actions":[7]}}]}',
    ]
    probes = [
        Probe("non-JSON", "POST", path, b"not json", (("Content-Type", "text/plain"),)),
        Probe("deep JSON unsigned", "POST", path, deep, (("Content-Type", "application/json"),)),
        Probe("deep JSON signed", "POST", path, deep, signed(deep)),
        Probe("invalid UTF-8", "POST", path, b'{"id":"\xff"}', signed(b'{"id":"\xff"}')),
        Probe("JSON list", "POST", path, b"[]", signed(b"[]")),
        Probe("channel.id a number", "POST", path, b'{"channel":{"id":5}}'),
        Probe(
            "non-ASCII signature",
            "POST",
            path,
            b'{"id":"m1","type":"Text","channel":{"id":"%s"}}' % integration.encode(),
            (("X-Hub-Signature-256", b"sha256=\xe9\xe9\xff"),),
        ),
    ]
    for index, shape in enumerate(wrong_shapes):
        body = shape % integration.encode()
        probes.append(Probe(f"signed wrong shape {index}", "POST", path, body, signed(body)))
    return probes


def page_probes() -> list[Probe]:
    form = (("Content-Type", "application/x-www-form-urlencoded"),)
    garbage = b"csrf=\xff\xfe&client_id=%zz&&=&region=%00"
    probes = [
        Probe(f"form {route}", "POST", route, garbage, form)
        for route in (
            "/onboarding/credentials",
            "/onboarding/integrations",
            "/onboarding/test",
            "/onboarding/behaviour",
            "/signout",
        )
    ]
    probes += [
        Probe(
            "multipart without boundary /signout",
            "POST",
            "/signout",
            b"--",
            (("Content-Type", "multipart/form-data"),),
        ),
        Probe(
            "odd session cookie",
            "GET",
            "/onboarding",
            b"",
            (("Cookie", b"sb_session=\xe9\xff.x.y; sb_oidc=\xff"),),
        ),
        Probe(
            "odd session cookie on a form",
            "POST",
            "/onboarding/credentials",
            b"csrf=\xff",
            (
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", "sb_session=eyJ0ZW5hbnRfaWQiOiJ4In0.AAAA.BBBB"),
            ),
        ),
        Probe(
            "odd oidc state cookie",
            "GET",
            "/signin/callback?code=c&state=s",
            b"",
            (("Cookie", b"sb_oidc=\xe9garbage"),),
        ),
        Probe("odd oauth redirect", "GET", "/slack/oauth_redirect?code=%FF%00&state=%ZZ"),
        Probe("odd oauth error", "GET", "/slack/oauth_redirect?error=%FF&state=x"),
        Probe("odd sign-in callback", "GET", "/signin/callback?code=%FF&state=%00"),
        Probe(
            "metrics with odd token", "GET", "/metrics", b"", (("Authorization", b"Bearer \xff"),)
        ),
    ]
    return probes


def random_probes(seed: int, count: int) -> list[Probe]:
    """Random bytes and content types on the machine-facing endpoints, reproducible by seed."""
    rng = random.Random(seed)
    types = ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    probes = []
    for index in range(count):
        body = rng.randbytes(rng.randint(0, 2048))
        if index % 3 == 0:
            body = (
                json.dumps({"type": "event_callback", "event": {"type": "message"}}).encode()[
                    : rng.randint(0, 60)
                ]
                + body[:40]
            )
        path = rng.choice(["/slack/events", "/genesys/webhook"])
        content_type = rng.choice(types)
        headers: list[tuple[str, str | bytes]] = [("Content-Type", content_type)]
        if path == "/slack/events" and index % 2 == 0:
            headers = [*_signed(body, content_type)]
        elif path == "/genesys/webhook":
            # Any byte a header may carry: visible ASCII and Latin-1, no control characters.
            headers.append(("X-Hub-Signature-256", bytes(rng.choices(_HEADER_BYTES, k=40))))
        probes.append(Probe(f"random {seed}/{index}", "POST", path, body, tuple(headers)))
    return probes


async def _answer(http: httpx.AsyncClient, base: str, probe: Probe) -> int | str:
    """The status, or the transport error when the app hung up without answering."""
    try:
        response = await http.request(
            probe.method,
            base + probe.path,
            content=probe.body if probe.method == "POST" else None,
            headers=[
                (name.encode(), value if isinstance(value, bytes) else value.encode("latin-1"))
                for name, value in probe.headers
            ],
        )
    except httpx.TransportError as exc:
        return type(exc).__name__
    return response.status_code


async def test_no_request_gets_a_500(bridge: System) -> None:
    """Machine-facing endpoints answer bad input with a 4xx; pages a person opens may answer
    with a page or a redirect, but never with a 5xx or a dropped connection."""
    machine = [*slack_probes(), *genesys_probes(bridge), *random_probes(7, 60)]
    pages = page_probes()
    answers: dict[str, int | str] = {}
    async with httpx.AsyncClient(timeout=30) as http:
        for probe in [*machine, *pages]:
            answers[probe.name] = await _answer(http, bridge.app_url, probe)

    def acceptable(probe: Probe) -> bool:
        status = answers[probe.name]
        if not isinstance(status, int):
            return False
        return 400 <= status < 500 if probe in machine else status < 500

    wrong = {p.name: answers[p.name] for p in [*machine, *pages] if not acceptable(p)}
    assert not wrong, f"these requests did not get a clear answer: {wrong}"
    bridge.formation.check_alive()


# ---- oversized bodies -------------------------------------------------------------------------

HUGE_BYTES = 25 * 1024 * 1024
PARALLEL = 8
RSS_ALLOWANCE_BYTES = 50 * 1024 * 1024


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def _chunks(total: int, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    block = b"x" * size
    sent = 0
    while sent < total:
        yield block
        sent += size
        await asyncio.sleep(0)


async def _oversized(http: httpx.AsyncClient, url: str, huge: bytes, *, chunked: bool) -> str:
    """The status the app answered, or how the connection ended when it hung up first (which
    is what a server does to a client still sending a body it refused)."""
    content = _chunks(HUGE_BYTES) if chunked else huge
    try:
        response = await http.post(
            url, content=content, headers={"Content-Type": "application/json"}
        )
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        return type(exc).__name__
    return str(response.status_code)


async def test_oversized_unsigned_bodies_are_refused_unread(bridge: System) -> None:
    """Eight parallel 25 MB unsigned posts once grew a web process by hundreds of MB."""
    webs = bridge.formation.webs
    before = {p.pid: rss_bytes(p.pid) for p in webs}
    peak = dict(before)
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            for p in webs:
                if p.alive():
                    peak[p.pid] = max(peak[p.pid], rss_bytes(p.pid))
            await asyncio.sleep(0.01)

    huge = b"{" + b" " * (HUGE_BYTES - 2) + b"}"
    sampler = asyncio.create_task(sample())
    outcomes: list[str] = []
    try:
        for url in (f"{bridge.app_url}/slack/events", f"{bridge.app_url}/genesys/webhook"):
            async with httpx.AsyncClient(timeout=60) as http:
                for chunked in (False, True):
                    outcomes += await asyncio.gather(
                        *(_oversized(http, url, huge, chunked=chunked) for _ in range(PARALLEL))
                    )
    finally:
        done.set()
        await sampler
    growth = {pid: peak[pid] - before[pid] for pid in before}
    assert max(growth.values()) < RSS_ALLOWANCE_BYTES, (
        f"web RSS grew by {[g // 2**20 for g in growth.values()]} MB; outcomes {outcomes}"
    )
    answered = [o for o in outcomes if o.isdigit()]
    assert answered, f"the app never answered: {outcomes}"
    assert set(answered) == {"413"}, outcomes
    bridge.formation.check_alive()
