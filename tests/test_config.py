import uuid

import pytest
from pydantic import ValidationError

from app.config import GENERATED_KEY_ID, DatabaseURL, parse_encryption_keys
from app.crypto import SecretBox
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


def test_a_heroku_generated_hex_secret_is_an_aes_key_with_a_fixed_id() -> None:
    hex_key = "0f" * 32
    assert parse_encryption_keys(hex_key) == [(GENERATED_KEY_ID, bytes.fromhex(hex_key))]
    # Rotating away from it: a new kid:base64 key first, the generated one kept to decrypt.
    keys = parse_encryption_keys(f"k2:{TEST_KEY},{hex_key}")
    assert [kid for kid, _ in keys] == ["k2", GENERATED_KEY_ID]
    with pytest.raises(ValueError, match="more than one bare hex key"):
        parse_encryption_keys(f"{hex_key},{'a1' * 32}")
    with pytest.raises(ValueError, match="kid:base64key"):
        parse_encryption_keys("0f" * 31)  # 62 hex characters is not a key


def test_a_secret_sealed_under_the_generated_key_survives_rotation() -> None:
    hex_key = "5a" * 32
    tenant = uuid.uuid4()
    old = SecretBox(parse_encryption_keys(hex_key))
    sealed = old.encrypt("xoxb-1", tenant_id=tenant, purpose="slack_bot_token")
    assert sealed.startswith(f"v1:{GENERATED_KEY_ID}:")
    new = SecretBox(parse_encryption_keys(f"k2:{TEST_KEY},{hex_key}"))
    rotated = new.rotate(sealed, tenant_id=tenant, purpose="slack_bot_token")
    assert rotated.startswith("v1:k2:")
    assert new.decrypt(rotated, tenant_id=tenant, purpose="slack_bot_token") == "xoxb-1"


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        (
            {"heroku_app_default_domain_name": "sb-1a2b.herokuapp.com", "dyno": "web.1"},
            "https://sb-1a2b.herokuapp.com",
        ),
        (
            {"render_external_url": "https://sb.onrender.com/", "render": "true"},
            "https://sb.onrender.com",
        ),
        ({}, "http://localhost:8000"),
    ],
)
def test_base_url_comes_from_the_platform_when_unset(
    platform: dict[str, str], expected: str
) -> None:
    settings = make_settings("postgres://u@h/d", base_url="", **platform)
    assert settings.public_url == expected


def test_base_url_wins_over_the_platform() -> None:
    settings = make_settings(
        "postgres://u@h/d",
        base_url="https://support.example.com",
        heroku_app_default_domain_name="sb-1a2b.herokuapp.com",
    )
    assert settings.public_url == "https://support.example.com"


@pytest.mark.parametrize(
    ("platform", "hint"),
    [({"dyno": "web.1"}, "runtime-dyno-metadata"), ({"render": "true"}, "RENDER_EXTERNAL_URL")],
)
def test_a_platform_that_does_not_say_the_url_refuses_to_start(
    platform: dict[str, str], hint: str
) -> None:
    with pytest.raises(ValidationError, match=hint):
        make_settings("postgres://u@h/d", base_url="", **platform)
