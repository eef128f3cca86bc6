"""Settings: the only place that reads the environment.

Build one `Settings` at the entry point (`main.create_app`, the worker, the CLI) and pass it
down. Config is what differs between deploys; protocol constants live next to their use.
"""

from __future__ import annotations

import base64
import binascii
from functools import cached_property
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# libpq spellings asyncpg understands for its `ssl=` argument.
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


class DatabaseURL:
    """A Postgres URL split into what SQLAlchemy+asyncpg and what libpq (psycopg) need.

    Heroku hands out `postgres://…?sslmode=require`. SQLAlchemy refuses the `postgres` scheme
    and asyncpg refuses `sslmode` as a keyword, so the mode travels separately as `ssl`.
    """

    def __init__(self, raw: str) -> None:
        parts = urlsplit(raw.strip())
        if parts.scheme not in {"postgres", "postgresql", "postgresql+asyncpg"}:
            raise ValueError(f"DATABASE_URL must be a postgres:// URL, not {parts.scheme}://")
        query = dict(parse_qsl(parts.query))
        sslmode = query.pop("sslmode", None) or query.pop("ssl", None)
        if sslmode is not None and sslmode not in _SSL_MODES:
            raise ValueError(f"DATABASE_URL sslmode must be one of {sorted(_SSL_MODES)}")
        self.sslmode = sslmode
        self._netloc = parts.netloc
        self._path = parts.path
        self._query = urlencode(query)

    def _build(self, scheme: str, extra: dict[str, str] | None = None) -> str:
        query = self._query
        if extra:
            query = "&".join(q for q in (query, urlencode(extra)) if q)
        return urlunsplit((scheme, self._netloc, self._path, query, ""))

    @property
    def sqlalchemy(self) -> str:
        """For `create_async_engine`; pass `connect_args` for SSL."""
        return self._build("postgresql+asyncpg")

    @property
    def libpq(self) -> str:
        """For psycopg (the periodic tasks' queue), the worker's lease connection (asyncpg reads
        `sslmode` in a URL) and command-line tools."""
        return self._build("postgresql", {"sslmode": self.sslmode} if self.sslmode else None)

    @property
    def connect_args(self) -> dict[str, str]:
        return {"ssl": self.sslmode} if self.sslmode else {}

    def __repr__(self) -> str:  # never print credentials
        return "DatabaseURL(<redacted>)"


# The key id of a bare 64-hex-character entry, which is what Heroku's `"generator": "secret"`
# makes (32 random bytes as hex). Fixed, so ciphertexts written under it stay readable for as
# long as the same value stays in the list.
GENERATED_KEY_ID = "gen"
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_encryption_keys(raw: str) -> list[tuple[str, bytes]]:
    """Parse `kid:base64key,kid:base64key`; the first key encrypts, every key decrypts.

    An entry may also be 64 hex characters with no id: a platform-generated AES-256 key, used
    as is under the id `GENERATED_KEY_ID`. `k2:<base64>,<64 hex>` rotates away from it.
    """
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if len(item) == 64 and set(item) <= _HEX_DIGITS:
            if any(existing == GENERATED_KEY_ID for existing, _ in keys):
                raise ValueError("ENCRYPTION_KEYS has more than one bare hex key")
            keys.append((GENERATED_KEY_ID, bytes.fromhex(item)))
            continue
        kid, sep, encoded = item.partition(":")
        if not sep or not kid or not kid.isalnum():
            raise ValueError(
                "each ENCRYPTION_KEYS entry must look like 'kid:base64key' or be 64 hex characters"
            )
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"ENCRYPTION_KEYS entry {kid!r} is not base64") from exc
        if len(key) != 32:
            raise ValueError(f"ENCRYPTION_KEYS entry {kid!r} must decode to 32 bytes (AES-256)")
        if any(existing == kid for existing, _ in keys):
            raise ValueError(f"ENCRYPTION_KEYS has key id {kid!r} twice")
        keys.append((kid, key))
    if not keys:
        raise ValueError("ENCRYPTION_KEYS is empty")
    return keys


