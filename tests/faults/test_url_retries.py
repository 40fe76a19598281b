"""A URL source whose host answers 503 twice, then 200: done on the third attempt."""

import uuid

from tests.e2e.api import Api, Storage
from tests.e2e.images import JPEG_TYPE
from tests.faults import pictures
from tests.faults.checks import assert_each_image_done_once, events_by_image, wait_finished
from tests.faults.cluster import Cluster
from tests.faults.conftest import RETRY_DELAYS_SECONDS
from tests.faults.db import Database
from tests.faults.servers import ScriptedServer

LIFECYCLE = [
    "queued",
    "processing",
    "retrying",
    "processing",
    "retrying",
    "processing",
    "done",
]


def test_a_flaky_url_is_retried_with_delays_and_done_on_the_third_attempt(
    api: Api, cluster: Cluster, db: Database, storage: Storage, source_host: ScriptedServer
) -> None:
    _, body, _ = pictures.batch("flaky", 1)[0]
    path = f"/flaky/{uuid.uuid4().hex}.jpg"
    url = source_host.script(path, [503, 503, 200], body, JPEG_TYPE)
    task_id = api.accepted(api.submit_json({"urls": [url], "variants": pictures.SPECS}))["id"]

    view = wait_finished(cluster, api.http, task_id, timeout=60)
    assert_each_image_done_once(view, db, storage, pictures.EXTENSIONS, images=1)
    (image,) = view["images"]
    assert image["attempts"] == 3, image

    # The host saw three requests, the later ones after the configured delays.
    requests = source_host.received(path)
    assert [r.status for r in requests] == [503, 503, 200]
    for before, after, delay in zip(requests, requests[1:], RETRY_DELAYS_SECONDS, strict=False):
        assert after.at - before.at >= delay * 0.9, (after.at - before.at, delay)

    # Both retries are in the recorded events, with their cause, and in the live stream.
    (history,) = events_by_image(db, task_id).values()
    assert [status for status, _ in history] == LIFECYCLE, history
    retrying = db.rows(
        "SELECT attempts, error_code FROM image_events WHERE task_id = %s"
        " AND status = 'retrying' ORDER BY id",
        [task_id],
    )
    assert [(r["attempts"], r["error_code"]) for r in retrying] == [
        (1, "source_unavailable"),
        (2, "source_unavailable"),
    ]
    stream = api.events(task_id)
    assert [e.data["status"] for e in stream.images] == LIFECYCLE
    assert [e.data["attempts"] for e in stream.images if e.data["status"] == "retrying"] == [1, 2]
    assert stream.frames[-1].event == "task"
    assert stream.frames[-1].data["status"] == "done"
