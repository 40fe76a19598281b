"""task_service's internal HTTP API, called by the gateway only."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status

from common.db import Pool as DbPool
from common.errors import NotFound, ServiceError
from schemas.stats import DEFAULT_PERIOD_DAYS, MAX_PERIOD_DAYS, DailyImageCounts, ImageStats
from schemas.tasks import CreateTaskCommand, StoredImage, TaskPage, TaskView
from task_service.settings import Settings
from task_service.tasks import repository, service
from task_service.tasks.publisher import JobPublisher

router = APIRouter(prefix="/internal", tags=["internal"])


def _pool(request: Request) -> DbPool:
    pool: DbPool = request.app.state.pool
    return pool


def _publisher(request: Request) -> JobPublisher:
    publisher: JobPublisher = request.app.state.publisher
    return publisher


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Pool = Annotated[DbPool, Depends(_pool)]
Publisher = Annotated[JobPublisher, Depends(_publisher)]
SettingsDep = Annotated[Settings, Depends(_settings)]
# None means "any owner": the gateway passes it for admins only.
Owner = Annotated[str | None, Query(description="the caller's subject; omitted for admins")]


@router.post("/tasks", status_code=status.HTTP_201_CREATED)
async def create_task(
    command: CreateTaskCommand,
    pool: Pool,
    publisher: Publisher,
    settings: SettingsDep,
    response: Response,
) -> TaskView:
    view, created = await service.create_task(
        pool, publisher, command, settings.max_unfinished_images_per_owner
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return view


@router.get("/tasks/lookup")
async def lookup_task(
    pool: Pool,
    owner: str,
    idempotency_key: str | None = None,
    ref: str | None = None,
) -> TaskView:
    async with pool.connection() as conn:
        task_id = await repository.find_existing(conn, owner, idempotency_key, ref)
        view = await repository.load_task(conn, task_id, owner) if task_id else None
    if view is None:
        raise NotFound("no task with that key")
    return view


@router.delete("/tasks/{task_id}")
async def cancel_task(
    task_id: UUID, pool: Pool, publisher: Publisher, owner: Owner = None
) -> TaskView:
    return await service.cancel_task(pool, publisher, task_id, owner)


@router.post("/tasks/{task_id}/retry")
async def retry_task(
    task_id: UUID, pool: Pool, publisher: Publisher, settings: SettingsDep, owner: Owner = None
) -> TaskView:
    return await service.retry_failed(
        pool, publisher, task_id, owner, settings.max_unfinished_images_per_owner
    )


@router.get("/tasks/{task_id}")
async def get_task(task_id: UUID, pool: Pool, owner: Owner = None) -> TaskView:
    async with pool.connection() as conn:
        view = await repository.load_task(conn, task_id, owner)
    if view is None:
        raise NotFound(f"task {task_id} not found")
    return view


@router.get("/tasks")
async def list_tasks(
    pool: Pool,
    owner: Owner = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> TaskPage:
    try:
        position = repository.decode_cursor(cursor) if cursor else None
    except ValueError as error:
        raise ServiceError(
            "cursor is not one this service made", code="invalid_parameter"
        ) from error
    async with pool.connection() as conn:
        return await repository.list_tasks(conn, owner, limit, position)


@router.post("/images/{image_id}/source-stored", status_code=status.HTTP_204_NO_CONTENT)
async def source_stored(image_id: UUID, pool: Pool, publisher: Publisher) -> None:
    """The gateway uploaded a spooled source: its job can go."""
    async with pool.connection() as conn:
        waiting = await repository.mark_source_stored(conn, image_id)
        if not waiting and not await repository.image_exists(conn, image_id):
            raise NotFound(f"image {image_id} not found")
    if waiting:
        publisher.publish_soon([image_id])


@router.get("/images/{image_id}/exists")
async def image_exists(image_id: UUID, pool: Pool) -> dict[str, bool]:
    """Yes or no, never 404: the gateway deletes a source on "no", so a wrong route must not
    read as one."""
    async with pool.connection() as conn:
        return {"exists": await repository.image_exists(conn, image_id)}


@router.get("/images/{image_id}")
async def get_image(image_id: UUID, pool: Pool, owner: Owner = None) -> StoredImage:
    async with pool.connection() as conn:
        image = await repository.load_image(conn, image_id, owner)
    if image is None:
        raise NotFound(f"image {image_id} not found")
    return image


@router.get("/stats")
async def image_stats(
    pool: Pool,
    period_days: Annotated[int, Query(ge=1, le=MAX_PERIOD_DAYS)] = DEFAULT_PERIOD_DAYS,
) -> ImageStats:
    """Images done and failed per UTC day, for the gateway's admin stats."""
    async with pool.connection() as conn:
        rows = await repository.daily_image_counts(conn, period_days)
    return ImageStats(
        period_days=period_days, days=[DailyImageCounts.model_validate(row) for row in rows]
    )
