"""The benchmark's Postgres: provisioning, migration, measurement and bulk data.

Without `DATABASE_URL` a private cluster is started in a temporary directory (the same
`devkit.cluster` the dev launcher and tests use); with it, a fresh database is created on
that server and dropped afterwards. `Meter` reads what a run cost: rows written, WAL bytes,
relation sizes, and the backlog of undelivered messages.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text

from app.config import DatabaseURL, child_environment
from app.db.session import create_engine
from devkit.cluster import LocalCluster, running_cluster

ROOT = Path(__file__).resolve().parents[1]
# The tables whose growth is charged to bridged messages (the queue's included).
COST_TABLES = (
    "bridge_message",
    "conversation",
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
)
FLOOR_TABLE = "bench_floor_event"


@dataclass
class Database:
    url: str
    cluster: LocalCluster | None

    def cpu_seconds(self) -> float | None:
        """CPU time the private cluster has used so far (None with an external server): the
        postmaster, its live children (backends, WAL writer, ...), and the children that have
        exited, which the kernel adds to the postmaster's `cutime`/`cstime` when it reaps them.
        Read before and after a phase, it charges Postgres' work to the messages bridged."""
        if self.cluster is None:
            return None
        try:
            pid = int((self.cluster.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
            fields = _stat_fields(pid)
        except (OSError, ValueError, IndexError):
            return None
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                child = _stat_fields(int(entry.name))
            except (OSError, ValueError):
                continue
            if int(child[1]) == pid:  # ppid
                ticks += int(child[11]) + int(child[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def restart(self) -> None:
        """`pg_ctl restart` (fast shutdown, then start) of the private cluster."""
        if self.cluster is None:
            raise RuntimeError("cannot restart an external DATABASE_URL")
        self.cluster.restart()


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: index 0 is the state, 1 the parent's pid,
    11 and 12 user and system time, 13 and 14 those of reaped children (clock ticks)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(DatabaseURL(url), pool_size=1, application_name="bench-admin")
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def provision(*, external: str | None, pg_bin_hint: str = "") -> Iterator[Database]:
    if external:
        import asyncio

        base = DatabaseURL(external).libpq
        name = f"switchboard_bench_{secrets.token_hex(4)}"
        asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
        try:
            yield Database(_with_database(base, name), None)
        finally:
            asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    # Not under a private /tmp/pytest-of-root: as root the server runs as `postgres`.
    data_dir = Path(tempfile.mkdtemp(prefix="switchboard-bench-pg-"))
    os.chmod(data_dir, 0o755)
    try:
        with running_cluster(data_dir, database="switchboard_bench", pg_bin_hint=pg_bin_hint) as c:
            yield Database(c.url("switchboard_bench"), c)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        env=child_environment({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"}),
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, int]  # table -> inserted + updated + deleted tuples so far
    wal: int  # bytes of WAL since 0/0
    sizes: dict[str, int]  # table -> pg_total_relation_size


class Meter:
    """A small engine of our own; `pool_pre_ping` carries it over a Postgres restart."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(DatabaseURL(url), pool_size=2, application_name="bench")

    async def scalar(self, query: str) -> Any:
        async with self.engine.connect() as connection:
            return (await connection.execute(text(query))).scalar_one()

    async def execute(self, query: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text(query))

    async def close(self) -> None:
        await self.engine.dispose()

    async def pending(self) -> int:
        """Messages accepted but not yet delivered or dead-lettered (receipts included)."""
        return int(
            await self.scalar("SELECT count(*) FROM bridge_message WHERE status = 'pending'")
        )

    async def dead(self) -> int:
        return int(await self.scalar("SELECT count(*) FROM bridge_message WHERE status = 'dead'"))

    async def snapshot(self) -> Snapshot:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS written "
                    "FROM pg_stat_user_tables"
                )
            )
            wal = await connection.execute(
                text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
            )
            sizes = await connection.execute(
                text(
                    "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'r' AND n.nspname = current_schema()"
                )
            )
            return Snapshot(
                rows={name: int(written) for name, written in rows},
                wal=int(wal.scalar_one()),
                sizes={name: int(size) for name, size in sizes},
            )

    async def server_version(self) -> str:
        return str(await self.scalar("SHOW server_version"))

    async def create_floor_table(self) -> None:
        await self.execute(
            f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id bigserial PRIMARY KEY, "
            "event_id text NOT NULL UNIQUE, payload jsonb NOT NULL, "
            "received_at timestamptz NOT NULL DEFAULT now())"
        )

    async def purge_backlog(self) -> int:
        """Drop queued, undelivered work (after the ingest probe, whose events nobody reads)."""
        async with self.engine.begin() as connection:
            removed = await connection.execute(
                text("DELETE FROM bridge_message WHERE status = 'pending'")
            )
        return int(removed.rowcount)


def cost(before: Snapshot, after: Snapshot, *, messages: int) -> dict[str, object]:
    """Per bridged message: rows written, WAL bytes, and relation growth, by table too."""
    per = max(messages, 1)
    rows = {
        t: after.rows.get(t, 0) - before.rows.get(t, 0)
        for t in after.rows
        if t != FLOOR_TABLE and after.rows.get(t, 0) != before.rows.get(t, 0)
    }
    growth = {t: after.sizes.get(t, 0) - before.sizes.get(t, 0) for t in COST_TABLES}
    return {
        "messages": messages,
        "rows_written_per_message": round(sum(rows.values()) / per, 2),
        "rows_written_by_table": dict(sorted(rows.items())),
        "wal_bytes_per_message": round((after.wal - before.wal) / per),
        "relation_bytes_per_message": round(sum(growth.values()) / per),
        "relation_growth_bytes_by_table": growth,
        "relation_bytes_total": {t: after.sizes.get(t, 0) for t in COST_TABLES},
    }
