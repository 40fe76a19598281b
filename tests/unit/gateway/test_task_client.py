"""task_service's refusals reach the client as they were given, Retry-After included."""

import asyncio
import uuid

import httpx
import pytest

from common.errors import ServiceError
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


def _client(answer: httpx.Response) -> TaskServiceClient:
    client = TaskServiceClient("http://task-service")
    client._http = httpx.AsyncClient(
        base_url="http://task-service", transport=httpx.MockTransport(lambda request: answer)
    )
    return client


def test_a_refusal_that_is_not_json_is_still_an_upstream_error() -> None:
    # A proxy's HTML 404 page in front of task_service.
    client = _client(httpx.Response(404, text="<html>not here</html>"))
    with pytest.raises(UpstreamError) as refused:
        asyncio.run(client.get_image(uuid.uuid4(), owner=None))
    assert refused.value.status_code == 404
    assert refused.value.message == "task_service refused with 404"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, json={"error": {"code": "not_found", "message": "no route"}}),
        httpx.Response(200, json={"exists": "no"}),
        httpx.Response(200, text="yes"),
    ],
    ids=["404", "not a bool", "not json"],
)
def test_only_a_clear_no_says_an_image_does_not_exist(answer: httpx.Response) -> None:
    # The spool deletes a source on "no": a wrong route or a garbled answer must not be one.
    with pytest.raises(ServiceError):
        asyncio.run(_client(answer).image_exists(uuid.uuid4()))
    no = _client(httpx.Response(200, json={"exists": False}))
    assert asyncio.run(no.image_exists(uuid.uuid4())) is False
