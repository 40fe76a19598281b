from pydantic import Field

from common import dev
from common.settings import KafkaSettings, PostgresSettings, S3Settings


class Settings(KafkaSettings, PostgresSettings, S3Settings):
    task_service_host: str = dev.HOST
    task_service_port: int = dev.TASK_SERVICE_PORT
    # How often the reconciler looks for jobs to (re)send, and how long a fresh row may wait
    # for its first publish before the reconciler takes over.
    reconcile_interval_seconds: float = Field(default=2.0, gt=0)
    reconcile_grace_seconds: float = Field(default=10.0, ge=0)
    publish_flush_seconds: float = Field(default=10.0, gt=0)
