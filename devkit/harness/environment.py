"""The settings that point the app at the simulators, for every launcher that does so.

`make dev`, the e2e tests, the in-process tests and the benchmark all run the app against the
simulated Slack and Genesys; this is the one place that says which settings that takes.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.config import Settings
from sandbox.slack_world import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_SIGNING_SECRET


def simulator_environment(
    *, slack_url: str, genesys_url: str, regional: bool = False
) -> dict[str, str]:
    """The sandbox Slack app's credentials and both simulators' URLs, as environment names.

    `regional` points each Genesys region at its own host in the simulator
    (`{genesys_url}/api.{domain}`, `/login.{domain}`), so a tenant that picks another region
    than its org's is refused as real Genesys would refuse it; otherwise every region reaches
    the simulator's region-blind root.
    """
    genesys_api, genesys_login = genesys_url, genesys_url
    if regional:
        genesys_api, genesys_login = (
            f"{genesys_url}/api.{{domain}}",
            f"{genesys_url}/login.{{domain}}",
        )
    return {
        "SLACK_CLIENT_ID": SANDBOX_CLIENT_ID,
        "SLACK_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SANDBOX_SIGNING_SECRET,
        "SLACK_API_URL": f"{slack_url}/api/",
        "SLACK_FILES_URL": f"{slack_url}/",
        "SLACK_AUTHORIZE_URL": f"{slack_url}/oauth/v2/authorize",
        "SLACK_OPENID_AUTHORIZE_URL": f"{slack_url}/openid/connect/authorize",
        "GENESYS_API_URL": genesys_api,
        "GENESYS_LOGIN_URL": genesys_login,
        # Agent media: the simulator serves each region's `api-downloads` host as a prefix.
        "GENESYS_DOWNLOADS_URL": f"{genesys_url}/api-downloads.{{domain}}",
    }


def app_environment(
    *,
    database_url: str,
    base_url: str,
    slack_url: str,
    genesys_url: str,
    encryption_keys: str,
    session_secret: str,
) -> dict[str, str]:
    """Everything `config.Settings` reads, for app processes run against the simulators."""
    return {
        "DATABASE_URL": database_url,
        "BASE_URL": base_url,
        "ENCRYPTION_KEYS": encryption_keys,
        "SESSION_SECRET": session_secret,
        **simulator_environment(slack_url=slack_url, genesys_url=genesys_url),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }


def settings_from(env: Mapping[str, str]) -> Settings:
    """The `Settings` an app process started with `env` reads, for the harness's own use."""
    return Settings.model_validate({name.lower(): value for name, value in env.items()})
