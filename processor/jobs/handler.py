"""One image job from claim to recorded outcome."""

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from confluent_kafka import Producer
from pydantic import BaseModel, ValidationError

from common import metrics
from common.db import Connection, Pool
from common.log import log_context
from common.task_state import FinishedTask
from processor import engine
from processor.jobs import repository, storage
from processor.jobs.errors import JobError, StorageError, UnexpectedError, WorkerLost
from processor.jobs.repository import Claim, StoredOutput
from processor.settings import Settings
from processor.sources import SourceError, UrlFetchPolicy, fetch_url
from schemas import topics
from schemas.errors import ErrorCode
from schemas.records import (
    DeadLetter,
    ImageFailed,
    ImageJob,
    ImageProcessed,
    ImageRetrying,
    TaskCompleted,
)
from schemas.tasks import ErrorInfo, OutputView, VariantSpec, output_url

log = logging.getLogger(__name__)
T = TypeVar("T")

_DB_RETRY_MAX_SECONDS = 10.0


def engine_variant(spec: VariantSpec) -> engine.Variant:
    rgb = spec.background.lstrip("#")
    return engine.Variant(
        name=spec.name,
        width=spec.width,
        height=spec.height,
        fit=spec.fit,
        gravity=spec.gravity,
        format=spec.format,
        quality=spec.quality,
        enlarge=spec.enlarge,
        background=(int(rgb[0:2], 16), int(rgb[2:4], 16), int(rgb[4:6], 16)),
    )


class AttemptsExhausted:
    code = ErrorCode.ATTEMPTS_EXHAUSTED
    permanent = True

    def __init__(self, last: JobError, attempts: int) -> None:
        self.message = f"gave up after {attempts} attempts; last error {last.code}: {last.message}"


