"""`python -m app doctor`: is this deployment able to work? Each check says what it saw.

Checks the settings, that Postgres answers, that the schema is at alembic's head (the release
phase ran), that the queue's tables exist, and that Slack and the Genesys login hosts in use
answer over HTTPS. It reads nothing secret back and prints no secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.config import Settings
from app.db.session import create_engine
from app.genesys.regions import REGIONS, hosts_for

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def _head_revision() -> str | None:
    config = Config(toml_file=str(ROOT / "pyproject.toml"))
    return ScriptDirectory.from_config(config).get_current_head()


async def _database(settings: Settings) -> list[CheckResult]:
    engine = create_engine(settings.database, pool_size=1, application_name="doctor")
    results: list[CheckResult] = []
    try:
        async with engine.connect() as connection:
            version = (await connection.execute(text("SHOW server_version"))).scalar_one()
            results.append(CheckResult("database", True, f"PostgreSQL {version} answers"))
            current = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
            head = _head_revision()
            results.append(
                CheckResult(
                    "migrations",
                    current == head,
                    f"at {current}"
                    if current == head
                    else f"at {current}, head is {head}: run `alembic upgrade head`",
                )
            )
            queue = (
                await connection.execute(text("SELECT to_regclass('procrastinate_jobs')"))
            ).scalar_one()
            workers = 0
            if queue is not None:
                workers = (
                    await connection.execute(
                        text(
                            "SELECT count(*) FROM procrastinate_workers "
                            "WHERE last_heartbeat > now() - interval '60 seconds'"
                        )
                    )
                ).scalar_one()
            results.append(
                CheckResult(
                    "queue",
                    queue is not None,
                    f"{workers} worker(s) alive" if queue else "queue tables missing: migrate",
                )
            )
    except Exception as exc:  # any failure to connect is the finding itself
        results.append(CheckResult("database", False, f"{type(exc).__name__}: cannot connect"))
    finally:
        await engine.dispose()
    return results


async def _probe(
    client: httpx.AsyncClient, name: str, method: str, url: str, *, expected: frozenset[int]
) -> CheckResult:
    """Ok only when the service answers as that service would: a 404 means a wrong URL (a
    proxy, a typo, a missing path prefix), not a healthy host."""
    try:
        response = await client.request(method, url)
    except httpx.HTTPError as exc:
        return CheckResult(name, False, f"{url} unreachable ({type(exc).__name__})")
    status = response.status_code
    if status in expected:
        return CheckResult(name, True, f"{url} answered {status}")
    hint = "no such path: check the URL" if status == 404 else "not the expected answer"
    return CheckResult(name, False, f"{url} answered {status} ({hint})")


# Slack's api.test answers 200 to anyone. A Genesys login host answers a token request without
# credentials with 400 or 401 (invalid_client; the status is the login host's choice).
SLACK_EXPECTED = frozenset({200})
GENESYS_LOGIN_EXPECTED = frozenset({400, 401})


async def run_checks(settings: Settings) -> list[CheckResult]:
    results = [CheckResult("settings", True, "all required settings are present and valid")]
    results += await _database(settings)
    slack = str(settings.slack_api_url).rstrip("/") + "/api.test"
    region = REGIONS[0]
    if settings.genesys_login_url:
        login = hosts_for(
            region.key,
            api_override=str(settings.genesys_api_url or settings.genesys_login_url),
            login_override=str(settings.genesys_login_url),
        ).login_base
        genesys = [("genesys", f"{login}/oauth/token")]
    else:
        genesys = [(f"genesys {region.key}", f"https://login.{region.domain}/oauth/token")]
    async with httpx.AsyncClient(timeout=5) as client:
        results.append(await _probe(client, "slack", "GET", slack, expected=SLACK_EXPECTED))
        for name, url in genesys:
            results.append(await _probe(client, name, "POST", url, expected=GENESYS_LOGIN_EXPECTED))
    return results
