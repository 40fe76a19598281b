"""S3 stops in the middle of an upload: the gateway spools the rest and accepts the batch."""

import contextlib

from tests.e2e.api import TASK_PATH, Api, Storage
from tests.faults import infra, pictures
from tests.faults.checks import assert_each_image_done_once, metric, wait_finished, wait_for
from tests.faults.cluster import Cluster
from tests.faults.db import Database
from tests.faults.infra import Outage
from tests.faults.multipart import StreamedForm

IMAGES = 20
# Files sent before S3 goes away; all but the last of them are stored by then.
FIRST = 5
UPLOADED = "pixelmill_upload_bytes_total"


def test_s3_down_mid_upload_accepts_the_batch_and_every_image_ends_done(
    api: Api, cluster: Cluster, db: Database, storage: Storage
) -> None:
    files = pictures.batch("s3-outage", IMAGES, 800, 600)
    gateway = cluster.stack.gateway
    form = StreamedForm()
    outages: list[Outage] = []

    with contextlib.ExitStack() as restore:
        baseline = metric(gateway.url, UPLOADED)
        first_bytes = sum(len(data) for _, data, _ in files[:FIRST])

        def stop_s3() -> None:
            # Every byte of the first files read: all but the last of them are in S3 (a
            # file is stored when the gateway reads the boundary that ends it).
            wait_for(
                cluster,
                lambda: metric(gateway.url, UPLOADED) >= baseline + first_bytes,
                30,
                f"the gateway reading the first {FIRST} files",
            )
            outages.append(restore.enter_context(infra.outage("s3")))

        response = api.http.post(
            TASK_PATH,
            content=form.body(pictures.variants_field(), files, after=FIRST, between=stop_s3),
            headers={"Content-Type": form.content_type},
            timeout=120,
        )
        assert outages, "S3 was never stopped"
        accepted = api.accepted(response)
        task_id = accepted["id"]
        assert len(accepted["images"]) == IMAGES

        # While S3 is still down: what came after the outage waits in the gateway's spool,
        # its job held back until the spool has uploaded it (images.source_pending).
        pending = db.value(
            "SELECT count(*) FROM images WHERE task_id = %s AND source_pending", [task_id]
        )
        spooled = gateway.log_text().count(f"S3 refused source sources/{task_id}/")
        down_for = outages[0].seconds
        outages[0].end()

    view = wait_finished(cluster, api.http, task_id, timeout=120)
    assert_each_image_done_once(view, db, storage, pictures.EXTENSIONS, images=IMAGES)
    assert spooled >= 1, "the gateway spooled nothing"
    assert IMAGES - FIRST <= pending < IMAGES, (
        f"{pending} images were waiting for their spooled source; expected at least"
        f" {IMAGES - FIRST} (the files sent after S3 stopped)"
    )
    assert (
        db.value("SELECT count(*) FROM images WHERE task_id = %s AND source_pending", [task_id])
        == 0
    )
    sources = {f"sources/{task_id}/{image['id']}" for image in view["images"]}
    assert storage.keys(f"sources/{task_id}/") == sources
    print(f"S3 down {down_for:.1f} s; {pending} of {IMAGES} sources went through the spool")
