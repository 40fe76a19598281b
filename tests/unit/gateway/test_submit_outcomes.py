"""What happens to a submission's uploaded sources when task creation goes wrong.

A refusal, or a task_service never reached, discards them. A failure with no answer is
settled by sending the same command again (task_service makes a task id once); only when
that fails too are the sources kept, since an image of a task that exists must never lose
its source, and the spool's drain deletes them once it is sure the task was never made.
"""

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.errors import DependencyUnavailable
from gateway import spool as spool_module
from gateway.settings import Settings
from gateway.spool import HOLD_SECONDS, Spool
from gateway.task_client import TaskServiceUnreachable, UpstreamError
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


NO_ANSWER = DependencyUnavailable("task_service answered 502")


class TaskService:
    """task_service as the gateway sees it: each send of a command takes its next scripted
    outcome. "made" makes the task (once per id, as the real one) and answers; "made, lost"
    makes it and the answer is lost; an exception fails the send without making anything."""

    def __init__(self, outcomes: Sequence[str | BaseException]) -> None:
        self.outcomes = list(outcomes)
        self.sends = 0
        self.made: dict[object, TaskView] = {}
        self.images: set[object] = set()
        self.up = True

    async def find_task(self, owner: str, idempotency_key: str | None = None) -> None:
        return None

    async def create_task(self, command: CreateTaskCommand) -> tuple[TaskView, bool]:
        outcome = self.outcomes[self.sends]
        self.sends += 1
        if isinstance(outcome, BaseException):
            raise outcome
        view = self.made.setdefault(command.id, _view(command))
        self.images |= {image.id for image in command.images}
        if outcome == "made, lost":
            raise NO_ANSWER
        return view, True

    async def image_exists(self, image_id: object) -> bool:
        if not self.up:
            raise NO_ANSWER
        return image_id in self.images


def _submit(tasks: TaskService, s3: FakeS3, spool: Spool) -> tuple[TaskView, bool]:
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


def test_a_task_made_before_its_answer_was_lost_is_accepted_with_its_sources(
    spool: Spool,
) -> None:
    s3 = FakeS3()
    tasks = TaskService(["made, lost", "made"])

    view, created = _submit(tasks, s3, spool)

    assert created and list(tasks.made) == [view.id] and tasks.sends == 2
    assert len(s3.objects) == 2 and all(data == JPEG for data in s3.objects.values())


def test_a_task_not_made_by_an_unanswered_send_is_made_by_the_second(spool: Spool) -> None:
    s3 = FakeS3()
    tasks = TaskService([NO_ANSWER, "made"])

    view, created = _submit(tasks, s3, spool)

    assert created and list(tasks.made) == [view.id]
    assert len(s3.objects) == 2


@pytest.mark.parametrize(
    "second",
    [TaskServiceUnreachable("gone"), _refusal(429, "too_many_submissions")],
    ids=["unreachable", "refused"],
)
def test_when_the_second_send_fails_too_the_sources_are_kept(
    spool: Spool, second: Exception
) -> None:
    # Even a refusal of the second send does not prove the first will not make the task.
    s3 = FakeS3()
    tasks = TaskService(["made, lost", second])

    with pytest.raises(type(second)):
        _submit(tasks, s3, spool)

    assert len(s3.objects) == 2
    entries = [json.loads(p.read_text()) for p in spool.directory.glob("*.json")]
    assert sorted(entry["key"] for entry in entries) == sorted(s3.objects)
    assert all(entry["in_s3"] for entry in entries)
    assert all(entry["next_attempt_at"] > time.time() + HOLD_SECONDS - 60 for entry in entries)


@pytest.mark.parametrize(
    "outcomes",
    [[asyncio.CancelledError()], [NO_ANSWER, asyncio.CancelledError()]],
    ids=["first send", "second send"],
)
def test_a_gateway_stopping_mid_send_leaves_the_sources_to_the_spool(
    spool: Spool, outcomes: list[BaseException]
) -> None:
    s3 = FakeS3()
    tasks = TaskService(outcomes)

    with pytest.raises(asyncio.CancelledError):
        _submit(tasks, s3, spool)

    entries = [json.loads(p.read_text()) for p in spool.directory.glob("*.json")]
    assert sorted(entry["key"] for entry in entries) == sorted(s3.objects)
    assert len(entries) == 2 and all(entry["in_s3"] for entry in entries)


def _after_the_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    later = time.time() + HOLD_SECONDS + 1
    monkeypatch.setattr(spool_module, "time", type("Clock", (), {"time": lambda: later}))


def _drain(spool: Spool, s3: FakeS3, tasks: TaskService) -> None:
    asyncio.run(spool.drain_once(s3, "bucket", tasks))  # type: ignore[arg-type]


@pytest.mark.parametrize("first", ["made, lost", NO_ANSWER], ids=["made", "not made"])
def test_after_the_hold_the_drain_deletes_the_sources_only_of_a_task_never_made(
    spool: Spool, monkeypatch: pytest.MonkeyPatch, first: str | BaseException
) -> None:
    s3 = FakeS3()
    tasks = TaskService([first, NO_ANSWER])
    with pytest.raises(DependencyUnavailable):
        _submit(tasks, s3, spool)

    _drain(spool, s3, tasks)
    assert len(s3.objects) == 2, "nothing is settled before the hold ends"

    _after_the_hold(monkeypatch)
    _drain(spool, s3, tasks)

    assert len(s3.objects) == (2 if tasks.made else 0)
    assert list(spool.directory.glob("*.json")) == []


def test_a_source_whose_task_cannot_be_asked_about_is_kept_and_asked_about_again(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = FakeS3()
    tasks = TaskService([NO_ANSWER, NO_ANSWER])
    with pytest.raises(DependencyUnavailable):
        _submit(tasks, s3, spool)
    tasks.up = False

    _after_the_hold(monkeypatch)
    _drain(spool, s3, tasks)

    assert len(s3.objects) == 2
    entries = [json.loads(p.read_text()) for p in spool.directory.glob("*.json")]
    assert len(entries) == 2 and all(entry["attempts"] == 1 for entry in entries)


@pytest.mark.parametrize(
    "outcomes",
    [
        [_refusal(429, "too_many_unfinished_images")],
        [TaskServiceUnreachable("connection refused")],
    ],
    ids=["refused", "never reached"],
)
def test_a_task_surely_not_made_leaves_no_source_behind(
    spool: Spool, outcomes: list[BaseException]
) -> None:
    s3 = FakeS3()
    tasks = TaskService(outcomes)

    with pytest.raises(type(outcomes[-1])):
        _submit(tasks, s3, spool)

    assert s3.objects == {}
    assert tasks.made == {}


def test_a_gateway_dying_after_its_task_was_made_leaves_the_spooled_files_to_the_drain(
    spool: Spool,
) -> None:
    # S3 is down, so both files are spooled; the process dies right after task creation.
    s3 = FakeS3(down_after=0)
    tasks = TaskService([SystemExit()])

    with pytest.raises(SystemExit):
        _submit(tasks, s3, spool)

    restarted = Spool(spool.directory, max_bytes=10_000_000, retry_delays=[1.0])
    entries = [json.loads(p.read_text()) for p in restarted.directory.glob("*.json")]
    assert len(entries) == 2
    assert all(
        time.time() < entry["next_attempt_at"] <= time.time() + HOLD_SECONDS for entry in entries
    )
    assert {p.read_bytes() for p in restarted.directory.glob("*.data")} == {JPEG}
