"""Submitting a batch: sources into S3, the task into task_service."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

from pydantic import ValidationError

from gateway.settings import Settings
from gateway.spool import Spool, SpoolEntry
from gateway.task_client import TaskServiceClient, TaskServiceUnreachable, UpstreamError
from gateway.tasks.errors import (
    BadSubmission,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from gateway.tasks.uploads import (
    MEDIA_TYPES,
    ReceivedForm,
    UploadLimits,
    discard_received,
    receive_form,
)
from processor.sources import SourceError
from processor.sources.url import parse_url
from schemas.images import SourceFormat
from schemas.limits import MAX_PARAMETERS_BYTES
from schemas.tasks import CreateTaskCommand, NewImage, TaskSubmission, TaskView

log = logging.getLogger(__name__)

# Form fields that carry one value each; `url` and `file` repeat.
_SINGLE_FIELDS = ("width", "height", "fit", "format", "quality", "callback_url", "ref")


def upload_limits(settings: Settings) -> UploadLimits:
    refused = {SourceFormat.SVG} if not settings.allow_svg else set()
    if not settings.allow_pdf:
        refused.add(SourceFormat.PDF)
    return UploadLimits(
        max_file_bytes=settings.max_file_bytes,
        max_files=settings.max_images_per_task,
        max_total_bytes=settings.max_task_bytes,
        part_bytes=settings.upload_part_bytes,
        accepted=frozenset(SourceFormat) - refused,
    )


def _invalid(error: ValidationError) -> BadSubmission:
    details = [
        {"loc": list(e["loc"]), "message": e["msg"], "type": e["type"]} for e in error.errors()
    ]
    return BadSubmission("the task parameters are not valid", details=details)


def submission_from_form(fields: dict[str, list[str]]) -> TaskSubmission:
    """The form's fields as a submission; unknown fields are ignored, as the Go service did."""
    values: dict[str, Any] = {
        name: fields[name][-1] for name in _SINGLE_FIELDS if fields.get(name, [""])[-1] != ""
    }
    values["urls"] = [url for url in fields.get("url", []) if url]
    if fields.get("variants"):
        try:
            values["variants"] = json.loads(fields["variants"][-1])
        except json.JSONDecodeError as error:
            raise BadSubmission(f"variants is not valid JSON: {error}") from error
        except RecursionError as error:
            raise BadSubmission("variants is nested too deeply") from error
    try:
        return TaskSubmission.model_validate(values)
    except ValidationError as error:
        raise _invalid(error) from error


async def _read_json(body: AsyncIterator[bytes]) -> TaskSubmission:
    data = bytearray()
    async for chunk in body:
        data += chunk
        if len(data) > MAX_PARAMETERS_BYTES:
            raise PayloadTooLarge(
                f"a JSON submission is limited to {MAX_PARAMETERS_BYTES} bytes",
                code="request_too_large",
            )
    try:
        return TaskSubmission.model_validate_json(bytes(data))
    except ValidationError as error:
        raise _invalid(error) from error


