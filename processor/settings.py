from pydantic import Field

from common import dev
from common.settings import KafkaSettings, PostgresSettings, S3Settings


class Settings(KafkaSettings, PostgresSettings, S3Settings):
    processor_host: str = dev.HOST
    # The faust worker's web server: /healthz now, /metrics later.
    processor_port: int = dev.PROCESSOR_PORT
    processor_concurrency: int = Field(default=2, ge=1)
