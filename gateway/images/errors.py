"""What a download can be refused for, beyond the shared not-found and conflict errors."""

from common.errors import ServiceError


class RangeNotSatisfiable(ServiceError):
    status_code = 416
    code = "range_not_satisfiable"
