"""Cancelling a big batch: what has not started is cancelled, what runs finishes."""

import time

from tests.e2e.api import TASK_PATH, Api, Storage
from tests.faults import pictures
from tests.faults.checks import (
    assert_counts_add_up,
    events_by_image,
    ids_of,
    image_counts,
    wait_finished,
    wait_for,
)
from tests.faults.cluster import Cluster
from tests.faults.db import Database

IMAGES = 150
CANCEL_AFTER_DONE = 5


def test_cancelling_a_big_batch_cancels_what_has_not_started_and_lets_running_images_finish(
    api: Api, cluster: Cluster, db: Database, storage: Storage
) -> None:
    files = pictures.batch("cancel", IMAGES, 1600, 1200)
    task_id = api.accepted(api.submit(files, pictures.variants_field()))["id"]

    def started() -> bool:
        counts = image_counts(db, task_id)
        return counts["done"] >= CANCEL_AFTER_DONE and counts["processing"] > 0

    wait_for(cluster, started, 60, f"{CANCEL_AFTER_DONE} images done and more running")
    answer = api.http.delete(f"{TASK_PATH}/{task_id}")
    assert answer.status_code == 200, answer.text
    at_cancel = answer.json()
    cancelled_at = time.monotonic()
    running = ids_of(at_cancel, ["processing"])
    assert running, "nothing was running when the cancel came"
    assert at_cancel["status"] == "cancelled"
    assert at_cancel["counts"]["cancelled"] > 0, at_cancel["counts"]
    assert ids_of(at_cancel, ["queued", "retrying"]) == set(), "queued images left"

    view = wait_finished(cluster, api.http, task_id, timeout=60)
    settled_in = time.monotonic() - cancelled_at

    assert view["status"] == "cancelled"
    assert_counts_add_up(view)
    counts = view["counts"]
    assert counts["done"] + counts["cancelled"] == IMAGES, counts
    assert counts["failed"] == 0 and counts["queued"] == counts["processing"] == 0, counts
    assert counts["done"] >= CANCEL_AFTER_DONE and counts["cancelled"] > 0, counts
    done, cancelled = ids_of(view, ["done"]), ids_of(view, ["cancelled"])
    # What ran when the cancel came finished and kept its results; nothing else started.
    assert running <= done, running - done
    assert ids_of(at_cancel, ["cancelled"]) == cancelled
    assert ids_of(at_cancel, ["done", "processing"]) == done
    last_done = max(image["end_dt"] for image in view["images"] if image["id"] in done)
    assert view["finished_dt"] >= last_done

    events = events_by_image(db, task_id)
    for image_id in cancelled:
        assert [status for status, _ in events[image_id]] == ["queued", "cancelled"]
    for image_id in done:
        assert [status for status, _ in events[image_id]] == ["queued", "processing", "done"]

    expected = {
        f"results/{task_id}/{image_id}/{name}.{ext}"
        for image_id in done
        for name, ext in pictures.EXTENSIONS.items()
    }
    assert storage.keys(f"results/{task_id}/") == expected
    outputs = db.value(
        "SELECT count(*) FROM outputs o JOIN images i ON i.id = o.image_id WHERE i.task_id = %s",
        [task_id],
    )
    assert outputs == len(expected)

    again = api.http.delete(f"{TASK_PATH}/{task_id}")
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "task_finished"
    print(
        f"cancelled with {len(running)} running: {counts['done']} done,"
        f" {counts['cancelled']} cancelled; task ended {settled_in:.1f} s after the cancel"
    )
