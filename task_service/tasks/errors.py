"""What task_service refuses beyond the shared not-found and conflict errors."""

from common.errors import ServiceError

# When an owner over the backlog limit may try again: long enough for some of it to finish.
BACKLOG_RETRY_AFTER_SECONDS = 60


class TooManyImages(ServiceError):
    status_code = 413
    code = "too_many_images"


class Backlogged(ServiceError):
    status_code = 429
    code = "too_many_unfinished_images"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": str(BACKLOG_RETRY_AFTER_SECONDS)})
