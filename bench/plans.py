"""What a run does, `--quick` or full, and the probes and searches built on phases.

The quick plan is the CI gate: a short steady run, the floor, and two faults (a worker killed
with `kill -9`, and Genesys failing), each checked for loss, duplicates and order. The full
plan adds the acknowledgement sweep at 50, 200 and 800 events/s, the search for the highest
sustained rate, the 10- and 10,000-tenant runs, and every fault scenario.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench import faults
from bench.database import Database
from bench.payloads import slack_envelope
from bench.phases import Fault, PhaseSpec, System
from bench.probe import saturate, signed_events
from bench.schedule import ConversationSpec, Planned, to_slack_ts
from bench.stats import summarize

MIN_PROBE_SECONDS = 11.0  # see runner: lets Postgres publish idle backends' counters


def sized(rate_per_direction: float) -> int:
    """Conversations for a rate: each gets a message every ~5 s per direction, so order is
    tested, and Slack's one post per second per channel is not what is measured."""
    return max(40, min(1600, round(rate_per_direction * 5)))


def steady_spec(name: str, rate: float, duration: float) -> PhaseSpec:
    return PhaseSpec(name, rate / 2, rate / 2, duration, sized(rate / 2))


@dataclass(frozen=True)
class Plan:
    name: str
    channels: int
    users: int
    warmup: PhaseSpec
    ack_sweep: tuple[PhaseSpec, ...]
    steady: PhaseSpec
    probe_seconds: float
    probe_concurrency: int
    throughput_steps: tuple[float, ...]
    throughput_seconds: float
    scale: tuple[int, ...]
    fault_rate: float
    fault_seconds: float
    faults: tuple[str, ...]
    outage_seconds: float

    def describe(self) -> dict[str, Any]:
        return asdict(self)


ALL_FAULTS = (
    "kill_worker",
    "restart_web",
    "restart_postgres",
    "genesys_errors",
    "slack_429",
    "slow_genesys",
    "two_by_two",
)


def quick() -> Plan:
    return Plan(
        name="quick",
        channels=200,
        users=400,
        warmup=steady_spec("warmup", 20, 3),
        ack_sweep=(),
        steady=steady_spec("steady", 30, 12),
        probe_seconds=4,
        probe_concurrency=32,
        throughput_steps=(),
        throughput_seconds=0,
        scale=(),
        fault_rate=30,
        fault_seconds=12,
        faults=("kill_worker", "genesys_errors"),
        outage_seconds=8,
    )


def full() -> Plan:
    return Plan(
        name="full",
        channels=200,
        users=400,
        warmup=steady_spec("warmup", 40, 5),
        ack_sweep=tuple(
            PhaseSpec(
                f"ack-{rate}",
                rate,
                0,
                seconds,
                sized(rate),
                drain_timeout=300,
                slack_retry_scale=0.2,
                overload=True,
            )
            for rate, seconds in ((50, 20), (200, 15), (800, 5))
        ),
        # Replaced by 75 % of the sustained rate once the search has found it.
        steady=steady_spec("steady", 40, 45),
        probe_seconds=10,
        probe_concurrency=32,
        throughput_steps=(20, 40, 60, 80, 100, 150, 200, 300, 400),
        throughput_seconds=20,
        scale=(10, 10_000),
        fault_rate=40,
        fault_seconds=30,
        faults=ALL_FAULTS,
        outage_seconds=30,
    )


def scale_spec(base: PhaseSpec, tenants: int) -> PhaseSpec:
    return PhaseSpec(
        f"scale-{tenants}",
        base.to_genesys_rate,
        base.to_slack_rate,
        base.duration,
        base.conversations,
    )


@dataclass(frozen=True)
class Scenario:
    name: str
    spec: PhaseSpec
    fault: Fault | None
    skip: str | None = None


def fault_scenarios(
    plan: Plan, database: Database, rate: float, chosen: tuple[str, ...] = ()
) -> list[Scenario]:
    """The plan's faults, or the ones asked for by name (`--scenario`), whatever the plan."""
    seconds, outage = plan.fault_seconds, plan.outage_seconds

    def spec(name: str, duration: float = seconds, drain: float = 120) -> PhaseSpec:
        return PhaseSpec(f"fault-{name}", rate / 2, rate / 2, duration, sized(rate / 2), 50, drain)

    at = 4.0
    scenarios = {
        "kill_worker": Scenario("kill_worker", spec("kill_worker"), faults.kill_worker(at)),
        "restart_web": Scenario("restart_web", spec("restart_web"), faults.restart_web(at)),
        "restart_postgres": Scenario(
            "restart_postgres",
            spec("restart_postgres"),
            faults.restart_postgres(database, at) if database.cluster else None,
            None if database.cluster else "needs the private cluster (DATABASE_URL is set)",
        ),
        "genesys_errors": Scenario(
            "genesys_errors",
            spec("genesys_errors", max(seconds, outage + at + 2)),
            faults.genesys_errors(at, outage),
        ),
        "slack_429": Scenario(
            "slack_429",
            spec("slack_429", max(seconds, 20 + at + 2)),
            faults.slack_429_storm(at, 20),
        ),
        "slow_genesys": Scenario(
            "slow_genesys", spec("slow_genesys"), faults.slow_genesys(at, min(15.0, seconds - at))
        ),
        "two_by_two": Scenario("two_by_two", spec("two_by_two"), None),
    }
    names = [name for name in ALL_FAULTS if name in chosen] if chosen else plan.faults
    return [scenarios[name] for name in names]


