from fastapi import FastAPI

from common.http import create_service_app, serve
from gateway.settings import Settings


def create_app() -> FastAPI:
    return create_service_app("pixelmill gateway")


def main() -> None:
    settings = Settings()
    serve(create_app(), settings.gateway_host, settings.gateway_port, settings.log_level)
