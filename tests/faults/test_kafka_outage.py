"""Kafka away for 20 s mid-batch: the batch completes once it is back, nothing lost or doubled.

Submissions during the outage are still accepted (the outbox keeps their jobs until Kafka
acknowledges them, the reconciler sends them when it is back).
"""

import time

from tests.e2e.api import Api, Storage
from tests.faults import pictures
from tests.faults.checks import (
    assert_each_image_done_once,
    attempts_of,
    image_counts,
    outage_mid_batch,
    wait_finished,
    wait_for,
)
from tests.faults.cluster import Cluster
from tests.faults.db import Database

IMAGES = 60
STOP_AFTER_DONE = 10
OUTAGE_SECONDS = 20
DURING_OUTAGE = 5


def test_a_batch_survives_20_s_without_kafka_and_a_submission_during_it_is_accepted(
    api: Api, cluster: Cluster, db: Database, storage: Storage
) -> None:
    files = pictures.batch("kafka-outage", IMAGES, 1600, 1200)
    task_id = api.accepted(api.submit(files, pictures.variants_field()))["id"]
    wait_for(
        cluster,
        lambda: image_counts(db, task_id)["done"] >= STOP_AFTER_DONE,
        60,
        f"{STOP_AFTER_DONE} images done",
    )

    with outage_mid_batch(cluster, db, task_id, "kafka") as (outage, done_at_stop):
        assert done_at_stop < IMAGES, "the batch was over before Kafka went away"
        # Accepted without Kafka: the jobs wait in PostgreSQL, unsent.
        late = api.accepted(
            api.submit(pictures.batch("kafka-late", DURING_OUTAGE), pictures.variants_field())
        )
        late_id = late["id"]
        unsent = db.value(
            "SELECT count(*) FROM images WHERE task_id = %s AND enqueued_at IS NULL", [late_id]
        )
        assert unsent == DURING_OUTAGE
        # The scenario itself: Kafka stays away this long.
        time.sleep(max(0.0, OUTAGE_SECONDS - outage.seconds))
        assert image_counts(db, late_id)["queued"] == DURING_OUTAGE
        stopped_for = outage.seconds
        outage.end()
    back_at = time.monotonic()

    view = wait_finished(cluster, api.http, task_id, timeout=150)
    late_view = wait_finished(cluster, api.http, late_id, timeout=60)
    recovered_in = time.monotonic() - back_at

    for current, count in ((view, IMAGES), (late_view, DURING_OUTAGE)):
        assert_each_image_done_once(current, db, storage, pictures.EXTENSIONS, images=count)
        # Not one image was processed twice, nor claimed again after a lost lease.
        assert set(attempts_of(current).values()) == {1}, attempts_of(current)
    print(
        f"Kafka down {stopped_for:.1f} s with {done_at_stop}/{IMAGES} done;"
        f" both tasks finished {recovered_in:.1f} s after it was back"
    )
