import pytest
from pydantic import ValidationError

from common import dev
from common.settings import S3Settings, env_names
from gateway.settings import Settings as GatewaySettings
from processor.settings import Settings as ProcessorSettings
from user_service.settings import Settings as UserServiceSettings


def test_dev_profile_points_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXELMILL_PROFILE", raising=False)
    assert ProcessorSettings().kafka_bootstrap_servers == f"127.0.0.1:{dev.KAFKA_PORT}"
    settings = GatewaySettings()

    assert settings.keycloak_url == f"http://127.0.0.1:{dev.KEYCLOAK_PORT}"
    assert settings.s3_endpoint_url == f"http://127.0.0.1:{dev.S3_PORT}"
    assert settings.secret("s3_secret_key") == dev.S3_SECRET_KEY
    assert settings.secret("database_url") == dev.postgres_url()


def test_outside_dev_every_secret_must_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIXELMILL_PROFILE", "prod")
    monkeypatch.setenv("PIXELMILL_S3_ACCESS_KEY", "prod-access")

    with pytest.raises(ValidationError) as refused:
        S3Settings()

    message = str(refused.value)
    assert "PIXELMILL_S3_SECRET_KEY" in message
    assert "PIXELMILL_S3_ACCESS_KEY" not in message


def test_outside_dev_an_empty_secret_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXELMILL_PROFILE", "prod")
    monkeypatch.setenv("PIXELMILL_S3_ACCESS_KEY", "prod-access")
    monkeypatch.setenv("PIXELMILL_S3_SECRET_KEY", "  ")

    with pytest.raises(ValidationError, match="PIXELMILL_S3_SECRET_KEY"):
        S3Settings()


def test_outside_dev_secrets_from_the_environment_are_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIXELMILL_PROFILE", "prod")
    monkeypatch.setenv("PIXELMILL_KEYCLOAK_CLIENT_SECRET", "from-env")

    settings = UserServiceSettings()

    assert settings.secret("keycloak_client_secret") == "from-env"


def test_secrets_do_not_show_in_the_settings_repr() -> None:
    assert dev.S3_SECRET_KEY not in repr(S3Settings())


def test_env_names_are_prefixed_field_names() -> None:
    names = env_names(S3Settings)
    assert {"PIXELMILL_S3_BUCKET", "PIXELMILL_S3_SECRET_KEY", "PIXELMILL_PROFILE"} <= names
