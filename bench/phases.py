"""One phase of traffic against the running system, from plan to verdict.

A phase plans its messages, tells the Slack simulator about the customer messages it is about
to push (as Slack would hold them), sends them open-loop while sampling the backlog and
memory, optionally runs a fault alongside, waits for the bridge to drain, and then judges:
what was lost, duplicated or reordered, and how long everything took.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bench.database import Database, Meter
from bench.farends import FarEnds
from bench.loadgen import SLACK_TIMEOUT_SECONDS, LoadGenerator, Outcome, Pacing
from bench.payloads import BenchTenant, customer_of, customer_text, slack_place
from bench.schedule import ConversationSpec, Planned, assign_ts, conversations, plan
from bench.stats import median, slope, summarize
from devkit.harness.ledger import Sent, Verdict, Window, judge
from devkit.harness.processes import Formation

QUIET_SECONDS = 1.0
LEAD_SECONDS = 1.0

Fault = Callable[["System", float], Coroutine[Any, Any, list[Window]]]


@dataclass(frozen=True)
class PhaseSpec:
    name: str
    to_genesys_rate: float
    to_slack_rate: float
    duration: float
    conversations: int
    bad_every: int = 50
    drain_timeout: float = 90.0
    # Slack retries after 1 and 5 minutes; 0.05 makes that 3 s and 15 s. Overload phases
    # use a gentler scale so Slack's retries land after the overload, as they would.
    slack_retry_scale: float = 0.05
    # A deliberate overload (the acknowledgement sweep): messages the senders gave up on,
    # never acknowledged, are reported but do not fail the run; with Slack's real retry times
    # (1 and 5 minutes, not compressed) they would have been taken once the overload passed.
    overload: bool = False


@dataclass
class System:
    """Everything a phase needs of the running system."""

    formation: Formation
    far: FarEnds
    meter: Meter
    database: Database
    tenants: list[BenchTenant]
    web_url: str
    signing_secret: str
    channels: int
    users: int
    pacing: Pacing = field(default_factory=Pacing)
    next_seq: int = 1
    memory: list[tuple[float, str, str, int, int, float]] = field(default_factory=list)

    @property
    def crashes(self) -> list[dict[str, Any]]:
        """Each web or worker process that exited without being asked (the formation's
        supervisor restarted it): a restart keeps the run going, it does not make the exit
        acceptable, so every one is reported."""
        found = []
        for process in self.formation.crashes:
            lines = [line for line in process.log().splitlines() if '"level": "error"' in line]
            found.append(
                {
                    "process": process.name,
                    "at": process.exit_noticed_at,
                    "exit_code": process.popen.returncode,
                    "last_error": (lines[-1] if lines else process.tail(1))[:500],
                }
            )
        return found

    async def sample_memory(self) -> None:
        """Every 0.25 s: (epoch, process, role, VmRSS KiB, VmHWM KiB, CPU s) of each app
        process."""
        while True:
            now = time.time()
            for process in list(self.formation.processes):
                if process.kind in ("web", "worker") and process.alive():
                    sample = process.memory_kib()
                    cpu = process.cpu_seconds()
                    if sample is not None and cpu is not None:
                        self.memory.append((now, process.name, process.kind, *sample, cpu))
            await asyncio.sleep(0.25)

    def memory_between(self, start: float, end: float) -> dict[str, dict[str, float]]:
        """Per process: median and peak resident memory (MB), and CPU seconds used."""
        by_process: dict[str, list[tuple[int, int, float]]] = {}
        for at, name, _, rss, hwm, cpu in self.memory:
            if start <= at <= end:
                by_process.setdefault(name, []).append((rss, hwm, cpu))
        return {
            name: {
                "steady_mb": round((median([r for r, _, _ in samples]) or 0) * 1024 / 1e6, 1),
                "peak_mb": round(max(h for _, h, _ in samples) * 1024 / 1e6, 1),
                "cpu_s": round(samples[-1][2] - samples[0][2], 2),
            }
            for name, samples in sorted(by_process.items())
        }


def _register(
    system: System, planned: Sequence[Planned], specs: Sequence[ConversationSpec], stamps: Any
) -> list[list[str | None]]:
    rows: list[list[str | None]] = []
    rooted: set[int] = set()
    for p in planned:
        if p.direction != "to_genesys" or p.bad is not None:
            continue
        spec = specs[p.conversation]
        tenant = system.tenants[spec.tenant]
        ts = stamps.message_ts[p.seq]
        thread_ts = stamps.thread_ts.get(p.conversation)
        channel, _ = slack_place(tenant, spec, thread_ts)
        parent = None if spec.kind == "dm" or ts == thread_ts else thread_ts
        if p.position == 0:
            rooted.add(p.conversation)
        rows.append([channel, ts, customer_of(tenant, spec), customer_text(p.seq), parent])
    for spec in specs:
        if spec.kind == "thread" and spec.index not in rooted:
            tenant = system.tenants[spec.tenant]
            thread_ts = stamps.thread_ts[spec.index]
            channel, _ = slack_place(tenant, spec, thread_ts)
            rows.append([channel, thread_ts, customer_of(tenant, spec), "A thread", None])
    return rows


async def _sample_backlog(system: System, into: list[tuple[float, float]], start: float) -> None:
    while True:
        # The database may be restarting; keep sampling.
        with contextlib.suppress(Exception):
            into.append((time.monotonic() - start, float(await system.meter.pending())))
        await asyncio.sleep(1.0)


async def _drain(system: System, outcomes: Sequence[Outcome], limit: float) -> tuple[float, bool]:
    """Wait until every acknowledged message arrived, nothing is pending, and the simulators
    have been quiet for a moment. Returns (seconds waited, whether it drained)."""
    started = time.monotonic()
    want = {o.planned.seq for o in outcomes if o.planned.bad is None and o.acked_at is not None}
    last = -1
    still_since = time.monotonic()
    while time.monotonic() - started < limit:
        await system.far.pull()
        seen = {
            r[0] for side in (system.far.slack, system.far.genesys) for r in side.records if r[4]
        }
        count = len(system.far.slack.records) + len(system.far.genesys.records)
        if count != last:
            last, still_since = count, time.monotonic()
        elif want <= seen and time.monotonic() - still_since >= QUIET_SECONDS:
            try:
                if await system.meter.pending() == 0:
                    return time.monotonic() - started, True
            except Exception:
                pass
        await asyncio.sleep(0.25)
    return time.monotonic() - started, False


def _latencies(outcomes: Sequence[Outcome], direction: str) -> tuple[list[float], int]:
    values: list[float] = []
    timeouts = 0
    for o in outcomes:
        if o.planned.direction != direction or o.planned.bad is not None:
            continue
        if o.first_latency is None:
            timeouts += 1
            values.append(SLACK_TIMEOUT_SECONDS)
        else:
            values.append(o.first_latency)
    return values, timeouts


def _ok(verdict: Verdict, overload: bool) -> bool:
    counted = verdict.lost - (verdict.never_acked if overload else 0)
    return counted == 0 and verdict.unexplained_duplicates == 0 and verdict.out_of_order == 0


def _spent(before: float | None, after: float | None) -> float | None:
    """CPU used between two readings; unknown when Postgres restarted in between (its
    counters start again from zero)."""
    if before is None or after is None or after < before:
        return None
    return after - before


def _cpu_per_message(
    memory: dict[str, dict[str, float]], delivered: int, *, postgres: float | None = None
) -> dict[str, float]:
    """CPU milliseconds per delivered message: web and worker processes summed by role, and
    the private Postgres cluster (all of it, the harness's own few queries included)."""
    by_role: dict[str, float] = {"web": 0.0, "worker": 0.0}
    for name, values in memory.items():
        role = name.split(".")[0]
        by_role[role] = by_role.get(role, 0.0) + values["cpu_s"]
    if postgres is not None:
        by_role["postgres"] = postgres
    return {role: round(cpu * 1000 / max(delivered, 1), 2) for role, cpu in by_role.items()}


def _counter_delta(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v != before.get(k, 0)}


async def run_phase(
    system: System, spec: PhaseSpec, *, fault: Fault | None = None
) -> dict[str, Any]:
    specs = conversations(
        spec.conversations,
        tenants=len(system.tenants),
        channels=system.channels,
        users=system.users,
    )
    planned = plan(
        first_seq=system.next_seq,
        to_genesys_rate=spec.to_genesys_rate,
        to_slack_rate=spec.to_slack_rate,
        duration=spec.duration,
        conversation_count=spec.conversations,
        bad_every=spec.bad_every,
    )
    system.next_seq += len(planned) + 1
    lead = LEAD_SECONDS + len(planned) / 20000
    start = time.monotonic() + lead
    generator = LoadGenerator(
        web_url=system.web_url,
        signing_secret=system.signing_secret,
        tenants=system.tenants,
        specs=specs,
        stamps=assign_ts(planned, specs, start_epoch=time.time() + lead),
        pacing=replace(system.pacing, slack_retry_scale=spec.slack_retry_scale),
    )
    start_epoch = generator.epoch(start)
    postgres_before = system.database.cpu_seconds()
    await system.far.register_messages(_register(system, planned, specs, generator.stamps))
    counters_before = await system.far.counters()
    stats_before = await system.far.genesys_stats()
    backlog: list[tuple[float, float]] = []
    sampler = asyncio.create_task(_sample_backlog(system, backlog, start))
    fault_task = asyncio.create_task(fault(system, start)) if fault else None
    try:
        outcomes = await generator.run(planned, start=start)
        windows = await fault_task if fault_task else []
        drain_seconds, drained = await _drain(system, outcomes, spec.drain_timeout)
    finally:
        sampler.cancel()
        if fault_task and not fault_task.done():
            fault_task.cancel()
    sent_end = start_epoch + spec.duration
    counters_after = await system.far.counters()
    stats_after = await system.far.genesys_stats()
    verdicts: dict[str, Verdict] = {}
    e2e: dict[str, list[float]] = {}
    intended = {o.planned.seq: o.intended for o in outcomes}
    for direction, side in (("to_genesys", system.far.genesys), ("to_slack", system.far.slack)):
        good = [o for o in outcomes if o.planned.direction == direction and o.planned.bad is None]
        sent = [
            Sent(o.planned.seq, o.planned.conversation, o.planned.position, o.intended, o.acked_at)
            for o in good
        ]
        arrivals = side.arrivals({s.seq for s in sent})
        verdicts[direction] = judge(sent, arrivals, windows=windows)
        first: dict[int, float] = {}
        for a in arrivals:
            first[a.seq] = min(a.at, first.get(a.seq, a.at))
        e2e[direction] = [at - intended[seq] for seq, at in first.items()]
    slack_lat, slack_timeouts = _latencies(outcomes, "to_genesys")
    genesys_lat, genesys_timeouts = _latencies(outcomes, "to_slack")
    bad = [o for o in outcomes if o.planned.bad is not None]
    bad_statuses = Counter(str(o.first_status) for o in bad)
    good_count = len(outcomes) - len(bad)
    # Bad load must never be accepted; a timeout under overload is not acceptance.
    bad_accepted = sum(1 for o in bad if any(s is not None and s < 300 for s in o.statuses))
    window = [b for t, b in backlog if spec.duration * 0.25 <= t <= spec.duration]
    growth = slope([(t, b) for t, b in backlog if spec.duration * 0.25 <= t <= spec.duration])
    delivered = sum(len(times) for times in e2e.values())
    arrivals_in_window = sum(
        1
        for side in (system.far.slack, system.far.genesys)
        for r in side.records
        if r[4] and start_epoch + spec.duration * 0.25 <= r[3] <= sent_end
    )
    result: dict[str, Any] = {
        "name": spec.name,
        "offered": {
            "to_genesys_per_s": spec.to_genesys_rate,
            "to_slack_per_s": spec.to_slack_rate,
            "duration_s": spec.duration,
            "conversations": spec.conversations,
            "good_messages": good_count,
            "bad_messages": len(bad),
        },
        "ack": {
            "slack": summarize(slack_lat).as_json() | {"no_answer_in_3s": slack_timeouts},
            "genesys": summarize(genesys_lat).as_json() | {"no_answer_in_time": genesys_timeouts},
            "first_attempt_not_2xx": sum(
                1
                for o in outcomes
                if o.planned.bad is None
                and (o.first_status is None or not 200 <= o.first_status < 300)
            ),
        },
        "e2e": {d: summarize(v).as_json() for d, v in e2e.items()},
        "bad_load": {
            "sent": len(bad),
            "rejected_401": bad_statuses.get("401", 0),
            "accepted": bad_accepted,
            "statuses": dict(bad_statuses),
        },
        "correctness": {d: v.as_json() for d, v in verdicts.items()},
        "overload": spec.overload,
        "ok": all(_ok(v, spec.overload) for v in verdicts.values()) and not bad_accepted,
        "delivered": delivered,
        "delivered_per_s_in_window": round(arrivals_in_window / (spec.duration * 0.75), 1),
        "offered_good_per_s": round(good_count / spec.duration, 1),
        "backlog": {
            "max_pending": max((b for _, b in backlog), default=0),
            "slope_per_s": None if growth is None else round(growth, 2),
            "samples_in_window": len(window),
        },
        "drain_s": round(drain_seconds, 1),
        "drained": drained,
        "dead_letters": await system.meter.dead(),
        "upstream": {
            "slack_calls": _counter_delta(counters_after["slack"], counters_before["slack"]),
            "genesys_calls": _counter_delta(counters_after["genesys"], counters_before["genesys"]),
            "genesys_token_grants": sum(stats_after["token_grants"].values())
            - sum(stats_before["token_grants"].values()),
            "genesys_rate_limited": stats_after["rate_limited"] - stats_before["rate_limited"],
        },
        "memory": system.memory_between(start_epoch, time.time()),
        "cpu_ms_per_message": _cpu_per_message(
            system.memory_between(start_epoch, time.time()),
            delivered,
            postgres=_spent(postgres_before, system.database.cpu_seconds()),
        ),
        "crashes": [c for c in system.crashes if c["at"] >= start_epoch],
        "windows": [
            [round(w.start - start_epoch, 2), round(w.end - start_epoch, 2)] for w in windows
        ],
        "started_at": start_epoch,
    }
    await system.far.trim()
    return result