LOCAL_BASE_URL = "http://localhost:8000"


def derive_base_url(
    *, heroku_domain: str, render_url: str, on_heroku: bool, on_render: bool
) -> str:
    """The public URL a platform gives the app, when BASE_URL is not set."""
    if heroku_domain.strip():
        return f"https://{heroku_domain.strip().rstrip('/')}"
    if render_url.strip():
        return render_url.strip().rstrip("/")
    if on_heroku:
        raise ValueError(
            "BASE_URL is not set and Heroku did not say the app's domain: turn on runtime dyno "
            "metadata (heroku labs:enable runtime-dyno-metadata, then restart) so that "
            "HEROKU_APP_DEFAULT_DOMAIN_NAME is set, or set BASE_URL to the app's https URL"
        )
    if on_render:
        raise ValueError(
            "BASE_URL is not set and Render gave no RENDER_EXTERNAL_URL (only web services "
            "get one): set BASE_URL to the app's https URL"
        )
    return LOCAL_BASE_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    database_url: SecretStr = Field(
        description="Postgres URL; postgres:// and ?sslmode= are accepted.",
    )
    base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(LOCAL_BASE_URL),
        description="Public URL of the web app; used for OAuth redirects and the webhook URL. "
        "Unset, it comes from the platform (see `_derive_base_url`).",
    )
    # What platforms tell a process about itself; read only to derive `base_url`.
    heroku_app_default_domain_name: str = ""
    dyno: str = ""
    render_external_url: str = ""
    render: str = ""
    encryption_keys: Annotated[SecretStr, NoDecode] = Field(
        description="Comma-separated kid:base64 AES-256 keys; the first encrypts.",
    )
    session_secret: SecretStr = Field(
        description="Signs the onboarding session cookie.", min_length=32
    )

    slack_client_id: str = Field(min_length=1)
    slack_client_secret: SecretStr = Field(min_length=1)
    slack_signing_secret: SecretStr = Field(min_length=1)
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")
    slack_authorize_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/oauth/v2/authorize")
    slack_openid_authorize_url: AnyHttpUrl = AnyHttpUrl(
        "https://slack.com/openid/connect/authorize"
    )

    # The only origin customer files are downloaded from (scheme, host and port must match
    # exactly): Slack's file host; in sandbox mode the simulated Slack.
    slack_files_url: AnyHttpUrl = AnyHttpUrl("https://files.slack.com/")

    genesys_api_url: AnyHttpUrl | None = None
    genesys_login_url: AnyHttpUrl | None = None
    genesys_downloads_url: AnyHttpUrl | None = None

    sandbox_slack_url: AnyHttpUrl | None = Field(
        default=None, description="Set by the dev launcher: the simulated Slack's pages."
    )
    sandbox_genesys_url: AnyHttpUrl | None = Field(
        default=None, description="Set by the dev launcher: the simulated Genesys agent console."
    )

    web_db_pool_size: int = Field(default=5, ge=1, le=50)
    worker_concurrency: int = Field(default=8, ge=1, le=200)
    # Ingest answers within this or with a 503, which Slack (deadline 3 s) and Genesys retry.
    ingest_ack_deadline_seconds: float = Field(default=2.0, gt=0, le=10)
    # Requests being stored at once per web process; past it, a 503 at once (shedding).
    ingest_max_in_flight: int = Field(default=128, ge=1, le=10_000)
    # The worker gives way to the web on a shared core (`nice` increment, 0 = none).
    worker_nice: int = Field(default=10, ge=0, le=19)
    # How often the worker reads open Genesys conversations for their end (Open Messaging has
    # no end event); a divisor of 60, as it is the seconds field of a cron schedule.
    conversation_end_poll_seconds: int = Field(default=30, ge=1, le=30)
    log_level: str = "INFO"
    metrics_token: SecretStr = SecretStr("")

    @model_validator(mode="before")
    @classmethod
    def _derive_base_url(cls, data: object) -> object:
        """Fill an unset BASE_URL from the platform's own name for the app, or refuse.

        Heroku's runtime dyno metadata gives `HEROKU_APP_DEFAULT_DOMAIN_NAME` (the
        `<app>-<hash>.herokuapp.com` host; `HEROKU_APP_NAME` alone cannot rebuild it, as new
        apps' hosts carry a random suffix); Render gives `RENDER_EXTERNAL_URL`. On a platform
        (Heroku sets `DYNO`, Render `RENDER`) that gives neither, the URL cannot be known and
        guessing localhost would break every Slack redirect, so the process does not start.
        Elsewhere (a laptop, the tests) the local URL is the default.
        """
        if not isinstance(data, dict):
            return data
        if str(data.get("base_url") or "").strip():
            return data
        derived = derive_base_url(
            heroku_domain=str(data.get("heroku_app_default_domain_name") or ""),
            render_url=str(data.get("render_external_url") or ""),
            on_heroku=bool(str(data.get("dyno") or "").strip()),
            on_render=bool(str(data.get("render") or "").strip()),
        )
        return {**data, "base_url": derived}

    @field_validator(
        "genesys_api_url",
        "genesys_login_url",
        "genesys_downloads_url",
        "sandbox_slack_url",
        "sandbox_genesys_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """Platforms often set optional variables to ""; treat that as not set."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("conversation_end_poll_seconds")
    @classmethod
    def _divides_a_minute(cls, value: int) -> int:
        if 60 % value:
            raise ValueError("must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30)")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr) -> SecretStr:
        DatabaseURL(value.get_secret_value())
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _check_keys(cls, value: SecretStr) -> SecretStr:
        parse_encryption_keys(value.get_secret_value())
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        return upper

    @cached_property
    def database(self) -> DatabaseURL:
        return DatabaseURL(self.database_url.get_secret_value())

    @cached_property
    def keys(self) -> list[tuple[str, bytes]]:
        return parse_encryption_keys(self.encryption_keys.get_secret_value())

    @property
    def public_url(self) -> str:
        """`base_url` without a trailing slash, for joining paths."""
        return str(self.base_url).rstrip("/")


