"""Where the local stack lives and which ports it takes (env prefix `PIXELMILL_STACK_`)."""

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from common import dev

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pixelmill"


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIXELMILL_STACK_", extra="ignore")

    # State, logs and pid files; git-ignored.
    dir: Path = REPOSITORY_ROOT / ".stack"
    # Downloads (Kafka jars, the Keycloak distribution); shared by every checkout.
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    ready_timeout_seconds: float = 180.0

    kafka_version: str = "4.1.1"
    kafka_port: int = dev.KAFKA_PORT
    kafka_controller_port: int = dev.KAFKA_CONTROLLER_PORT
    kafka_heap: str = "512m"

    postgres_port: int = dev.POSTGRES_PORT
    # The system user PostgreSQL runs as when the stack is started by root.
    postgres_os_user: str = "pixelmill-pg"

    # SeaweedFS also listens on the next seven ports (master, volume, filer and gRPC).
    s3_port: int = dev.S3_PORT

    keycloak_version: str = "26.7.3"
    keycloak_port: int = dev.KEYCLOAK_PORT
    keycloak_management_port: int = dev.KEYCLOAK_MANAGEMENT_PORT
    keycloak_heap: str = "768m"
    # A JDK for Keycloak; by default the newest one on the machine that it supports.
    keycloak_java_home: Path | None = None

    # Optional (`pixelmill stack up --with-prometheus`): Debian's `prometheus` package.
    prometheus_port: int = dev.PROMETHEUS_PORT

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"
