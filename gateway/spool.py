"""The gateway's spool: sources it accepted while S3 refused them, kept on local disk.

A file is written to `{id}.data.part`, renamed to `{id}.data` once complete and fsynced,
and becomes visible to the drain loop through its `{id}.json`. That is written held back
before the task that owns the file is created, and released once it exists: a gateway that
dies in between leaves an entry the drain settles after the hold (uploaded if the task
exists, deleted if not). A restarted gateway finds its spool as it left it and carries on.

The spool also keeps data-less entries for sources that reached S3 when nobody could tell
whether their task was made; the drain deletes those objects if the task never appeared.
"""

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError

from common import metrics
from common.errors import ServiceError
from gateway.task_client import TaskServiceClient

log = logging.getLogger(__name__)

# Data files with no entry after this long belong to requests that died half-way.
_ORPHAN_SECONDS = 24 * 3600
# How long an entry written before its task exists waits for the request to settle it; far
# longer than task creation can take.
HOLD_SECONDS = 300.0


class SpoolFull(ServiceError):
    status_code = 503
    code = "spool_full"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "30"})


@dataclass
class SpoolEntry:
    image_id: str
    key: str
    content_type: str
    attempts: int = 0
    next_attempt_at: float = 0.0
    # The file is in S3 already and the entry has no data: it only makes sure the object is
    # deleted if its task never appears (task creation whose outcome nobody could tell).
    in_s3: bool = False


