"""`python -m bench`: bring the whole system up on loopback, run the plan, write the report.

Order matters for what is measured: the floor probe sits between the steady run and the
row-count snapshot because Postgres publishes an idle backend's table counters only after
about ten seconds, and the floor writes only to its own table, which is left out of the sums.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvloop

from app.config import LauncherSettings, Settings
from app.crypto import SecretBox, generate_key
from app.db.session import create_sessions
from bench import plans
from bench.database import Database, Meter, cost, migrate, provision
from bench.farends import start_far_ends
from bench.machine import describe
from bench.phases import System, run_phase
from bench.report import exit_code, write_outputs
from bench.tenants import add_bulk_tenants, onboard
from devkit.harness.environment import app_environment, settings_from
from devkit.harness.processes import Formation, Placement, UvicornApp, bind_listener
from sandbox.slack_world import SANDBOX_SIGNING_SECRET

STATS_SETTLE_SECONDS = 11.0


@dataclass(frozen=True)
class Options:
    quick: bool
    out: Path
    scenarios: tuple[str, ...] = ()
    write_docs: bool = False

    def wants(self, name: str) -> bool:
        return not self.scenarios or name in self.scenarios


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def run_bench(options: Options) -> int:
    launcher = LauncherSettings()
    placement = Placement.detect()
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "logs").mkdir(exist_ok=True)
    started = time.monotonic()
    external = launcher.database_url.get_secret_value() if launcher.database_url else None
    say("starting Postgres" + (" (fresh database on DATABASE_URL)" if external else ""))
    with provision(external=external, pg_bin_hint=launcher.pg_bin) as database:
        migrate(database.url)
        # Only this thread (and what it starts from now on) moves to the harness CPUs;
        # Postgres, already running, stays unpinned.
        placement.pin(0, placement.harness)
        results = uvloop.run(_run(options, database, placement))
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    write_outputs(results, options.out, write_docs=options.write_docs)
    say(f"done in {results['wall_seconds']} s; report in {options.out / 'report.md'}")
    return exit_code(results)


async def _run(options: Options, database: Database, placement: Placement) -> dict[str, Any]:
    plan = plans.quick() if options.quick else plans.full()
    logs = options.out / "logs"
    far = await start_far_ends(
        logs, placement, channels=plan.channels, users=plan.users, post_rate=1.0
    )
    web_listener, web_port = bind_listener()
    floor_listener, floor_port = bind_listener()
    web_url = f"http://127.0.0.1:{web_port}"
    env = app_environment(
        database_url=database.url,
        base_url=web_url,
        slack_url=far.slack.url,
        genesys_url=far.genesys.url,
        encryption_keys=f"bench1:{generate_key()}",
        session_secret=secrets.token_urlsafe(48),
    )
    apps = {
        "web": UvicornApp("app.main:asgi", web_listener),
        "floor": UvicornApp("bench.floor:asgi", floor_listener),
    }
    formation = Formation(env, logs, apps, placement)
    meter = Meter(database.url)
    results: dict[str, Any] = {"mode": "quick" if options.quick else "full", "phases": {}}
    sampler: asyncio.Task[None] | None = None
    supervisor: asyncio.Task[None] | None = None
    try:
        await meter.create_floor_table()
        say("starting web and worker processes and the simulators")
        await formation.start(webs=1, workers=1)
        settings = settings_from(env)
        tenants = await onboard(
            settings,
            create_sessions(meter.engine),
            web_url=web_url,
            channels=plan.channels,
            users=plan.users,
        )
        system = System(
            formation=formation,
            far=far,
            meter=meter,
            database=database,
            tenants=tenants,
            web_url=web_url,
            signing_secret=SANDBOX_SIGNING_SECRET,
            channels=plan.channels,
            users=plan.users,
        )
        sampler = asyncio.create_task(system.sample_memory())
        supervisor = asyncio.create_task(formation.supervise(every=0.5))
        results["machine"] = describe(await meter.server_version(), placement.describe())
        results["plan"] = plan.describe()
        await _measure(options, plan, system, database, floor_port, results, settings)
        results["crashes"] = system.crashes
        results["memory_overall"] = system.memory_between(0, time.time())
    finally:
        for task in (sampler, supervisor):
            if task is not None:
                task.cancel()
        await asyncio.to_thread(formation.stop)
        await far.close()
        await meter.close()
    return results


async def _phase(
    system: System, results: dict[str, Any], spec: Any, fault: Any = None
) -> dict[str, Any]:
    rates = f"{spec.to_genesys_rate:g}+{spec.to_slack_rate:g} msg/s"
    say(f"phase {spec.name}: {rates} for {spec.duration:g} s")
    result = await run_phase(system, spec, fault=fault)
    results["phases"][spec.name] = result
    c = result["correctness"]
    say(
        f"  ack p99 {result['ack']['slack']['p99_ms']} ms, drained in {result['drain_s']} s, "
        f"lost {c['to_genesys']['lost']}+{c['to_slack']['lost']}, ok={result['ok']}"
    )
    return result


async def _measure(
    options: Options,
    plan: plans.Plan,
    system: System,
    database: Database,
    floor_port: int,
    results: dict[str, Any],
    settings: Settings,
) -> None:
    await _phase(system, results, plan.warmup)
    if options.wants("ack"):
        for spec in plan.ack_sweep:
            await _phase(system, results, spec)
    steady = plan.steady
    fault_rate = plan.fault_rate
    if options.wants("throughput") and plan.throughput_steps:
        search = await plans.throughput_search(system, plan, _phase, results)
        results["throughput"] = search
        # Steady runs and faults at 75 % of what this machine sustains, so they measure
        # latency and recovery, not an overload.
        sustained = search["sustained_per_s"] or plan.throughput_steps[0]
        rate = max(10.0, round(0.75 * sustained / 5) * 5)
        steady = plans.steady_spec("steady", rate, plan.steady.duration)
        fault_rate = rate
    results["rates"] = {"steady_per_s": steady.to_genesys_rate * 2, "faults_per_s": fault_rate}
    if options.wants("steady"):
        floor = await plans.floor_probe(system, plan, floor_port)
        results["floor"] = floor
        results["postgres_cost"] = {"steady": await _costed(system, results, steady)}
        results["ingest"] = await plans.ingest_probe(system, plan, floor)
    if options.wants("scale") and plan.scale:
        results["scale"] = await _scale(plan, system, results, settings, steady)
    for scenario in plans.fault_scenarios(plan, database, fault_rate, options.scenarios):
        if scenario.skip:
            results["phases"][scenario.spec.name] = {
                "name": scenario.spec.name,
                "skipped": scenario.skip,
            }
            continue
        if scenario.name == "two_by_two":
            extra = [await system.formation.add("web"), await system.formation.add("worker")]
            try:
                await _phase(system, results, scenario.spec)
            finally:
                for process in extra:
                    await asyncio.to_thread(process.stop)
            continue
        await _phase(system, results, scenario.spec, scenario.fault)
        await system.far.clear_faults()


async def _costed(system: System, results: dict[str, Any], spec: Any) -> dict[str, Any]:
    """Run `spec` between two snapshots. The caller has left the counters idle for
    STATS_SETTLE_SECONDS before; the row counters are read as long after."""
    before = await system.meter.snapshot()
    result = await _phase(system, results, spec)
    after = await system.meter.snapshot()
    await asyncio.sleep(STATS_SETTLE_SECONDS)
    settled = await system.meter.snapshot()
    return cost(before, replace(after, rows=settled.rows), messages=result["delivered"])


async def _scale(
    plan: plans.Plan,
    system: System,
    results: dict[str, Any],
    settings: Settings,
    steady: Any,
) -> dict[str, Any]:
    scale: dict[str, Any] = {}
    box = SecretBox(settings.keys)
    have = len(system.tenants)
    for total in plan.scale:
        say(f"adding bulk tenants up to {total}")
        await add_bulk_tenants(system.meter.engine, box, first=have, count=total - have)
        have = total
        await asyncio.sleep(STATS_SETTLE_SECONDS)
        spec = plans.scale_spec(steady, total)
        cost_of = await _costed(system, results, spec)
        result = results["phases"][spec.name]
        scale[str(total)] = {
            "tenants": total,
            "cost": cost_of,
            "ack_slack": result["ack"]["slack"],
            "ack_genesys": result["ack"]["genesys"],
            "e2e": result["e2e"],
            "cpu_ms_per_message": result["cpu_ms_per_message"],
        }
    return scale
