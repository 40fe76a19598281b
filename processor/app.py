"""The processor: a faust-streaming worker consuming image jobs."""

import asyncio
import logging
import os
import socket
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from common import metrics
from common.db import open_pool
from common.health import (
    Check,
    failing,
    kafka_check,
    postgres_check,
    readiness_body,
    s3_check,
)
from common.kafka import create_producer, ensure_topics
from common.log import logging_config
from common.s3 import s3_client
from processor import engine
from processor.jobs.handler import JobHandler
from processor.settings import Settings
from schemas import topics

log = logging.getLogger(__name__)

_LAG_INTERVAL_SECONDS = 5.0


class Runtime:
    """What the agents share, opened once when the first agent starts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._handler: JobHandler | None = None
        self._lock = asyncio.Lock()
        self._closers: list[Any] = []
        self._checks: dict[str, Check] = {}

    async def handler(self) -> JobHandler:
        async with self._lock:
            if self._handler is None:
                self._handler = await self._open()
        return self._handler

    async def _open(self) -> JobHandler:
        settings = self.settings
        pool = await open_pool(
            settings, name="processor", max_size=settings.processor_concurrency + 2
        )
        producer = create_producer(settings)
        engine_pool = ThreadPoolExecutor(
            settings.processor_engine_threads, thread_name_prefix="engine"
        )
        engine.set_threads_per_image(settings.processor_engine_threads)
        self._closers = [pool.close, lambda: producer.flush(30), engine_pool.shutdown]
        s3 = s3_client(settings)
        self._checks = {
            "postgres": postgres_check(pool),
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "s3": s3_check(s3, settings.s3_bucket),
        }
        log.info("processor worker %s ready", self.worker_id)
        return JobHandler(
            settings, pool, s3_client(settings), producer, engine_pool, self.worker_id
        )

    def checks(self) -> dict[str, Check]:
        if self._handler is None:
            return {"processor": _not_started}
        return self._checks

    async def close(self) -> None:
        for close in self._closers:
            result = close()
            if asyncio.iscoroutine(result):
                await result


async def _not_started() -> None:
    raise RuntimeError("the worker has not joined its consumer group yet")


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.processor_group,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        web_host=settings.processor_host,
        web_port=settings.processor_port,
        # Faust's own tables and changelogs are not used: state lives in PostgreSQL.
        store="memory://",
        # Per replica, so that replicas on one machine never share faust's local files.
        datadir=Path(tempfile.gettempdir())
        / f"{settings.processor_group}-{settings.processor_port}",
        topic_partitions=settings.kafka_partitions,
        topic_disable_leader=True,
        broker_session_timeout=settings.processor_session_timeout_seconds,
        broker_heartbeat_interval=settings.processor_session_timeout_seconds / 5,
    )
    runtime = Runtime(settings)
    jobs = app.topic(topics.IMAGE_JOBS, value_serializer="raw", internal=False)

    @app.agent(jobs, concurrency=settings.processor_concurrency)
    async def process_jobs(stream: faust.StreamT[bytes]) -> None:
        handler = await runtime.handler()
        async for raw in stream:
            await handler.handle(raw)

    async def close(app: faust.App, **kwargs: Any) -> None:
        await runtime.close()

    app.on_before_shutdown.connect(close)  # type: ignore[arg-type]

    @app.page("/healthz")
    async def healthz(self: View, request: Request) -> Response:
        return self.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(self: View, request: Request) -> Response:
        body, status = readiness_body(await failing(runtime.checks()))
        return self.json(body, status=status)

    @app.page("/metrics")
    async def metrics_page(self: View, request: Request) -> Response:
        # aiohttp refuses a charset in content_type=, so the header is set as it is.
        return self.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def measure_lag() -> None:
        await record_lag(app.consumer)

    app.timer(interval=_LAG_INTERVAL_SECONDS)(measure_lag)

    return app


async def record_lag(consumer: Any) -> None:
    """Set the lag gauge for each partition of the jobs topic this replica holds.

    Best effort: in a rebalance a partition can be taken away between the calls, and the
    consumer then raises. That round is skipped, since an exception escaping a faust timer
    stops the whole worker; the measured-at gauge tells a lag that stopped being measured.
    """
    lags = {}
    try:
        for tp in consumer.assignment():
            if tp.topic != topics.IMAGE_JOBS:
                continue
            position = await consumer.position(tp)
            highwater = consumer.highwater(tp)
            if position is not None and highwater is not None:
                lags[tp.partition] = max(0, highwater - position)
    except Exception as error:
        log.debug("consumer lag not measured this round: %r", error)
        return
    # Partitions that moved to another replica must not keep their last value here.
    metrics.CONSUMER_LAG.clear()
    for partition, lag in lags.items():
        metrics.CONSUMER_LAG.labels(str(partition)).set(lag)
    metrics.CONSUMER_LAG_MEASURED.set_to_current_time()


def main() -> None:
    settings = Settings()
    ensure_topics(settings)
    app = create_app(settings)
    # faust names the levels its own way.
    level = {"WARNING": "warn"}.get(settings.log_level, settings.log_level.lower())
    worker = faust.Worker(
        app, loglevel=level, logging_config=logging_config("processor", settings.log_level)
    )
    worker.execute_from_commandline()
