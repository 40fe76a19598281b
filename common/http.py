"""What every FastAPI service of pixelmill shares: the health route and the server."""

import uvicorn
from fastapi import APIRouter, FastAPI

health_router = APIRouter(tags=["health"])


@health_router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_service_app(title: str) -> FastAPI:
    app = FastAPI(title=title)
    app.include_router(health_router)
    return app


def serve(app: FastAPI, host: str, port: int, log_level: str) -> None:
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False)
