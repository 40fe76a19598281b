from pydantic import Field, SecretStr

from common import dev
from common.settings import KafkaSettings, PostgresSettings, dev_secret
from schemas import limits


class Settings(KafkaSettings, PostgresSettings):
    task_service_host: str = dev.HOST
    task_service_port: int = dev.TASK_SERVICE_PORT
    # How often the reconciler looks for jobs to (re)send, and how long a fresh row may wait
    # for its first publish before the reconciler takes over.
    reconcile_interval_seconds: float = Field(default=2.0, gt=0)
    reconcile_grace_seconds: float = Field(default=10.0, ge=0)
    publish_flush_seconds: float = Field(default=10.0, gt=0)

    # Completion webhooks: signed with HMAC-SHA256 under this secret, retried after these
    # delays, to public addresses only unless a "host" or "host:port" is allowlisted.
    webhook_secret: SecretStr | None = dev_secret(dev.WEBHOOK_SECRET)
    webhook_retry_delays_seconds: list[float] = Field(
        default=[10, 60, 300, 1800, 7200, 21600], min_length=1
    )
    webhook_timeout_seconds: float = Field(default=limits.URL_TIMEOUT_SECONDS, gt=0)
    webhook_interval_seconds: float = Field(default=1.0, gt=0)
    webhook_allowlist: list[str] = Field(default_factory=list)

    # A new task is refused with 429 while its owner has this many images unfinished.
    max_unfinished_images_per_owner: int = Field(
        default=limits.MAX_UNFINISHED_IMAGES_PER_OWNER, ge=1
    )
