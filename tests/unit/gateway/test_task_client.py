"""task_service's refusals reach the client as they were given, Retry-After included."""

import asyncio
import uuid

import httpx
import pytest

from gateway.task_client import TaskServiceClient, UpstreamError
from schemas.tasks import CreateTaskCommand, NewImage, ProcessingParams


def test_a_429_is_relayed_with_its_code_and_retry_after() -> None:
    def task_service(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            json={"error": {"code": "too_many_unfinished_images", "message": "wait"}},
            headers={"Retry-After": "60"},
        )

    client = TaskServiceClient("http://task-service")
    client._http = httpx.AsyncClient(
        base_url="http://task-service", transport=httpx.MockTransport(task_service)
    )
    command = CreateTaskCommand(
        id=uuid.uuid4(),
        owner="shop",
        params=ProcessingParams(),
        images=[NewImage(id=uuid.uuid4(), source_kind="url", source_ref="https://a/1.jpg")],
    )

    with pytest.raises(UpstreamError) as refused:
        asyncio.run(client.create_task(command))

    assert refused.value.status_code == 429
    assert refused.value.code == "too_many_unfinished_images"
    assert refused.value.message == "wait"
    assert refused.value.headers == {"Retry-After": "60"}
