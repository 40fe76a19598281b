"""The gateway's dependencies, as `Annotated` aliases for the routes."""

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from common.db import Pool as DbPool
from gateway.auth.errors import Forbidden, MissingToken
from gateway.auth.verifier import ADMIN_ROLE, USER_ROLE, Principal, TokenVerifier
from gateway.events.hub import EventHub
from gateway.settings import Settings
from gateway.spool import Spool
from gateway.task_client import TaskServiceClient
from gateway.users.client import UserServiceClient

# auto_error off: a missing token answers through our own error (code and challenge).
_bearer = HTTPBearer(
    auto_error=False,
    description="An access token of the `pixelmill` realm (README: Identity)",
)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _tasks(request: Request) -> TaskServiceClient:
    client: TaskServiceClient = request.app.state.tasks
    return client


def _s3(request: Request) -> Any:
    return request.app.state.s3


def _presigner(request: Request) -> Any:
    return request.app.state.presigner


def _spool(request: Request) -> Spool:
    spool: Spool = request.app.state.spool
    return spool


def _pool(request: Request) -> DbPool:
    pool: DbPool = request.app.state.pool
    return pool


def _hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.hub
    return hub


def _users(request: Request) -> UserServiceClient:
    client: UserServiceClient = request.app.state.users
    return client


async def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise MissingToken()
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.verify(credentials.credentials)


def require_user(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    """A verified token with a role that may use the task API."""
    if not principal.roles & {USER_ROLE, ADMIN_ROLE}:
        raise Forbidden(f"the token has neither role {USER_ROLE} nor {ADMIN_ROLE}")
    return principal


def require_admin(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden(f"this route needs the role {ADMIN_ROLE}")
    return principal


def _owner(principal: Annotated[Principal, Depends(require_user)]) -> str:
    return principal.subject


def _visible_owner(principal: Annotated[Principal, Depends(require_user)]) -> str | None:
    # task_service reads "no owner" as "any owner".
    return None if principal.is_admin else principal.subject


SettingsDep = Annotated[Settings, Depends(_settings)]
Tasks = Annotated[TaskServiceClient, Depends(_tasks)]
S3 = Annotated[Any, Depends(_s3)]
# Signs URLs for clients: the S3 client at the address they reach S3 by.
Presigner = Annotated[Any, Depends(_presigner)]
SpoolDep = Annotated[Spool, Depends(_spool)]
Pool = Annotated[DbPool, Depends(_pool)]
Hub = Annotated[EventHub, Depends(_hub)]
Users = Annotated[UserServiceClient, Depends(_users)]
# The caller: what they create is theirs.
Owner = Annotated[str, Depends(_owner)]
# Whose objects the caller may read: their own, or everyone's (None) for an admin.
VisibleOwner = Annotated[str | None, Depends(_visible_owner)]
