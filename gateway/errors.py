"""The error body every route documents (DESIGN.md §2)."""

from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: error_doc("`not_found`: no such object, or it is not the caller's"),
    503: error_doc("`dependency_unavailable`: a service behind the gateway is down; retry later"),
}
SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: error_doc(
        "`invalid_parameter` (details list each field), `empty_file`, `no_images`, "
        "a malformed multipart body"
    ),
    408: error_doc("`request_timeout`: the request body stopped arriving"),
    413: error_doc("`file_too_large`, `task_too_large`, `too_many_images`, `request_too_large`"),
    415: error_doc(
        "`unsupported_format` (a file is not an accepted image), `unsupported_media_type`"
    ),
    429: error_doc(
        "`too_many_unfinished_images`: the caller already has the most images waiting or in"
        " work that one owner may have; `too_many_submissions`: the caller's earlier"
        " submissions are still being taken in (both with `Retry-After`)"
    ),
    503: ERROR_RESPONSES[503],
}
