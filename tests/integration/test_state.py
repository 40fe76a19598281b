"""Task and image state in the real PostgreSQL: migrations, claims, exactly-once completion."""

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from common.db import Connection
from common.settings import PostgresSettings
from processor.jobs import repository
from processor.jobs.errors import StorageError
from processor.jobs.repository import StoredOutput
from schemas.errors import ErrorCode
from schemas.tasks import CreateTaskCommand, NewImage, ProcessingParams, TaskStatus
from task_service.migrate import migrate
from task_service.tasks import repository as tasks_repository
from task_service.tasks.repository import insert_task
from task_service.webhooks import repository as webhooks_repository

DSN = PostgresSettings().secret("database_url")


async def _connect(**kwargs: Any) -> Connection:
    return await psycopg.AsyncConnection.connect(DSN, row_factory=dict_row, **kwargs)


def run(coroutine: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(coroutine())


@pytest.fixture(scope="module", autouse=True)
def schema() -> None:
    async def go() -> None:
        async with await _connect() as conn:
            await migrate(conn)

    run(go)


async def _new_task(conn: Connection, images: int) -> CreateTaskCommand:
    command = CreateTaskCommand(
        id=uuid.uuid4(),
        owner=f"state-test-{uuid.uuid4().hex[:8]}",
        params=ProcessingParams(width=10),
        images=[
            NewImage(id=uuid.uuid4(), source_kind="s3", source_ref=f"sources/x/{i}")
            for i in range(images)
        ],
    )
    async with conn.transaction():
        await insert_task(conn, command)
    return command


def test_migrations_started_together_apply_once() -> None:
    scratch = f"migration_test_{uuid.uuid4().hex[:10]}"

    async def go() -> list[list[str]]:
        async with await _connect(autocommit=True) as admin:
            await admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(scratch)))
        try:
            connections = [await _connect(options=f"-c search_path={scratch}") for _ in range(3)]
            try:
                applied = await asyncio.gather(*(migrate(c) for c in connections))
                rows = await (
                    await connections[0].execute("SELECT version FROM schema_migrations")
                ).fetchall()
                assert len(rows) == len({row["version"] for row in rows})
                return list(applied)
            finally:
                for connection in connections:
                    await connection.close()
        finally:
            async with await _connect(autocommit=True) as admin:
                await admin.execute(
                    sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(scratch))
                )

    applied = run(go)
    # Exactly one of the three applied each migration; the others found nothing to do.
    assert sorted(len(names) for names in applied)[:2] == [0, 0]
    assert len(max(applied, key=len)) >= 1


def test_an_image_held_under_a_lease_cannot_be_claimed_again() -> None:
    async def go() -> None:
        async with await _connect() as conn:
            command = await _new_task(conn, 1)
            image = command.images[0].id
            first = await repository.claim(conn, image, "worker-a", lease_seconds=60)
            second = await repository.claim(conn, image, "worker-b", lease_seconds=60)
            assert first is not None and first.attempt == 1
            assert second is None

    run(go)


def test_a_renewed_lease_keeps_the_image_and_only_its_holder_can_renew_it() -> None:
    async def go() -> None:
        async with await _connect() as conn:
            command = await _new_task(conn, 1)
            image = command.images[0].id
            claim = await repository.claim(conn, image, "worker-a", lease_seconds=0)
            assert claim is not None
            # Renewed before anyone else came: the lease runs again, and no one can take it.
            assert await repository.renew_lease(conn, claim, "worker-a", lease_seconds=60)
            assert await repository.claim(conn, image, "worker-b", lease_seconds=60) is None
            assert not await repository.renew_lease(conn, claim, "worker-b", lease_seconds=60)
            row = await (
                await conn.execute(
                    "SELECT attempts, lease_owner, lease_expires_at > now() + interval '50 s'"
                    " AS ahead FROM images WHERE id = %s",
                    [image],
                )
            ).fetchone()
            assert row == {"attempts": 1, "lease_owner": "worker-a", "ahead": True}
            events = await (
                await conn.execute(
                    "SELECT count(*) AS n FROM image_events WHERE image_id = %s", [image]
                )
            ).fetchone()
            assert events == {"n": 2}  # queued, processing: a renewal is no state change

    run(go)


