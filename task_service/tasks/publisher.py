"""Publishing image jobs to Kafka: the outbox's sending half.

A job is marked `enqueued_at` only once Kafka acknowledged it; anything unacknowledged stays
unmarked and the reconciler sends it again, so a crash or a Kafka outage loses nothing.
"""

import asyncio
import logging
from uuid import UUID

from confluent_kafka import KafkaError, Message, Producer
from pydantic import BaseModel

from common import metrics
from common.db import Pool
from schemas import topics
from schemas.records import ImageJob
from task_service.tasks import repository

log = logging.getLogger(__name__)


class JobPublisher:
    def __init__(self, producer: Producer, pool: Pool, flush_seconds: float) -> None:
        self._producer = producer
        self._pool = pool
        self._flush_seconds = flush_seconds
        self._background: set[asyncio.Task[None]] = set()

    async def send(self, jobs: list[ImageJob]) -> list[UUID]:
        """Send the jobs and wait for Kafka's acknowledgements; returns the acknowledged ids."""
        acknowledged: list[UUID] = []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is None:
                acknowledged.append(UUID(bytes(message.key() or b"").decode()))
            else:
                log.warning("job not delivered: %s", error)

        for job in jobs:
            self._producer.produce(
                topics.IMAGE_JOBS,
                key=str(job.image_id).encode(),
                value=job.model_dump_json().encode(),
                on_delivery=on_delivery,
            )
        await asyncio.to_thread(self._producer.flush, self._flush_seconds)
        return acknowledged

    def emit(self, topic: str, key: object, record: BaseModel) -> None:
        """An event record; delivery is best effort (the state is in PostgreSQL)."""
        self._producer.produce(
            topic, key=str(key).encode(), value=record.model_dump_json().encode()
        )
        self._producer.poll(0)

    async def publish(self, image_ids: list[UUID]) -> None:
        """Send the jobs of freshly committed images and mark those Kafka acknowledged."""
        async with self._pool.connection() as conn:
            jobs = await repository.jobs_for(conn, image_ids)
        acknowledged = await self.send(jobs)
        metrics.JOBS_PUBLISHED.labels("submit").inc(len(acknowledged))
        if acknowledged:
            async with self._pool.connection() as conn:
                await repository.mark_first_sent(conn, acknowledged)

    def publish_soon(self, image_ids: list[UUID]) -> None:
        """Publish after the response went out; the reconciler covers a failure here."""
        task = asyncio.create_task(self.publish(image_ids))
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception():
            log.warning("publishing failed; the reconciler will resend: %s", task.exception())

    async def drain(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
