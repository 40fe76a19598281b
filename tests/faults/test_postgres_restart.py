"""PostgreSQL restarted mid-batch: every service rides it out in the same process."""

from concurrent.futures import ThreadPoolExecutor

from tests.e2e.api import TASK_PATH, Api, Storage
from tests.faults import pictures
from tests.faults.checks import (
    assert_each_image_done_once,
    image_counts,
    outage_mid_batch,
    wait_finished,
    wait_for,
)
from tests.faults.cluster import Cluster
from tests.faults.db import Database

IMAGES = 40
RESTART_AFTER_DONE = 5
AFTERWARDS = 3


def test_services_recover_from_a_postgres_restart_without_restarting_and_finish_the_batch(
    api: Api, cluster: Cluster, db: Database, storage: Storage
) -> None:
    files = pictures.batch("pg-restart", IMAGES, 1600, 1200)
    task_id = api.accepted(api.submit(files, pictures.variants_field()))["id"]
    wait_for(
        cluster,
        lambda: image_counts(db, task_id)["done"] >= RESTART_AFTER_DONE,
        60,
        f"{RESTART_AFTER_DONE} images done",
    )
    pids = cluster.pids()

    with (
        ThreadPoolExecutor(1) as reader,
        outage_mid_batch(cluster, db, task_id, "postgres") as (outage, done_at_stop),
    ):
        assert done_at_stop < IMAGES, "the batch was over before PostgreSQL went away"
        # A read sent while it is away: it waits for the server or answers 503, never 500.
        during = reader.submit(api.http.get, f"{TASK_PATH}/{task_id}")
        outage.end()
        answer = during.result(timeout=90)
    db.close()  # the checks' own connection died with the server
    assert answer.status_code in (200, 503), answer.text
    if answer.status_code == 503:
        assert answer.json()["error"]["code"] == "dependency_unavailable", answer.text

    view = wait_finished(cluster, api.http, task_id, timeout=120)
    assert_each_image_done_once(view, db, storage, pictures.EXTENSIONS, images=IMAGES)

    # New work after the restart goes through the same processes' pools.
    late_id = api.accepted(
        api.submit(pictures.batch("pg-after", AFTERWARDS), pictures.variants_field())
    )["id"]
    late = wait_finished(cluster, api.http, late_id, timeout=60)
    assert_each_image_done_once(late, db, storage, pictures.EXTENSIONS, images=AFTERWARDS)

    cluster.stack.check_alive()
    assert cluster.pids() == pids, "a service was restarted"
    print(
        f"PostgreSQL was down {outage.seconds:.1f} s with {done_at_stop}/{IMAGES} done;"
        f" a read meanwhile got {answer.status_code}"
    )