def _probe_requests(system: System, count: int, *, host: str) -> list[bytes]:
    """DMs from every bench user of every tenant: each one a full ingest (tenant lookup,
    conversation upsert, message insert, job) in the app, one insert in the floor."""
    envelopes = []
    base = int(time.time() * 1_000_000)
    people = [(t, u) for t in range(len(system.tenants)) for u in range(system.users)]
    for i in range(count):
        tenant_index, slot = people[i % len(people)]
        seq = system.next_seq + i
        envelopes.append(
            slack_envelope(
                system.tenants[tenant_index],
                ConversationSpec(i, tenant_index, "dm", slot),
                Planned(seq, "to_genesys", i, 0.0, 0),
                ts=to_slack_ts(base + i),
                thread_ts=None,
                root_acked=True,
                event_id=f"Ev0P{seq:010d}",
                event_time=int(time.time()),
            )
        )
    system.next_seq += count + 1
    return signed_events(envelopes, host=host, signing_secret=system.signing_secret)


async def _saturate(system: System, plan: Plan, port: int) -> dict[str, Any]:
    host = f"127.0.0.1:{port}"
    count = int(plan.probe_seconds * 15000)
    requests = await asyncio.to_thread(_probe_requests, system, count, host=host)
    result = await saturate(
        "127.0.0.1", port, requests, concurrency=plan.probe_concurrency, seconds=plan.probe_seconds
    )
    return {
        "per_second": round(result.per_second, 1),
        "requests": result.completed,
        "concurrency": plan.probe_concurrency,
        "seconds": round(result.seconds, 1),
        "statuses": result.statuses,
        "latency": summarize(result.latencies).as_json(),
        "exhausted_corpus": result.exhausted,
    }


async def floor_probe(system: System, plan: Plan, port: int) -> dict[str, Any]:
    started = time.monotonic()
    floor = await system.formation.add("floor")
    try:
        result = await _saturate(system, plan, port)
    finally:
        await asyncio.to_thread(floor.stop)
    await asyncio.sleep(max(0.0, MIN_PROBE_SECONDS - (time.monotonic() - started)))
    return result


async def ingest_probe(system: System, plan: Plan, floor: dict[str, Any]) -> dict[str, Any]:
    """The web process alone at saturation: workers are paused (SIGSTOP) so they do not share
    its CPU, and the backlog the probe leaves is deleted before they resume."""
    port = int(system.web_url.rsplit(":", 1)[1])
    workers = system.formation.of("worker")
    webs = system.formation.of("web")
    for worker in workers:
        worker.pause()
    try:
        cpu_before = [web.cpu_seconds() for web in webs]
        result = await _saturate(system, plan, port)
        cpu_after = [web.cpu_seconds() for web in webs]
        # All of the web's CPU over the probe, per answered request: an upper bound on what
        # one ingest costs (the probe's few idle moments are charged too).
        pairs = zip(cpu_after, cpu_before, strict=True)
        spent = [a - b for a, b in pairs if a is not None and b is not None]
        if spent and result["requests"]:
            result["web_cpu_ms_per_request"] = round(sum(spent) * 1000 / result["requests"], 3)
    finally:
        purged = await system.meter.purge_backlog()
        for worker in workers:
            worker.resume()
    result["purged_backlog"] = purged
    result["ratio_to_floor"] = round(result["per_second"] / floor["per_second"], 3)
    return result


PhaseRunner = Callable[..., Awaitable[dict[str, Any]]]


# What a sustained step must keep (issue 12).
SUSTAINED_ACK_P99_MS = 50.0
SUSTAINED_E2E_P99_MS = 1000.0


def step_passed(result: dict[str, Any], rate: float) -> tuple[bool, list[str]]:
    """Sustained, as issue 12 defines it: no loss, no backlog growth, everything delivered,
    acknowledgements with a p99 under 50 ms and end-to-end delivery with a p99 under 1 s."""
    reasons = []
    if not result["ok"]:
        reasons.append("loss, duplicates or disorder")
    growth = result["backlog"]["slope_per_s"]
    if growth is not None and growth > max(1.0, 0.02 * rate):
        reasons.append(f"backlog grew {growth}/s")
    for sender in ("slack", "genesys"):
        p99 = result["ack"][sender]["p99_ms"]
        if p99 is not None and p99 > SUSTAINED_ACK_P99_MS:
            reasons.append(f"{sender} ack p99 {p99} ms")
    for direction in ("to_genesys", "to_slack"):
        p99 = result["e2e"][direction]["p99_ms"]
        if p99 is not None and p99 > SUSTAINED_E2E_P99_MS:
            reasons.append(f"{direction} end-to-end p99 {p99} ms")
    if result["delivered_per_s_in_window"] < 0.95 * result["offered_good_per_s"]:
        reasons.append("delivered rate below offered")
    if not result["drained"]:
        reasons.append("did not drain")
    return not reasons, reasons


async def throughput_search(
    system: System, plan: Plan, phase: PhaseRunner, results: dict[str, Any]
) -> dict[str, Any]:
    """Step up until a step fails, then try halfway between the last pass and the failure."""
    steps: list[dict[str, Any]] = []
    sustained = 0.0

    async def attempt(rate: float) -> bool:
        spec = PhaseSpec(
            f"throughput-{rate:g}",
            rate / 2,
            rate / 2,
            plan.throughput_seconds,
            sized(rate / 2),
            drain_timeout=90,
        )
        result = await phase(system, results, spec)
        passed, reasons = step_passed(result, rate)
        steps.append({"offered_per_s": rate, "passed": passed, "why_not": reasons})
        return passed

    failed: float | None = None
    for rate in plan.throughput_steps:
        if not await attempt(rate):
            failed = rate
            break
        sustained = rate
    if failed is not None and failed - sustained > 5:
        middle = round((sustained + failed) / 2 / 5) * 5
        if sustained < middle < failed and await attempt(middle):
            sustained = middle
    return {"steps": steps, "sustained_per_s": sustained}
