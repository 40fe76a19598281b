"""Tasks and images: states, processing parameters and the views the API returns."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self
from urllib.parse import quote
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from schemas.images import Fit, Gravity, OutputFormat

DEFAULT_VARIANT = "default"
# Where the gateway serves an image's variants; views link outputs to it.
IMAGE_PATH = "/api/v1/image-processor/{image_id}"


def output_url(image_id: object, variant: str) -> str:
    return IMAGE_PATH.format(image_id=image_id) + f"?variant={quote(variant)}"


# `?variant=original` serves the source as received, so no variant may take that name.
ORIGINAL = "original"


def _not_a_boolean(value: object) -> object:
    # Lax validation would take JSON `true` as 1: a client's mistake, not a size.
    if isinstance(value, bool):
        raise ValueError("expected a whole number, not true or false")
    return value


Dimension = Annotated[int, BeforeValidator(_not_a_boolean), Field(ge=1, le=10000)]
Quality = Annotated[int, BeforeValidator(_not_a_boolean), Field(ge=1, le=100)]
# Text a client sends that PostgreSQL stores: its text type cannot hold a NUL character.
_NO_NUL = r"^[^\x00]*$"
# An http(s) URL as a client may spell it (schemes are case-insensitive); the full check of
# host and port is the URL fetcher's.
_HTTP_URL = r"^[hH][tT][tT][pP][sS]?://[^\x00]*$"


class ImageStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (ImageStatus.DONE, ImageStatus.FAILED, ImageStatus.CANCELLED)

    @property
    def status_id(self) -> int:
        """The Go service's code: 1 processing, 2 success, 3 error."""
        if self is ImageStatus.DONE:
            return 2
        if self in (ImageStatus.FAILED, ImageStatus.CANCELLED):
            return 3
        return 1


class TaskStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self not in (TaskStatus.QUEUED, TaskStatus.PROCESSING)

    @property
    def status_id(self) -> int:
        """The Go service's `common_status_id`: 1 processing, 2 success, 3 error."""
        if self is TaskStatus.DONE:
            return 2
        return 1 if not self.terminal else 3


class VariantSpec(BaseModel):
    """One named output made from the source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    width: Dimension | None = None
    height: Dimension | None = None
    fit: Fit = Fit.INSIDE
    gravity: Gravity = Gravity.CENTRE
    format: OutputFormat | None = None
    quality: Quality | None = None
    enlarge: bool = False
    background: str = Field(default="#ffffff", pattern=r"^#[0-9a-fA-F]{6}$")

    @model_validator(mode="after")
    def _not_original(self) -> Self:
        if self.name == ORIGINAL:
            raise ValueError(f"{ORIGINAL!r} names the source; pick another variant name")
        return self


class ProcessingParams(BaseModel):
    """A task's parameters; `variants` is always filled (the plain request is `default`)."""

    model_config = ConfigDict(extra="forbid")

    width: Dimension | None = None
    height: Dimension | None = None
    fit: Fit = Fit.INSIDE
    format: OutputFormat | None = None
    quality: Quality | None = None
    variants: list[VariantSpec] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _default_variant(self) -> Self:
        if not self.variants:
            self.variants = [
                VariantSpec(
                    name=DEFAULT_VARIANT,
                    width=self.width,
                    height=self.height,
                    fit=self.fit,
                    format=self.format,
                    quality=self.quality,
                )
            ]
        names = [variant.name for variant in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        return self


class ErrorInfo(BaseModel):
    code: str
    message: str


class OutputView(BaseModel):
    variant: str
    format: str
    width: int
    height: int
    bytes: int
    url: str


class ImageView(BaseModel):
    id: UUID
    task_id: UUID
    name: str | None
    position: int
    status: ImageStatus
    status_id: int
    format: str | None = Field(description="the output format of the first variant")
    attempts: int
    next_attempt_dt: datetime | None
    end_dt: datetime | None
    error: ErrorInfo | None
    outputs: list[OutputView]


class TaskCounts(BaseModel):
    total: int = 0
    queued: int = 0
    processing: int = 0
    retrying: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0


class TaskSummary(BaseModel):
    id: UUID
    status: TaskStatus
    common_status_id: int
    created_dt: datetime
    finished_dt: datetime | None
    width: int | None
    height: int | None
    fit: Fit
    format: OutputFormat | None
    quality: int | None
    variants: list[VariantSpec]
    callback_url: str | None
    ref: str | None
    counts: TaskCounts


class TaskView(TaskSummary):
    images: list[ImageView]


class TaskPage(BaseModel):
    items: list[TaskSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class NewImage(BaseModel):
    """An image the gateway accepted: its source is in S3 already, or is a URL."""

    id: UUID
    name: str | None = None
    source_kind: Literal["s3", "url"]
    source_ref: str
    # Spooled by the gateway while S3 was down: its job waits for the upload.
    source_pending: bool = False


class CreateTaskCommand(BaseModel):
    """What the gateway asks task_service to create (internal API)."""

    id: UUID
    owner: str
    params: ProcessingParams
    images: list[NewImage] = Field(min_length=1)
    callback_url: str | None = None
    ref: str | None = None
    idempotency_key: str | None = None


class StoredImage(BaseModel):
    """An image with where its source and results are kept (internal API)."""

    image: ImageView
    owner: str
    source_kind: Literal["s3", "url"]
    source_ref: str
    output_keys: dict[str, str] = Field(description="variant name to S3 key")


class TaskSubmission(BaseModel):
    """A JSON submission: images by URL, with the processing parameters."""

    model_config = ConfigDict(extra="forbid")

    urls: list[Annotated[str, Field(max_length=2048, pattern=_HTTP_URL)]] = Field(
        default_factory=list
    )
    width: Dimension | None = None
    height: Dimension | None = None
    fit: Fit = Fit.INSIDE
    format: OutputFormat | None = None
    quality: Quality | None = None
    variants: list[VariantSpec] = Field(default_factory=list, max_length=16)
    callback_url: Annotated[str, Field(max_length=2048, pattern=_HTTP_URL)] | None = None
    ref: Annotated[str, Field(min_length=1, max_length=200, pattern=_NO_NUL)] | None = None

    def params(self) -> ProcessingParams:
        return ProcessingParams(
            width=self.width,
            height=self.height,
            fit=self.fit,
            format=self.format,
            quality=self.quality,
            variants=self.variants,
        )
