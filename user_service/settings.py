from pydantic import SecretStr

from common import dev
from common.settings import KeycloakSettings, dev_secret


class Settings(KeycloakSettings):
    user_service_host: str = dev.HOST
    user_service_port: int = dev.USER_SERVICE_PORT
    keycloak_client_id: str = dev.KEYCLOAK_USER_CLIENT_ID
    keycloak_client_secret: SecretStr | None = dev_secret(dev.KEYCLOAK_USER_CLIENT_SECRET)
    keycloak_admin_user: str = dev.KEYCLOAK_ADMIN_USER
    keycloak_admin_password: SecretStr | None = dev_secret(dev.KEYCLOAK_ADMIN_PASSWORD)
