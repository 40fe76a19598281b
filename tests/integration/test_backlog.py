"""The per-owner backlog limit on task creation, against the real PostgreSQL."""

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.db import Connection
from common.errors import Conflict
from common.settings import PostgresSettings
from schemas.tasks import CreateTaskCommand, NewImage, ProcessingParams
from task_service.migrate import migrate
from task_service.tasks import repository, service
from task_service.tasks.errors import Backlogged, SubmissionsQueued, TooManyImages

DSN = PostgresSettings().secret("database_url")
LIMIT = 5


async def _connect() -> Connection:
    return await psycopg.AsyncConnection.connect(DSN, row_factory=dict_row)


def _command(owner: str, images: int) -> CreateTaskCommand:
    return CreateTaskCommand(
        id=uuid.uuid4(),
        owner=owner,
        params=ProcessingParams(width=10),
        images=[
            NewImage(id=uuid.uuid4(), source_kind="s3", source_ref=f"sources/x/{i}")
            for i in range(images)
        ],
    )


async def _submit(conn: Connection, command: CreateTaskCommand, hold_seconds: float = 0) -> None:
    """Task creation's transaction, kept open `hold_seconds` longer."""
    async with conn.transaction():
        task_id, inserted = await service.make_task(conn, command, LIMIT)
        assert (task_id, inserted) == (command.id, True)
        await asyncio.sleep(hold_seconds)


async def _finish(conn: Connection, image_ids: Sequence[uuid.UUID], status: str) -> None:
    await conn.execute(
        "UPDATE images SET status = %s, finished_at = now() WHERE id = ANY(%s)",
        [status, list(image_ids)],
    )
    await conn.commit()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture(scope="module", autouse=True)
def schema() -> None:
    async def go() -> None:
        async with await _connect() as conn:
            await migrate(conn)
            await conn.commit()

    run(go())


def test_a_task_that_would_pass_the_owners_limit_is_refused_with_429_until_images_finish() -> None:
    owner = f"backlog-{uuid.uuid4().hex[:8]}"

    async def go() -> None:
        async with await _connect() as conn:
            first = _command(owner, 3).model_copy(update={"idempotency_key": "first"})
            await _submit(conn, first)

            with pytest.raises(Backlogged) as refused:
                await _submit(conn, _command(owner, 3))
            assert refused.value.status_code == 429
            assert refused.value.code == "too_many_unfinished_images"
            assert refused.value.headers == {"Retry-After": "60"}
            assert "3 of your images" in refused.value.message

            # A task that could never pass the limit is told so, not to wait.
            with pytest.raises(TooManyImages) as too_big:
                await _submit(conn, _command(f"{owner}-big", LIMIT + 1))
            assert too_big.value.status_code == 413

            # Up to the limit exactly is fine, and another owner is not held back.
            await _submit(conn, _command(owner, 2))
            await _submit(conn, _command(f"{owner}-other", LIMIT))
            assert await repository.unfinished_images(conn, owner) == LIMIT

            # At the limit, a retried submission still gets the task it made.
            retried = _command(owner, 3).model_copy(update={"idempotency_key": "first"})
            async with conn.transaction():
                assert await service.make_task(conn, retried, LIMIT) == (first.id, False)

            # Done, failed and cancelled images no longer count; processing ones do.
            done, failed, cancelled = (image.id for image in first.images)
            await _finish(conn, [done], "done")
            await _finish(conn, [failed], "failed")
            await _finish(conn, [cancelled], "cancelled")
            await _submit(conn, _command(owner, 3))
            assert await repository.unfinished_images(conn, owner) == LIMIT

    run(go())


def test_two_submissions_at_once_cannot_both_pass_the_limit() -> None:
    owner = f"backlog-race-{uuid.uuid4().hex[:8]}"

    async def go() -> list[BaseException | None]:
        first, second = await _connect(), await _connect()
        try:
            # The first holds its transaction open; the second must wait for it and then count
            # its images, rather than count without them.
            outcomes = await asyncio.gather(
                _submit(first, _command(owner, 3), hold_seconds=0.5),
                _delayed(_submit(second, _command(owner, 3)), 0.1),
                return_exceptions=True,
            )
            assert await repository.unfinished_images(first, owner) == 3
            return list(outcomes)
        finally:
            await first.close()
            await second.close()

    outcomes = run(go())
    assert outcomes[0] is None
    assert isinstance(outcomes[1], Backlogged)


async def _delayed(coroutine: Any, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await coroutine


def test_retrying_failed_images_is_held_to_the_owners_limit_too() -> None:
    owner = f"backlog-retry-{uuid.uuid4().hex[:8]}"

    async def go() -> None:
        async with await _connect() as conn:
            failing = _command(owner, 3)
            await _submit(conn, failing)
            await _finish(conn, [image.id for image in failing.images], "failed")
            await _submit(conn, _command(owner, 3))

            with pytest.raises(Backlogged):
                await service.requeue_within_backlog(conn, failing.id, owner, LIMIT)

            await service.requeue_within_backlog(conn, failing.id, owner, LIMIT + 1)
            await conn.commit()
            assert await repository.unfinished_images(conn, owner) == 6

    run(go())


def test_a_task_with_nothing_to_retry_says_so_even_past_the_limit() -> None:
    owner = f"backlog-nothing-{uuid.uuid4().hex[:8]}"

    async def go() -> None:
        async with await _connect() as conn:
            done = _command(owner, 1)
            await _submit(conn, done)
            await _finish(conn, [done.images[0].id], "done")
            await _submit(conn, _command(owner, LIMIT))

            # Past the limit (5 unfinished, limit 4), and still nothing to retry is the answer.
            with pytest.raises(Conflict) as refused:
                await service.requeue_within_backlog(conn, done.id, owner, LIMIT - 1)
            assert refused.value.code == "nothing_to_retry"

    run(go())


def test_a_submission_that_cannot_get_the_owners_lock_soon_is_refused_as_not_made() -> None:
    owner = f"backlog-busy-{uuid.uuid4().hex[:8]}"

    async def go() -> None:
        holder, waiter = await _connect(), await _connect()
        try:
            async with holder.transaction():
                await repository.hold_owner(holder, owner)  # another process's submission
                command = _command(owner, 1)
                with pytest.raises(SubmissionsQueued):
                    async with waiter.transaction():
                        await service.make_task(waiter, command, LIMIT)
            async with waiter.transaction():
                assert await repository.find_existing(waiter, owner, None, None, command.id) is None
        finally:
            await holder.close()
            await waiter.close()

    run(go())
