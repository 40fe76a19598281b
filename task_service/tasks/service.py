"""Task creation: rows in one transaction, then the jobs to Kafka."""

from datetime import UTC, datetime
from uuid import UUID

from common import metrics
from common.db import Connection, Pool
from common.errors import NotFound
from schemas import topics
from schemas.records import TaskCancelled, TaskCompleted
from schemas.tasks import CreateTaskCommand, TaskView
from task_service.tasks import repository
from task_service.tasks.errors import Backlogged, TooManyImages
from task_service.tasks.publisher import JobPublisher


async def create_task(
    pool: Pool, publisher: JobPublisher, command: CreateTaskCommand, max_unfinished_images: int
) -> tuple[TaskView, bool]:
    """The task and whether it is new; a repeated key or ref returns the first task.

    A new task is refused while its owner would have more than `max_unfinished_images`
    images waiting or in work.
    """
    async with pool.connection() as conn:
        async with conn.transaction():
            # One submission of an owner at a time: a retry finds the task its twin made,
            # and the backlog count holds until this one is in.
            await repository.hold_owner(conn, command.owner)
            existing = await repository.find_existing(
                conn, command.owner, command.idempotency_key, command.ref
            )
            if existing is None:
                await admit(conn, command, max_unfinished_images)
                await repository.insert_task(conn, command)
        task_id = existing or command.id
        view = await repository.load_task(conn, task_id, command.owner)
    if view is None:
        raise NotFound(f"task {task_id} vanished")
    if existing is None:
        metrics.TASKS_CREATED.inc()
        publisher.publish_soon([image.id for image in command.images])
    return view, existing is None


async def admit(conn: Connection, command: CreateTaskCommand, max_unfinished_images: int) -> None:
    """Refuse the new task if its owner would have too many images unfinished (the caller
    holds the owner, so that the count stays true until the task is in)."""
    if len(command.images) > max_unfinished_images:
        # Waiting would not help: say so, rather than 429 for ever.
        raise TooManyImages(
            f"a task of {len(command.images)} images is over the {max_unfinished_images} an"
            " owner may have waiting or in work at once"
        )
    unfinished = await repository.unfinished_images(conn, command.owner)
    if unfinished + len(command.images) > max_unfinished_images:
        raise Backlogged(
            f"{unfinished} of your images are still waiting or in work; a task of"
            f" {len(command.images)} more would pass the limit of {max_unfinished_images}."
            " Retry when some have finished."
        )


async def cancel_task(
    pool: Pool, publisher: JobPublisher, task_id: UUID, owner: str | None
) -> TaskView:
    async with pool.connection() as conn:
        task_owner, finished = await repository.cancel_task(conn, task_id, owner)
        view = await repository.load_task(conn, task_id, owner)
    now = datetime.now(UTC)
    publisher.emit(
        topics.TASK_EVENTS, task_id, TaskCancelled(task_id=task_id, owner=task_owner, at=now)
    )
    if finished is not None:
        metrics.TASKS_FINISHED.labels(finished.status.value).inc()
        publisher.emit(
            topics.TASK_EVENTS,
            task_id,
            TaskCompleted(
                task_id=task_id,
                owner=task_owner,
                status=finished.status,
                counts=finished.counts,
                at=now,
            ),
        )
    assert view is not None
    return view


async def retry_failed(
    pool: Pool, publisher: JobPublisher, task_id: UUID, owner: str | None
) -> TaskView:
    async with pool.connection() as conn:
        image_ids = await repository.requeue_failed(conn, task_id, owner)
        view = await repository.load_task(conn, task_id, owner)
    publisher.publish_soon(image_ids)
    assert view is not None
    return view
