from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from common.db import Connection
from schemas.tasks import TaskCounts, TaskStatus


@dataclass(frozen=True)
class DueWebhook:
    task_id: UUID
    owner: str
    url: str
    status: TaskStatus
    finished_at: datetime
    attempts: int
    counts: TaskCounts


async def claim_due(conn: Connection, limit: int, lease_seconds: float) -> list[DueWebhook]:
    """Due deliveries, pushed `lease_seconds` ahead so that no other sender takes them."""
    async with conn.transaction():
        rows = await (
            await conn.execute(
                "UPDATE tasks SET webhook_due_at = now() + make_interval(secs => %s)"
                " WHERE id IN (SELECT id FROM tasks WHERE webhook_due_at <= now()"
                # A failed attempt can make it due again after a retry reopened the task.
                "   AND webhook_delivered_at IS NULL AND finished_at IS NOT NULL"
                "   ORDER BY webhook_due_at LIMIT %s"
                "   FOR UPDATE SKIP LOCKED)"
                " RETURNING id, owner, callback_url, status, finished_at, webhook_attempts",
                [lease_seconds, limit],
            )
        ).fetchall()
        due = []
        for row in rows:
            counts = await (
                await conn.execute(
                    "SELECT count(*) AS total,"
                    " count(*) FILTER (WHERE status = 'done') AS done,"
                    " count(*) FILTER (WHERE status = 'failed') AS failed,"
                    " count(*) FILTER (WHERE status = 'cancelled') AS cancelled"
                    " FROM images WHERE task_id = %s",
                    [row["id"]],
                )
            ).fetchone()
            due.append(
                DueWebhook(
                    task_id=row["id"],
                    owner=row["owner"],
                    url=row["callback_url"],
                    status=TaskStatus(row["status"]),
                    finished_at=row["finished_at"],
                    attempts=row["webhook_attempts"],
                    counts=TaskCounts.model_validate(counts),
                )
            )
    return due


async def record_attempt(
    conn: Connection,
    webhook: DueWebhook,
    delivery_id: UUID,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    retry_in_seconds: float | None,
) -> None:
    """Record one attempt; delivered on a 2xx, else due again after `retry_in_seconds`
    (None: given up)."""
    attempt = webhook.attempts + 1
    delivered = error is None
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO webhook_attempts"
            " (task_id, attempt, delivery_id, status_code, error, duration_ms)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [webhook.task_id, attempt, delivery_id, status_code, error, duration_ms],
        )
        await conn.execute(
            "UPDATE tasks SET webhook_attempts = %s,"
            " webhook_delivered_at = CASE WHEN %s THEN now() END,"
            " webhook_due_at = CASE WHEN %s OR %s::float8 IS NULL THEN NULL"
            "   ELSE now() + make_interval(secs => %s) END"
            " WHERE id = %s",
            [attempt, delivered, delivered, retry_in_seconds, retry_in_seconds, webhook.task_id],
        )
