"""Rendering and the exit code of bench.report: correctness fails a run, speed never."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.plans import step_passed
from bench.report import exit_code, render_markdown, targets, write_outputs
from bench.stats import summarize
from devkit.harness.ledger import Verdict


def phase(*, lost: int = 0, p99: float = 0.02, bad_answered: int = 401) -> dict[str, Any]:
    verdict = Verdict(expected=10, delivered=10 - lost, lost=lost).as_json()
    ack = summarize([0.005] * 50 + [p99] * 2).as_json()
    e2e = summarize([0.05] * 10).as_json()
    return {
        "name": "steady",
        "offered": {"to_genesys_per_s": 200, "to_slack_per_s": 0},
        "ack": {"slack": ack, "genesys": ack, "first_attempt_not_2xx": 0},
        "e2e": {"to_genesys": e2e, "to_slack": e2e},
        "bad_load": {
            "sent": 2,
            "rejected_401": 2 if bad_answered == 401 else 0,
            "accepted": 2 if bad_answered < 300 else 0,
            "statuses": {str(bad_answered): 2},
        },
        "correctness": {"to_genesys": verdict, "to_slack": Verdict().as_json()},
        "ok": lost == 0 and bad_answered >= 300,
        "drain_s": 1.0,
        "upstream": {
            "slack_calls": {"chat.postMessage 200": 10, "users.info 200": 1},
            "genesys_calls": {"inbound.message 200": 10, "inbound.receipt 200": 10},
            "genesys_token_grants": 1,
            "genesys_rate_limited": 0,
        },
        "memory": {"web.1": {"steady_mb": 90.0, "peak_mb": 95.0, "cpu_s": 1.0}},
        "cpu_ms_per_message": {"web": 2.0, "worker": 9.0},
    }


def results(**phases: dict[str, Any]) -> dict[str, Any]:
    return {
        "mode": "quick",
        "wall_seconds": 100.0,
        "machine": {"nproc": 2},
        "phases": phases,
        "memory_overall": {"web.1": {"peak_mb": 160.0, "steady_mb": 120.0, "cpu_s": 1.0}},
        "floor": {"per_second": 1000.0, "latency": {"p50_ms": 1.0, "p99_ms": 2.0}, "statuses": {}},
        "ingest": {"per_second": 500.0, "ratio_to_floor": 0.5, "latency": {}, "statuses": {}},
    }


def test_slow_but_correct_runs_pass_and_misses_say_by_how_much() -> None:
    slow = results(**{"ack-200": phase(p99=0.5)})
    assert exit_code(slow) == 0
    rows = {row["name"]: row for row in targets(slow)}
    ack = rows["Slack ack p99 at 200 events/s"]
    assert not ack["met"] and ack["margin"].startswith("+")
    assert not rows["Ingest throughput / floor"]["met"]
    assert not rows["Peak RSS web.1"]["met"] and rows["Peak RSS web.1"]["margin"] == "+10 MB"


def test_a_lost_message_fails_the_run_and_is_named() -> None:
    broken = results(steady=phase(lost=1))
    assert exit_code(broken) == 1
    assert "to_genesys lost=1" in render_markdown(broken)


def test_bad_load_that_is_accepted_fails_the_run_but_a_timeout_does_not() -> None:
    assert exit_code(results(steady=phase(bad_answered=200))) == 1
    assert exit_code(results(steady=phase(bad_answered=503))) == 0


def test_senders_giving_up_under_deliberate_overload_is_reported_not_failed() -> None:
    overloaded = phase(lost=3)
    overloaded["correctness"]["to_genesys"]["never_acked"] = 3
    overloaded["overload"] = True
    assert exit_code(results(**{"ack-800": overloaded})) == 0
    overloaded["overload"] = False
    assert exit_code(results(**{"ack-800": overloaded})) == 1


def test_skipped_phases_are_shown_not_failed() -> None:
    skipped = results(**{"fault-restart_postgres": {"name": "x", "skipped": "external DB"}})
    assert exit_code(skipped) == 0
    assert "skipped: external DB" in render_markdown(skipped)


def test_outputs_are_written(tmp_path: Path) -> None:
    write_outputs(results(steady=phase()), tmp_path, write_docs=False)
    assert (tmp_path / "results.json").exists()
    assert "### Targets" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "latency.png").stat().st_size > 1000


def test_every_issue_12_target_measured_is_reported_with_its_margin() -> None:
    overload = phase(p99=0.04)
    overload["offered"]["to_genesys_per_s"] = 800
    run = results(steady=phase(), **{"ack-800": overload})
    run["ingest"]["web_cpu_ms_per_request"] = 0.4
    run["throughput"] = {"steps": [], "sustained_per_s": 150.0}
    run["postgres_cost"] = {
        "steady": {"rows_written_per_message": 4.5, "wal_bytes_per_message": 2900}
    }
    rows = {row["name"]: row for row in targets(run)}
    assert rows["Slack ack p99 at 800 events/s"]["met"]
    assert rows["Web CPU per ingest request (probe)"]["met"]
    worker = rows["Worker CPU per message (steady)"]
    assert not worker["met"] and worker["margin"] == "+6.5 ms"
    assert not rows["Genesys token grants (steady)"]["met"]
    sustained = rows["Highest sustained rate, both ways"]
    assert not sustained["met"] and sustained["margin"] == "-150 msg/s"
    assert not rows["Rows written per message"]["met"]
    assert rows["WAL per message"]["met"]


def test_a_step_is_sustained_only_with_acks_under_50_ms_and_delivery_under_1_s() -> None:
    step = phase()
    step["backlog"] = {"slope_per_s": 0.0}
    step["e2e"] = {"to_genesys": {"p99_ms": 200.0}, "to_slack": {"p99_ms": 200.0}}
    step.update(delivered_per_s_in_window=10.0, offered_good_per_s=10.0, drained=True)
    assert step_passed(step, 20) == (True, [])
    step["ack"]["slack"] = {"p99_ms": 60.0}
    step["e2e"]["to_slack"]["p99_ms"] = 1500.0
    passed, why = step_passed(step, 20)
    assert not passed
    assert why == ["slack ack p99 60.0 ms", "to_slack end-to-end p99 1500.0 ms"]
