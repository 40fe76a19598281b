"""Task creation: rows in one transaction, then the jobs to Kafka."""

from psycopg import errors as pg_errors

from common.db import Pool
from common.errors import NotFound
from schemas.tasks import CreateTaskCommand, TaskView
from task_service.tasks import repository
from task_service.tasks.publisher import JobPublisher


async def create_task(
    pool: Pool, publisher: JobPublisher, command: CreateTaskCommand
) -> tuple[TaskView, bool]:
    """The task and whether it is new; a repeated key or ref returns the first task."""
    async with pool.connection() as conn:
        async with conn.transaction():
            existing = await repository.find_existing(
                conn, command.owner, command.idempotency_key, command.ref
            )
            if existing is None:
                try:
                    async with conn.transaction():  # a savepoint: a lost race is not fatal
                        await repository.insert_task(conn, command)
                except pg_errors.UniqueViolation:
                    existing = await repository.find_existing(
                        conn, command.owner, command.idempotency_key, command.ref
                    )
                    if existing is None:
                        raise
        task_id = existing or command.id
        view = await repository.load_task(conn, task_id, command.owner)
    if view is None:
        raise NotFound(f"task {task_id} vanished")
    if existing is None:
        publisher.publish_soon([image.id for image in command.images])
    return view, existing is None
