"""Task state shared by the processor (an image changed) and task_service (a cancel).

Every transaction that changes an image's status takes its task's row lock first
(`lock_task`). So exactly one transaction sees the last open image close and marks the task
finished, and the image_events ids of one task are handed out in commit order, which is what
lets an event stream resume from "after id N" without ever skipping an event.

End times are clock_timestamp(), not now(): now() is when a transaction began, and one that
began first may take the lock last, which would finish a task before its last image.
"""

from dataclasses import dataclass
from uuid import UUID

from common.db import Connection
from schemas.tasks import TaskCounts, TaskStatus


@dataclass(frozen=True)
class FinishedTask:
    task_id: UUID
    owner: str
    status: TaskStatus
    counts: TaskCounts


async def lock_task(conn: Connection, task_id: UUID) -> None:
    await conn.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", [task_id])


async def finish_task_if_complete(conn: Connection, task_id: UUID) -> FinishedTask | None:
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
            " UPDATE tasks t SET finished_at = clock_timestamp(), status = CASE"
            "   WHEN t.status = 'cancelled' OR c.cancelled > 0 THEN 'cancelled'"
            "   WHEN c.done = c.total THEN 'done'"
            "   WHEN c.done = 0 THEN 'failed'"
            "   ELSE 'partial' END,"
            # The completion webhook is due now; a retried task that completes again is
            # announced again.
            " webhook_due_at = CASE WHEN t.callback_url IS NULL THEN NULL ELSE now() END,"
            " webhook_attempts = 0, webhook_delivered_at = NULL"
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
