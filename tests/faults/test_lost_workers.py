"""An image whose workers keep vanishing mid-job is failed, not claimed forever: it may be
what brings them down (out of memory, a crash in a decoder)."""

import time
import uuid

from tests.e2e.api import Api
from tests.e2e.images import JPEG_TYPE
from tests.faults import pictures
from tests.faults.checks import wait_finished, wait_for
from tests.faults.cluster import Cluster
from tests.faults.conftest import RETRY_DELAYS_SECONDS
from tests.faults.db import Database
from tests.faults.servers import ScriptedServer

# Every claim counts as an attempt; the last allowed one is this.
LAST_ATTEMPT = len(RETRY_DELAYS_SECONDS) + 1


def test_an_image_whose_workers_all_vanished_fails_with_attempts_exhausted(
    api: Api, cluster: Cluster, db: Database, source_host: ScriptedServer
) -> None:
    _, body, _ = pictures.batch("lost", 1)[0]
    path = f"/lost/{uuid.uuid4().hex}.jpg"
    # Unavailable for now: the image goes to `retrying`, where the test sets its history.
    url = source_host.script(path, [503], body, JPEG_TYPE)
    task_id = api.accepted(api.submit_json({"urls": [url], "variants": pictures.SPECS}))["id"]

    def take_over_while_retrying() -> bool:
        # As if its last allowed claim had gone to a worker that died: held, lease over.
        # Only while it waits for a retry, so that no live worker holds it at that moment.
        taken = db.rows(
            "UPDATE images SET status = 'processing', attempts = %s, lease_owner = 'gone:1:x',"
            " lease_expires_at = now() - interval '1 s', next_attempt_at = NULL,"
            " enqueued_at = NULL WHERE task_id = %s AND status = 'retrying' RETURNING id",
            [LAST_ATTEMPT, task_id],
        )
        return bool(taken)

    wait_for(cluster, take_over_while_retrying, 30, "the image waiting for a retry")
    requests_before = len(source_host.received(path))
    source_host.script(path, [200], body, JPEG_TYPE)

    view = wait_finished(cluster, api.http, task_id, timeout=60)

    (image,) = view["images"]
    assert view["status"] == "failed", view
    assert image["status"] == "failed", image
    assert image["attempts"] == LAST_ATTEMPT + 1, image
    assert image["error"]["code"] == "attempts_exhausted", image
    assert f"the worker of attempt {LAST_ATTEMPT} stopped" in image["error"]["message"], image
    # Failed without being worked on again: its source was not fetched once more.
    time.sleep(0.5)
    assert len(source_host.received(path)) == requests_before
