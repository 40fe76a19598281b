"""What happens to a submission's uploaded sources when task creation goes wrong.

A refusal discards them; a failure after which the task may exist keeps them until
task_service says it does not: images of a task that exists must never lose their source.
"""

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from common.errors import DependencyUnavailable
from gateway.settings import Settings
from gateway.spool import HOLD_SECONDS, Spool
from gateway.task_client import UpstreamError
from gateway.tasks.service import submit
from schemas.images import Fit
from schemas.tasks import CreateTaskCommand, TaskCounts, TaskStatus, TaskView
from tests.unit.gateway.test_uploads import BOUNDARY, JPEG, FakeS3, chunks, multipart


def _view(command: CreateTaskCommand) -> TaskView:
    return TaskView(
        id=command.id,
        status=TaskStatus.QUEUED,
        common_status_id=1,
        created_dt=datetime.now(UTC),
        finished_dt=None,
        width=None,
        height=None,
        fit=Fit.INSIDE,
        format=None,
        quality=None,
        variants=[],
        callback_url=None,
        ref=None,
        counts=TaskCounts(total=len(command.images), queued=len(command.images)),
        images=[],
    )


def _refusal(status: int, code: str) -> UpstreamError:
    error = UpstreamError("refused", code=code)
    error.status_code = status
    return error


class FailingTaskService:
    """task_service whose create call fails; `commits` says whether the task was made first."""

    def __init__(
        self, create_error: BaseException, commits: bool, lookup_error: Exception | None
    ) -> None:
        self.create_error = create_error
        self.commits = commits
        self.lookup_error = lookup_error
        self.made: TaskView | None = None

    async def find_task(self, owner: str, idempotency_key: str | None = None) -> None:
        return None

    async def create_task(self, command: CreateTaskCommand) -> tuple[TaskView, bool]:
        if self.commits:
            self.made = _view(command)
        raise self.create_error

    async def get_task(self, task_id: UUID, owner: str | None) -> TaskView:
        if self.lookup_error is not None:
            raise self.lookup_error
        if self.made is not None and self.made.id == task_id:
            return self.made
        raise _refusal(404, "not_found")


def _submit(tasks: FailingTaskService, s3: FakeS3, spool: Spool) -> tuple[TaskView, bool]:
    body = multipart([("file", "a.jpg", JPEG), ("file", "b.jpg", JPEG)])
    return asyncio.run(
        submit(
            body=chunks(body),
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
            content_length=len(body),
            owner="shop",
            idempotency_key=None,
            tasks=tasks,  # type: ignore[arg-type]
            s3=s3,
            spool=spool,
            settings=Settings(),
        )
    )


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool", max_bytes=10_000_000, retry_delays=[1.0])


def test_a_task_made_before_task_service_failed_keeps_its_sources_and_is_accepted(
    spool: Spool,
) -> None:
    s3 = FakeS3()
    tasks = FailingTaskService(
        DependencyUnavailable("answered 502"), commits=True, lookup_error=None
    )

    view, created = _submit(tasks, s3, spool)

    assert created and tasks.made is not None and view.id == tasks.made.id
    assert len(s3.objects) == 2 and all(data == JPEG for data in s3.objects.values())


def test_a_task_never_made_leaves_no_source_behind(spool: Spool) -> None:
    s3 = FakeS3()
    tasks = FailingTaskService(DependencyUnavailable("timed out"), commits=False, lookup_error=None)

    with pytest.raises(DependencyUnavailable):
        _submit(tasks, s3, spool)

    assert s3.objects == {}


def test_when_task_service_cannot_tell_the_sources_are_kept(spool: Spool) -> None:
    s3 = FakeS3()
    down = DependencyUnavailable("task_service is unavailable")
    tasks = FailingTaskService(DependencyUnavailable("timed out"), commits=False, lookup_error=down)

    with pytest.raises(DependencyUnavailable):
        _submit(tasks, s3, spool)

    assert len(s3.objects) == 2


def test_a_refused_task_leaves_no_source_behind(spool: Spool) -> None:
    s3 = FakeS3()
    refused = _refusal(429, "too_many_unfinished_images")
    tasks = FailingTaskService(refused, commits=False, lookup_error=None)

    with pytest.raises(UpstreamError) as raised:
        _submit(tasks, s3, spool)

    assert raised.value.status_code == 429
    assert s3.objects == {}


def test_a_gateway_dying_after_its_task_was_made_leaves_the_spooled_files_to_the_drain(
    spool: Spool,
) -> None:
    # S3 is down, so both files are spooled; the process dies right after task creation.
    s3 = FakeS3(down_after=0)
    tasks = FailingTaskService(SystemExit(), commits=True, lookup_error=None)

    with pytest.raises(SystemExit):
        _submit(tasks, s3, spool)

    restarted = Spool(spool.directory, max_bytes=10_000_000, retry_delays=[1.0])
    entries = [json.loads(p.read_text()) for p in restarted.directory.glob("*.json")]
    assert len(entries) == 2
    assert all(
        time.time() < entry["next_attempt_at"] <= time.time() + HOLD_SECONDS for entry in entries
    )
    assert {p.read_bytes() for p in restarted.directory.glob("*.data")} == {JPEG}