async def with_idle_timeout(body: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """`body`, refused with 408 as soon as no chunk of it arrives for `seconds`."""
    chunks = aiter(body)
    while True:
        try:
            async with asyncio.timeout(seconds):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError as error:
            raise RequestTimeout(
                f"no part of the request body arrived for {seconds:g} s"
            ) from error
        yield chunk


async def submit(
    *,
    body: AsyncIterator[bytes],
    content_type: str,
    content_length: int | None,
    owner: str,
    idempotency_key: str | None,
    tasks: TaskServiceClient,
    s3: Any,
    spool: Spool,
    settings: Settings,
) -> tuple[TaskView, bool]:
    """The task and whether it is new; a retried submission returns the first task."""
    if idempotency_key:
        existing = await tasks.find_task(owner, idempotency_key=idempotency_key)
        if existing is not None:
            return existing, False
    if content_length is not None and content_length > settings.max_task_bytes:
        raise PayloadTooLarge(
            f"the request is over the {settings.max_task_bytes} byte limit", code="task_too_large"
        )

    body = with_idle_timeout(body, settings.body_idle_timeout_seconds)
    task_id = uuid4()
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        form = await receive_form(
            body,
            content_type,
            s3=s3,
            bucket=settings.s3_bucket,
            task_id=task_id,
            limits=upload_limits(settings),
            spool=spool,
        )
    elif media_type == "application/json":
        form = ReceivedForm()
    else:
        raise UnsupportedMediaType(
            "send multipart/form-data (files and fields) or application/json (URLs)",
            code="unsupported_media_type",
        )
    try:
        submission = (
            await _read_json(body)
            if media_type == "application/json"
            else submission_from_form(form.fields)
        )
        command = _command(task_id, owner, idempotency_key, submission, form, settings)
        spooled = [
            SpoolEntry(str(f.image_id), f.key, MEDIA_TYPES[f.format])
            for f in form.files
            if f.spooled
        ]
        await spool.hold(spooled)
    except BaseException:
        await discard_received(s3, settings.s3_bucket, spool, form.files)
        raise
    stored = [
        SpoolEntry(str(f.image_id), f.key, MEDIA_TYPES[f.format])
        for f in form.files
        if not f.spooled
    ]
    view, created = await _create(
        tasks,
        command,
        discard=lambda: discard_received(s3, settings.s3_bucket, spool, form.files),
        # Spooled files are held already; the drain settles them the same way.
        settle_later=lambda: spool.hold_stored(stored),
    )
    if not created:
        # Same ref as an earlier task: that task stands, these uploads are not needed.
        await discard_received(s3, settings.s3_bucket, spool, form.files)
        return view, created
    await spool.commit(spooled)
    return view, created


async def _create(
    tasks: TaskServiceClient,
    command: CreateTaskCommand,
    discard: Callable[[], Awaitable[None]],
    settle_later: Callable[[], Awaitable[None]],
) -> tuple[TaskView, bool]:
    """The task made from `command`; the sources are discarded only when it surely was not:
    the first send was refused, or never reached task_service. When neither send can tell,
    they are left to the spool's drain, which deletes them once it is sure no task has them.

    A failure with no answer may come after task_service made the task, or while it still
    makes it. The same command sent again usually settles it: task_service makes a task id
    once and answers a second send with the task the first made.
    """
    try:
        return await tasks.create_task(command)
    except (UpstreamError, TaskServiceUnreachable):
        # Refused, or never reached: nothing refers to these sources.
        await discard()
        raise
    except asyncio.CancelledError:
        # The gateway is stopping mid-send: the task may have been made all the same.
        await _leave_to_the_spool(command, settle_later)
        raise
    except Exception as error:
        log.warning(
            "task %s: no answer from task_service (%s); sending it again", command.id, error
        )
    try:
        return await tasks.create_task(command)
    except BaseException:
        # Even a refusal now does not prove the first send will not still make the task
        # (it may be queued behind the owner's other submissions), so nothing is discarded.
        # A client retrying with its Idempotency-Key gets the task if it was made.
        await _leave_to_the_spool(command, settle_later)
        raise


async def _leave_to_the_spool(
    command: CreateTaskCommand, settle_later: Callable[[], Awaitable[None]]
) -> None:
    log.warning(
        "task %s: task_service cannot say whether it made the task; its uploaded sources"
        " are kept until that is settled",
        command.id,
    )
    try:
        await settle_later()
    except OSError as error:
        log.error("task %s: sources not handed to the spool (%s)", command.id, error)


def _command(
    task_id: UUID,
    owner: str,
    idempotency_key: str | None,
    submission: TaskSubmission,
    form: ReceivedForm,
    settings: Settings,
) -> CreateTaskCommand:
    images = [
        NewImage(
            id=f.image_id,
            name=f.name,
            source_kind="s3",
            source_ref=f.key,
            # A spooled file is not in S3 yet: its job waits until the spool uploads it.
            source_pending=f.spooled,
        )
        for f in form.files
    ] + [
        NewImage(id=uuid4(), name=url[:255], source_kind="url", source_ref=url)
        for url in submission.urls
    ]
    if not images:
        raise BadSubmission("a task needs at least one file or url", code="no_images")
    if submission.callback_url is not None:
        # Checked now, as the webhook sender will: a task has no other way to say that its
        # completion can never be announced.
        try:
            parse_url(submission.callback_url)
        except SourceError as error:
            raise BadSubmission(f"callback_url: {error.message}") from error
    if len(images) > settings.max_images_per_task:
        raise PayloadTooLarge(
            f"more than {settings.max_images_per_task} images in one task", code="too_many_images"
        )
    try:
        params = submission.params()
    except ValidationError as error:
        raise _invalid(error) from error
    return CreateTaskCommand(
        id=task_id,
        owner=owner,
        params=params,
        images=images,
        callback_url=submission.callback_url,
        ref=submission.ref,
        idempotency_key=idempotency_key,
    )
