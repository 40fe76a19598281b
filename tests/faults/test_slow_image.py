"""An image that takes longer than the lease stays with its worker: the lease is renewed
while it is worked on, so it is neither taken back nor done twice."""

import uuid

from schemas import limits
from tests.e2e.api import Api, Storage
from tests.e2e.images import JPEG_TYPE
from tests.faults import pictures
from tests.faults.checks import assert_each_image_done_once, events_by_image, wait_finished
from tests.faults.cluster import Cluster
from tests.faults.conftest import LEASE_SECONDS
from tests.faults.db import Database
from tests.faults.servers import ScriptedServer

# Longer than the lease, within the URL fetch's own time limit.
SOURCE_DELAY_SECONDS = LEASE_SECONDS + 3


def test_an_image_slower_than_its_lease_is_done_by_its_first_claim(
    api: Api, cluster: Cluster, db: Database, storage: Storage, source_host: ScriptedServer
) -> None:
    assert SOURCE_DELAY_SECONDS < limits.URL_TIMEOUT_SECONDS
    _, body, _ = pictures.batch("slow", 1)[0]
    path = f"/slow/{uuid.uuid4().hex}.jpg"
    url = source_host.script(path, [200], body, JPEG_TYPE, delay_seconds=SOURCE_DELAY_SECONDS)
    task_id = api.accepted(api.submit_json({"urls": [url], "variants": pictures.SPECS}))["id"]

    view = wait_finished(cluster, api.http, task_id, timeout=60)

    assert_each_image_done_once(view, db, storage, pictures.EXTENSIONS, images=1)
    (image,) = view["images"]
    assert image["attempts"] == 1, image
    assert len(source_host.received(path)) == 1
    (history,) = events_by_image(db, task_id).values()
    assert [status for status, _ in history] == ["queued", "processing", "done"], history
