"""A processor SIGKILLed mid-batch: its images come back after their lease, nothing twice."""

import time
from datetime import datetime
from typing import Any

from tests.e2e.api import Api, Storage
from tests.faults import pictures
from tests.faults.checks import (
    assert_each_image_done_once,
    attempts_of,
    busiest_processor_once_done,
    database_client_ports,
    image_counts,
    wait_finished,
    wait_sessions_ended,
    worker_pid,
)
from tests.faults.cluster import Cluster
from tests.faults.conftest import LEASE_SECONDS
from tests.faults.db import Database

IMAGES = 100
KILL_AFTER_DONE = 20


def test_a_killed_processors_images_are_reclaimed_after_the_lease_and_done_once(
    api: Api, cluster: Cluster, db: Database, storage: Storage
) -> None:
    assert len(cluster.processors) == 2
    files = pictures.batch("killed", IMAGES)
    task_id = api.accepted(api.submit(files, pictures.variants_field()))["id"]

    # About a fifth done, and the processor to kill in the middle of at least one image.
    victim = busiest_processor_once_done(cluster, db, task_id, KILL_AFTER_DONE)
    victim_pid = victim.pid
    victim_sessions = database_client_ports(db, victim_pid)
    assert victim_sessions, "the processor to kill has no PostgreSQL connection"
    cluster.kill(victim)
    killed_at = time.monotonic()
    # A commit the victim sent just before it died still lands: read once it has.
    wait_sessions_ended(db, victim_sessions)

    # What the dead worker held: claimed, leased, and now nobody working on them.
    held = db.rows(
        "SELECT id::text AS id, attempts, lease_expires_at FROM images"
        " WHERE task_id = %s AND status = 'processing' AND lease_owner LIKE %s",
        [task_id, f"%:{victim_pid}:%"],
    )
    done_at_kill = image_counts(db, task_id)["done"]
    assert held, "the killed processor held no image when it died"
    assert done_at_kill < IMAGES

    # A replacement comes up at once, as an orchestrator would start one; yet nobody takes
    # the held images while the dead worker's lease runs, though their jobs may come again.
    replacement = cluster.launch_processor()
    held_ids = [row["id"] for row in held]
    leases_end: datetime = max(row["lease_expires_at"] for row in held)
    while True:
        # The time read with the rows: each row is checked against its own lease.
        current = db.rows(
            "SELECT id::text AS id, status, attempts, lease_owner, clock_timestamp() AS now"
            " FROM images WHERE id = ANY(%s::uuid[])",
            [held_ids],
        )
        for row, before in zip(sorted(current, key=_id), sorted(held, key=_id), strict=True):
            if row["now"] >= before["lease_expires_at"]:
                continue
            assert row["status"] == "processing", (row, before)
            assert row["attempts"] == before["attempts"], (row, before)
            assert worker_pid(row["lease_owner"]) == victim_pid, (row, before)
        if min(row["now"] for row in current) >= leases_end:
            break
        time.sleep(0.1)

    view = wait_finished(cluster, api.http, task_id, timeout=120)
    recovered_in = time.monotonic() - killed_at

    assert_each_image_done_once(view, db, storage, pictures.EXTENSIONS, images=IMAGES)

    # Then claimed once more, by a live worker, and done.
    attempts = attempts_of(view)
    for row in held:
        assert attempts[row["id"]] == row["attempts"] + 1, (attempts[row["id"]], row)
        final = db.value("SELECT lease_owner FROM images WHERE id = %s", [row["id"]])
        assert worker_pid(final) in {p.pid for p in cluster.processors}
    # The reclaim is a state change of its own in the event log: a second `processing`.
    for row in held:
        events = db.rows(
            "SELECT status, attempts FROM image_events WHERE image_id = %s ORDER BY id",
            [row["id"]],
        )
        assert [(e["status"], e["attempts"]) for e in events][-3:] == [
            ("processing", row["attempts"]),
            ("processing", row["attempts"] + 1),
            ("done", row["attempts"] + 1),
        ], events
    # Everything else was processed by one claim: the crash cost no other image an attempt.
    others = {k: n for k, n in attempts.items() if k not in set(held_ids)}
    assert set(others.values()) == {1}, {k: v for k, v in others.items() if v != 1}

    assert replacement.exit_code() is None
    print(
        f"killed pid {victim_pid} with {len(held)} images held and {done_at_kill} done;"
        f" batch finished {recovered_in:.1f} s later (lease {LEASE_SECONDS} s)"
    )


def _id(row: dict[str, Any]) -> str:
    image_id: str = row["id"]
    return image_id