def test_an_expired_lease_is_reclaimed_and_the_old_holder_cannot_record() -> None:
    async def go() -> None:
        async with await _connect() as conn:
            command = await _new_task(conn, 1)
            image = command.images[0].id
            stale = await repository.claim(conn, image, "worker-a", lease_seconds=0)
            fresh = await repository.claim(conn, image, "worker-b", lease_seconds=60)
            assert stale is not None and fresh is not None
            assert fresh.attempt == 2

            recorded, _ = await repository.record_done(conn, stale, "worker-a", [])
            assert recorded is False
            status = await (
                await conn.execute("SELECT status, lease_owner FROM images WHERE id = %s", [image])
            ).fetchone()
            assert status == {"status": "processing", "lease_owner": "worker-b"}

    run(go)


def test_a_task_completes_exactly_once_when_its_last_images_finish_together() -> None:
    async def finish(image_index: int, command: CreateTaskCommand) -> Any:
        async with await _connect() as conn:
            claim = await repository.claim(
                conn, command.images[image_index].id, f"w{image_index}", 60
            )
            assert claim is not None
            output = StoredOutput("default", "jpg", 10, 10, 100, f"results/{image_index}")
            return await repository.record_done(conn, claim, f"w{image_index}", [output])

    async def go() -> list[Any]:
        results: list[Any] = []
        for _ in range(5):  # the race has to be lost for real a few times
            async with await _connect() as conn:
                command = await _new_task(conn, 2)
            results.append(await asyncio.gather(finish(0, command), finish(1, command)))
        return results

    for pair in run(go):
        finished = [task for recorded, task in pair if task is not None]
        assert all(recorded for recorded, _ in pair)
        assert len(finished) == 1
        assert finished[0].status is TaskStatus.DONE
        assert finished[0].counts.done == 2


def test_one_failure_makes_the_task_partial() -> None:
    class Corrupt:
        code = ErrorCode.CORRUPT_IMAGE
        message = "truncated"
        permanent = True

    async def go() -> Any:
        async with await _connect() as conn:
            command = await _new_task(conn, 2)
            first = await repository.claim(conn, command.images[0].id, "w", 60)
            second = await repository.claim(conn, command.images[1].id, "w", 60)
            assert first and second
            await repository.record_failed(conn, first, "w", Corrupt())
            return await repository.record_done(conn, second, "w", [])

    recorded, finished = run(go)
    assert recorded
    assert finished is not None
    assert finished.status is TaskStatus.PARTIAL
    assert (finished.counts.done, finished.counts.failed) == (1, 1)


def test_every_state_change_is_one_event() -> None:
    async def go() -> list[str]:
        async with await _connect() as conn:
            command = await _new_task(conn, 1)
            image = command.images[0].id
            claim = await repository.claim(conn, image, "w", 60)
            assert claim
            await repository.record_done(conn, claim, "w", [])
            rows = await (
                await conn.execute(
                    "SELECT status FROM image_events WHERE image_id = %s ORDER BY id", [image]
                )
            ).fetchall()
            return [row["status"] for row in rows]

    assert run(go) == ["queued", "processing", "done"]


def test_a_reclaim_after_an_expired_lease_is_an_event_of_its_own() -> None:
    async def go() -> list[tuple[str, int]]:
        async with await _connect() as conn:
            command = await _new_task(conn, 1)
            image = command.images[0].id
            await repository.claim(conn, image, "worker-a", lease_seconds=0)
            await repository.claim(conn, image, "worker-b", lease_seconds=60)
            rows = await (
                await conn.execute(
                    "SELECT status, attempts FROM image_events WHERE image_id = %s ORDER BY id",
                    [image],
                )
            ).fetchall()
            return [(row["status"], row["attempts"]) for row in rows]

    assert run(go) == [("queued", 0), ("processing", 1), ("processing", 2)]


