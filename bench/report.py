"""The results as JSON, as a readable report, and the verdict the exit code carries.

Targets are reported, never asserted: a slow machine must not fail CI. Only correctness
fails a run: a message lost, duplicated (beyond what at-least-once delivery explains after a
crash), or delivered out of order, or bad load that was not refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs"
BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"
# Issue 12's targets, all measured on the benchmark's machine with web and worker on one core.
ACK_P99_TARGET_MS = 50.0
ACK_TARGET_RATE = 800  # Slack events per second offered
INGEST_RATIO_TARGET = 0.60
WEB_CPU_TARGET_MS = 0.5  # per ingest request
WORKER_CPU_TARGET_MS = 2.5  # per delivered message
SUSTAINED_TARGET = 300.0  # messages per second, both ways together
ROWS_TARGET = 4.0  # rows written per message
WAL_TARGET_BYTES = 3000  # WAL per message
RSS_TARGET_MB = 150.0


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value}{unit}"


def correctness_failures(results: dict[str, Any]) -> list[str]:
    failures = []
    for name, phase in results.get("phases", {}).items():
        if "skipped" in phase or phase.get("ok", True):
            continue
        parts = []
        for direction, verdict in phase["correctness"].items():
            lost = verdict["lost"] - (verdict["never_acked"] if phase.get("overload") else 0)
            if lost:
                parts.append(f"{direction} lost={lost}")
            for field in ("unexplained_duplicates", "out_of_order"):
                if verdict[field]:
                    parts.append(f"{direction} {field}={verdict[field]}")
        bad = phase["bad_load"]
        if bad.get("accepted"):
            parts.append(f"bad load accepted {bad['accepted']} times: {bad['statuses']}")
        if parts:
            failures.append(f"{name}: " + ", ".join(parts))
    return failures


def exit_code(results: dict[str, Any]) -> int:
    return 1 if correctness_failures(results) else 0


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of issue 12's targets that this run measured, met or not, with its margin."""
    rows: list[dict[str, Any]] = []
    phases = results.get("phases", {})
    ack_phase = next(
        (name for name in (f"ack-{ACK_TARGET_RATE}", "ack-200", "steady") if name in phases), None
    )
    if ack_phase is not None and "skipped" not in phases[ack_phase]:
        p99 = phases[ack_phase]["ack"]["slack"]["p99_ms"]
        offered = phases[ack_phase]["offered"]["to_genesys_per_s"]
        rows.append(
            _target(
                f"Slack ack p99 at {offered:g} events/s",
                f"< {ACK_P99_TARGET_MS:g} ms at {ACK_TARGET_RATE}/s",
                p99,
                p99 is not None and p99 < ACK_P99_TARGET_MS,
                None if p99 is None else f"{p99 - ACK_P99_TARGET_MS:+.1f} ms",
            )
        )
    ingest = results.get("ingest")
    if ingest:
        ratio = ingest["ratio_to_floor"]
        rows.append(
            _target(
                "Ingest throughput / floor",
                f">= {INGEST_RATIO_TARGET:.0%}",
                f"{ratio:.0%}",
                ratio >= INGEST_RATIO_TARGET,
                f"{(ratio - INGEST_RATIO_TARGET) * 100:+.0f} points",
            )
        )
        web_ms = ingest.get("web_cpu_ms_per_request")
        if web_ms is not None:
            rows.append(
                _limit("Web CPU per ingest request (probe)", web_ms, WEB_CPU_TARGET_MS, " ms")
            )
    steady = phases.get("steady")
    if steady and "skipped" not in steady:
        worker_ms = steady.get("cpu_ms_per_message", {}).get("worker")
        if worker_ms is not None:
            rows.append(
                _limit("Worker CPU per message (steady)", worker_ms, WORKER_CPU_TARGET_MS, " ms")
            )
        grants = steady.get("upstream", {}).get("genesys_token_grants")
        if grants is not None:
            rows.append(_limit("Genesys token grants (steady)", grants, 0, ""))
    sustained = results.get("throughput", {}).get("sustained_per_s")
    if sustained is not None:
        rows.append(
            _target(
                "Highest sustained rate, both ways",
                f">= {SUSTAINED_TARGET:g} msg/s",
                f"{sustained:g} msg/s",
                sustained >= SUSTAINED_TARGET,
                f"{sustained - SUSTAINED_TARGET:+g} msg/s",
            )
        )
    cost = results.get("postgres_cost", {}).get("steady")
    if cost:
        rows.append(
            _limit("Rows written per message", cost["rows_written_per_message"], ROWS_TARGET, "")
        )
        rows.append(
            _limit("WAL per message", cost["wal_bytes_per_message"], WAL_TARGET_BYTES, " B")
        )
    for name, memory in results.get("memory_overall", {}).items():
        peak = memory["peak_mb"]
        rows.append(
            _target(
                f"Peak RSS {name}",
                f"< {RSS_TARGET_MB:g} MB",
                f"{peak:.0f} MB",
                peak < RSS_TARGET_MB,
                f"{peak - RSS_TARGET_MB:+.0f} MB",
            )
        )
    failures = correctness_failures(results)
    rows.append(
        _target(
            "Lost / duplicated / out of order, every phase",
            "0",
            "0" if not failures else "; ".join(failures),
            not failures,
            None,
        )
    )
    return rows


