"""The processor's writes to PostgreSQL: claims, outcomes and task completion.

Every outcome is conditional on still holding the lease, so a worker that lost its claim to
another (after a pause longer than the lease) can never overwrite the newer outcome.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from common.db import Connection
from processor.jobs.errors import JobError
from schemas.tasks import TaskCounts, TaskStatus


@dataclass(frozen=True)
class Claim:
    image_id: UUID
    task_id: UUID
    attempt: int


@dataclass(frozen=True)
class StoredOutput:
    variant: str
    format: str
    width: int
    height: int
    bytes: int
    key: str


@dataclass(frozen=True)
class FinishedTask:
    task_id: UUID
    owner: str
    status: TaskStatus
    counts: TaskCounts


async def claim(
    conn: Connection, image_id: UUID, worker: str, lease_seconds: float
) -> Claim | None:
    """Take the image for this worker; None if it is finished, cancelled or held by another."""
    async with conn.transaction():
        row = await (
            await conn.execute(
                "UPDATE images SET status = 'processing', attempts = attempts + 1,"
                " lease_owner = %(worker)s,"
                " lease_expires_at = now() + make_interval(secs => %(lease)s),"
                " started_at = coalesce(started_at, now()), next_attempt_at = NULL"
                " WHERE id = %(id)s AND (status = 'queued'"
                "   OR (status = 'retrying' AND next_attempt_at <= now())"
                "   OR (status = 'processing' AND lease_expires_at < now()))"
                " RETURNING task_id, attempts",
                {"id": image_id, "worker": worker, "lease": lease_seconds},
            )
        ).fetchone()
        if row is None:
            return None
        await conn.execute(
            "UPDATE tasks SET status = 'processing' WHERE id = %s AND status = 'queued'",
            [row["task_id"]],
        )
    return Claim(image_id, row["task_id"], row["attempts"])


async def _lock_task(conn: Connection, task_id: UUID) -> None:
    # Outcomes of one task's images are serialised on the task row, so that exactly one of
    # them sees the last image finish and completes the task.
    await conn.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", [task_id])


async def _finish_task_if_complete(conn: Connection, task_id: UUID) -> FinishedTask | None:
    row = await (
        await conn.execute(
            "WITH c AS ("
            "  SELECT count(*) AS total,"
            "   count(*) FILTER (WHERE status = 'queued') AS queued,"
            "   count(*) FILTER (WHERE status = 'processing') AS processing,"
            "   count(*) FILTER (WHERE status = 'retrying') AS retrying,"
            "   count(*) FILTER (WHERE status = 'done') AS done,"
            "   count(*) FILTER (WHERE status = 'failed') AS failed,"
            "   count(*) FILTER (WHERE status = 'cancelled') AS cancelled"
            "  FROM images WHERE task_id = %(task)s)"
            " UPDATE tasks t SET finished_at = now(), status = CASE"
            "   WHEN t.status = 'cancelled' OR c.cancelled > 0 THEN 'cancelled'"
            "   WHEN c.done = c.total THEN 'done'"
            "   WHEN c.done = 0 THEN 'failed'"
            "   ELSE 'partial' END"
            " FROM c WHERE t.id = %(task)s AND t.finished_at IS NULL"
            "   AND c.queued + c.processing + c.retrying = 0"
            " RETURNING t.owner, t.status, c.*",
            {"task": task_id},
        )
    ).fetchone()
    if row is None:
        return None
    counts = TaskCounts.model_validate({k: row[k] for k in TaskCounts.model_fields})
    return FinishedTask(task_id, row["owner"], TaskStatus(row["status"]), counts)


async def record_done(
    conn: Connection, claim: Claim, worker: str, outputs: list[StoredOutput]
) -> tuple[bool, FinishedTask | None]:
    """Mark the image done with its outputs. (False, None) if the lease was lost meanwhile."""
    async with conn.transaction():
        await _lock_task(conn, claim.task_id)
        updated = await (
            await conn.execute(
                "UPDATE images SET status = 'done', finished_at = now(),"
                " lease_expires_at = NULL, error_code = NULL, error_message = NULL"
                " WHERE id = %s AND status = 'processing' AND lease_owner = %s"
                " AND attempts = %s RETURNING id",
                [claim.image_id, worker, claim.attempt],
            )
        ).fetchone()
        if updated is None:
            return False, None
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO outputs (image_id, variant, format, width, height, bytes, s3_key)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (image_id, variant) DO UPDATE SET format = excluded.format,"
                " width = excluded.width, height = excluded.height, bytes = excluded.bytes,"
                " s3_key = excluded.s3_key",
                [
                    (claim.image_id, o.variant, o.format, o.width, o.height, o.bytes, o.key)
                    for o in outputs
                ],
            )
        return True, await _finish_task_if_complete(conn, claim.task_id)


async def record_failed(
    conn: Connection, claim: Claim, worker: str, error: JobError
) -> tuple[bool, FinishedTask | None]:
    async with conn.transaction():
        await _lock_task(conn, claim.task_id)
        updated = await (
            await conn.execute(
                "UPDATE images SET status = 'failed', finished_at = now(),"
                " lease_expires_at = NULL, error_code = %s, error_message = %s"
                " WHERE id = %s AND status = 'processing' AND lease_owner = %s"
                " AND attempts = %s RETURNING id",
                [error.code.value, error.message, claim.image_id, worker, claim.attempt],
            )
        ).fetchone()
        if updated is None:
            return False, None
        return True, await _finish_task_if_complete(conn, claim.task_id)


async def record_retrying(
    conn: Connection, claim: Claim, worker: str, error: JobError, delay_seconds: float
) -> datetime | None:
    """Schedule the next attempt; the reconciler republishes the job when it is due."""
    async with conn.transaction():
        cursor = await conn.execute(
            "UPDATE images SET status = 'retrying', enqueued_at = NULL,"
            " next_attempt_at = now() + make_interval(secs => %s),"
            " lease_expires_at = NULL, error_code = %s, error_message = %s"
            " WHERE id = %s AND status = 'processing' AND lease_owner = %s AND attempts = %s"
            " RETURNING next_attempt_at",
            [delay_seconds, error.code.value, error.message, claim.image_id, worker, claim.attempt],
        )
        row = await cursor.fetchone()
    return row["next_attempt_at"] if row else None
