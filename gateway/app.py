import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import Depends, FastAPI

from common.db import open_pool
from common.errors import install_error_handlers
from common.health import http_check, postgres_check, readiness_router, s3_check
from common.http import health_router, install_request_ids, serve
from common.metrics import install_metrics
from common.s3 import s3_client
from gateway.admin.routes import router as admin_router
from gateway.auth.verifier import verifier_for
from gateway.deps import require_user
from gateway.errors import error_doc
from gateway.events.hub import EventHub
from gateway.events.routes import router as events_router
from gateway.images.routes import router as images_router
from gateway.settings import Settings
from gateway.spool import Spool, drain_forever
from gateway.task_client import TaskServiceClient
from gateway.tasks.routes import router as tasks_router
from gateway.users.client import UserServiceClient
from gateway.users.routes import router as users_router

_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: error_doc("`missing_token`, `invalid_token` (the `WWW-Authenticate` header says why)"),
    403: error_doc("`forbidden`: the token has neither role `user` nor `admin`"),
}


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.tasks = TaskServiceClient(settings.task_service_url)
        app.state.users = UserServiceClient(settings.user_service_url)
        keycloak = httpx.AsyncClient(timeout=10)
        app.state.verifier = verifier_for(settings, keycloak)
        app.state.s3 = s3_client(settings)
        app.state.presigner = s3_client(settings, endpoint_url=settings.s3_public_endpoint_url)
        app.state.pool = await open_pool(settings, name="gateway")
        app.state.hub = EventHub(settings.secret("database_url"))
        app.state.hub.start()
        app.state.spool = Spool(
            settings.spool_dir, settings.spool_max_bytes, settings.spool_retry_delays_seconds
        )
        realm = f"{settings.keycloak_url}/realms/{settings.keycloak_realm}"
        app.state.checks = {
            "postgres": postgres_check(app.state.pool),
            "s3": s3_check(app.state.s3, settings.s3_bucket),
            "task_service": http_check(f"{settings.task_service_url}/healthz"),
            "keycloak": http_check(f"{realm}/protocol/openid-connect/certs"),
        }
        drain = asyncio.create_task(
            drain_forever(
                app.state.spool,
                app.state.s3,
                settings.s3_bucket,
                app.state.tasks,
                settings.spool_interval_seconds,
            )
        )
        try:
            yield
        finally:
            drain.cancel()
            await app.state.hub.stop()
            await app.state.pool.close()
            await app.state.tasks.close()
            await app.state.users.close()
            await keycloak.aclose()

    app = FastAPI(
        title="pixelmill",
        summary="Batch image processing: submit, follow, download.",
        version="1",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_metrics(app, "gateway")
    install_request_ids(app)
    app.include_router(health_router)
    app.include_router(readiness_router(lambda: app.state.checks))
    app.include_router(users_router)
    # Every other route verifies the caller's token (tests/unit/gateway/test_route_auth.py).
    for router in (tasks_router, events_router, images_router):
        app.include_router(router, dependencies=[Depends(require_user)], responses=_AUTH_RESPONSES)
    app.include_router(admin_router, responses=_AUTH_RESPONSES)
    return app


def main() -> None:
    settings = Settings()
    serve(
        create_app(settings),
        settings.gateway_host,
        settings.gateway_port,
        settings.log_level,
        "gateway",
    )
