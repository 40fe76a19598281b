"""What every FastAPI service of pixelmill shares: health, request ids, the server."""

import re
import uuid

import uvicorn
from fastapi import APIRouter, FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.log import configure_logging, log_context

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only when it is short and plain: it ends up in every log line.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

health_router = APIRouter(tags=["health"])


@health_router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class RequestIds:
    """Binds each request's id (the caller's X-Request-ID, or a new one) to its log lines and
    returns it in the response's headers.

    Plain ASGI rather than `@app.middleware("http")`: that one hands every chunk of a request
    body through a task of its own, which made a large upload cost a third more CPU.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = given if _ACCEPTABLE_REQUEST_ID.match(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with log_context(request_id=request_id):
            await self.app(scope, receive, send_with_id)


def install_request_ids(app: FastAPI) -> None:
    app.add_middleware(RequestIds)


def serve(app: FastAPI, host: str, port: int, log_level: str, service: str) -> None:
    configure_logging(service, log_level)
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), log_config=None)
