"""The app under test as real processes, the way the Procfile runs it: web and worker.

Every web process serves the same listening socket, which this module binds once and hands
to each `uvicorn --fd` child, as a process manager (or Heroku's router) would. So N web
processes share one URL, a web restart never frees the port, and a request that arrives
while no web process is up waits in the backlog until the sender's own timeout, as it would
behind a router. Workers are `python -m app worker`. Each child writes to its own log file,
which failures quote.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from app.sandbox.slack_world import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_SIGNING_SECRET,
)
from tests.factories import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
# The same keys the test process uses for `Onboarding`, so both sides read each other's rows.
ENCRYPTION_KEYS = f"k1:{TEST_KEY}"
SESSION_SECRET = "e2e-session-secret-" + "s" * 32
WEB_READY_LINE = "Application startup complete"
WORKER_READY_LINE = "Starting worker on"
START_TIMEOUT_SECONDS = 30.0
SUPERVISE_SECONDS = 0.2

Kind = Literal["web", "worker"]


def app_environment(
    *, database_url: str, base_url: str, slack_url: str, genesys_url: str
) -> dict[str, str]:
    """What `config.Settings` reads, pointing the app at the simulators and the test DB."""
    return {
        "DATABASE_URL": database_url,
        "BASE_URL": base_url,
        "ENCRYPTION_KEYS": ENCRYPTION_KEYS,
        "SESSION_SECRET": SESSION_SECRET,
        "SLACK_CLIENT_ID": SANDBOX_CLIENT_ID,
        "SLACK_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SANDBOX_SIGNING_SECRET,
        "SLACK_API_URL": f"{slack_url}/api/",
        "SLACK_AUTHORIZE_URL": f"{slack_url}/oauth/v2/authorize",
        "SLACK_OPENID_AUTHORIZE_URL": f"{slack_url}/openid/connect/authorize",
        "GENESYS_API_URL": genesys_url,
        "GENESYS_LOGIN_URL": genesys_url,
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class AppProcess:
    kind: Kind
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    expected_exit: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 12, width: int = 400) -> str:
        return "\n".join(line[:width] for line in self.log().splitlines()[-lines:])

    def kill(self) -> None:
        """`kill -9`: no shutdown, no lease release, no unregistering; the DB sees a ghost."""
        self.expected_exit = True
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, as a deploy or `heroku ps:restart` sends, then SIGKILL if it hangs."""
        self.expected_exit = True
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)


def describe_crashes(processes: list[AppProcess]) -> str:
    return "app processes exited on their own:\n" + "\n\n".join(
        f"{p.name} (exit {p.popen.returncode}):\n{p.tail()}" for p in processes
    )


@dataclass
class Formation:
    """N web and M worker processes of one app; the name is Heroku's for that set."""

    env: Mapping[str, str]
    log_dir: Path
    listener: socket.socket
    processes: list[AppProcess] = field(default_factory=list)
    crashes: list[AppProcess] = field(default_factory=list)
    reported: list[AppProcess] = field(default_factory=list)
    _counter: int = 0

    @classmethod
    def bind(cls, log_dir: Path) -> tuple[socket.socket, str]:
        """The shared socket and the base URL it answers on; bind before building the env."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        log_dir.mkdir(parents=True, exist_ok=True)
        return listener, f"http://localhost:{listener.getsockname()[1]}"

    @property
    def webs(self) -> list[AppProcess]:
        return [p for p in self.processes if p.kind == "web" and p.alive()]

    @property
    def workers(self) -> list[AppProcess]:
        return [p for p in self.processes if p.kind == "worker" and p.alive()]

    def _spawn(self, kind: Kind, argv: list[str], pass_fds: tuple[int, ...] = ()) -> AppProcess:
        self._counter += 1
        name = f"{kind}.{self._counter}"
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,
            )
        process = AppProcess(kind, name, popen, log_path)
        self.processes.append(process)
        return process

    def spawn_web(self) -> AppProcess:
        fd = self.listener.fileno()
        argv = [PYTHON, "-m", "uvicorn", "--factory", "app.main:asgi", "--fd", str(fd)]
        return self._spawn(
            "web", [*argv, "--no-access-log", "--timeout-graceful-shutdown", "5"], (fd,)
        )

    def spawn_worker(self) -> AppProcess:
        return self._spawn("worker", [PYTHON, "-m", "app", "worker"])

    @property
    def url(self) -> str:
        return str(self.env["BASE_URL"])

    async def start(self, *, webs: int = 1, workers: int = 1) -> None:
        started = [self.spawn_web() for _ in range(webs)]
        started += [self.spawn_worker() for _ in range(workers)]
        await asyncio.gather(*(self.ready(p) for p in started))
        await self.readyz()

    async def readyz(self) -> None:
        """`/readyz` answers 200 once a web process is up and reaches the database."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.url}/readyz never answered 200")
                await asyncio.sleep(0.05)

    async def ready(self, process: AppProcess) -> None:
        line = WEB_READY_LINE if process.kind == "web" else WORKER_READY_LINE
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while line not in process.log():
            if not process.alive():
                raise RuntimeError(f"{process.name} exited during start-up:\n{process.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{process.name} not ready in time:\n{process.tail()}")
            await asyncio.sleep(0.05)

    async def add_worker(self) -> AppProcess:
        process = self.spawn_worker()
        await self.ready(process)
        return process

    async def restart_web(self, process: AppProcess) -> AppProcess:
        """Stop one web process gracefully and start its replacement on the same socket."""
        process.stop()
        replacement = self.spawn_web()
        await self.ready(replacement)
        await self.readyz()
        return replacement

    def crashed(self) -> list[AppProcess]:
        """Processes that exited without being asked to, not yet reported."""
        return [
            p
            for p in self.processes
            if not p.alive() and not p.expected_exit and p not in self.reported
        ]

    async def supervise(self) -> None:
        """Restart whatever exits on its own, as the platform does with a crashed dyno.

        Runs until cancelled. Each exit is remembered in `crashes`, for the tests to report:
        a restart keeps the system going, it does not make a crash acceptable.
        """
        while True:
            for process in list(self.processes):
                if process.alive() or process.expected_exit or process in self.crashes:
                    continue
                self.crashes.append(process)
                replacement = self.spawn_web() if process.kind == "web" else self.spawn_worker()
                with contextlib.suppress(RuntimeError):  # a crash loop shows up as crashes
                    await self.ready(replacement)
            await asyncio.sleep(SUPERVISE_SECONDS)

    def check_alive(self) -> None:
        """Fail loudly if a process died on its own (a crash the test did not cause)."""
        dead = self.crashed()
        self.reported.extend(dead)  # reported once, not again by every later test
        if dead:
            raise AssertionError(describe_crashes(dead))

    def stop(self) -> None:
        for process in self.processes:
            if process.alive():
                process.expected_exit = True
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.stop(timeout=30.0)
        self.listener.close()
