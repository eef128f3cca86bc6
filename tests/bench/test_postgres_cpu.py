"""The benchmark charges Postgres' CPU to the messages bridged: the private cluster's CPU time,
exited backends included, read before and after a phase."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import asyncpg

from bench.database import Database
from devkit.cluster import running_cluster


def test_an_external_server_is_not_measured() -> None:
    assert Database(url="postgresql://elsewhere/db", cluster=None).cpu_seconds() is None


async def test_work_done_by_a_backend_that_has_exited_is_counted() -> None:
    # Not under pytest's tmp dir: as root the server runs as `postgres` (tests/conftest.py).
    data_dir = Path(tempfile.mkdtemp(prefix="switchboard-bench-cpu-"))
    try:
        with running_cluster(data_dir, database="cpu") as cluster:
            database = Database(url=cluster.url("cpu"), cluster=cluster)
            before = database.cpu_seconds()
            assert before is not None
            connection = await asyncpg.connect(database.url)
            try:
                await connection.fetchval(
                    "SELECT count(DISTINCT md5(i::text)) FROM generate_series(1, 300000) i"
                )
            finally:
                await connection.close()  # the backend exits; its time moves to the postmaster
            # The backend's exit and the postmaster's reaping of it take a moment.
            deadline = time.monotonic() + 5
            while (after := database.cpu_seconds() or 0.0) - before <= 0.1:
                assert time.monotonic() < deadline, (before, after)
                await asyncio.sleep(0.05)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
