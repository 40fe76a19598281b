"""The task routes of the public API."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response, status

from gateway.deps import S3, Owner, SettingsDep, SpoolDep, Tasks, VisibleOwner
from gateway.errors import ERROR_RESPONSES, SUBMIT_RESPONSES, error_doc
from gateway.tasks import service
from schemas.tasks import TaskPage, TaskSubmission, TaskView

router = APIRouter(prefix="/api/v1", tags=["tasks"])

_VARIANT_EXAMPLE = '[{"name":"thumb","width":150,"height":120,"fit":"cover"}]'
_MULTIPART_SCHEMA = {
    "type": "object",
    "properties": {
        "file": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "image files (repeat the field); the format is read from the content",
        },
        "url": {"type": "array", "items": {"type": "string"}, "description": "image URLs"},
        "width": {"type": "integer", "minimum": 1, "maximum": 10000},
        "height": {"type": "integer", "minimum": 1, "maximum": 10000},
        "fit": {"type": "string", "enum": ["inside", "cover", "fill", "contain"]},
        "format": {"type": "string", "enum": ["jpg", "png", "webp", "avif", "gif"]},
        "quality": {"type": "integer", "minimum": 1, "maximum": 100},
        "variants": {"type": "string", "description": f"JSON, e.g. {_VARIANT_EXAMPLE}"},
        "callback_url": {"type": "string"},
        "ref": {"type": "string", "description": "your id for the batch; a repeat returns it"},
    },
}


@router.post(
    "/task",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit a batch of images",
    description="multipart/form-data with `file` and/or `url` parts, or application/json with "
    "`urls`. Answers at once with the task; processing follows. A retry with the same "
    "`Idempotency-Key` (or `ref`) returns the same task.",
    responses=SUBMIT_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
                "application/json": {"schema": TaskSubmission.model_json_schema()},
            },
        }
    },
)
async def create_task(
    request: Request,
    response: Response,
    owner: Owner,
    tasks: Tasks,
    s3: S3,
    spool: SpoolDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=255, description="makes a retry safe"),
    ] = None,
) -> TaskView:
    length = request.headers.get("content-length")
    view, _ = await service.submit(
        body=request.stream(),
        content_type=request.headers.get("content-type", ""),
        content_length=int(length) if length and length.isdigit() else None,
        owner=owner,
        idempotency_key=idempotency_key,
        tasks=tasks,
        s3=s3,
        spool=spool,
        settings=settings,
    )
    response.headers["Location"] = f"/api/v1/task/{view.id}"
    return view


@router.get("/task/{task_id}", summary="A task and its images", responses=ERROR_RESPONSES)
async def get_task(task_id: UUID, owner: VisibleOwner, tasks: Tasks) -> TaskView:
    return await tasks.get_task(task_id, owner)


@router.delete(
    "/task/{task_id}",
    summary="Cancel what has not started",
    description="Queued and retrying images are cancelled; running ones finish and keep their "
    "results. The task ends `cancelled` once nothing runs.",
    responses={**ERROR_RESPONSES, 409: error_doc("`task_finished`: nothing left to cancel")},
)
async def cancel_task(task_id: UUID, owner: Owner, tasks: Tasks) -> TaskView:
    return await tasks.cancel_task(task_id, owner)


@router.post(
    "/task/{task_id}/retry",
    summary="Retry the failed images of a task",
    responses={
        **ERROR_RESPONSES,
        409: error_doc("`nothing_to_retry`: no image failed"),
        429: error_doc(
            "`too_many_unfinished_images`: queuing them again would pass the caller's backlog"
            " limit (with `Retry-After`)"
        ),
    },
)
async def retry_task(task_id: UUID, owner: Owner, tasks: Tasks) -> TaskView:
    return await tasks.retry_task(task_id, owner)


@router.get(
    "/task",
    summary="The caller's tasks (an admin's: everyone's), newest first",
    responses=ERROR_RESPONSES,
)
async def list_tasks(
    owner: VisibleOwner,
    tasks: Tasks,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page")
    ] = None,
) -> TaskPage:
    return await tasks.list_tasks(owner, limit, cursor)
