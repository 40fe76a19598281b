"""pixelmill user_service."""

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from keycloak import KeycloakAdmin, KeycloakOpenID

from common.errors import install_error_handlers
from common.health import http_check, readiness_router
from common.http import health_router, install_request_ids, serve
from common.metrics import install_metrics
from user_service.accounts.routes import router as accounts_router
from user_service.accounts.service import Accounts
from user_service.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        secret = settings.secret("keycloak_client_secret")
        openid = KeycloakOpenID(
            server_url=settings.keycloak_url,
            realm_name=settings.keycloak_realm,
            client_id=settings.keycloak_client_id,
            client_secret_key=secret,
            timeout=settings.keycloak_timeout_seconds,
        )
        # With a client secret and no username, python-keycloak authenticates the admin API
        # with the client's service account (client credentials), lazily on the first call.
        admin = KeycloakAdmin(
            server_url=settings.keycloak_url,
            realm_name=settings.keycloak_realm,
            client_id=settings.keycloak_client_id,
            client_secret_key=secret,
            timeout=settings.keycloak_timeout_seconds,
        )
        app.state.accounts = Accounts(admin, openid)
        try:
            yield
        finally:
            await admin.connection.aclose()
            await openid.connection.aclose()

    app = FastAPI(title="pixelmill user_service", lifespan=lifespan)
    install_error_handlers(app)
    install_metrics(app, "user_service")
    install_request_ids(app)
    app.include_router(health_router)
    realm = f"{settings.keycloak_url}/realms/{settings.keycloak_realm}"
    app.include_router(
        readiness_router(
            lambda: {"keycloak": http_check(f"{realm}/.well-known/openid-configuration")}
        )
    )
    app.include_router(accounts_router)
    return app


def main() -> None:
    settings = Settings()
    serve(
        create_app(settings),
        settings.user_service_host,
        settings.user_service_port,
        settings.log_level,
        "user_service",
    )
