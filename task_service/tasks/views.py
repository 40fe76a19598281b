"""Rows to the API's views."""

from typing import Any

from schemas.tasks import (
    ErrorInfo,
    ImageStatus,
    ImageView,
    OutputView,
    ProcessingParams,
    TaskCounts,
    TaskStatus,
    TaskSummary,
    TaskView,
    output_url,
)

Row = dict[str, Any]


def image_view(image: Row, outputs: list[Row], params: ProcessingParams) -> ImageView:
    status = ImageStatus(image["status"])
    order = [variant.name for variant in params.variants]
    outputs = sorted(
        outputs, key=lambda o: order.index(o["variant"]) if o["variant"] in order else 0
    )
    output_views = [
        OutputView(
            variant=o["variant"],
            format=o["format"],
            width=o["width"],
            height=o["height"],
            bytes=o["bytes"],
            url=output_url(image["id"], o["variant"]),
        )
        for o in outputs
    ]
    declared = params.variants[0].format
    error = (
        ErrorInfo(code=image["error_code"], message=image["error_message"] or "")
        if image["error_code"] and status is not ImageStatus.DONE
        else None
    )
    return ImageView(
        id=image["id"],
        task_id=image["task_id"],
        name=image["name"],
        position=image["position"],
        status=status,
        status_id=status.status_id,
        format=output_views[0].format if output_views else (declared.value if declared else None),
        attempts=image["attempts"],
        next_attempt_dt=image["next_attempt_at"] if status is ImageStatus.RETRYING else None,
        end_dt=image["finished_at"],
        error=error,
        outputs=output_views,
    )


def task_summary(task: Row, counts: TaskCounts) -> TaskSummary:
    params = ProcessingParams.model_validate(task["params"])
    status = TaskStatus(task["status"])
    return TaskSummary(
        id=task["id"],
        status=status,
        common_status_id=status.status_id,
        created_dt=task["created_at"],
        finished_dt=task["finished_at"],
        width=params.width,
        height=params.height,
        fit=params.fit,
        format=params.format,
        quality=params.quality,
        variants=params.variants,
        callback_url=task["callback_url"],
        ref=task["ref"],
        counts=counts,
    )


def counts_of(statuses: list[str]) -> TaskCounts:
    counts = TaskCounts(total=len(statuses))
    for status in statuses:
        setattr(counts, status, getattr(counts, status) + 1)
    return counts


def task_view(task: Row, images: list[Row], outputs: list[Row]) -> TaskView:
    params = ProcessingParams.model_validate(task["params"])
    by_image: dict[object, list[Row]] = {}
    for output in outputs:
        by_image.setdefault(output["image_id"], []).append(output)
    image_views = [image_view(i, by_image.get(i["id"], []), params) for i in images]
    summary = task_summary(task, counts_of([i["status"] for i in images]))
    return TaskView(**summary.model_dump(), images=image_views)
