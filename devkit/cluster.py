"""A private PostgreSQL cluster for development, tests and the benchmark.

Used only when `DATABASE_URL` is unset. The cluster listens on a Unix socket inside its own
directory plus a loopback TCP port, trusts local connections, and is stopped by the process
that started it. Nothing here runs in production.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Debian and Ubuntu install the server binaries here, outside PATH.
_DEBIAN_ROOT = Path("/usr/lib/postgresql")

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under "
    "/usr/lib/postgresql/*/bin.\n"
    "Install them, for example:\n"
    "  Debian/Ubuntu:  sudo apt-get install postgresql\n"
    "  macOS:          brew install postgresql@16\n"
    "or set DATABASE_URL to an existing database."
)


class PostgresNotInstalled(RuntimeError):
    pass


def find_pg_bin(hint: str = "") -> Path:
    """Return the directory holding `initdb` and `pg_ctl`, newest Debian version first."""
    candidates: list[Path] = []
    if hint:
        candidates.append(Path(hint))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    if _DEBIAN_ROOT.is_dir():
        versions = sorted(
            (p for p in _DEBIAN_ROOT.iterdir() if p.name.isdigit()),
            key=lambda p: int(p.name),
            reverse=True,
        )
        candidates.extend(v / "bin" for v in versions)
    for directory in candidates:
        # A wrapper on PATH (Debian's pg_wrapper) may lack `postgres`; prefer a real bin dir.
        if all((directory / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    raise PostgresNotInstalled(INSTALL_HINT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run_as_postgres_user() -> list[str]:
    """initdb refuses to run as root; on CI we are root, so run the tools as `postgres`."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise PostgresNotInstalled(
            "running as root needs `runuser` to start Postgres as `postgres`"
        )
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class LocalCluster:
    """One Postgres cluster under `data_dir`, reachable at `url`."""

    data_dir: Path
    pg_bin: Path
    port: int
    user: str

    @property
    def socket_dir(self) -> Path:
        return self.data_dir / "socket"

    def url(self, database: str = "switchboard") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _cmd(self, tool: str, *args: str) -> list[str]:
        return [*_run_as_postgres_user(), str(self.pg_bin / tool), *args]

    def _chown(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
            for path in self.data_dir.rglob("*"):
                shutil.chown(path, "postgres", "postgres")

    def init(self) -> None:
        pgdata = self.data_dir / "pgdata"
        if (pgdata / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self._chown()
        subprocess.run(
            self._cmd(
                "initdb",
                "-D",
                str(pgdata),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        pgdata = self.data_dir / "pgdata"
        self._chown()
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        subprocess.run(
            self._cmd(
                "pg_ctl",
                "-D",
                str(pgdata),
                "-l",
                str(self.data_dir / "postgres.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self, mode: str = "fast") -> None:
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "postmaster.pid").exists():
            return
        subprocess.run(
            self._cmd("pg_ctl", "-D", str(pgdata), "-m", mode, "-w", "stop"),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def psql(self, sql: str) -> str:
        """Run one statement as the cluster's superuser over TCP; returns its bare output."""
        psql = self.pg_bin / "psql"
        if not psql.exists():
            psql = Path(shutil.which("psql") or "psql")
        command = [str(psql), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        result = subprocess.run(
            [*command, "-d", "postgres", "-tAqc", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def create_database(self, name: str) -> None:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unexpected database name {name!r}")
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
            self.psql(f'CREATE DATABASE "{name}"')


def prepare_cluster(
    data_dir: Path, *, pg_bin_hint: str = "", port: int | None = None
) -> LocalCluster:
    """Create (if needed) a cluster under `data_dir`; do not start it yet."""
    user = "switchboard"
    cluster = LocalCluster(
        data_dir=data_dir.resolve(),
        pg_bin=find_pg_bin(pg_bin_hint),
        port=port or free_port(),
        user=user,
    )
    cluster.init()
    return cluster


@contextlib.contextmanager
def running_cluster(
    data_dir: Path, *, database: str, pg_bin_hint: str = "", port: int | None = None
) -> Iterator[LocalCluster]:
    """Start a cluster, create `database`, yield it, and always stop it afterwards."""
    cluster = prepare_cluster(data_dir, pg_bin_hint=pg_bin_hint, port=port)
    cluster.stop("immediate")  # a crashed earlier run may have left a stale server
    cluster.start()
    try:
        cluster.create_database(database)
        yield cluster
    finally:
        cluster.stop()
