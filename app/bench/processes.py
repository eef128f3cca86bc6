"""The system under test as real processes, launched the way the Procfile launches them.

Web processes are `uvicorn --factory app.main:asgi` serving one listening socket that this
module binds and hands to each child (`--fd`), as a process manager would: N web processes
share one URL, and a restarted web process never frees the port, so requests sent meanwhile
wait in the backlog. Workers are `python -m app worker`. Each child logs to its own file.

On a machine with two or more CPUs the app's processes are pinned to CPU 0 and the load
generator and simulators to the others, so the harness's CPU time stays out of the app's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_LINES = {
    "web": "Application startup complete",
    "floor": "Application startup complete",
    "worker": "Starting worker on",
}
START_TIMEOUT_SECONDS = 60.0
GRACEFUL_SECONDS = 20  # the Procfile's --timeout-graceful-shutdown
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Placement:
    """CPUs for the app under test and for everything else; None leaves a process unpinned."""

    sut: frozenset[int] | None
    harness: frozenset[int] | None

    @classmethod
    def detect(cls) -> Placement:
        if not hasattr(os, "sched_getaffinity"):
            return cls(None, None)
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls(None, None)
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
class Process:
    role: str
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

    def tail(self, lines: int = 15) -> str:
        return "\n".join(line[:400] for line in self.log().splitlines()[-lines:])

    def kill(self) -> None:
        """`kill -9`: no shutdown, no lease release; the database keeps a ghost worker."""
        self.expected_exit = True
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = GRACEFUL_SECONDS + 10) -> None:
        self.expected_exit = True
        if self.alive():
            self.popen.send_signal(signal.SIGCONT)
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


def bind_listener() -> tuple[socket.socket, int]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    port: int = listener.getsockname()[1]
    return listener, port


@dataclass
class Formation:
    """The app's processes: webs on one shared socket, workers, and the floor app."""

    env: Mapping[str, str]
    log_dir: Path
    placement: Placement
    web_listener: socket.socket
    floor_listener: socket.socket
    processes: list[Process] = field(default_factory=list)
    _counter: int = 0

    def of(self, role: str) -> list[Process]:
        return [p for p in self.processes if p.role == role and p.alive()]

    def spawn(self, role: str, argv: list[str], pass_fds: tuple[int, ...] = ()) -> Process:
        self._counter += 1
        name = f"{role}.{self._counter}"
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
        process = Process(role, name, popen, log_path)
        self.processes.append(process)
        return process

    def _uvicorn(self, role: str, factory: str, listener: socket.socket) -> Process:
        fd = listener.fileno()
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--fd",
            str(fd),
            "--proxy-headers",
            "--forwarded-allow-ips=*",
            "--timeout-graceful-shutdown",
            str(GRACEFUL_SECONDS),
            "--no-access-log",
        ]
        return self.spawn(role, argv, (fd,))

    def spawn_web(self) -> Process:
        return self._uvicorn("web", "app.main:asgi", self.web_listener)

    def spawn_floor(self) -> Process:
        return self._uvicorn("floor", "app.bench.floor:asgi", self.floor_listener)

    def spawn_worker(self) -> Process:
        return self.spawn("worker", [sys.executable, "-m", "app", "worker"])

    async def ready(self, process: Process) -> None:
        line = READY_LINES[process.role]
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while line not in process.log():
            if not process.alive():
                raise RuntimeError(f"{process.name} exited during start-up:\n{process.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{process.name} was not ready in time:\n{process.tail()}")
            await asyncio.sleep(0.05)

    async def start(self, role: str) -> Process:
        spawn = {"web": self.spawn_web, "worker": self.spawn_worker, "floor": self.spawn_floor}
        process = spawn[role]()
        await self.ready(process)
        return process

    def crashed(self) -> list[Process]:
        return [p for p in self.processes if not p.alive() and not p.expected_exit]

    def stop(self) -> None:
        for process in self.processes:
            if process.alive():
                process.expected_exit = True
                process.popen.send_signal(signal.SIGCONT)
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.stop()
        self.web_listener.close()
        self.floor_listener.close()
