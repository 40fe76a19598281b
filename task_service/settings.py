from common import dev
from common.settings import KafkaSettings, PostgresSettings, S3Settings


class Settings(KafkaSettings, PostgresSettings, S3Settings):
    task_service_host: str = dev.HOST
    task_service_port: int = dev.TASK_SERVICE_PORT
