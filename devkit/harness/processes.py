"""The app as real processes, launched the way the Procfile launches them: web and worker.

Every web process serves the same listening socket, which this module binds once and hands to
each `uvicorn --fd` child, as a process manager (or Heroku's router) would. So N web
processes share one URL, a web restart never frees the port, and a request that arrives while
no web process is up waits in the backlog until the sender's own timeout, as it would behind a
router. Workers are `python -m app worker`. Each child writes to its own log file, which
failures quote. The e2e tests and the benchmark both run the app through this module.

A `Placement` can pin the app's processes to some CPUs and the harness to the others (the
benchmark does, so the harness's CPU time stays out of the app's latencies).
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

import httpx

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
READY_LINES = {"worker": "Starting worker on"}
UVICORN_READY_LINE = "Application startup complete"
START_TIMEOUT_SECONDS = 60.0
GRACEFUL_SECONDS = 20  # the Procfile's --timeout-graceful-shutdown
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Placement:
    """CPUs for the app under test and for everything else; None leaves a process unpinned."""

    sut: frozenset[int] | None = None
    harness: frozenset[int] | None = None

    @classmethod
    def detect(cls) -> Placement:
        if not hasattr(os, "sched_getaffinity"):
            return cls()
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls()
        return cls(frozenset(cpus[:1]), frozenset(cpus[1:]))

    def pin(self, pid: int, cpus: frozenset[int] | None) -> None:
        if cpus is not None:
            os.sched_setaffinity(pid, cpus)

    def describe(self) -> str:
        if self.sut is None:
            return "not pinned (fewer than 2 CPUs)"
        return (
            f"app processes on CPU {sorted(self.sut)}, load generator and simulators on "
            f"CPU {sorted(self.harness or [])}, Postgres unpinned"
        )


@dataclass
class AppProcess:
    kind: str  # "web", "worker", or another uvicorn app of the formation (the bench's floor)
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    expected_exit: bool = False
    exit_noticed_at: float | None = None  # epoch when `supervise` found it gone on its own

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

    def stop(self, timeout: float = GRACEFUL_SECONDS + 10) -> None:
        """SIGTERM, as a deploy or `heroku ps:restart` sends, then SIGKILL if it hangs."""
        self.expected_exit = True
        if self.alive():
            self.popen.send_signal(signal.SIGCONT)  # a paused process cannot shut down
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def cpu_seconds(self) -> float | None:
        """User + system CPU time so far, from /proc/<pid>/stat."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory_kib(self) -> tuple[int, int] | None:
        """(VmRSS, VmHWM) from /proc: resident now, and the peak the kernel recorded."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        values: dict[str, int] = {}
        for line in status.splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
        if "VmRSS" not in values:
            return None
        return values["VmRSS"], values.get("VmHWM", values["VmRSS"])


def describe_crashes(processes: list[AppProcess]) -> str:
    return "app processes exited on their own:\n" + "\n\n".join(
        f"{p.name} (exit {p.popen.returncode}):\n{p.tail()}" for p in processes
    )


def bind_listener() -> tuple[socket.socket, int]:
    """A loopback socket for uvicorn children to share, and its port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    port: int = listener.getsockname()[1]
    return listener, port


@dataclass
class UvicornApp:
    """An ASGI factory served on a socket of its own: `app.main:asgi` is the web process."""

    factory: str
    listener: socket.socket


