"""SQL for tasks and images. Functions take a connection so callers own the transaction."""

import base64
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from common.db import Connection, Row
from common.errors import Conflict, NotFound
from common.log import current_context
from common.task_state import FinishedTask, finish_task_if_complete
from schemas.records import ImageJob, SourceRef
from schemas.tasks import CreateTaskCommand, ProcessingParams, StoredImage, TaskPage, TaskView
from task_service.tasks.views import counts_of, image_view, task_summary, task_view


async def find_existing(
    conn: Connection,
    owner: str,
    idempotency_key: str | None,
    ref: str | None,
    task_id: UUID | None = None,
) -> UUID | None:
    """The task an earlier submission with the same key or ref created, or the task
    `task_id` itself if it exists, if any."""
    if idempotency_key is None and ref is None and task_id is None:
        return None
    cursor = await conn.execute(
        "SELECT id FROM tasks WHERE owner = %s"
        " AND (id = %s"
        "   OR (%s::text IS NOT NULL AND idempotency_key = %s)"
        "   OR (%s::text IS NOT NULL AND ref = %s))"
        " ORDER BY id = %s DESC, created_at LIMIT 1",
        [owner, task_id, idempotency_key, idempotency_key, ref, ref, task_id],
    )
    row = await cursor.fetchone()
    return row["id"] if row else None


# The first key of the two-key advisory locks that serialise one owner's task creations; the
# two-key space is apart from the migrations' one-key lock.
_OWNER_LOCK = 0x706D_0001


async def hold_owner(conn: Connection, owner: str) -> None:
    """Lock the owner's task creation until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_OWNER_LOCK, owner])


async def unfinished_images(conn: Connection, owner: str) -> int:
    """The owner's images not yet done, failed or cancelled."""
    cursor = await conn.execute(
        "SELECT count(*) AS unfinished FROM images i JOIN tasks t ON t.id = i.task_id"
        " WHERE t.owner = %s AND t.finished_at IS NULL"
        " AND i.status IN ('queued', 'processing', 'retrying')",
        [owner],
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row["unfinished"])


async def insert_task(conn: Connection, command: CreateTaskCommand) -> None:
    await conn.execute(
        "INSERT INTO tasks (id, owner, params, callback_url, ref, idempotency_key, request_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [
            command.id,
            command.owner,
            Jsonb(command.params.model_dump(mode="json")),
            command.callback_url,
            command.ref,
            command.idempotency_key,
            current_context().get("request_id"),
        ],
    )
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO images"
            " (id, task_id, position, name, source_kind, source_ref, source_pending)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    image.id,
                    command.id,
                    position,
                    image.name,
                    image.source_kind,
                    image.source_ref,
                    image.source_pending,
                )
                for position, image in enumerate(command.images)
            ],
        )


async def load_task(conn: Connection, task_id: UUID, owner: str | None) -> TaskView | None:
    """The task view; None when it does not exist or belongs to someone else."""
    cursor = await conn.execute(
        "SELECT * FROM tasks WHERE id = %s AND (%s::text IS NULL OR owner = %s)",
        [task_id, owner, owner],
    )
    task = await cursor.fetchone()
    if task is None:
        return None
    images = await (
        await conn.execute("SELECT * FROM images WHERE task_id = %s ORDER BY position", [task_id])
    ).fetchall()
    outputs = await (
        await conn.execute(
            "SELECT o.* FROM outputs o JOIN images i ON i.id = o.image_id WHERE i.task_id = %s",
            [task_id],
        )
    ).fetchall()
    return task_view(task, images, outputs)


