"""The README's run command, `make dev` (`python -m devkit dev`): all up; Ctrl-C stops it all."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_dev_starts_web_worker_and_sandbox_then_stops_on_ctrl_c(database_url: str) -> None:
    ports = {
        "PORT": free_port(),
        "SANDBOX_SLACK_PORT": free_port(),
        "SANDBOX_GENESYS_PORT": free_port(),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update({k: str(v) for k, v in ports.items()})
    env["DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit", "dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal would give it
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 90
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            output.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        text = "".join(output)
        assert "Switchboard is running." in text, text[-3000:]
        assert "sandbox mode" in text
        web = f"http://localhost:{ports['PORT']}"
        landing = httpx.get(web + "/", timeout=5)
        assert landing.status_code == 200 and "Add to Slack" in landing.text
        assert f"localhost:{ports['SANDBOX_SLACK_PORT']}" in landing.text
        assert httpx.get(web + "/healthz", timeout=5).json() == {"status": "ok"}
        for port in (ports["SANDBOX_SLACK_PORT"], ports["SANDBOX_GENESYS_PORT"]):
            assert httpx.get(f"http://localhost:{port}/", timeout=5).status_code == 200
        install = httpx.get(web + "/slack/install", timeout=5)
        assert install.status_code == 302
        assert (
            f"localhost:{ports['SANDBOX_SLACK_PORT']}/oauth/v2/authorize"
            in install.headers["location"]
        )
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        code = process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()
    assert code == 0
    for port in ports.values():
        assert not port_open(port), f"port {port} still open after Ctrl-C"


def _start_dev(env: dict[str, str], data_dir: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "devkit", "dev", "--data-dir", data_dir],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _read_until(process: subprocess.Popen[str], marker: str, seconds: float) -> str:
    output: list[str] = []
    deadline = time.monotonic() + seconds
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        if marker in line:
            break
    return "".join(output)


def _postgres_answers(data_dir: str) -> bool:
    """The private cluster's postmaster is alive (its pid file names a running process)."""
    pid_file = os.path.join(data_dir, "postgres", "pgdata", "postmaster.pid")
    if not os.path.exists(pid_file):
        return False
    with open(pid_file) as handle:
        pid = int(handle.readline())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_second_dev_in_the_same_folder_refuses_and_leaves_the_first_running() -> None:
    """The second launcher must not stop the first one's database, nor claim to be running."""
    # Not under pytest's tmp dir: as root, Postgres runs as `postgres` and must enter it.
    data_dir = tempfile.mkdtemp(prefix="switchboard-dev-")
    os.chmod(data_dir, 0o755)
    ports = {
        "PORT": free_port(),
        "SANDBOX_SLACK_PORT": free_port(),
        "SANDBOX_GENESYS_PORT": free_port(),
    }
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "DATABASE_URL"
    }
    env.update({k: str(v) for k, v in ports.items()})
    first = _start_dev(env, data_dir)
    try:
        text = _read_until(first, "Press Ctrl-C to stop.", 120)
        assert "Switchboard is running." in text, text[-3000:]
        assert _postgres_answers(data_dir)

        second = _start_dev(env, data_dir)
        try:
            second_output, _ = second.communicate(timeout=60)
        finally:
            if second.poll() is None:
                os.killpg(second.pid, signal.SIGINT)
                second.wait(30)
        assert first.poll() is None, "the first launcher exited"
        assert _postgres_answers(data_dir), "the second launcher stopped the first's database"
        web = f"http://localhost:{ports['PORT']}"
        assert httpx.get(web + "/readyz", timeout=5).json()["database"] == "up"

        assert second.returncode not in (0, None), second_output[-3000:]
        assert "Switchboard is running." not in second_output
        assert "already running" in second_output, second_output[-3000:]
        assert "Traceback" not in second_output, second_output[-3000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGINT)
        first.wait(timeout=60)
        if first.stdout is not None:
            first.stdout.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    assert not _postgres_answers(data_dir)
