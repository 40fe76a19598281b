from pydantic import Field, SecretStr

from common import dev
from common.settings import KeycloakSettings, dev_secret


class Settings(KeycloakSettings):
    user_service_host: str = dev.HOST
    user_service_port: int = dev.USER_SERVICE_PORT
    # One confidential client does both jobs: the password grant for logins, and (through its
    # service account's realm-management roles) creating users. No master-realm admin
    # password is needed at run time.
    keycloak_client_id: str = dev.KEYCLOAK_USER_CLIENT_ID
    keycloak_client_secret: SecretStr | None = dev_secret(dev.KEYCLOAK_USER_CLIENT_SECRET)
    keycloak_timeout_seconds: int = Field(default=10, ge=1, le=120)
