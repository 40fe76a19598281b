"""Kafka topic names: the one place they are spelled."""

from typing import Final

IMAGE_JOBS: Final = "pixelmill.image-jobs"
IMAGE_EVENTS: Final = "pixelmill.image-events"
TASK_EVENTS: Final = "pixelmill.task-events"
IMAGE_JOBS_DLQ: Final = "pixelmill.image-jobs.dlq"

ALL: Final = (IMAGE_JOBS, IMAGE_EVENTS, TASK_EVENTS, IMAGE_JOBS_DLQ)
