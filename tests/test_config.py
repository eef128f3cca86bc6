import pytest
from pydantic import ValidationError

from app.config import DatabaseURL, parse_encryption_keys
from tests.factories import TEST_KEY, make_settings


def test_heroku_postgres_url_is_normalised_and_sslmode_moves_to_connect_args() -> None:
    url = DatabaseURL("postgres://u:p@db.example.com:5432/d1?sslmode=require")
    assert url.sqlalchemy == "postgresql+asyncpg://u:p@db.example.com:5432/d1"
    assert url.connect_args == {"ssl": "require"}
    assert url.libpq == "postgresql://u:p@db.example.com:5432/d1?sslmode=require"
    assert "p@" not in repr(url)


def test_non_postgres_url_is_refused() -> None:
    with pytest.raises(ValueError, match="postgres"):
        DatabaseURL("mysql://u@h/d")


def test_bad_sslmode_is_refused() -> None:
    with pytest.raises(ValueError, match="sslmode"):
        DatabaseURL("postgres://u@h/d?sslmode=maybe")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("nokey", "kid:base64key"),
        ("k1:" + "A" * 10, "32 bytes"),
        (f"k1:{TEST_KEY},k1:{TEST_KEY}", "twice"),
    ],
)
def test_bad_encryption_keys_fail_at_boot(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_encryption_keys(spec)


def test_settings_refuse_missing_slack_credentials() -> None:
    with pytest.raises(ValidationError, match="slack_signing_secret"):
        make_settings("postgres://u@h/d", slack_signing_secret="")


def test_secrets_do_not_appear_in_settings_repr() -> None:
    settings = make_settings("postgres://u:dbpass@h/d")
    shown = repr(settings) + str(settings)
    for secret in ("dbpass", "client-secret-for-tests", "signing-secret-for-tests", TEST_KEY):
        assert secret not in shown


def test_blank_optional_urls_count_as_unset() -> None:
    settings = make_settings("postgres://u@h/d", genesys_api_url="", sandbox_slack_url=" ")
    assert settings.genesys_api_url is None and settings.sandbox_slack_url is None
