import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any, cast
from uuid import UUID, uuid4

import pytest
from botocore.exceptions import EndpointConnectionError

from gateway.spool import Spool, SpoolEntry
from gateway.task_client import TaskServiceClient


class FakeS3:
    def __init__(self, up: bool = True) -> None:
        self.up = up
        self.uploaded: dict[str, bytes] = {}

    def upload_file(self, path: str, bucket: str, key: str, ExtraArgs: dict[str, str]) -> None:
        if not self.up:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        self.uploaded[key] = Path(path).read_bytes()


class FakeTasks:
    def __init__(self) -> None:
        self.stored: list[UUID] = []

    async def source_stored(self, image_id: UUID) -> bool:
        self.stored.append(image_id)
        return True


def spool_one(spool: Spool, data: bytes) -> SpoolEntry:
    image_id = uuid4()
    writer = spool.open(image_id)
    writer.write(data)
    asyncio.run(writer.close())
    return SpoolEntry(str(image_id), f"sources/t/{image_id}", "image/jpeg")


def drain(spool: Spool, s3: FakeS3, tasks: FakeTasks) -> int:
    return asyncio.run(spool.drain_once(s3, "bucket", cast(TaskServiceClient, tasks)))


def test_a_file_is_invisible_to_the_drain_until_its_task_is_committed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1000, retry_delays=[60])
    entry = spool_one(spool, b"jpeg bytes")

    assert spool.due() == []
    asyncio.run(spool.commit([entry]))
    assert [e.image_id for e in spool.due()] == [entry.image_id]


def test_draining_uploads_reports_and_empties_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1000, retry_delays=[60])
    entry = spool_one(spool, b"jpeg bytes")
    asyncio.run(spool.commit([entry]))
    s3, tasks = FakeS3(), FakeTasks()

    assert drain(spool, s3, tasks) == 1

    assert s3.uploaded == {entry.key: b"jpeg bytes"}
    assert tasks.stored == [UUID(entry.image_id)]
    assert list(tmp_path.iterdir()) == []
    assert spool.used_bytes == 0


def test_a_failed_upload_is_postponed_by_the_backoff_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, max_bytes=1000, retry_delays=[60, 600])
    entry = spool_one(spool, b"jpeg bytes")
    asyncio.run(spool.commit([entry]))

    assert drain(spool, FakeS3(up=False), FakeTasks()) == 0

    restarted = Spool(tmp_path, max_bytes=1000, retry_delays=[60, 600])
    assert restarted.due() == []
    assert restarted.used_bytes == len(b"jpeg bytes")
    (waiting,) = [SpoolEntry(**_meta(p)) for p in tmp_path.glob("*.json")]
    assert waiting.attempts == 1
    assert 50 < waiting.next_attempt_at - time.time() <= 60


def _meta(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize(
    "content",
    [
        '{"image_id": ',
        # Readable JSON whose due time is not a number.
        '{"image_id": "x", "key": "k", "content_type": "image/jpeg", "next_attempt_at": null}',
    ],
    ids=["cut short", "wrong type"],
)
def test_an_unreadable_entry_is_set_aside_and_the_rest_still_drain(
    tmp_path: Path, content: str
) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1_000_000, retry_delays=[1.0])
    good = spool_one(spool, b"good")
    asyncio.run(spool.commit([good]))
    broken = spool_one(spool, b"broken")
    (spool.directory / f"{broken.image_id}.json").write_text(content)
    s3, tasks = FakeS3(), FakeTasks()

    assert drain(spool, s3, tasks) == 1

    assert s3.uploaded == {good.key: b"good"}
    assert (spool.directory / f"{broken.image_id}.bad").exists()
    assert (spool.directory / f"{broken.image_id}.data").read_bytes() == b"broken"


def test_the_data_of_an_entry_set_aside_outlives_the_orphan_sweep(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1_000_000, retry_delays=[1.0])
    broken = spool_one(spool, b"broken")
    (spool.directory / f"{broken.image_id}.json").write_text("not json")
    spool.due()
    data = spool.directory / f"{broken.image_id}.data"
    a_week_ago = time.time() - 7 * 24 * 3600
    os.utime(data, (a_week_ago, a_week_ago))

    Spool(tmp_path / "spool", max_bytes=1_000_000, retry_delays=[1.0])  # a restarted gateway

    assert data.read_bytes() == b"broken"


def test_a_held_entry_is_due_only_after_its_hold_unless_committed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1_000_000, retry_delays=[1.0])
    entry = spool_one(spool, b"held")

    asyncio.run(spool.hold([entry], seconds=3600))
    assert spool.due() == []
    asyncio.run(spool.hold([entry], seconds=0))
    assert [due.image_id for due in spool.due()] == [entry.image_id]

    asyncio.run(spool.hold([entry], seconds=3600))
    asyncio.run(spool.commit([entry]))
    assert [due.image_id for due in spool.due()] == [entry.image_id]


def test_an_entry_whose_data_is_gone_is_dropped_and_the_rest_still_drain(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1_000_000, retry_delays=[1.0])
    good, orphan = spool_one(spool, b"good"), spool_one(spool, b"gone")
    asyncio.run(spool.commit([good, orphan]))
    (spool.directory / f"{orphan.image_id}.data").unlink()
    s3, tasks = FakeS3(), FakeTasks()

    assert drain(spool, s3, tasks) == 1

    assert s3.uploaded == {good.key: b"good"}
    assert not (spool.directory / f"{orphan.image_id}.json").exists()
