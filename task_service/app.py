import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from common.db import open_pool
from common.errors import install_error_handlers
from common.health import kafka_check, postgres_check, readiness_router
from common.http import health_router, install_request_ids, serve
from common.kafka import create_producer, ensure_topics
from common.metrics import install_metrics
from processor.sources import UrlFetchPolicy
from task_service.migrate import migrate
from task_service.settings import Settings
from task_service.tasks.publisher import JobPublisher
from task_service.tasks.reconciler import run_reconciler
from task_service.tasks.routes import router as tasks_router
from task_service.webhooks.sender import WebhookSender, run_sender


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await open_pool(settings, name="task-service")
        async with pool.connection() as conn:
            await migrate(conn)
        await asyncio.to_thread(ensure_topics, settings)
        producer = create_producer(settings)
        publisher = JobPublisher(producer, pool, settings.publish_flush_seconds)
        reconciler = asyncio.create_task(
            run_reconciler(
                pool,
                publisher,
                settings.reconcile_interval_seconds,
                settings.reconcile_grace_seconds,
            )
        )
        sender = WebhookSender(
            pool,
            settings.secret("webhook_secret"),
            settings.webhook_retry_delays_seconds,
            UrlFetchPolicy(
                timeout_seconds=settings.webhook_timeout_seconds,
                allowlist=frozenset(settings.webhook_allowlist),
            ),
        )
        webhooks = asyncio.create_task(run_sender(sender, settings.webhook_interval_seconds))
        app.state.settings = settings
        app.state.pool = pool
        app.state.publisher = publisher
        app.state.checks = {
            "postgres": postgres_check(pool),
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
        }
        try:
            yield
        finally:
            webhooks.cancel()
            reconciler.cancel()
            await publisher.drain()
            await asyncio.to_thread(producer.flush, settings.publish_flush_seconds)
            await pool.close()

    app = FastAPI(title="pixelmill task_service", lifespan=lifespan)
    install_error_handlers(app)
    install_metrics(app, "task_service")
    install_request_ids(app)
    app.include_router(health_router)
    app.include_router(readiness_router(lambda: app.state.checks))
    app.include_router(tasks_router)
    return app


def main() -> None:
    settings = Settings()
    serve(
        create_app(settings),
        settings.task_service_host,
        settings.task_service_port,
        settings.log_level,
        "task_service",
    )
