"""The gateway's client for task_service's internal API."""

from typing import Any
from uuid import UUID

import httpx

from common.errors import DependencyUnavailable, ServiceError
from common.http import REQUEST_ID_HEADER
from common.log import current_context
from schemas.stats import ImageStats
from schemas.tasks import CreateTaskCommand, StoredImage, TaskPage, TaskView


class UpstreamError(ServiceError):
    """task_service refused the request with a 4xx: relayed to the client as it is."""


class TaskServiceUnreachable(DependencyUnavailable):
    """No connection to task_service: the request was never sent."""


class TaskServiceClient:
    def __init__(self, base_url: str, timeout_seconds: float = 15.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds)

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            request_id = current_context().get("request_id")
            headers = {
                **kwargs.pop("headers", {}),
                **({REQUEST_ID_HEADER: request_id} if request_id else {}),
            }
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise TaskServiceUnreachable(f"task_service is unreachable: {error}") from error
        except httpx.HTTPError as error:
            raise DependencyUnavailable(f"task_service is unavailable: {error}") from error
        if response.status_code >= 500:
            raise DependencyUnavailable(f"task_service answered {response.status_code}")
        if response.status_code >= 400:
            body = _error_of(response)
            retry_after = response.headers.get("retry-after")
            refused = UpstreamError(
                str(body.get("message") or f"task_service refused with {response.status_code}"),
                code=body.get("code"),
                headers={"Retry-After": retry_after} if retry_after else None,
            )
            refused.status_code = response.status_code
            raise refused
        return response

    async def create_task(self, command: CreateTaskCommand) -> tuple[TaskView, bool]:
        response = await self._call(
            "POST",
            "/internal/tasks",
            content=command.model_dump_json(),
            headers={"content-type": "application/json"},
        )
        return TaskView.model_validate_json(response.content), response.status_code == 201

    async def find_task(
        self, owner: str, idempotency_key: str | None = None, ref: str | None = None
    ) -> TaskView | None:
        params = {"owner": owner, "idempotency_key": idempotency_key, "ref": ref}
        try:
            response = await self._call(
                "GET", "/internal/tasks/lookup", params={k: v for k, v in params.items() if v}
            )
        except UpstreamError as error:
            if error.status_code == 404:
                return None
            raise
        return TaskView.model_validate_json(response.content)

    async def get_task(self, task_id: UUID, owner: str | None) -> TaskView:
        response = await self._call("GET", f"/internal/tasks/{task_id}", params=_owner(owner))
        return TaskView.model_validate_json(response.content)

    async def cancel_task(self, task_id: UUID, owner: str | None) -> TaskView:
        response = await self._call("DELETE", f"/internal/tasks/{task_id}", params=_owner(owner))
        return TaskView.model_validate_json(response.content)

    async def retry_task(self, task_id: UUID, owner: str | None) -> TaskView:
        response = await self._call(
            "POST", f"/internal/tasks/{task_id}/retry", params=_owner(owner)
        )
        return TaskView.model_validate_json(response.content)

    async def list_tasks(self, owner: str | None, limit: int, cursor: str | None) -> TaskPage:
        params: dict[str, Any] = {**_owner(owner), "limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await self._call("GET", "/internal/tasks", params=params)
        return TaskPage.model_validate_json(response.content)

    async def source_stored(self, image_id: UUID) -> bool:
        """Report a spooled source uploaded; False when no such image exists (any more)."""
        try:
            await self._call("POST", f"/internal/images/{image_id}/source-stored")
        except UpstreamError as error:
            if error.status_code == 404:
                return False
            raise
        return True

    async def image_exists(self, image_id: UUID) -> bool:
        """Whether task_service has the image; anything but a clear yes or no raises, since
        the spool deletes a source on no."""
        response = await self._call("GET", f"/internal/images/{image_id}/exists")
        try:
            exists = response.json()["exists"]
        except (ValueError, TypeError, KeyError) as error:
            raise DependencyUnavailable(
                "task_service's answer on an image is unreadable"
            ) from error
        if not isinstance(exists, bool):
            raise DependencyUnavailable("task_service's answer on an image is not a yes or no")
        return exists

    async def image_stats(self, period_days: int) -> ImageStats:
        response = await self._call("GET", "/internal/stats", params={"period_days": period_days})
        return ImageStats.model_validate_json(response.content)

    async def get_image(self, image_id: UUID, owner: str | None) -> StoredImage:
        response = await self._call("GET", f"/internal/images/{image_id}", params=_owner(owner))
        return StoredImage.model_validate_json(response.content)


def _error_of(response: httpx.Response) -> dict[str, Any]:
    """The error object of a refusal; empty when the body is not ours (a proxy's page)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _owner(owner: str | None) -> dict[str, str]:
    return {"owner": owner} if owner is not None else {}
