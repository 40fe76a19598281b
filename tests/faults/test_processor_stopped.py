"""A processor stopped with SIGTERM mid-batch exits cleanly, holding nothing, losing nothing.

What the stopping worker held it either finishes before it exits (faust drains the events in
flight first) or hands back (`released on shutdown`, queued again at once, no attempt spent);
either way no image waits for a lease to run out, and the other replica does the rest.
"""

import re

from tests.e2e.api import Api, Storage
from tests.faults import pictures
from tests.faults.checks import (
    assert_each_image_done_once,
    attempts_of,
    busiest_processor_once_done,
    events_by_image,
    wait_finished,
    worker_pid,
)
from tests.faults.cluster import Cluster
from tests.faults.db import Database

IMAGES = 60
STOP_AFTER_DONE = 10
EXIT_SECONDS = 30
_RELEASED = re.compile(r"image (?P<id>[0-9a-f-]{36}) released on shutdown")


def test_a_stopped_processor_exits_0_within_30_s_and_the_other_one_completes_the_batch(
    api: Api, cluster: Cluster, db: Database, storage: Storage
) -> None:
    assert len(cluster.processors) == 2
    files = pictures.batch("stopped", IMAGES, 1600, 1200)
    task_id = api.accepted(api.submit(files, pictures.variants_field()))["id"]

    victim = busiest_processor_once_done(cluster, db, task_id, STOP_AFTER_DONE)
    victim_pid = victim.pid
    survivor = next(p for p in cluster.processors if p is not victim)
    held = {
        row["id"]
        for row in db.rows(
            "SELECT id::text AS id FROM images WHERE task_id = %s AND status = 'processing'"
            " AND lease_owner LIKE %s",
            [task_id, f"%:{victim_pid}:%"],
        )
    }
    code, took = cluster.terminate(victim, EXIT_SECONDS)
    assert code == 0, f"{victim.name} exited with {code} after {took:.1f} s"
    assert took < EXIT_SECONDS

    # Gone, and holding nothing: no image of the batch waits for its lease to run out.
    still_held = db.rows(
        "SELECT id::text AS id FROM images WHERE task_id = %s AND status = 'processing'"
        " AND lease_owner LIKE %s",
        [task_id, f"%:{victim_pid}:%"],
    )
    assert still_held == [], f"{victim.name} exited holding {still_held}"
    released = set(_RELEASED.findall(victim.log_text()))
    assert cluster.processors == [survivor]

    view = wait_finished(cluster, api.http, task_id, timeout=120)
    assert_each_image_done_once(view, db, storage, pictures.EXTENSIONS, images=IMAGES)
    # A clean stop spends no attempt: nothing was reclaimed after a lease.
    assert set(attempts_of(view).values()) == {1}, attempts_of(view)

    events = events_by_image(db, task_id)
    for image_id in held:
        statuses = [status for status, _ in events[image_id]]
        owner = worker_pid(db.value("SELECT lease_owner FROM images WHERE id = %s", [image_id]))
        if image_id in released:
            # Handed back: queued again, then done by the replica that kept running.
            assert statuses == ["queued", "processing", "queued", "processing", "done"], statuses
            assert owner == survivor.pid
        else:
            # Finished by the stopping worker before it exited.
            assert statuses == ["queued", "processing", "done"], statuses
            assert owner == victim_pid
    print(
        f"{victim.name} exited 0 in {took:.1f} s; of the {len(held)} images it held,"
        f" {len(held - released)} finished before exiting, {len(released)} handed back"
    )
