from fastapi import FastAPI

from common.http import create_service_app, serve
from user_service.settings import Settings


def create_app() -> FastAPI:
    return create_service_app("pixelmill user_service")


def main() -> None:
    settings = Settings()
    serve(create_app(), settings.user_service_host, settings.user_service_port, settings.log_level)
