from fastapi import FastAPI

from common.http import create_service_app, serve
from task_service.settings import Settings


def create_app() -> FastAPI:
    return create_service_app("pixelmill task_service")


def main() -> None:
    settings = Settings()
    serve(create_app(), settings.task_service_host, settings.task_service_port, settings.log_level)