class SpoolWriter:
    """One file on its way into the spool."""

    def __init__(self, spool: "Spool", path: Path) -> None:
        self._spool = spool
        self._path = path
        self._file: BinaryIO | None = path.open("wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self._spool.reserve(len(data))
        self.size += len(data)
        assert self._file is not None
        self._file.write(data)

    async def close(self) -> None:
        assert self._file is not None
        file, self._file = self._file, None
        await asyncio.to_thread(_sync_and_close, file)
        self._path.rename(self._path.with_suffix(""))

    def abandon(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._path.unlink(missing_ok=True)
        self._spool.release(self.size)


def _sync_and_close(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())
    file.close()


class Spool:
    def __init__(self, directory: Path, max_bytes: int, retry_delays: list[float]) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        metrics.SPOOL_MAX_BYTES.set(max_bytes)
        self._retry_delays = retry_delays
        directory.mkdir(parents=True, exist_ok=True)
        self._forget_orphans()
        self.used_bytes = sum(p.stat().st_size for p in directory.glob("*.data*"))

    def _forget_orphans(self) -> None:
        cutoff = time.time() - _ORPHAN_SECONDS
        for data in self.directory.glob("*.data*"):
            image_id = data.name.split(".")[0]
            kept = self._meta(image_id).exists() or self._set_aside(image_id).exists()
            if not kept and data.stat().st_mtime < cutoff:
                data.unlink(missing_ok=True)

    def _data(self, image_id: str) -> Path:
        return self.directory / f"{image_id}.data"

    def _meta(self, image_id: str) -> Path:
        return self.directory / f"{image_id}.json"

    def _set_aside(self, image_id: str) -> Path:
        return self.directory / f"{image_id}.bad"

    @property
    def used_bytes(self) -> int:
        return self._used_bytes

    @used_bytes.setter
    def used_bytes(self, value: int) -> None:
        self._used_bytes = value
        metrics.SPOOL_BYTES.set(value)

    def reserve(self, size: int) -> None:
        if self.used_bytes + size > self.max_bytes:
            raise SpoolFull("storage is unavailable and the spool is full; nothing was accepted")
        self.used_bytes += size

    def release(self, size: int) -> None:
        self.used_bytes = max(0, self.used_bytes - size)

    def open(self, image_id: UUID) -> SpoolWriter:
        return SpoolWriter(self, self.directory / f"{image_id}.data.part")

    async def hold(self, entries: list[SpoolEntry], seconds: float = HOLD_SECONDS) -> None:
        """The task is about to be created: the files are due to the drain only after
        `seconds`, unless `commit` or `discard` settles them first."""
        due = time.time() + seconds
        await self._write_entries([replace(entry, next_attempt_at=due) for entry in entries])

    async def hold_stored(self, entries: list[SpoolEntry]) -> None:
        """Sources already in S3 whose task may or may not exist: settled after the hold."""
        await self.hold([replace(entry, in_s3=True) for entry in entries])

    async def commit(self, entries: list[SpoolEntry]) -> None:
        """The task exists: hand the files to the drain loop now."""
        await self._write_entries([replace(entry, next_attempt_at=0.0) for entry in entries])

    async def _write_entries(self, entries: list[SpoolEntry]) -> None:
        if entries:
            # Disk syncs take milliseconds each: not on the event loop.
            await asyncio.to_thread(self._write_entries_now, entries)

    def _write_entries_now(self, entries: list[SpoolEntry]) -> None:
        # Synced like the data: after a power loss an entry is there whole, or not at all.
        for entry in entries:
            meta = self._meta(entry.image_id)
            temporary = meta.with_suffix(".json.part")
            with temporary.open("w") as file:
                file.write(json.dumps(asdict(entry)))
                file.flush()
                os.fsync(file.fileno())
            temporary.rename(meta)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def discard(self, image_ids: list[str]) -> None:
        for image_id in image_ids:
            data = self._data(image_id)
            if data.exists():
                self.release(data.stat().st_size)
            data.unlink(missing_ok=True)
            self._meta(image_id).unlink(missing_ok=True)

    def due(self) -> list[SpoolEntry]:
        now = time.time()
        entries = []
        for meta in sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime):
            try:
                entry = SpoolEntry(**json.loads(meta.read_text()))
                if entry.next_attempt_at <= now:
                    entries.append(entry)
            except (ValueError, TypeError) as error:
                # One unreadable entry must not stop the rest from draining; it is kept aside
                # for an operator, with its data.
                log.error("spool entry %s is unreadable (%s); setting it aside", meta, error)
                with contextlib.suppress(OSError):
                    meta.rename(self._set_aside(meta.stem))
        return entries

    async def postpone(self, entry: SpoolEntry) -> float:
        delay = self._retry_delays[min(entry.attempts, len(self._retry_delays) - 1)]
        entry.attempts += 1
        entry.next_attempt_at = time.time() + delay
        await self._write_entries([entry])
        return delay

    async def drain_once(self, s3: Any, bucket: str, tasks: TaskServiceClient) -> int:
        """Upload what is due; returns how many files left the spool."""
        drained = 0
        for entry in self.due():
            if entry.in_s3:
                await self._settle_stored(entry, s3, bucket, tasks)
                continue
            path = self._data(entry.image_id)
            if not path.exists():
                # An entry written after its request discarded the data (a cancelled request
                # racing its own clean-up): nothing is left to upload.
                log.error("spooled source %s has no data; dropping its entry", entry.key)
                self.discard([entry.image_id])
                continue
            try:
                await asyncio.to_thread(
                    s3.upload_file,
                    str(path),
                    bucket,
                    entry.key,
                    ExtraArgs={"ContentType": entry.content_type},
                )
                known = await tasks.source_stored(UUID(entry.image_id))
            except (BotoCoreError, ClientError, ServiceError, OSError) as error:
                delay = await self.postpone(entry)
                log.warning("spooled %s not uploaded (%s); again in %g s", entry.key, error, delay)
                continue
            if not known:
                with contextlib.suppress(BotoCoreError, ClientError):
                    await asyncio.to_thread(s3.delete_object, Bucket=bucket, Key=entry.key)
            self.discard([entry.image_id])
            drained += 1
            log.info("spooled source %s uploaded", entry.key)
        return drained

    async def _settle_stored(
        self, entry: SpoolEntry, s3: Any, bucket: str, tasks: TaskServiceClient
    ) -> None:
        try:
            if not await tasks.image_exists(UUID(entry.image_id)):
                await asyncio.to_thread(s3.delete_object, Bucket=bucket, Key=entry.key)
                log.info("source %s belongs to no task; deleted", entry.key)
        except (BotoCoreError, ClientError, ServiceError) as error:
            delay = await self.postpone(entry)
            log.warning("source %s not settled (%s); again in %g s", entry.key, error, delay)
            return
        self.discard([entry.image_id])


async def drain_forever(
    spool: Spool, s3: Any, bucket: str, tasks: TaskServiceClient, interval_seconds: float
) -> None:
    while True:
        try:
            await spool.drain_once(s3, bucket, tasks)
        except Exception:
            log.exception("spool drain failed")
        await asyncio.sleep(interval_seconds)