@dataclass
class Formation:
    """N web and M worker processes of one app; the name is Heroku's for that set.

    `env` must hold `BASE_URL`, the URL of the web socket (`apps["web"]`), unless `local_url`
    says where the web socket is (a deploy whose public URL the app derives by itself).
    """

    env: Mapping[str, str]
    log_dir: Path
    apps: dict[str, UvicornApp]
    placement: Placement = field(default_factory=Placement)
    graceful_seconds: int = GRACEFUL_SECONDS
    start_timeout: float = START_TIMEOUT_SECONDS
    local_url: str | None = None
    processes: list[AppProcess] = field(default_factory=list)
    crashes: list[AppProcess] = field(default_factory=list)
    reported: list[AppProcess] = field(default_factory=list)
    _counter: int = 0

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return self.local_url or str(self.env["BASE_URL"])

    def of(self, kind: str) -> list[AppProcess]:
        return [p for p in self.processes if p.kind == kind and p.alive()]

    @property
    def webs(self) -> list[AppProcess]:
        return self.of("web")

    @property
    def workers(self) -> list[AppProcess]:
        return self.of("worker")

    def _spawn(self, kind: str, argv: list[str], pass_fds: tuple[int, ...] = ()) -> AppProcess:
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
        self.placement.pin(popen.pid, self.placement.sut)
        process = AppProcess(kind, name, popen, log_path)
        self.processes.append(process)
        return process

    def spawn(self, kind: str) -> AppProcess:
        if kind == "worker":
            return self._spawn("worker", [PYTHON, "-m", "app", "worker"])
        app = self.apps[kind]
        fd = app.listener.fileno()
        # The Procfile's web command, on the shared socket instead of a port.
        argv = [PYTHON, "-m", "uvicorn", "--factory", app.factory, "--fd", str(fd)]
        argv += ["--proxy-headers", "--forwarded-allow-ips=*", "--no-access-log"]
        argv += ["--no-server-header"]
        argv += ["--timeout-graceful-shutdown", str(self.graceful_seconds)]
        return self._spawn(kind, argv, (fd,))

    def spawn_web(self) -> AppProcess:
        return self.spawn("web")

    def spawn_worker(self) -> AppProcess:
        return self.spawn("worker")

    async def ready(self, process: AppProcess) -> None:
        line = READY_LINES.get(process.kind, UVICORN_READY_LINE)
        deadline = time.monotonic() + self.start_timeout
        while line not in process.log():
            if not process.alive():
                raise RuntimeError(f"{process.name} exited during start-up:\n{process.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{process.name} not ready in time:\n{process.tail()}")
            await asyncio.sleep(0.05)

    async def add(self, kind: str) -> AppProcess:
        """One more process of `kind`, ready."""
        process = self.spawn(kind)
        await self.ready(process)
        return process

    async def start(self, *, webs: int = 1, workers: int = 1) -> None:
        started = [self.spawn_web() for _ in range(webs)]
        started += [self.spawn_worker() for _ in range(workers)]
        await asyncio.gather(*(self.ready(p) for p in started))
        await self.readyz()

    async def readyz(self) -> None:
        """`/readyz` answers 200 once a web process is up and reaches the database."""
        deadline = time.monotonic() + self.start_timeout
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.url}/readyz never answered 200")
                await asyncio.sleep(0.05)

    async def restart_web(self, process: AppProcess) -> AppProcess:
        """Stop one web process gracefully and start its replacement on the same socket."""
        process.stop()
        replacement = await self.add("web")
        await self.readyz()
        return replacement

    def crashed(self) -> list[AppProcess]:
        """Processes that exited without being asked to, not yet reported."""
        return [
            p
            for p in self.processes
            if not p.alive() and not p.expected_exit and p not in self.reported
        ]

    async def supervise(self, *, every: float = 0.2) -> None:
        """Restart a web or worker process that exits on its own, as the platform restarts a
        crashed dyno.

        Runs until cancelled. Each exit is remembered in `crashes`, to be reported: a restart
        keeps the system going, it does not make a crash acceptable.
        """
        while True:
            for process in list(self.processes):
                if process.kind not in ("web", "worker") or process in self.crashes:
                    continue
                if process.alive() or process.expected_exit:
                    continue
                process.exit_noticed_at = time.time()
                self.crashes.append(process)
                with contextlib.suppress(RuntimeError):  # a crash loop shows up as crashes
                    await self.add(process.kind)
            await asyncio.sleep(every)

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
                process.popen.send_signal(signal.SIGCONT)
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.stop()
        for app in self.apps.values():
            app.listener.close()
