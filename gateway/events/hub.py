"""One LISTEN connection per gateway process, fanned out to every open event stream.

A notification only says "task X has new events"; each stream then reads the rows after its
last event id, so a missed or collapsed notification loses nothing.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from uuid import UUID

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "pixelmill_image_events"
_RECONNECT_MAX_SECONDS = 10.0


class EventHub:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def subscribe(self, task_id: UUID) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        key = str(task_id)
        self._waiters[key].add(event)
        try:
            yield event
        finally:
            self._waiters[key].discard(event)
            if not self._waiters[key]:
                del self._waiters[key]

    def _wake(self, key: str | None) -> None:
        groups = [self._waiters.get(key, set())] if key else list(self._waiters.values())
        for group in groups:
            for event in group:
                event.set()

    async def _listen_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.5
                    # Rows written while we were not listening: let every stream re-read.
                    self._wake(None)
                    async for notify in conn.notifies():
                        self._wake(notify.payload)
            except psycopg.OperationalError as error:
                log.warning("event listener lost PostgreSQL (%s); again in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX_SECONDS)
