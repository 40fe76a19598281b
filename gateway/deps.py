"""The gateway's dependencies, as `Annotated` aliases for the routes."""

from typing import Annotated, Any

from fastapi import Depends, Request

from common.db import Pool as DbPool
from gateway.events.hub import EventHub
from gateway.settings import Settings
from gateway.spool import Spool
from gateway.task_client import TaskServiceClient


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _tasks(request: Request) -> TaskServiceClient:
    client: TaskServiceClient = request.app.state.tasks
    return client


def _s3(request: Request) -> Any:
    return request.app.state.s3


def _spool(request: Request) -> Spool:
    spool: Spool = request.app.state.spool
    return spool


def _pool(request: Request) -> DbPool:
    pool: DbPool = request.app.state.pool
    return pool


def _hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.hub
    return hub


def _owner(settings: Annotated[Settings, Depends(_settings)]) -> str:
    # Identity arrives with Keycloak; until then every caller is the configured dev owner.
    return settings.gateway_dev_owner


SettingsDep = Annotated[Settings, Depends(_settings)]
Tasks = Annotated[TaskServiceClient, Depends(_tasks)]
S3 = Annotated[Any, Depends(_s3)]
SpoolDep = Annotated[Spool, Depends(_spool)]
Pool = Annotated[DbPool, Depends(_pool)]
Hub = Annotated[EventHub, Depends(_hub)]
Owner = Annotated[str, Depends(_owner)]