class JobHandler:
    def __init__(
        self,
        settings: Settings,
        pool: Pool,
        s3: Any,
        producer: Producer,
        engine_pool: ThreadPoolExecutor,
        worker_id: str,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._s3 = s3
        self._producer = producer
        self._engine_pool = engine_pool
        self.worker_id = worker_id
        self._limits = engine.Limits(
            max_bytes=settings.max_file_bytes,
            max_pixels=settings.max_pixels,
            max_frames=settings.max_frames,
            allow_svg=settings.allow_svg,
            allow_pdf=settings.allow_pdf,
        )
        self._url_policy = UrlFetchPolicy(
            max_bytes=settings.max_file_bytes,
            timeout_seconds=settings.url_timeout_seconds,
            max_redirects=settings.url_max_redirects,
            allowlist=frozenset(settings.url_allowlist),
        )

    async def handle(self, raw: bytes) -> None:
        try:
            job = ImageJob.model_validate_json(raw)
        except ValidationError as error:
            # A record no version of ours wrote: keeping it would block its partition.
            log.error("skipped an unreadable job record: %s", error.errors()[:3])
            return
        with log_context(task_id=job.task_id, image_id=job.image_id, request_id=job.request_id):
            await self._handle(job)

    async def _handle(self, job: ImageJob) -> None:
        claiming = asyncio.ensure_future(
            self._db(
                lambda conn: repository.claim(
                    conn, job.image_id, self.worker_id, self._settings.processor_lease_seconds
                )
            )
        )
        try:
            claim = await asyncio.shield(claiming)
        except asyncio.CancelledError:
            # Stopped while claiming: let the claim land, then hand the image straight back.
            claim = await claiming
            if claim is not None:
                await self._release(job, claim)
            raise
        if claim is None:
            log.info("job for image %s skipped: finished, cancelled or held", job.image_id)
            return
        with metrics.IMAGES_IN_FLIGHT.track_inprogress():
            await self._run(job, claim)

    async def _run(self, job: ImageJob, claim: Claim) -> None:
        if claim.attempt > self._last_attempt:
            await to_the_end(self._record_failure(job, claim, WorkerLost(claim.attempt)))
            return
        try:
            async with self._lease_kept(claim):
                stored = await self._process(job)
        except asyncio.CancelledError:
            # The worker is stopping: hand the image back rather than sit on its lease.
            await self._release(job, claim)
            raise
        except (engine.EngineError, SourceError, StorageError) as error:
            await to_the_end(self._record_failure(job, claim, error))
        except Exception as error:
            log.exception("unexpected failure on image %s", job.image_id)
            await to_the_end(self._record_failure(job, claim, UnexpectedError(error)))
        else:
            await to_the_end(self._record_done(job, claim, stored))

    @property
    def _last_attempt(self) -> int:
        """The first try and one per retry delay; every claim counts as an attempt."""
        return len(self._settings.retry_delays_seconds) + 1

    @contextlib.asynccontextmanager
    async def _lease_kept(self, claim: Claim) -> AsyncIterator[None]:
        """The lease pushed forward while the block runs: a lease that runs out marks a
        worker that died, never an image that merely takes long."""
        renewing = asyncio.create_task(self._keep_lease(claim))
        try:
            yield
        finally:
            renewing.cancel()

    async def _keep_lease(self, claim: Claim) -> None:
        lease = self._settings.processor_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                async with self._pool.connection() as conn:
                    kept = await repository.renew_lease(conn, claim, self.worker_id, lease)
            except psycopg.Error as error:
                # Two more tries before the lease runs out; PostgreSQL may be back by then.
                log.warning("could not renew the lease on image %s: %s", claim.image_id, error)
                continue
            if not kept:
                log.warning("image %s: lease lost while it was being processed", claim.image_id)
                return

    async def _release(self, job: ImageJob, claim: Claim) -> None:
        released = await to_the_end(
            self._db(lambda conn: repository.release(conn, claim, self.worker_id))
        )
        if released.cancelled:
            log.info("image %s cancelled on shutdown: its task was cancelled", job.image_id)
            self._emit_completion(released.finished)
        else:
            log.info("image %s released on shutdown", job.image_id)

    async def _process(self, job: ImageJob) -> list[StoredOutput]:
        with metrics.STAGE_DURATION.labels("fetch").time():
            data = await self._fetch(job)
        metrics.SOURCE_BYTES.labels(job.source.kind).inc(len(data))
        variants = [engine_variant(spec) for spec in job.variants]
        loop = asyncio.get_running_loop()
        outputs = await loop.run_in_executor(
            self._engine_pool,
            functools.partial(
                engine.process_image, data, variants, self._limits, on_stage=_observe_stage
            ),
        )
        del data
        with metrics.STAGE_DURATION.labels("store").time():
            return list(await asyncio.gather(*(self._store(job, output) for output in outputs)))

    async def _fetch(self, job: ImageJob) -> bytes:
        if job.source.kind == "url":
            return await fetch_url(job.source.ref, self._url_policy)
        data: bytes = await asyncio.to_thread(
            storage.read_source,
            self._s3,
            self._settings.s3_bucket,
            job.source.ref,
            self._settings.max_file_bytes,
        )
        return data

    async def _store(self, job: ImageJob, output: engine.Output) -> StoredOutput:
        key = storage.result_key(job.task_id, job.image_id, output)
        await asyncio.to_thread(
            storage.write_result, self._s3, self._settings.s3_bucket, key, output
        )
        metrics.OUTPUT_BYTES.labels(output.format.value).inc(len(output.data))
        return StoredOutput(
            variant=output.variant,
            format=output.format.value,
            width=output.width,
            height=output.height,
            bytes=len(output.data),
            key=key,
        )

    async def _record_done(self, job: ImageJob, claim: Claim, stored: list[StoredOutput]) -> None:
        recorded, finished = await self._db(
            lambda conn: repository.record_done(conn, claim, self.worker_id, stored)
        )
        if not recorded:
            log.warning("image %s: lease lost before its outcome was recorded", job.image_id)
            return
        metrics.IMAGES_FINISHED.labels("done", "").inc()
        outputs = [
            OutputView(
                variant=s.variant,
                format=s.format,
                width=s.width,
                height=s.height,
                bytes=s.bytes,
                url=output_url(job.image_id, s.variant),
            )
            for s in stored
        ]
        self._emit(
            topics.IMAGE_EVENTS,
            job.task_id,
            ImageProcessed(
                task_id=job.task_id,
                image_id=job.image_id,
                attempt=claim.attempt,
                outputs=outputs,
                at=_now(),
            ),
        )
        self._emit_completion(finished)

    async def _record_failure(self, job: ImageJob, claim: Claim, error: JobError) -> None:
        info = ErrorInfo(code=error.code.value, message=error.message)
        if not error.permanent and claim.attempt < self._last_attempt:
            delay = self._settings.retry_delays_seconds[claim.attempt - 1]
            deferred = await self._db(
                lambda conn: repository.record_retrying(conn, claim, self.worker_id, error, delay)
            )
            if deferred.cancelled:
                log.info(
                    "image %s: %s; not retried, its task was cancelled", job.image_id, error.code
                )
                self._emit_completion(deferred.finished)
            elif (due := deferred.due) is not None:
                metrics.RETRIES_SCHEDULED.labels(error.code.value).inc()
                log.info("image %s: %s, retry at %s", job.image_id, error.code, due.isoformat())
                self._emit(
                    topics.IMAGE_EVENTS,
                    job.task_id,
                    ImageRetrying(
                        task_id=job.task_id,
                        image_id=job.image_id,
                        attempt=claim.attempt,
                        error=info,
                        next_attempt_at=due,
                        at=_now(),
                    ),
                )
            return
        final: JobError = error if error.permanent else AttemptsExhausted(error, claim.attempt)
        recorded, finished = await self._db(
            lambda conn: repository.record_failed(conn, claim, self.worker_id, final)
        )
        if not recorded:
            return
        log.info("image %s failed: %s", job.image_id, final.code)
        metrics.IMAGES_FINISHED.labels("failed", final.code.value).inc()
        if not error.permanent:
            metrics.DLQ_RECORDS.inc()
            self._emit(
                topics.IMAGE_JOBS_DLQ, job.image_id, DeadLetter(job=job, error=info, at=_now())
            )
        self._emit(
            topics.IMAGE_EVENTS,
            job.task_id,
            ImageFailed(
                task_id=job.task_id,
                image_id=job.image_id,
                attempt=claim.attempt,
                error=ErrorInfo(code=final.code.value, message=final.message),
                at=_now(),
            ),
        )
        self._emit_completion(finished)

    def _emit_completion(self, finished: FinishedTask | None) -> None:
        if finished is None:
            return
        log.info("task %s finished: %s", finished.task_id, finished.status)
        metrics.TASKS_FINISHED.labels(finished.status.value).inc()
        self._emit(
            topics.TASK_EVENTS,
            finished.task_id,
            TaskCompleted(
                task_id=finished.task_id,
                owner=finished.owner,
                status=finished.status,
                counts=finished.counts,
                at=_now(),
            ),
        )

    def _emit(self, topic: str, key: object, record: BaseModel) -> None:
        self._producer.produce(
            topic, key=str(key).encode(), value=record.model_dump_json().encode()
        )
        self._producer.poll(0)

    async def _db(self, action: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `action` on a pooled connection, waiting out a PostgreSQL outage.

        The job stays unacknowledged meanwhile, so nothing is lost while the database is away.
        """
        delay = 0.5
        while True:
            try:
                async with self._pool.connection() as conn:
                    return await action(conn)
            except psycopg.OperationalError as error:
                log.warning("PostgreSQL unavailable (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _DB_RETRY_MAX_SECONDS)


async def to_the_end(work: Awaitable[T]) -> T:
    """Await `work` to its end even when the worker is stopped meanwhile, then stop.

    An outcome cut off half-way would leave its image held by a worker that is gone, until
    the lease runs out.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def _observe_stage(stage: str, seconds: float) -> None:
    metrics.STAGE_DURATION.labels(stage).observe(seconds)


def _now() -> datetime:
    return datetime.now(UTC)
