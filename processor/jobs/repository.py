"""The processor's writes to PostgreSQL: claims, outcomes and task completion.

Every outcome is conditional on still holding the lease, so a worker that lost its claim to
another (after a pause longer than the lease) can never overwrite the newer outcome.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from common.db import Connection
from common.task_state import FinishedTask, finish_task_if_complete, lock_task
from processor.jobs.errors import JobError


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


# One statement, so one round trip: it takes the task's row lock first (every status change
# does, see common/task_state.py), then the image, then marks the task started.
_CLAIM = """
WITH task AS (
    SELECT t.id FROM tasks t JOIN images i ON i.task_id = t.id
    WHERE i.id = %(id)s
    FOR UPDATE OF t
), claimed AS (
    UPDATE images SET status = 'processing', attempts = attempts + 1,
        lease_owner = %(worker)s,
        lease_expires_at = now() + make_interval(secs => %(lease)s),
        started_at = coalesce(started_at, now()), next_attempt_at = NULL
    FROM task
    WHERE images.id = %(id)s AND images.task_id = task.id
      AND (images.status = 'queued'
        OR (images.status = 'retrying' AND images.next_attempt_at <= now())
        OR (images.status = 'processing' AND images.lease_expires_at < now()))
    RETURNING images.task_id, images.attempts
), started AS (
    UPDATE tasks SET status = 'processing'
    FROM claimed WHERE tasks.id = claimed.task_id AND tasks.status = 'queued'
)
SELECT task_id, attempts FROM claimed
"""


async def claim(
    conn: Connection, image_id: UUID, worker: str, lease_seconds: float
) -> Claim | None:
    """Take the image for this worker; None if it is finished, cancelled or held by another."""
    async with conn.transaction():
        row = await (
            await conn.execute(_CLAIM, {"id": image_id, "worker": worker, "lease": lease_seconds})
        ).fetchone()
    if row is None:
        return None
    return Claim(image_id, row["task_id"], row["attempts"])


async def renew_lease(conn: Connection, claim: Claim, worker: str, lease_seconds: float) -> bool:
    """Push the lease forward while the image is worked on; False if it is not ours anymore.

    Only the lease changes, not the status: no task lock and no event needed.
    """
    async with conn.transaction():
        row = await (
            await conn.execute(
                "UPDATE images SET lease_expires_at = now() + make_interval(secs => %s)"
                " WHERE id = %s AND status = 'processing' AND lease_owner = %s AND attempts = %s"
                " RETURNING id",
                [lease_seconds, claim.image_id, worker, claim.attempt],
            )
        ).fetchone()
    return row is not None


async def record_done(
    conn: Connection, claim: Claim, worker: str, outputs: list[StoredOutput]
) -> tuple[bool, FinishedTask | None]:
    """Mark the image done with its outputs. (False, None) if the lease was lost meanwhile."""
    async with conn.transaction():
        await lock_task(conn, claim.task_id)
        updated = await (
            await conn.execute(
                "UPDATE images SET status = 'done', finished_at = clock_timestamp(),"
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
        return True, await finish_task_if_complete(conn, claim.task_id)


async def record_failed(
    conn: Connection, claim: Claim, worker: str, error: JobError
) -> tuple[bool, FinishedTask | None]:
    async with conn.transaction():
        await lock_task(conn, claim.task_id)
        updated = await (
            await conn.execute(
                "UPDATE images SET status = 'failed', finished_at = clock_timestamp(),"
                " lease_expires_at = NULL, error_code = %s, error_message = %s"
                " WHERE id = %s AND status = 'processing' AND lease_owner = %s"
                " AND attempts = %s RETURNING id",
                [error.code.value, error.message, claim.image_id, worker, claim.attempt],
            )
        ).fetchone()
        if updated is None:
            return False, None
        return True, await finish_task_if_complete(conn, claim.task_id)


@dataclass(frozen=True)
class Deferred:
    """An image sent back to wait (a retry, or a stopping worker's hand-back).

    In a cancelled task it is cancelled instead: nothing new starts there, and `finished`
    is the task when that was its last running image.
    """

    recorded: bool
    cancelled: bool = False
    due: datetime | None = None
    finished: FinishedTask | None = None


# The image waits again (`status`, due after `delay` seconds if any), unless its task was
# cancelled meanwhile.
_DEFER = """
UPDATE images SET
    status = CASE WHEN t.status = 'cancelled' THEN 'cancelled' ELSE %(status)s END,
    finished_at = CASE WHEN t.status = 'cancelled' THEN clock_timestamp() END,
    next_attempt_at = CASE WHEN t.status = 'cancelled' THEN NULL
        ELSE now() + make_interval(secs => %(delay)s) END,
    attempts = attempts - %(give_back)s, enqueued_at = NULL,
    lease_owner = CASE WHEN %(give_back)s = 1 THEN NULL ELSE lease_owner END,
    lease_expires_at = NULL,
    error_code = coalesce(%(code)s, error_code),
    error_message = coalesce(%(message)s, error_message)
FROM tasks t
WHERE t.id = images.task_id AND images.id = %(id)s AND images.status = 'processing'
    AND images.lease_owner = %(worker)s AND images.attempts = %(attempt)s
RETURNING images.status, images.next_attempt_at
"""


async def _defer(conn: Connection, claim: Claim, worker: str, **change: object) -> Deferred:
    async with conn.transaction():
        await lock_task(conn, claim.task_id)
        row = await (
            await conn.execute(
                _DEFER, {"id": claim.image_id, "worker": worker, "attempt": claim.attempt, **change}
            )
        ).fetchone()
        if row is None:
            return Deferred(recorded=False)
        if row["status"] == "cancelled":
            finished = await finish_task_if_complete(conn, claim.task_id)
            return Deferred(recorded=True, cancelled=True, finished=finished)
        return Deferred(recorded=True, due=row["next_attempt_at"])


async def record_retrying(
    conn: Connection, claim: Claim, worker: str, error: JobError, delay_seconds: float
) -> Deferred:
    """Schedule the next attempt; the reconciler republishes the job when it is due."""
    return await _defer(
        conn,
        claim,
        worker,
        status="retrying",
        delay=delay_seconds,
        give_back=0,
        code=error.code.value,
        message=error.message,
    )


async def release(conn: Connection, claim: Claim, worker: str) -> Deferred:
    """Give the image back unprocessed (the worker is stopping); it is republished soon.
    The claim did not count as an attempt."""
    return await _defer(
        conn, claim, worker, status="queued", delay=None, give_back=1, code=None, message=None
    )
