"""Two processor replicas in one consumer group share a batch; no image is processed twice."""

import json
from collections import Counter

from tests.e2e import images
from tests.e2e.api import Api, Db, Storage
from tests.e2e.images import JPEG_TYPE
from tests.e2e.services import Stack

IMAGES = 30
VARIANTS = [
    {"name": "small", "width": 160, "format": "jpg"},
    {"name": "medium", "width": 320, "format": "webp"},
]


def test_two_replicas_share_a_batch_and_process_every_image_exactly_once(
    api: Api, stack: Stack, storage: Storage, db: Db
) -> None:
    assert len(stack.processors) == 2
    files = [
        (f"shared-{i}.jpg", images.jpeg(640, 480, seed=100 + i), JPEG_TYPE) for i in range(IMAGES)
    ]
    accepted = api.accepted(api.submit(files, {"variants": json.dumps(VARIANTS)}))
    task_id = accepted["id"]

    view = api.wait_finished(task_id)

    assert view["status"] == "done"
    assert view["counts"]["done"] == IMAGES
    assert all(image["attempts"] == 1 for image in view["images"]), view["images"]

    rows = db.execute(
        "SELECT id::text AS id, status, attempts, lease_owner FROM images WHERE task_id = %s",
        [task_id],
    ).fetchall()
    assert len(rows) == IMAGES
    assert {row["status"] for row in rows} == {"done"}
    assert {row["attempts"] for row in rows} == {1}
    # The worker id is host:pid:suffix; the pid tells which replica did the work.
    workers = Counter(int(row["lease_owner"].split(":")[1]) for row in rows)
    replica_pids = {processor.pid for processor in stack.processors}
    assert set(workers) == replica_pids, f"images per worker pid {dict(workers)}"

    # One claim per image: a second processing would have logged a second state change.
    processing = db.execute(
        "SELECT image_id::text AS id, count(*) AS n FROM image_events"
        " WHERE task_id = %s AND status = 'processing' GROUP BY image_id",
        [task_id],
    ).fetchall()
    assert {row["id"]: row["n"] for row in processing} == {row["id"]: 1 for row in rows}

    expected = {
        f"results/{task_id}/{row['id']}/{name}"
        for row in rows
        for name in ("small.jpg", "medium.webp")
    }
    assert storage.keys(f"results/{task_id}/") == expected
    outputs = db.execute(
        "SELECT o.image_id::text AS id, count(*) AS n FROM outputs o"
        " JOIN images i ON i.id = o.image_id WHERE i.task_id = %s GROUP BY o.image_id",
        [task_id],
    ).fetchall()
    assert {row["id"]: row["n"] for row in outputs} == {row["id"]: 2 for row in rows}