# Written by `make dev` (devkit) for the admin commands: the dev cluster's URL and the dev keys.
DEV_ENV_FILE = Path(".data") / "dev.env"


def load_settings(*, dev_env: bool = False) -> Settings:
    """Read the process environment. Call once, at an entry point.

    With `dev_env`, an admin command run from the root of a dev checkout also reads
    `.data/dev.env` (when present) for the variables the environment leaves unset, so
    `python -m app tenants list` works next to `make dev` with nothing exported. The file is
    relative to the working directory: a deploy has none, and the variables always win.
    """
    if dev_env and DEV_ENV_FILE.is_file():
        return Settings(_env_file=DEV_ENV_FILE)
    return Settings()


class LauncherSettings(BaseSettings):
    """What the dev launcher and the test runner need before the real settings can exist.

    They decide from these whether to start a private Postgres (no `DATABASE_URL`) and the
    simulated Slack and Genesys (no `SLACK_CLIENT_ID`), then hand full settings to children.
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    database_url: SecretStr | None = None
    slack_client_id: str = ""
    genesys_api_url: AnyHttpUrl | None = None
    port: int = Field(default=8000, ge=1, le=65535)
    sandbox_slack_port: int = Field(default=8001, ge=1, le=65535)
    sandbox_genesys_port: int = Field(default=8002, ge=1, le=65535)
    pg_bin: str = ""
    log_level: str = "INFO"


class DatabaseSettings(BaseSettings):
    """Just the database, for `alembic upgrade head` in the release phase."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    database_url: SecretStr

    @property
    def database(self) -> DatabaseURL:
        return DatabaseURL(self.database_url.get_secret_value())


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    """The environment for a child process: ours plus `overrides` (used by the dev launcher)."""
    import os

    return {**os.environ, **overrides}
