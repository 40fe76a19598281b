"""Settings shared by the services: one pydantic-settings base, env prefix `PIXELMILL_`.

Every service composes its own `Settings` from the connection blocks below. Field names are
unique across services (`gateway_port`, not `port`) so that one environment configures all.
"""

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common import dev

ENV_PREFIX = "PIXELMILL_"
_DEV_DEFAULT = "pixelmill_dev_default"


def dev_secret(value: str) -> Any:
    """A secret with no default, except `value` in the dev profile."""
    return Field(default=None, json_schema_extra={_DEV_DEFAULT: value})


class PixelmillSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    profile: Literal["dev", "prod"] = "dev"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _secrets_from_environment(self) -> "PixelmillSettings":
        missing = []
        for name, field in type(self).model_fields.items():
            extra = field.json_schema_extra
            if not isinstance(extra, dict) or _DEV_DEFAULT not in extra:
                continue
            value = getattr(self, name)
            # Set but empty (a template whose variable was unset) is as good as missing.
            if value is not None and value.get_secret_value().strip():
                continue
            if self.profile == "dev":
                setattr(self, name, SecretStr(str(extra[_DEV_DEFAULT])))
            else:
                missing.append(ENV_PREFIX + name.upper())
        if missing:
            raise ValueError(
                f"profile {self.profile!r} has no default credentials; set {', '.join(missing)}"
            )
        return self

    def secret(self, name: str) -> str:
        """The plain value of a secret field (always set once validated)."""
        value = getattr(self, name)
        assert isinstance(value, SecretStr)
        return value.get_secret_value()


class KafkaSettings(PixelmillSettings):
    kafka_bootstrap_servers: str = f"{dev.HOST}:{dev.KAFKA_PORT}"
    kafka_partitions: int = Field(default=12, ge=1)


class PostgresSettings(PixelmillSettings):
    database_url: SecretStr | None = dev_secret(dev.postgres_url())


class S3Settings(PixelmillSettings):
    s3_endpoint_url: str = f"http://{dev.HOST}:{dev.S3_PORT}"
    s3_region: str = dev.S3_REGION
    s3_bucket: str = dev.S3_BUCKET
    s3_access_key: SecretStr | None = dev_secret(dev.S3_ACCESS_KEY)
    s3_secret_key: SecretStr | None = dev_secret(dev.S3_SECRET_KEY)


class KeycloakSettings(PixelmillSettings):
    keycloak_url: str = f"http://{dev.HOST}:{dev.KEYCLOAK_PORT}"
    keycloak_realm: str = dev.KEYCLOAK_REALM


def env_names(settings_class: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads."""
    return {ENV_PREFIX + name.upper() for name in settings_class.model_fields}