def _limit(name: str, value: float, limit: float, unit: str) -> dict[str, Any]:
    """A target that is a ceiling: met at or under `limit`."""
    return _target(
        name, f"<= {limit:g}{unit}", f"{value:g}{unit}", value <= limit, f"{value - limit:+g}{unit}"
    )


def _target(name: str, target: str, value: Any, met: bool, margin: str | None) -> dict[str, Any]:
    return {"name": name, "target": target, "value": value, "met": met, "margin": margin}


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _per_message(phase: dict[str, Any]) -> list[list[Any]]:
    up = phase["upstream"]
    to_genesys = phase["correctness"]["to_genesys"]["delivered"] or 1
    to_slack = phase["correctness"]["to_slack"]["delivered"] or 1
    total = to_genesys + to_slack
    genesys, slack = up["genesys_calls"], up["slack_calls"]

    def calls(counter: dict[str, int], route: str) -> int:
        return sum(v for k, v in counter.items() if k.split(" ")[0] == route)

    def status(counter: dict[str, int], prefix: str) -> int:
        return sum(v for k, v in counter.items() if k.split(" ")[1].startswith(prefix))

    return [
        [
            "Genesys token grants",
            up["genesys_token_grants"],
            round(up["genesys_token_grants"] / total, 4),
        ],
        [
            "Genesys inbound message calls",
            calls(genesys, "inbound.message"),
            round(calls(genesys, "inbound.message") / to_genesys, 3),
        ],
        [
            "Genesys receipt calls",
            calls(genesys, "inbound.receipt"),
            round(calls(genesys, "inbound.receipt") / to_slack, 3),
        ],
        [
            "Slack chat.postMessage calls",
            calls(slack, "chat.postMessage"),
            round(calls(slack, "chat.postMessage") / to_slack, 3),
        ],
        [
            "Slack lookups (users.info, conversations.info, getPermalink)",
            sum(calls(slack, m) for m in ("users.info", "conversations.info", "chat.getPermalink")),
            None,
        ],
        [
            "Slack reactions.add",
            calls(slack, "reactions.add"),
            round(calls(slack, "reactions.add") / to_genesys, 3),
        ],
        ["429s received (Genesys + Slack)", status(genesys, "429") + status(slack, "429"), None],
        ["5xx received (Genesys + Slack)", status(genesys, "5") + status(slack, "5"), None],
    ]


def _phase_at(results: dict[str, Any], at: float) -> str:
    name = "-"
    for phase_name, phase in results.get("phases", {}).items():
        if phase.get("started_at", float("inf")) <= at:
            name = phase_name
    return name


def _verdict_cell(c: dict[str, dict[str, int]]) -> str:
    def both(field: str) -> int:
        return c["to_genesys"][field] + c["to_slack"][field]

    return (
        f"{both('lost')}/{both('unexplained_duplicates')}"
        f"({both('explained_duplicates')})/{both('out_of_order')}"
    )


