"""The dev profile: addresses and credentials of the local stack (`pixelmill stack`).

These are the only default credentials in pixelmill. Settings fall back to them when
`PIXELMILL_PROFILE=dev` (the default) and refuse to start without explicit values otherwise.
"""

from typing import Final

HOST: Final = "127.0.0.1"

KAFKA_PORT: Final = 19092
KAFKA_CONTROLLER_PORT: Final = 19093
POSTGRES_PORT: Final = 15432
S3_PORT: Final = 8333
KEYCLOAK_PORT: Final = 18080
KEYCLOAK_MANAGEMENT_PORT: Final = 18081
PROMETHEUS_PORT: Final = 19090

GATEWAY_PORT: Final = 8000
TASK_SERVICE_PORT: Final = 8001
USER_SERVICE_PORT: Final = 8002
PROCESSOR_PORT: Final = 8003

POSTGRES_DATABASE: Final = "pixelmill"
POSTGRES_USER: Final = "pixelmill"
POSTGRES_PASSWORD: Final = "pixelmill-dev-password"

S3_BUCKET: Final = "pixelmill"
S3_REGION: Final = "us-east-1"
S3_ACCESS_KEY: Final = "pixelmill-dev"
S3_SECRET_KEY: Final = "pixelmill-dev-secret-key"

KEYCLOAK_REALM: Final = "pixelmill"
KEYCLOAK_ADMIN_USER: Final = "admin"
KEYCLOAK_ADMIN_PASSWORD: Final = "pixelmill-dev-admin"
# Realm objects defined in infra/keycloak/pixelmill-realm.json.
KEYCLOAK_USER_CLIENT_ID: Final = "pixelmill-user-service"
KEYCLOAK_USER_CLIENT_SECRET: Final = "pixelmill-dev-user-service-secret"
KEYCLOAK_SHOP_CLIENT_ID: Final = "pixelmill-shop-example"
KEYCLOAK_SHOP_CLIENT_SECRET: Final = "pixelmill-dev-shop-example-secret"
KEYCLOAK_DEMO_USER: Final = "demo"
KEYCLOAK_DEMO_PASSWORD: Final = "Demo-password-1"
KEYCLOAK_DEMO_ADMIN_USER: Final = "demo-admin"
KEYCLOAK_DEMO_ADMIN_PASSWORD: Final = "Demo-admin-password-1"


def postgres_url(port: int = POSTGRES_PORT) -> str:
    return f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@{HOST}:{port}/{POSTGRES_DATABASE}"


WEBHOOK_SECRET: Final = "pixelmill-dev-webhook-secret"
