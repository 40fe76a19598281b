import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from common.db import open_pool
from common.errors import install_error_handlers
from common.http import health_router, serve
from common.s3 import s3_client
from gateway.events.hub import EventHub
from gateway.events.routes import router as events_router
from gateway.images.routes import router as images_router
from gateway.settings import Settings
from gateway.spool import Spool, drain_forever
from gateway.task_client import TaskServiceClient
from gateway.tasks.routes import router as tasks_router


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.tasks = TaskServiceClient(settings.task_service_url)
        app.state.s3 = s3_client(settings)
        app.state.pool = await open_pool(settings, name="gateway")
        app.state.hub = EventHub(settings.secret("database_url"))
        app.state.hub.start()
        app.state.spool = Spool(
            settings.spool_dir, settings.spool_max_bytes, settings.spool_retry_delays_seconds
        )
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

    app = FastAPI(
        title="pixelmill",
        summary="Batch image processing: submit, follow, download.",
        version="1",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(tasks_router)
    app.include_router(events_router)
    app.include_router(images_router)
    return app


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings.gateway_host, settings.gateway_port, settings.log_level)
