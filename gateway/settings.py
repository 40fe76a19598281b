from common import dev
from common.settings import KafkaSettings, KeycloakSettings, PostgresSettings, S3Settings


class Settings(KafkaSettings, PostgresSettings, S3Settings, KeycloakSettings):
    gateway_host: str = dev.HOST
    gateway_port: int = dev.GATEWAY_PORT
    task_service_url: str = f"http://{dev.HOST}:{dev.TASK_SERVICE_PORT}"
    user_service_url: str = f"http://{dev.HOST}:{dev.USER_SERVICE_PORT}"
