"""Task creation: rows in one transaction, then the jobs to Kafka."""

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

from psycopg import errors as pg_errors

from common import metrics
from common.db import Connection, Pool
from common.errors import NotFound
from schemas import topics
from schemas.records import TaskCancelled, TaskCompleted
from schemas.tasks import CreateTaskCommand, TaskView
from task_service.tasks import repository
from task_service.tasks.errors import Backlogged, SubmissionsQueued, TooManyImages
from task_service.tasks.publisher import JobPublisher

# Waiting for the owner's turn, then for a connection (common/db.py, 5 s) and for the
# owner's lock in PostgreSQL (3 s, in make_task): together well under the gateway's 15 s wait
# for an answer, so a submission that cannot start soon is refused as not made, never made
# after its client gave up.
_OWNER_TURN_SECONDS = 5.0


class _OwnerTurns:
    """One task creation at a time per owner in this process, queued before taking a
    database connection: one owner's burst waits here, not on the pool everyone shares.
    (Several task_service processes are kept apart by the owner's lock in PostgreSQL.)"""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def __call__(self, owner: str) -> AsyncIterator[None]:
        lock = self._locks.get(owner)
        if lock is None:
            lock = self._locks[owner] = asyncio.Lock()
        try:
            async with asyncio.timeout(_OWNER_TURN_SECONDS):
                await lock.acquire()
        except TimeoutError:
            raise SubmissionsQueued() from None
        try:
            yield
        finally:
            lock.release()


_owner_turns = _OwnerTurns()


async def create_task(
    pool: Pool, publisher: JobPublisher, command: CreateTaskCommand, max_unfinished_images: int
) -> tuple[TaskView, bool]:
    """The task, and whether it is this command's own: made now, or by an earlier send of
    the same command (same task id). A repeated key or ref returns the first task as not
    this command's.

    A new task is refused while its owner would have more than `max_unfinished_images`
    images waiting or in work.
    """
    async with _owner_turns(command.owner), pool.connection() as conn:
        task_id, inserted = await make_task(conn, command, max_unfinished_images)
    # Read after the owner's turn is over: the owner's next submission waits only on the write.
    async with pool.connection() as conn:
        view = await repository.load_task(conn, task_id, command.owner)
    if view is None:
        raise NotFound(f"task {task_id} vanished")
    if inserted:
        metrics.TASKS_CREATED.inc()
        publisher.publish_soon([image.id for image in command.images])
    return view, task_id == command.id


async def make_task(
    conn: Connection, command: CreateTaskCommand, max_unfinished_images: int
) -> tuple[UUID, bool]:
    """In one transaction: the task's id, and whether its rows were inserted now (else it is
    the task an earlier send of the command, or of its key or ref, made)."""
    async with conn.transaction():
        # One submission of an owner at a time: a retry finds the task its twin made, and
        # the backlog count holds until this one is in.
        await conn.execute("SET LOCAL lock_timeout = '3s'")
        try:
            await repository.hold_owner(conn, command.owner)
        except pg_errors.LockNotAvailable:
            raise SubmissionsQueued() from None
        existing = await repository.find_existing(
            conn, command.owner, command.idempotency_key, command.ref, command.id
        )
        if existing is not None:
            return existing, False
        await _admit(conn, command, max_unfinished_images)
        await repository.insert_task(conn, command)
    return command.id, True


async def _admit(conn: Connection, command: CreateTaskCommand, max_unfinished_images: int) -> None:
    """Refuse the new task if its owner would have too many images unfinished (the caller
    holds the owner, so that the count stays true until the task is in)."""
    if len(command.images) > max_unfinished_images:
        # Waiting would not help: say so, rather than 429 for ever.
        raise TooManyImages(
            f"a task of {len(command.images)} images is over the {max_unfinished_images} an"
            " owner may have waiting or in work at once"
        )
    unfinished = await repository.unfinished_images(conn, command.owner)
    _refuse_past_limit(unfinished, len(command.images), max_unfinished_images)


async def requeue_within_backlog(
    conn: Connection, task_id: UUID, owner: str | None, max_unfinished_images: int
) -> list[UUID]:
    """In one transaction: the task's failed images queued again, unless that took its
    owner past the backlog limit (then nothing is)."""
    async with conn.transaction():
        task = await repository.lock_owned_task(conn, task_id, owner)
        await repository.hold_owner(conn, task["owner"])
        requeued = await repository.requeue_failed(conn, task_id)
        unfinished = await repository.unfinished_images(conn, task["owner"])
        _refuse_past_limit(unfinished - len(requeued), len(requeued), max_unfinished_images)
        return requeued


def _refuse_past_limit(unfinished: int, adding: int, limit: int) -> None:
    if unfinished + adding > limit:
        raise Backlogged(
            f"{unfinished} of your images are still waiting or in work; {adding} more would"
            f" pass the limit of {limit}. Retry when some have finished."
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
    pool: Pool,
    publisher: JobPublisher,
    task_id: UUID,
    owner: str | None,
    max_unfinished_images: int,
) -> TaskView:
    """Queue the task's failed images again, within its owner's backlog limit."""
    async with pool.connection() as conn:
        image_ids = await requeue_within_backlog(conn, task_id, owner, max_unfinished_images)
        view = await repository.load_task(conn, task_id, owner)
    publisher.publish_soon(image_ids)
    assert view is not None
    return view
