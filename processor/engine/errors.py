"""The engine's typed errors: every failure of `process_image` is one of these."""

from typing import ClassVar

from schemas.errors import ErrorCode


class EngineError(Exception):
    """A failure with a stable code; `permanent` says whether retrying could ever help."""

    code: ClassVar[ErrorCode]
    permanent: ClassVar[bool] = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class EmptyFile(EngineError):
    code = ErrorCode.EMPTY_FILE


class FileTooLarge(EngineError):
    code = ErrorCode.FILE_TOO_LARGE


class UnsupportedFormat(EngineError):
    code = ErrorCode.UNSUPPORTED_FORMAT


class CorruptImage(EngineError):
    code = ErrorCode.CORRUPT_IMAGE


class TooManyPixels(EngineError):
    code = ErrorCode.TOO_MANY_PIXELS


class TooManyFrames(EngineError):
    code = ErrorCode.TOO_MANY_FRAMES


class InvalidParameter(EngineError):
    code = ErrorCode.INVALID_PARAMETER


class InternalError(EngineError):
    code = ErrorCode.INTERNAL_ERROR
    permanent = False
