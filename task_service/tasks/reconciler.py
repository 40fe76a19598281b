"""The outbox's safety net: resends jobs that never reached Kafka, are due, or were orphaned."""

import asyncio
import logging

from common import metrics
from common.db import Pool
from task_service.tasks import repository
from task_service.tasks.publisher import JobPublisher

log = logging.getLogger(__name__)


async def reconcile_once(
    pool: Pool, publisher: JobPublisher, grace_seconds: float, batch: int
) -> int:
    """One pass; returns how many jobs were resent."""
    async with pool.connection() as conn, conn.transaction():
        metrics.JOBS_UNPUBLISHED.set(await repository.count_unpublished(conn))
        jobs = await repository.claim_jobs_to_publish(conn, grace_seconds, batch)
        if not jobs:
            return 0
        acknowledged = await publisher.send(jobs)
        await repository.mark_enqueued(conn, acknowledged)
    metrics.JOBS_PUBLISHED.labels("reconciler").inc(len(acknowledged))
    log.info("reconciler resent %d of %d jobs", len(acknowledged), len(jobs))
    return len(acknowledged)


async def run_reconciler(
    pool: Pool,
    publisher: JobPublisher,
    interval_seconds: float,
    grace_seconds: float,
    batch: int = 500,
) -> None:
    while True:
        try:
            while await reconcile_once(pool, publisher, grace_seconds, batch) == batch:
                pass
        except Exception:
            # PostgreSQL or Kafka down: try again next round, the rows are still there.
            log.exception("reconciler pass failed")
        await asyncio.sleep(interval_seconds)
