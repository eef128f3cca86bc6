"""The latency plot: acknowledgement and end-to-end latency against offered load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _points(phases: dict[str, Any], prefix: str) -> list[tuple[float, dict[str, Any]]]:
    points = []
    for name, phase in phases.items():
        if name.startswith(prefix) and "skipped" not in phase:
            offered = phase["offered"]
            points.append((offered["to_genesys_per_s"] + offered["to_slack_per_s"], phase))
    return sorted(points, key=lambda p: p[0])


def render(results: dict[str, Any], path: Path) -> None:
    phases = results.get("phases", {})
    figure, (ack_axes, e2e_axes) = plt.subplots(1, 2, figsize=(12, 4.8))
    ack = _points(phases, "ack-") or _points(phases, "steady")
    for key, label, style in (
        ("p50_ms", "p50", "o-"),
        ("p99_ms", "p99", "s-"),
        ("p99_9_ms", "p99.9", "^-"),
    ):
        xs = [x for x, p in ack if p["ack"]["slack"][key] is not None]
        ys = [p["ack"]["slack"][key] for _, p in ack if p["ack"]["slack"][key] is not None]
        ack_axes.plot(xs, ys, style, label=f"Slack ack {label}")
    ack_axes.axhline(50, color="grey", linestyle=":", label="target p99 < 50 ms")
    ack_axes.set(xlabel="offered Slack events/s (open loop)", ylabel="ms", yscale="log")
    ack_axes.set_title("Slack event acknowledgement")
    ack_axes.legend(fontsize=8)
    e2e = _points(phases, "throughput-") or _points(phases, "steady")
    for direction, label in (("to_genesys", "Slack→Genesys"), ("to_slack", "Genesys→Slack")):
        for key, style in (("p50_ms", "o-"), ("p99_ms", "s--")):
            xs = [x for x, p in e2e if p["e2e"][direction][key] is not None]
            ys = [p["e2e"][direction][key] for _, p in e2e if p["e2e"][direction][key] is not None]
            e2e_axes.plot(xs, ys, style, label=f"{label} {key[:-3]}")
    e2e_axes.set(xlabel="offered bridged msg/s (both directions)", ylabel="ms", yscale="log")
    e2e_axes.set_title("End to end (sent → received by the far simulator)")
    e2e_axes.legend(fontsize=8)
    machine = results.get("machine", {})
    figure.suptitle(
        f"Switchboard bench ({results.get('mode')}): {machine.get('nproc')} CPU "
        f"{machine.get('cpu_model')}, Python {machine.get('python')}, PG {machine.get('postgres')}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