def render_markdown(results: dict[str, Any]) -> str:
    out: list[str] = [
        f"Mode: **{results['mode']}**, wall time {results.get('wall_seconds')} s.",
        "",
    ]
    machine = results.get("machine", {})
    out += ["**Machine.** " + ", ".join(f"{k}: {v}" for k, v in machine.items()), ""]
    out += ["### Targets", ""]
    out += _table(
        ["Target", "Goal", "Measured", "Met", "Margin"],
        [
            [t["name"], t["target"], t["value"], "yes" if t["met"] else "**no**", t["margin"]]
            for t in targets(results)
        ],
    )
    phases = results.get("phases", {})
    out += ["### Phases", ""]
    rows = []
    for name, p in phases.items():
        if "skipped" in p:
            rows.append([name, "skipped: " + p["skipped"]] + [None] * 13)
            continue
        c = p["correctness"]
        rows.append(
            [
                name,
                f"{p['offered']['to_genesys_per_s']:g}+{p['offered']['to_slack_per_s']:g}",
                p["ack"]["slack"]["p50_ms"],
                p["ack"]["slack"]["p99_ms"],
                p["ack"]["slack"]["p99_9_ms"],
                p["ack"]["genesys"]["p99_ms"],
                p["e2e"]["to_genesys"]["p50_ms"],
                p["e2e"]["to_genesys"]["p99_ms"],
                p["e2e"]["to_slack"]["p50_ms"],
                p["e2e"]["to_slack"]["p99_ms"],
                _verdict_cell(c),
                c["to_genesys"]["never_acked"] + c["to_slack"]["never_acked"],
                f"{p['bad_load']['rejected_401']}/{p['bad_load']['sent']}",
                p["drain_s"],
                " / ".join(f"{v:g}" for v in p.get("cpu_ms_per_message", {}).values()),
            ]
        )
    out += _table(
        [
            "Phase",
            "Offered msg/s (Slack+Genesys)",
            "Slack ack p50 ms",
            "p99",
            "p99.9",
            "Webhook ack p99",
            "S→G e2e p50",
            "p99",
            "G→S e2e p50",
            "p99",
            "Lost/dup(explained)/disorder",
            "Never acked",
            "Bad load 401s",
            "Drain s",
            "CPU ms/msg web / worker / Postgres",
        ],
        rows,
    )
    if "steady" in phases:
        out += ["### Upstream calls in the steady run", ""]
        out += _table(["Call", "Count", "Per message"], _per_message(phases["steady"]))
    cost = results.get("postgres_cost", {}).get("steady")
    if cost:
        out += ["### Postgres cost per bridged message (steady run)", ""]
        out += _table(
            ["Rows written", "WAL bytes", "Relation growth bytes"],
            [
                [
                    cost["rows_written_per_message"],
                    cost["wal_bytes_per_message"],
                    cost["relation_bytes_per_message"],
                ]
            ],
        )
        out += [
            "Rows by table: "
            + ", ".join(f"{k} {v}" for k, v in cost["rows_written_by_table"].items()),
            "",
        ]
    if "floor" in results:
        ingest = results.get("ingest", {})
        out += ["### Peak ingest (closed loop, 32 connections)", ""]
        out += _table(
            ["Server", "Events/s", "p50 ms", "p99 ms", "Statuses"],
            [
                [
                    "floor",
                    results["floor"]["per_second"],
                    results["floor"]["latency"]["p50_ms"],
                    results["floor"]["latency"]["p99_ms"],
                    results["floor"]["statuses"],
                ],
                [
                    "app web",
                    ingest.get("per_second"),
                    ingest.get("latency", {}).get("p50_ms"),
                    ingest.get("latency", {}).get("p99_ms"),
                    ingest.get("statuses"),
                ],
            ],
        )
        if results["floor"].get("exhausted_corpus") or ingest.get("exhausted_corpus"):
            out += ["The pre-signed corpus ran out: that rate is a lower bound.", ""]
    if "throughput" in results:
        out += ["### Sustained rate search", ""]
        out += _table(
            ["Offered msg/s", "Passed", "Why not"],
            [
                [s["offered_per_s"], s["passed"], "; ".join(s["why_not"])]
                for s in results["throughput"]["steps"]
            ],
        )
        out += [
            "Highest sustained bridged rate: "
            f"**{results['throughput']['sustained_per_s']:g} msg/s**.",
            "",
        ]
    if "scale" in results:
        out += ["### Tenant count", ""]
        scale_rows = [
            [
                s["tenants"],
                s["cost"]["rows_written_per_message"],
                s["cost"]["wal_bytes_per_message"],
                s["cost"]["relation_bytes_per_message"],
                s["ack_slack"]["p50_ms"],
                s["ack_slack"]["p99_ms"],
                s["e2e"]["to_genesys"]["p99_ms"],
                s["e2e"]["to_slack"]["p99_ms"],
            ]
            for s in results["scale"].values()
        ]
        if cost:
            steady = phases["steady"]
            scale_rows.insert(
                0,
                [
                    2,
                    cost["rows_written_per_message"],
                    cost["wal_bytes_per_message"],
                    cost["relation_bytes_per_message"],
                    steady["ack"]["slack"]["p50_ms"],
                    steady["ack"]["slack"]["p99_ms"],
                    steady["e2e"]["to_genesys"]["p99_ms"],
                    steady["e2e"]["to_slack"]["p99_ms"],
                ],
            )
        out += _table(
            [
                "Tenants",
                "Rows/msg",
                "WAL B/msg",
                "Growth B/msg",
                "Ack p50 ms",
                "Ack p99 ms",
                "S→G p99 ms",
                "G→S p99 ms",
            ],
            scale_rows,
        )
    if results.get("memory_overall"):
        out += ["### Memory (VmRSS from /proc)", ""]
        steady_memory = phases.get("steady", {}).get("memory", {})
        out += _table(
            ["Process", "Steady MB (steady run median)", "Peak MB (VmHWM)"],
            [
                [n, steady_memory.get(n, {}).get("steady_mb"), m["peak_mb"]]
                for n, m in results["memory_overall"].items()
            ],
        )
    if results.get("crashes"):
        out += ["### Processes that exited on their own (restarted by the harness)", ""]
        out += _table(
            ["Process", "Phase", "Exit code", "Last error logged"],
            [
                [c["process"], _phase_at(results, c["at"]), c["exit_code"], c["last_error"][:300]]
                for c in results["crashes"]
            ],
        )
    return "\n".join(out)


def write_outputs(results: dict[str, Any], out: Path, *, write_docs: bool) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    markdown = render_markdown(results)
    (out / "report.md").write_text(markdown + "\n")
    # matplotlib only here: importing the bench (or `--quick` start-up) never loads it.
    from bench.plot import render

    render(results, out / "latency.png")
    print(markdown, flush=True)
    if write_docs:
        doc = DOCS / "benchmarks.md"
        text = doc.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            doc.write_text(f"{head}{BEGIN}\n{markdown}\n{END}{tail}")
        shutil.copyfile(out / "latency.png", DOCS / "benchmarks-latency.png")
