"""`python -m devkit dev` (`make dev`): the whole product on one machine, as a newcomer sees it.

Starts (each only when needed) a private Postgres under `.data/`, the Slack and Genesys
simulators, then migrates and runs the web app and the worker as separate processes, as in
production. Ctrl-C stops every child and the database cleanly.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx

from app.config import LauncherSettings, child_environment
from app.crypto import generate_key
from devkit.cluster import LocalCluster, PostgresNotInstalled, prepare_cluster
from devkit.harness.environment import simulator_environment

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"


LOCK_FILE = "dev.lock"
# Read by the admin commands (`python -m app …`, see `app.config.load_settings`).
DEV_ENV_FILE = "dev.env"
# What the simulators remember across restarts (`sandbox.snapshot`).
SANDBOX_STATE_FILE = "sandbox-state.json"
# The queue logs every periodic job it defers, starts and finishes at INFO; in the dev console
# those lines drown what a person is watching for, so they show only with LOG_LEVEL=DEBUG.
QUIET_LOGGERS = ("procrastinate",)
WORKER_STARTED = "Starting worker"


class AlreadyRunning(Exception):
    """Another launcher owns this folder, or something else answers on our ports."""


def _hold_folder(data: Path) -> IO[str]:
    """An exclusive lock on `data/dev.lock`, held (by the open file) for the process's life.

    The kernel drops it when the launcher exits however it dies, so a stale lock file never
    blocks the next run; children do not inherit it (Popen closes other descriptors).
    """
    data.mkdir(parents=True, exist_ok=True)
    handle = (data / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(
            f"Switchboard is already running from this folder (launcher pid {owner}). "
            "Use that one, or stop it with Ctrl-C first."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _orphaned_postmaster(pgdata: Path) -> int | None:
    """The pid of a Postgres still running on `pgdata`, from `postmaster.pid`, if alive.

    Called only while holding the folder's lock, so no live launcher owns that server: it was
    left by one that was killed, and stopping it is safe.
    """
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, owned by `postgres`
        return pid
    return pid


def _ports_free(ports: list[int]) -> None:
    for port in ports:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise AlreadyRunning(
                    f"Port {port} is already in use (another Switchboard, perhaps from another "
                    "folder). Stop it, or set PORT, SANDBOX_SLACK_PORT and SANDBOX_GENESYS_PORT."
                )


def _dev_secrets(data: Path) -> dict[str, str]:
    """Keys for local use only, created once and kept in `.data/` so restarts can decrypt."""
    path = data / "dev-secrets.json"
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    data.mkdir(exist_ok=True)
    values = {
        "ENCRYPTION_KEYS": f"dev1:{generate_key()}",
        "SESSION_SECRET": secrets.token_urlsafe(48),
    }
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def _write_dev_env(data: Path, env: dict[str, str]) -> None:
    """The settings this launcher gives its children, for admin commands run beside it."""
    lines = [f"{name}={json.dumps(value)}" for name, value in sorted(env.items())]
    path = data / DEV_ENV_FILE
    path.touch(mode=0o600)
    path.chmod(0o600)  # it holds the dev keys and the database URL
    path.write_text("# Written by `make dev`; read by `python -m app …` in this checkout.\n")
    with path.open("a") as handle:
        handle.write("\n".join(lines) + "\n")


def _quiet(line: str) -> bool:
    """A queue INFO/DEBUG line (JSON, from `app.logs`) the dev console leaves out."""
    if not line.startswith("{"):
        return False
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    return (
        isinstance(entry, dict)
        and str(entry.get("logger", "")).startswith(QUIET_LOGGERS)
        and entry.get("level") in ("info", "debug")
    )


class _Relay:
    """Copies a child's output to ours, leaving the queue's chatter out unless debugging, and
    notes when the worker has started (the launcher's banner waits for it)."""

    def __init__(self, child: subprocess.Popen[bytes], *, verbose: bool) -> None:
        self.started = threading.Event()
        self._child = child
        self._verbose = verbose
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._child.stdout is not None
        for raw in self._child.stdout:
            line = raw.decode(errors="replace")
            if WORKER_STARTED in line:
                self.started.set()
            if self._verbose or not _quiet(line):
                sys.stdout.write(line)
                sys.stdout.flush()

    def join(self) -> None:
        self._thread.join(timeout=5)


def _sandbox_env(launcher: LauncherSettings) -> dict[str, str]:
    slack = f"http://localhost:{launcher.sandbox_slack_port}"
    genesys = f"http://localhost:{launcher.sandbox_genesys_port}"
    return {
        **simulator_environment(slack_url=slack, genesys_url=genesys, regional=True),
        "SANDBOX_SLACK_URL": slack,
        "SANDBOX_GENESYS_URL": genesys,
    }


def _wait_http(url: str, children: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise RuntimeError("a process exited during start-up; see its output above")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _wait_event(
    event: threading.Event, what: str, children: list[subprocess.Popen[bytes]], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while not event.wait(0.2):
        if any(child.poll() is not None for child in children):
            raise RuntimeError("a process exited during start-up; see its output above")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in children:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.wait(remaining)
        except subprocess.TimeoutExpired:
            child.kill()


# Set by the signal handlers: a child that exits because the same Ctrl-C reached it first is
# part of stopping, not a crash.
_STOP_REQUESTED = threading.Event()


def _interrupt_on_sigterm() -> None:
    """A SIGTERM (from a supervisor or `timeout`) must stop the children too, like Ctrl-C.

    SIGINT gets the same handler explicitly: a launcher started from a script or CI job can
    inherit SIGINT as ignored, and then only its children would obey Ctrl-C."""

    def handler(signum: int, frame: object) -> None:
        _STOP_REQUESTED.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_dev(launcher: LauncherSettings, *, data: Path | None = None) -> int:
    """`data` is the folder of this checkout's private state; `.data/` unless a test says."""
    data = (data or DATA).resolve()
    sandbox = not launcher.slack_client_id
    ports = [launcher.port]
    if sandbox:
        ports += [launcher.sandbox_slack_port, launcher.sandbox_genesys_port]
    try:
        folder_lock = _hold_folder(data)
        _ports_free(ports)
    except AlreadyRunning as exc:
        print(exc, file=sys.stderr)
        return 3
    with contextlib.closing(folder_lock):
        return _run_locked(launcher, data=data, sandbox=sandbox)


def _run_locked(launcher: LauncherSettings, *, data: Path, sandbox: bool) -> int:
    _interrupt_on_sigterm()
    env: dict[str, str] = {"BASE_URL": f"http://localhost:{launcher.port}"}
    env.update(_dev_secrets(data))
    cluster: LocalCluster | None = None
    if launcher.database_url is None:
        try:
            cluster = prepare_cluster(data / "postgres", pg_bin_hint=launcher.pg_bin)
        except PostgresNotInstalled as exc:
            print(exc, file=sys.stderr)
            return 2
        orphan = _orphaned_postmaster(cluster.data_dir / "pgdata")
        if orphan is not None:
            print(
                f"Stopping the database (pid {orphan}) left running by an earlier launcher "
                "that did not exit cleanly.",
                file=sys.stderr,
            )
            cluster.stop("immediate")
        cluster.start()
        cluster.create_database("switchboard")
        env["DATABASE_URL"] = cluster.url("switchboard")
    if sandbox:
        env.update(_sandbox_env(launcher))
    child_env = child_environment(env)
    _write_dev_env(data, env)
    python = sys.executable
    children: list[subprocess.Popen[bytes]] = []
    relay: _Relay | None = None
    try:
        subprocess.run(
            [python, "-m", "alembic", "upgrade", "head"], env=child_env, check=True, cwd=ROOT
        )
        if sandbox:
            children.append(
                subprocess.Popen(
                    [
                        python,
                        "-m",
                        "devkit",
                        "sandbox",
                        "--slack-port",
                        str(launcher.sandbox_slack_port),
                        "--genesys-port",
                        str(launcher.sandbox_genesys_port),
                        "--events-url",
                        f"http://localhost:{launcher.port}/slack/events",
                        "--state",
                        str(data / SANDBOX_STATE_FILE),
                    ],
                    env=child_env,
                    cwd=ROOT,
                )
            )
        children.append(
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "app.main:asgi",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(launcher.port),
                    "--proxy-headers",
                    "--no-access-log",
                ],
                env=child_env,
                cwd=ROOT,
            )
        )
        worker = subprocess.Popen(
            [python, "-m", "app", "worker"],
            env=child_env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        children.append(worker)
        relay = _Relay(worker, verbose=launcher.log_level.upper() == "DEBUG")
        _wait_http(f"http://localhost:{launcher.port}/healthz", children)
        if sandbox:
            for port in (launcher.sandbox_slack_port, launcher.sandbox_genesys_port):
                _wait_http(f"http://localhost:{port}/", children)
        _wait_event(relay.started, "the worker", children)
        lines = [
            "",
            "Switchboard is running.",
            f"  Product:        http://localhost:{launcher.port}",
            f"  Health:         http://localhost:{launcher.port}/healthz",
        ]
        if sandbox:
            lines += [
                f"  Simulated Slack:    http://localhost:{launcher.sandbox_slack_port}",
                f"  Genesys agent desk: http://localhost:{launcher.sandbox_genesys_port}",
                "  (sandbox mode: no SLACK_CLIENT_ID set, so Slack and Genesys are simulated)",
            ]
        lines.append("Press Ctrl-C to stop.")
        print("\n".join(lines), flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        # Ctrl-C reaches the whole process group at once; give our own handler a moment.
        if _STOP_REQUESTED.wait(1.0):
            print("\nStopping…", flush=True)
            return 0
        print("A process exited; stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping…", flush=True)
        return 0
    finally:
        _stop(children)
        if relay is not None:
            relay.join()
        if cluster is not None:
            cluster.stop()
