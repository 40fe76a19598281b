"""What the gateway accepts and refuses, and that a refusal leaves nothing behind."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from gateway.task_client import TaskServiceClient
from schemas.tasks import CreateTaskCommand, NewImage, ProcessingParams
from tests.e2e import images
from tests.e2e.api import TASK_PATH, Api, Db, Storage, image_path, leaked_sources, task_count
from tests.e2e.images import JPEG_TYPE, ImageServer
from tests.e2e.services import Stack

SOURCES = "sources/"


@contextmanager
def nothing_left_behind(storage: Storage, db: Db, owner: str) -> Iterator[None]:
    """The block adds no source object to S3 and no task for the owner."""
    sources = storage.keys(SOURCES)
    tasks = task_count(db, owner)
    yield
    assert leaked_sources(db, storage, sources) == set()
    assert task_count(db, owner) == tasks


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def a_jpeg(name: str = "photo.jpg", seed: int = 1) -> tuple[str, bytes, str]:
    return name, images.jpeg(800, 600, seed=seed), JPEG_TYPE


def test_an_oversized_upload_gets_413_file_too_large_and_leaves_nothing_behind(
    api: Api, stack: Stack, storage: Storage, db: Db
) -> None:
    # A real JPEG padded past the gateway's limit, after a good file that is already stored
    # by the time the big one is refused.
    name, data, content_type = a_jpeg("big.jpg")
    oversized = data + bytes(stack.max_file_bytes + 64 * 1024 - len(data))
    with nothing_left_behind(storage, db, stack.owner):
        response = api.submit([a_jpeg("fine.jpg"), (name, oversized, content_type)])
        error = error_of(response, 413)
    assert error["code"] == "file_too_large"


def test_a_text_file_named_jpg_gets_415_unsupported_format_and_leaves_nothing_behind(
    api: Api, stack: Stack, storage: Storage, db: Db
) -> None:
    text = b"these are notes, not a picture\n" * 10
    with nothing_left_behind(storage, db, stack.owner):
        response = api.submit([a_jpeg("fine.jpg"), ("notes.jpg", text, JPEG_TYPE)])
        error = error_of(response, 415)
    assert error["code"] == "unsupported_format"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"width": "0"}, "width"),
        ({"fit": "bogus"}, "fit"),
        ({"variants": "[{not json"}, "variants"),
        ({"variants": json.dumps([{"name": "Has Spaces", "width": 10}])}, "variants"),
    ],
    ids=["width-0", "fit-bogus", "variants-not-json", "variants-bad-name"],
)
def test_bad_parameters_get_400_invalid_parameter_and_leave_nothing_behind(
    api: Api, stack: Stack, storage: Storage, db: Db, fields: dict[str, str], field: str
) -> None:
    with nothing_left_behind(storage, db, stack.owner):
        response = api.submit([a_jpeg("one.jpg"), a_jpeg("two.jpg", seed=2)], fields)
        error = error_of(response, 400)
    assert error["code"] == "invalid_parameter"
    assert field in json.dumps(error), error


def test_a_json_submission_with_urls_is_processed(api: Api, image_server: ImageServer) -> None:
    run = uuid.uuid4().hex
    urls = [
        image_server.add(f"/json/{run}/{i}.jpg", images.jpeg(800, 600, seed=300 + i), JPEG_TYPE)
        for i in range(2)
    ]
    response = api.submit_json({"urls": urls, "width": 300, "format": "webp"})
    accepted = api.accepted(response)
    assert [image["name"] for image in accepted["images"]] == urls

    view = api.wait_finished(accepted["id"])

    assert view["status"] == "done"
    for image in view["images"]:
        assert [(o["variant"], o["format"], o["width"], o["height"]) for o in image["outputs"]] == [
            ("default", "webp", 300, 225)
        ]


def test_the_same_idempotency_key_twice_returns_the_same_task_and_creates_one(
    api: Api, stack: Stack, storage: Storage, db: Db
) -> None:
    key = f"e2e-{uuid.uuid4()}"
    files = [a_jpeg("once.jpg", seed=21)]
    first = api.accepted(api.submit(files, {"width": "100"}, headers={"Idempotency-Key": key}))
    # The retry is answered from the first task: its file is not stored a second time.
    with nothing_left_behind(storage, db, stack.owner):
        again = api.accepted(api.submit(files, {"width": "100"}, headers={"Idempotency-Key": key}))
    assert again["id"] == first["id"]
    rows = db.execute(
        "SELECT count(*) AS n FROM tasks WHERE owner = %s AND idempotency_key = %s",
        [stack.owner, key],
    ).fetchone()
    assert rows is not None and rows["n"] == 1
    assert api.wait_finished(first["id"])["status"] == "done"


def test_the_same_ref_twice_returns_the_same_task_and_drops_the_second_upload(
    api: Api, stack: Stack, storage: Storage, db: Db
) -> None:
    ref = f"order-{uuid.uuid4()}"
    first = api.accepted(api.submit([a_jpeg("ref.jpg", seed=31)], {"ref": ref}))
    with nothing_left_behind(storage, db, stack.owner):
        again = api.accepted(api.submit([a_jpeg("ref-again.jpg", seed=32)], {"ref": ref}))
    assert again["id"] == first["id"]
    assert [image["name"] for image in again["images"]] == ["ref.jpg"]
    assert again["ref"] == ref
    rows = db.execute(
        "SELECT count(*) AS n FROM tasks WHERE owner = %s AND ref = %s", [stack.owner, ref]
    ).fetchone()
    assert rows is not None and rows["n"] == 1
    assert api.wait_finished(first["id"])["status"] == "done"


def test_a_cursor_longer_than_any_the_api_hands_out_is_400(http: httpx.Client) -> None:
    response = http.get(TASK_PATH, params={"cursor": "A" * 65_500})
    assert error_of(response, 400)["code"] == "invalid_parameter"


def test_a_nul_in_a_json_submission_is_400_not_a_database_error(api: Api) -> None:
    response = api.submit_json({"urls": ["https://example.com/a.jpg"], "ref": "a\x00b"})
    assert error_of(response, 400)["code"] == "invalid_parameter"


def test_unknown_ids_get_404_json_errors(http: httpx.Client) -> None:
    unknown = uuid.uuid4()
    for path in (
        f"{TASK_PATH}/{unknown}",
        f"{TASK_PATH}/{unknown}/events",
        image_path(str(unknown)),
    ):
        assert error_of(http.get(path), 404)["code"] == "not_found", path


def test_the_go_service_request_works_and_answers_in_its_shape(
    api: Api, http: httpx.Client
) -> None:
    files = [a_jpeg(f"go-{i}.jpg", seed=40 + i) for i in range(2)]
    fields = {"width": "400", "height": "300", "format": "jpg", "quality": "80"}
    accepted = api.accepted(api.submit(files, fields))

    assert isinstance(accepted["id"], str)
    assert accepted["common_status_id"] == 1
    for position, image in enumerate(accepted["images"]):
        assert image["position"] == position
        assert image["status_id"] == 1
        assert "end_dt" in image and image["end_dt"] is None

    view = api.wait_finished(accepted["id"])

    assert view["common_status_id"] == 2
    for position, image in enumerate(view["images"]):
        assert image["position"] == position
        assert image["status_id"] == 2
        assert image["end_dt"] is not None
        # A Go client fetches the result without naming a variant.
        result = http.get(image_path(image["id"]))
        assert result.status_code == 200
        assert result.headers["content-type"] == "image/jpeg"
        decoded = images.decode(result.content)
        assert (decoded.width, decoded.height) == (400, 300)


def test_task_service_makes_a_task_id_once_and_answers_a_second_send_with_that_task(
    stack: Stack, db: Db
) -> None:
    # What the gateway relies on when an answer is lost: sending the same command again.
    owner = f"resend-{uuid.uuid4().hex[:8]}"
    command = CreateTaskCommand(
        id=uuid.uuid4(),
        owner=owner,
        params=ProcessingParams(width=10),
        images=[
            NewImage(id=uuid.uuid4(), source_kind="url", source_ref="https://invalid.invalid/a.jpg")
        ],
    )
    url = f"{stack.task_service.url}/internal/tasks"
    headers = {"content-type": "application/json"}

    first = httpx.post(url, content=command.model_dump_json(), headers=headers, timeout=30)
    second = httpx.post(url, content=command.model_dump_json(), headers=headers, timeout=30)

    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["id"] == second.json()["id"] == str(command.id)
    assert task_count(db, owner) == 1


def test_task_service_tells_the_gateway_which_images_exist(stack: Stack) -> None:
    # What the spool's drain asks before deleting a source whose task may never have been made.
    command = CreateTaskCommand(
        id=uuid.uuid4(),
        owner=f"exists-{uuid.uuid4().hex[:8]}",
        params=ProcessingParams(width=10),
        images=[
            NewImage(id=uuid.uuid4(), source_kind="url", source_ref="https://invalid.invalid/a.jpg")
        ],
    )

    async def ask() -> tuple[bool, bool]:
        client = TaskServiceClient(stack.task_service.url)
        try:
            await client.create_task(command)
            made = await client.image_exists(command.images[0].id)
            never_made = await client.image_exists(uuid.uuid4())
        finally:
            await client.close()
        return made, never_made

    assert asyncio.run(ask()) == (True, False)
