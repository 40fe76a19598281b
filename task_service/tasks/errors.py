"""What task_service refuses beyond the shared not-found and conflict errors."""

from common.errors import ServiceError

# When an owner over the backlog limit may try again: long enough for some of it to finish.
BACKLOG_RETRY_AFTER_SECONDS = 60
# When an owner whose submissions queue up in task_service may send the next one.
BUSY_RETRY_AFTER_SECONDS = 5


class TooManyImages(ServiceError):
    status_code = 413
    code = "too_many_images"


class Backlogged(ServiceError):
    status_code = 429
    code = "too_many_unfinished_images"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": str(BACKLOG_RETRY_AFTER_SECONDS)})


class SubmissionsQueued(ServiceError):
    """The owner's earlier submissions still hold its turn: this one was not made."""

    status_code = 429
    code = "too_many_submissions"

    def __init__(self) -> None:
        super().__init__(
            "your earlier submissions are still being taken in; send this one again in"
            f" {BUSY_RETRY_AFTER_SECONDS} s",
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
        )
