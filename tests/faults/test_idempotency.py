"""A client that retries a submission with its Idempotency-Key gets the first task back."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
from psycopg.rows import dict_row

from tests.e2e.api import Api, Storage, leaked_sources
from tests.faults import pictures
from tests.faults.checks import assert_each_image_done_once, wait_finished
from tests.faults.cluster import Cluster
from tests.faults.db import Database
from tests.harness.auth import ShopToken

IMAGES = 3


def _tasks(db: Database, owner: str, key: str | None = None) -> int:
    if key is None:
        count: int = db.value("SELECT count(*) FROM tasks WHERE owner = %s", [owner])
    else:
        count = db.value(
            "SELECT count(*) FROM tasks WHERE owner = %s AND idempotency_key = %s", [owner, key]
        )
    return count


def test_a_batch_submitted_twice_with_one_idempotency_key_is_one_task(
    api: Api, cluster: Cluster, db: Database, storage: Storage, shop: ShopToken
) -> None:
    owner = shop.subject
    files = pictures.batch("twice", IMAGES)
    key = {"Idempotency-Key": f"faults-{uuid.uuid4()}"}
    before = _tasks(db, owner)

    first = api.accepted(api.submit(files, pictures.variants_field(), headers=key))
    second = api.accepted(api.submit(files, pictures.variants_field(), headers=key))

    assert second["id"] == first["id"]
    assert [i["id"] for i in second["images"]] == [i["id"] for i in first["images"]]
    assert _tasks(db, owner, key["Idempotency-Key"]) == 1
    assert _tasks(db, owner) == before + 1
    view = wait_finished(cluster, api.http, first["id"], timeout=60)
    assert_each_image_done_once(view, db, storage, pictures.EXTENSIONS, images=IMAGES)


def test_two_racing_submissions_with_one_idempotency_key_are_one_task_and_leave_nothing(
    api: Api,
    cluster: Cluster,
    db: Database,
    storage: Storage,
    shop: ShopToken,
    database_url: str,
) -> None:
    """The client's retry overtakes its first try: both upload, one task stands."""
    owner = shop.subject
    files = pictures.batch("race", IMAGES)
    key = {"Idempotency-Key": f"faults-{uuid.uuid4()}"}
    before_tasks = _tasks(db, owner)
    before_sources = storage.keys("sources/")

    def submit() -> httpx.Response:
        return api.submit(files, pictures.variants_field(), headers=key)

    with ThreadPoolExecutor(2) as pool:
        answers = [future.result() for future in [pool.submit(submit) for _ in range(2)]]

    views = [api.accepted(answer) for answer in answers]
    assert views[0]["id"] == views[1]["id"]
    task_id = views[0]["id"]
    assert _tasks(db, owner, key["Idempotency-Key"]) == 1
    assert _tasks(db, owner) == before_tasks + 1
    assert db.value("SELECT count(*) FROM images WHERE task_id = %s", [task_id]) == IMAGES
    view = wait_finished(cluster, api.http, task_id, timeout=60)
    assert_each_image_done_once(view, db, storage, pictures.EXTENSIONS, images=IMAGES)
    # The losing request's uploads were removed, not left in S3 without a task.
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        assert leaked_sources(conn, storage, before_sources) == set()
