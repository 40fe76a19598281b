"""GET /api/v1/task/{task_id}/events: per-image progress as Server-Sent Events."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import psycopg
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from common.db import Pool as DbPool
from gateway.deps import Hub, Pool, SettingsDep, Tasks, VisibleOwner
from gateway.errors import ERROR_RESPONSES
from gateway.events.hub import EventHub

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["tasks"])


@router.get(
    "/task/{task_id}/events",
    summary="Live per-image progress (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`event: image` per image state change (`id` is the resume point), "
            "then one `event: task` when the task is finished, and the stream ends.",
        },
        **ERROR_RESPONSES,
    },
)
async def task_events(
    task_id: UUID,
    owner: VisibleOwner,
    tasks: Tasks,
    pool: Pool,
    hub: Hub,
    settings: SettingsDep,
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", description="resume after this event id")
    ] = None,
    after: Annotated[int | None, Query(description="the same as Last-Event-ID")] = None,
) -> StreamingResponse:
    await tasks.get_task(task_id, owner)  # 404 for a task that is not the caller's
    start = last_event_id if last_event_id is not None else (after or 0)
    return StreamingResponse(
        _stream(task_id, start, pool, hub, settings.sse_keepalive_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _read(
    pool: DbPool, task_id: UUID, after: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    async with pool.connection() as conn:
        # The task first: once it reads finished, every image event of the task committed
        # before, so the events read next are complete.
        task = await (
            await conn.execute("SELECT status, finished_at FROM tasks WHERE id = %s", [task_id])
        ).fetchone()
        rows = await (
            await conn.execute(
                "SELECT id, image_id, status, attempts, error_code, created_at"
                " FROM image_events WHERE task_id = %s AND id > %s ORDER BY id",
                [task_id, after],
            )
        ).fetchall()
    assert task is not None
    return rows, task


def _frame(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=_json_value)}\n\n"


def _json_value(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


async def _stream(
    task_id: UUID, after: int, pool: DbPool, hub: EventHub, keepalive: float
) -> AsyncIterator[str]:
    with hub.subscribe(task_id) as wake:
        yield "retry: 2000\n\n"
        while True:
            wake.clear()
            try:
                rows, task = await _read(pool, task_id, after)
            except psycopg.OperationalError as error:
                # The client reconnects with Last-Event-ID and misses nothing.
                log.warning("event stream of task %s ends: %s", task_id, error)
                return
            for row in rows:
                after = row["id"]
                yield _frame(
                    "image",
                    {
                        "task_id": task_id,
                        "image_id": row["image_id"],
                        "status": row["status"],
                        "attempts": row["attempts"],
                        "error_code": row["error_code"],
                        "at": row["created_at"],
                    },
                    event_id=row["id"],
                )
            if task["finished_at"] is not None and not rows:
                yield _frame("task", {"task_id": task_id, **task})
                return
            if rows:
                continue
            try:
                await asyncio.wait_for(wake.wait(), keepalive)
            except TimeoutError:
                yield ": keepalive\n\n"
