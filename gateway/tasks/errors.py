"""What a submission can be refused for; each maps to one HTTP status and error code."""

from common.errors import ServiceError
from schemas.errors import ErrorCode


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = ErrorCode.FILE_TOO_LARGE.value


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = ErrorCode.UNSUPPORTED_FORMAT.value


class BadSubmission(ServiceError):
    status_code = 400
    code = ErrorCode.INVALID_PARAMETER.value


class RequestTimeout(ServiceError):
    status_code = 408
    code = "request_timeout"
