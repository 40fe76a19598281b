"""What every FastAPI service of pixelmill shares: health, request ids, the server."""

import re
import uuid
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response

from common.log import configure_logging, log_context

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only when it is short and plain: it ends up in every log line.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

health_router = APIRouter(tags=["health"])


@health_router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def install_request_ids(app: FastAPI) -> None:
    """Bind each request's id (the caller's X-Request-ID, or a new one) to its log lines."""

    @app.middleware("http")
    async def bind_request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _ACCEPTABLE_REQUEST_ID.match(given) else uuid.uuid4().hex
        with log_context(request_id=request_id):
            response = await call_next(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response


def serve(app: FastAPI, host: str, port: int, log_level: str, service: str) -> None:
    configure_logging(service, log_level)
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), log_config=None)