def test_a_late_first_send_mark_leaves_what_a_worker_has_had_to_the_reconciler() -> None:
    # Kafka acknowledged three jobs; before the publisher's mark lands, a worker schedules a
    # retry for one and gives another back. Only the untouched one may be marked as sent.
    async def go() -> None:
        async with await _connect() as conn:
            command = await _new_task(conn, 3)
            untouched, retried, released = (image.id for image in command.images)
            first = await repository.claim(conn, retried, "worker-a", lease_seconds=60)
            assert first is not None
            storage_down = StorageError(ErrorCode.STORAGE_UNAVAILABLE, "down", permanent=False)
            await repository.record_retrying(conn, first, "worker-a", storage_down, 0)
            second = await repository.claim(conn, released, "worker-a", lease_seconds=60)
            assert second is not None
            await repository.release(conn, second, "worker-a")

            await tasks_repository.mark_first_sent(conn, [untouched, retried, released])

            rows = await (
                await conn.execute(
                    "SELECT id, status, enqueued_at FROM images WHERE task_id = %s",
                    [command.id],
                )
            ).fetchall()
            marked = {row["id"]: row["enqueued_at"] is not None for row in rows}
            assert marked == {untouched: True, retried: False, released: False}
            resent = await tasks_repository.claim_jobs_to_publish(conn, 0, 1_000_000)
            assert {retried, released} <= {job.image_id for job in resent}
            assert untouched not in {job.image_id for job in resent}

    run(go)


def test_a_retried_task_is_not_announced_until_it_finishes_again() -> None:
    async def go() -> None:
        async with await _connect() as conn:
            command = CreateTaskCommand(
                id=uuid.uuid4(),
                owner=f"state-test-{uuid.uuid4().hex[:8]}",
                params=ProcessingParams(width=10),
                images=[NewImage(id=uuid.uuid4(), source_kind="s3", source_ref="sources/x/0")],
                callback_url="https://shop.example/hooks",
            )
            async with conn.transaction():
                await insert_task(conn, command)
            claim = await repository.claim(conn, command.images[0].id, "worker-a", 60)
            assert claim is not None
            corrupt = StorageError(ErrorCode.CORRUPT_IMAGE, "bad", permanent=True)
            recorded, finished = await repository.record_failed(conn, claim, "worker-a", corrupt)
            assert recorded and finished is not None

            async def announced() -> bool:
                due = await webhooks_repository.claim_due(conn, 1_000_000, 60)
                return command.id in {webhook.task_id for webhook in due}

            async with conn.transaction():
                await tasks_repository.lock_owned_task(conn, command.id, command.owner)
                await tasks_repository.requeue_failed(conn, command.id)
            assert not await announced()
            # An attempt that was in flight during the retry fails and comes due again.
            await conn.execute(
                "UPDATE tasks SET webhook_due_at = now() WHERE id = %s", [command.id]
            )
            assert not await announced()

    run(go)


def test_in_a_cancelled_task_a_retry_or_a_hand_back_cancels_the_image_and_ends_the_task() -> None:
    async def go() -> None:
        async with await _connect() as conn:
            live = await _new_task(conn, 1)
            claim = await repository.claim(conn, live.images[0].id, "worker-a", 60)
            assert claim is not None
            storage_down = StorageError(ErrorCode.STORAGE_UNAVAILABLE, "down", permanent=False)
            retrying = await repository.record_retrying(conn, claim, "worker-a", storage_down, 30)
            assert retrying.recorded and not retrying.cancelled and retrying.due is not None
            live_second = await _new_task(conn, 1)
            held = await repository.claim(conn, live_second.images[0].id, "worker-a", 60)
            assert held is not None
            handed_back = await repository.release(conn, held, "worker-a")
            assert handed_back.recorded and not handed_back.cancelled

            command = await _new_task(conn, 2)
            retried, given_back = (image.id for image in command.images)
            first = await repository.claim(conn, retried, "worker-a", 60)
            second = await repository.claim(conn, given_back, "worker-b", 60)
            assert first is not None and second is not None
            # Cancelling leaves running images to finish.
            async with conn.transaction():
                _, finished = await tasks_repository.cancel_task(conn, command.id, command.owner)
            assert finished is None

            deferred = await repository.record_retrying(conn, first, "worker-a", storage_down, 30)
            assert deferred.cancelled and deferred.due is None and deferred.finished is None
            released = await repository.release(conn, second, "worker-b")
            assert released.cancelled
            assert released.finished is not None
            assert released.finished.status is TaskStatus.CANCELLED

            rows = await (
                await conn.execute(
                    "SELECT status, finished_at FROM images WHERE task_id = %s", [command.id]
                )
            ).fetchall()
            assert all(r["status"] == "cancelled" and r["finished_at"] for r in rows), rows

    run(go)
