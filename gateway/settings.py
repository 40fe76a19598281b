import tempfile
from pathlib import Path

from pydantic import Field

from common import dev
from common.settings import KeycloakSettings, PostgresSettings, S3Settings
from schemas import limits


class Settings(PostgresSettings, S3Settings, KeycloakSettings):
    gateway_host: str = dev.HOST
    gateway_port: int = dev.GATEWAY_PORT
    task_service_url: str = f"http://{dev.HOST}:{dev.TASK_SERVICE_PORT}"
    user_service_url: str = f"http://{dev.HOST}:{dev.USER_SERVICE_PORT}"

    max_file_bytes: int = Field(default=limits.MAX_FILE_BYTES, ge=1)
    max_images_per_task: int = Field(default=limits.MAX_IMAGES_PER_TASK, ge=1)
    max_task_bytes: int = Field(default=limits.MAX_TASK_BYTES, ge=1)
    # Access tokens (gateway/auth/verifier.py).
    api_audience: str = "pixelmill-api"
    token_leeway_seconds: float = Field(default=30, ge=0, le=300)
    # Unset: the issuer the realm's discovery document names. Keycloak's issuer follows the
    # address a token was requested through: set this when clients reach Keycloak by another
    # address than the gateway does.
    keycloak_issuer: str | None = None
    jwks_min_refetch_seconds: float = Field(default=10, gt=0)
    jwks_max_age_seconds: float = Field(default=600, gt=0)

    allow_svg: bool = False
    allow_pdf: bool = False
    # Uploads go to S3 in parts of this size: the most a request holds in memory per file.
    upload_part_bytes: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)
    # A request body that sends nothing for this long is dropped (408): a stalled or
    # deliberately slow client must not hold a connection and its spool space forever.
    body_idle_timeout_seconds: float = Field(default=60.0, gt=0)
    presigned_url_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    # Where clients reach S3, when not at the services' own s3_endpoint_url (an internal
    # address): presigned URLs (`?redirect=1`) are signed for this one.
    s3_public_endpoint_url: str | None = None
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    # Where sources wait while S3 refuses them; past `spool_max_bytes` the gateway answers
    # 503 instead of accepting more.
    spool_dir: Path = Path(tempfile.gettempdir()) / "pixelmill-spool"
    spool_max_bytes: int = Field(default=1024 * 1024 * 1024, ge=0)
    spool_retry_delays_seconds: list[float] = Field(
        default=[10, 60, 600, 1800, 7200, 21600, 86400], min_length=1
    )
    spool_interval_seconds: float = Field(default=1.0, gt=0)
