"""Why a job did not succeed: a code for the client, and whether retrying can help."""

from typing import Protocol

from schemas.errors import ErrorCode


class JobError(Protocol):
    """What the engine's, the sources' and the storage's errors all offer."""

    @property
    def code(self) -> ErrorCode: ...

    @property
    def message(self) -> str: ...

    @property
    def permanent(self) -> bool: ...


class StorageError(Exception):
    def __init__(self, code: ErrorCode, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.permanent = permanent


class UnexpectedError(Exception):
    """A failure nobody foresaw: retried, since it may be the machine rather than the input."""

    code = ErrorCode.INTERNAL_ERROR
    permanent = False

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.message = f"{type(error).__name__}: {error}"


class WorkerLost(Exception):
    """The image's last allowed attempt ended with its worker gone (killed, out of memory)
    before an outcome. It may be what brings workers down, so it is not taken up again."""

    code = ErrorCode.INTERNAL_ERROR
    permanent = False

    def __init__(self, attempt: int) -> None:
        super().__init__(attempt)
        self.message = f"the worker of attempt {attempt - 1} stopped before an outcome"
