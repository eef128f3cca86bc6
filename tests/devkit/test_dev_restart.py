"""`make dev` stopped with Ctrl-C and started again keeps what both sides know: the product's
database and the simulators' state under `.data/`. Admin commands run beside it find the dev
cluster and keys there with nothing exported. Run as real processes, as a newcomer runs them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from app.crypto import SecretBox
from app.db.session import create_engine, create_sessions
from app.genesys.clients import GenesysClients
from app.tenants.onboarding import Onboarding
from devkit.harness.environment import settings_from
from devkit.harness.tenants import ACME, onboard
from sandbox.genesys_world import SANDBOX_MENTIONS_INTEGRATION_ID
from tests.devkit.test_devserver import ROOT, free_port, port_open

BANNER_END = "Press Ctrl-C to stop."


def _start(env: dict[str, str], data: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit", "dev", "--data-dir", str(data)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        if BANNER_END in line:
            break
    text = "".join(output)
    assert "Switchboard is running." in text, text[-3000:]
    return process, text


def _stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    rest, _ = process.communicate(timeout=90)
    return rest


def _dev_env(data: Path) -> dict[str, str]:
    values = {}
    for line in (data / "dev.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = json.loads(value)
    return values


def _admin(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m app …` from the checkout's root with none of the app's settings exported."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "GENESYS_", "DATABASE_", "ENCRYPTION_", "SESSION_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _install_and_onboard(app_url: str, data: Path) -> None:
    settings = settings_from(_dev_env(data))
    engine = create_engine(settings.database, pool_size=2, application_name="dev-restart-test")
    clients = GenesysClients()
    try:
        onboarding = Onboarding(
            settings,
            sessions=create_sessions(engine),
            box=SecretBox(settings.keys),
            clients=clients,
        )
        async with httpx.AsyncClient(timeout=10) as http:
            await onboard(http, app_url, onboarding, create_sessions(engine), ACME)
    finally:
        await clients.aclose()
        await engine.dispose()


def test_a_restarted_dev_keeps_installs_and_wiring_and_admin_commands_find_it() -> None:
    # A stand-in checkout (not under pytest's tmp dir: as root, Postgres runs as `postgres`).
    checkout = Path(tempfile.mkdtemp(prefix="switchboard-checkout-"))
    data = checkout / ".data"
    data.mkdir()
    for folder in (checkout, data):
        folder.chmod(0o755)
    ports = {"PORT": free_port(), "SANDBOX_SLACK_PORT": free_port()}
    ports["SANDBOX_GENESYS_PORT"] = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "DATABASE_URL"
    }
    env.update({k: str(v) for k, v in ports.items()})
    env["LOG_LEVEL"] = "INFO"
    app_url = f"http://localhost:{ports['PORT']}"
    slack_url = f"http://localhost:{ports['SANDBOX_SLACK_PORT']}"
    genesys_url = f"http://localhost:{ports['SANDBOX_GENESYS_PORT']}"
    first, started = _start(env, data)
    try:
        # The banner comes last, and the queue's periodic INFO lines stay out of the console.
        assert started.rstrip().endswith(BANNER_END), started[-2000:]
        assert '"logger": "procrastinate' not in started, started[-3000:]
        asyncio.run(_install_and_onboard(app_url, data))

        listed = _admin(checkout, "tenants", "list")
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert "Acme" in listed.stdout
        doctor = _admin(checkout, "doctor")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    finally:
        rest = _stop(first)
    assert first.returncode == 0, rest[-3000:]
    assert (data / "sandbox-state.json").is_file()
    for port in ports.values():
        assert not port_open(port)

    second, _ = _start(env, data)
    try:
        credentials = httpx.get(f"{genesys_url}/_sandbox/credentials", timeout=5).json()
        integrations = {i["id"]: i for org in credentials["orgs"] for i in org["integrations"]}
        wired = integrations[SANDBOX_MENTIONS_INTEGRATION_ID]["outboundNotificationWebhookUrl"]
        assert wired is not None and wired.startswith(app_url)

        mention = httpx.post(
            f"{slack_url}/_sandbox/events",
            json={
                "kind": "mention",
                "team": ACME.slack_team_id,
                "channel": ACME.support_channel,
                "user": ACME.customer,
                "text": "still there after a restart?",
            },
            timeout=30,
        )
        assert mention.status_code == 200, mention.text
        deadline = time.monotonic() + 60
        accepted: list[dict[str, object]] = []
        while time.monotonic() < deadline and not accepted:
            inbound = httpx.get(f"{genesys_url}/_sandbox/inbound?endpoint=message", timeout=5)
            accepted = [
                record
                for record in inbound.json()["inbound"]
                if record["status"] in (200, 202)
                and "after a restart" in json.dumps(record["body"])
                and record["integration_id"] == SANDBOX_MENTIONS_INTEGRATION_ID
            ]
            time.sleep(0.5)
        assert accepted, "the mention never reached the simulated Genesys"
        # No second install: the Slack sim still holds the one from before the restart.
        calls = httpx.get(f"{slack_url}/_sandbox/calls", timeout=5).json()
        assert not [c for c in calls.get("calls", []) if c["method"] == "oauth.v2.access"]
    finally:
        rest = _stop(second)
        shutil.rmtree(checkout, ignore_errors=True)
    assert second.returncode == 0, rest[-3000:]