def _encode_cursor(created_at: datetime, task_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{task_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raises ValueError for a cursor this service did not make."""
    created, _, task_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
    return datetime.fromisoformat(created), UUID(task_id)


async def list_tasks(
    conn: Connection, owner: str | None, limit: int, cursor: tuple[datetime, UUID] | None
) -> TaskPage:
    after_created, after_id = cursor if cursor else (None, None)
    rows = await (
        await conn.execute(
            "SELECT t.*, array_agg(i.status) AS statuses FROM tasks t"
            " JOIN images i ON i.task_id = t.id"
            " WHERE (%s::text IS NULL OR t.owner = %s)"
            "   AND (%s::timestamptz IS NULL OR (t.created_at, t.id) < (%s, %s))"
            " GROUP BY t.id ORDER BY t.created_at DESC, t.id DESC LIMIT %s",
            [owner, owner, after_created, after_created, after_id, limit + 1],
        )
    ).fetchall()
    items = [task_summary(row, counts_of(row["statuses"])) for row in rows[:limit]]
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return TaskPage(
        items=items,
        next_cursor=_encode_cursor(last["created_at"], last["id"]) if last else None,
    )


def _job(row: dict[str, Any]) -> ImageJob:
    params = ProcessingParams.model_validate(row["params"])
    return ImageJob(
        task_id=row["task_id"],
        image_id=row["id"],
        owner=row["owner"],
        attempt=row["attempts"] + 1,
        source=SourceRef(kind=row["source_kind"], ref=row["source_ref"]),
        variants=params.variants,
        request_id=row["request_id"],
    )


_SELECT_JOBS = sql.SQL(
    "SELECT i.id, i.task_id, i.attempts, i.source_kind, i.source_ref,"
    " t.owner, t.params, t.request_id"
    " FROM images i JOIN tasks t ON t.id = i.task_id WHERE "
)


async def jobs_for(conn: Connection, image_ids: list[UUID]) -> list[ImageJob]:
    rows = await (
        await conn.execute(
            _SELECT_JOBS
            + sql.SQL("i.id = ANY(%s) AND i.status = 'queued' AND NOT i.source_pending"),
            [image_ids],
        )
    ).fetchall()
    return [_job(row) for row in rows]


async def claim_jobs_to_publish(
    conn: Connection, unpublished_after_seconds: float, limit: int
) -> list[ImageJob]:
    """Jobs whose record must be (re)sent: never published, retry due, or lease expired.

    Rows are locked (SKIP LOCKED) for the caller's transaction, so several reconcilers share
    the work instead of sending it twice.
    """
    rows = await (
        await conn.execute(
            _SELECT_JOBS
            + sql.SQL(
                "(i.status = 'queued' AND i.enqueued_at IS NULL AND NOT i.source_pending"
                "  AND i.created_at < now() - make_interval(secs => %s))"
                " OR (i.status = 'retrying' AND i.enqueued_at IS NULL"
                "  AND i.next_attempt_at <= now())"
                " OR (i.status = 'processing' AND i.lease_expires_at < now()"
                "  AND (i.enqueued_at IS NULL OR i.enqueued_at < i.lease_expires_at))"
                " ORDER BY i.created_at LIMIT %s FOR UPDATE OF i SKIP LOCKED"
            ),
            [unpublished_after_seconds, limit],
        )
    ).fetchall()
    return [_job(row) for row in rows]


async def mark_enqueued(conn: Connection, image_ids: list[UUID]) -> None:
    """Mark jobs the caller sent while holding their rows locked (the reconciler)."""
    await conn.execute("UPDATE images SET enqueued_at = now() WHERE id = ANY(%s)", [image_ids])


async def mark_first_sent(conn: Connection, image_ids: list[UUID]) -> None:
    """Mark jobs sent without holding their rows, but only rows no worker has touched since.

    Kafka can acknowledge a job, a processor claim it and schedule a retry or give it back
    (which clears `enqueued_at` to have it resent) before this mark lands; marking such a row
    would leave it waiting for a resend that never comes. `started_at` is set by the first
    claim and kept, so it tells a row still as it was sent from one a worker has had.
    """
    await conn.execute(
        "UPDATE images SET enqueued_at = now() WHERE id = ANY(%s)"
        " AND status = 'queued' AND enqueued_at IS NULL AND started_at IS NULL",
        [image_ids],
    )


async def load_image(conn: Connection, image_id: UUID, owner: str | None) -> StoredImage | None:
    cursor = await conn.execute(
        "SELECT i.*, t.owner, t.params FROM images i JOIN tasks t ON t.id = i.task_id"
        " WHERE i.id = %s AND (%s::text IS NULL OR t.owner = %s)",
        [image_id, owner, owner],
    )
    image = await cursor.fetchone()
    if image is None:
        return None
    outputs = await (
        await conn.execute("SELECT * FROM outputs WHERE image_id = %s", [image_id])
    ).fetchall()
    view = image_view(image, outputs, ProcessingParams.model_validate(image["params"]))
    keys = {o["variant"]: o["s3_key"] for o in outputs}
    return StoredImage(
        image=view,
        owner=image["owner"],
        source_kind=image["source_kind"],
        source_ref=image["source_ref"],
        # In the order the variants were asked for, as in the view: the first is the default.
        output_keys={output.variant: keys[output.variant] for output in view.outputs},
    )


async def lock_owned_task(conn: Connection, task_id: UUID, owner: str | None) -> Row:
    row = await (
        await conn.execute(
            "SELECT id, owner, status, finished_at FROM tasks"
            " WHERE id = %s AND (%s::text IS NULL OR owner = %s) FOR UPDATE",
            [task_id, owner, owner],
        )
    ).fetchone()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row


async def cancel_task(
    conn: Connection, task_id: UUID, owner: str | None
) -> tuple[str, FinishedTask | None]:
    """Cancel what has not started; running images finish. Returns the owner and, when
    nothing is left running, the finished task."""
    async with conn.transaction():
        task = await lock_owned_task(conn, task_id, owner)
        if task["finished_at"] is not None:
            raise Conflict(f"task {task_id} is already {task['status']}", code="task_finished")
        await conn.execute(
            "UPDATE images SET status = 'cancelled', finished_at = clock_timestamp(),"
            " lease_expires_at = NULL, next_attempt_at = NULL"
            " WHERE task_id = %s AND status IN ('queued', 'retrying')",
            [task_id],
        )
        await conn.execute("UPDATE tasks SET status = 'cancelled' WHERE id = %s", [task_id])
        return task["owner"], await finish_task_if_complete(conn, task_id)


async def requeue_failed(conn: Connection, task_id: UUID) -> list[UUID]:
    """Put the task's failed images back in the queue with a fresh set of attempts; the
    caller holds the task (lock_owned_task)."""
    async with conn.transaction():
        rows = await (
            await conn.execute(
                "UPDATE images SET status = 'queued', attempts = 0, enqueued_at = NULL,"
                " next_attempt_at = NULL, lease_owner = NULL, lease_expires_at = NULL,"
                " error_code = NULL, error_message = NULL, started_at = NULL, finished_at = NULL"
                " WHERE task_id = %s AND status = 'failed' RETURNING id",
                [task_id],
            )
        ).fetchall()
        if not rows:
            raise Conflict(f"task {task_id} has no failed images", code="nothing_to_retry")
        # Not finished any more: an announcement of the earlier finish still due is moot, and
        # the task is announced again when it finishes again.
        await conn.execute(
            "UPDATE tasks SET status = 'processing', finished_at = NULL, webhook_due_at = NULL"
            " WHERE id = %s",
            [task_id],
        )
    return [row["id"] for row in rows]


async def mark_source_stored(conn: Connection, image_id: UUID) -> bool:
    """The spooled source reached S3; False if no such image is waiting for it."""
    row = await (
        await conn.execute(
            "UPDATE images SET source_pending = false WHERE id = %s AND source_pending"
            " RETURNING id",
            [image_id],
        )
    ).fetchone()
    return row is not None


async def image_exists(conn: Connection, image_id: UUID) -> bool:
    row = await (await conn.execute("SELECT 1 FROM images WHERE id = %s", [image_id])).fetchone()
    return row is not None


# Every UTC day of the period has a row (LEFT JOIN), so quiet days count zero. Ranges over
# finished_at rather than a cast of it, so that an index on finished_at could serve it.
_DAILY_IMAGE_COUNTS = """
WITH days AS (
    SELECT (now() AT TIME ZONE 'UTC')::date - back AS day
    FROM generate_series(0, %(period_days)s - 1) AS back
)
SELECT days.day,
       count(*) FILTER (WHERE images.status = 'done') AS done,
       count(*) FILTER (WHERE images.status = 'failed') AS failed
FROM days
LEFT JOIN images
       ON images.status IN ('done', 'failed')
      AND images.finished_at >= days.day::timestamp AT TIME ZONE 'UTC'
      AND images.finished_at < (days.day + 1)::timestamp AT TIME ZONE 'UTC'
GROUP BY days.day
ORDER BY days.day
"""


async def daily_image_counts(conn: Connection, period_days: int) -> list[Row]:
    """Images done and failed per UTC day, over the last `period_days` days, today last."""
    cursor = await conn.execute(_DAILY_IMAGE_COUNTS, {"period_days": period_days})
    return await cursor.fetchall()


async def count_unpublished(conn: Connection) -> int:
    row = await (
        await conn.execute(
            "SELECT count(*) AS n FROM images"
            " WHERE enqueued_at IS NULL AND status = 'queued' AND NOT source_pending"
        )
    ).fetchone()
    return int(row["n"]) if row else 0
