"""Kafka records. JSON with `type` and `version`; images never travel, only references."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, TypeAdapter

from schemas.tasks import ErrorInfo, OutputView, TaskCounts, TaskStatus, VariantSpec


class SourceRef(BaseModel):
    kind: Literal["s3", "url"]
    ref: str


class ImageJob(BaseModel):
    """pixelmill.image-jobs, keyed by image_id."""

    type: Literal["ImageJob"] = "ImageJob"
    version: Literal[1] = 1
    task_id: UUID
    image_id: UUID
    owner: str
    attempt: int
    source: SourceRef
    variants: list[VariantSpec]
    request_id: str | None = None


class ImageProcessed(BaseModel):
    """pixelmill.image-events, keyed by task_id."""

    type: Literal["ImageProcessed"] = "ImageProcessed"
    version: Literal[1] = 1
    task_id: UUID
    image_id: UUID
    attempt: int
    outputs: list[OutputView]
    at: datetime


class ImageFailed(BaseModel):
    type: Literal["ImageFailed"] = "ImageFailed"
    version: Literal[1] = 1
    task_id: UUID
    image_id: UUID
    attempt: int
    error: ErrorInfo
    at: datetime


class ImageRetrying(BaseModel):
    type: Literal["ImageRetrying"] = "ImageRetrying"
    version: Literal[1] = 1
    task_id: UUID
    image_id: UUID
    attempt: int
    error: ErrorInfo
    next_attempt_at: datetime
    at: datetime


class TaskSubmitted(BaseModel):
    """pixelmill.task-events, keyed by task_id."""

    type: Literal["TaskSubmitted"] = "TaskSubmitted"
    version: Literal[1] = 1
    task_id: UUID
    owner: str
    images: int
    at: datetime


class TaskCompleted(BaseModel):
    type: Literal["TaskCompleted"] = "TaskCompleted"
    version: Literal[1] = 1
    task_id: UUID
    owner: str
    status: TaskStatus
    counts: TaskCounts
    at: datetime


class TaskCancelled(BaseModel):
    type: Literal["TaskCancelled"] = "TaskCancelled"
    version: Literal[1] = 1
    task_id: UUID
    owner: str
    at: datetime


class DeadLetter(BaseModel):
    """pixelmill.image-jobs.dlq, keyed by image_id: the job and why it was given up."""

    type: Literal["DeadLetter"] = "DeadLetter"
    version: Literal[1] = 1
    job: ImageJob
    error: ErrorInfo
    at: datetime


ImageEvent = Annotated[ImageProcessed | ImageFailed | ImageRetrying, Field(discriminator="type")]
TaskEvent = Annotated[TaskSubmitted | TaskCompleted | TaskCancelled, Field(discriminator="type")]
image_event_adapter: TypeAdapter[ImageEvent] = TypeAdapter(ImageEvent)
task_event_adapter: TypeAdapter[TaskEvent] = TypeAdapter(TaskEvent)
