"""Waiting on tasks through outages, and the exactly-once checks every fault test ends with."""

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx
import psutil

from tests.e2e.api import TASK_PATH, Storage
from tests.e2e.services import Service
from tests.faults import infra
from tests.faults.cluster import Cluster
from tests.faults.db import Database
from tests.faults.infra import Outage

FINISHED = {"done", "partial", "failed", "cancelled"}
# What an outage may answer for a moment instead of the task (README: Operations).
_OUTAGE_STATUSES = {502, 503, 504}


def task_view(http: httpx.Client, task_id: str) -> dict[str, Any] | None:
    """The task view, or None while a dependency of the gateway is down."""
    try:
        response = http.get(f"{TASK_PATH}/{task_id}")
    except httpx.TransportError:
        return None
    if response.status_code in _OUTAGE_STATUSES:
        return None
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def wait_for(
    cluster: Cluster, condition: Callable[[], bool], timeout: float, what: str | Callable[[], str]
) -> None:
    cluster.stack.wait_until(condition, time.monotonic() + timeout, what)


def wait_finished(
    cluster: Cluster, http: httpx.Client, task_id: str, timeout: float
) -> dict[str, Any]:
    """The task view once finished; outage answers on the way are waited out."""
    view: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal view
        current = task_view(http, task_id)
        if current is None:
            return False
        view = current
        return view["status"] in FINISHED and view["finished_dt"] is not None

    wait_for(
        cluster, finished, timeout, lambda: f"task {task_id} to finish; last view {_brief(view)}"
    )
    return view


def _brief(view: Mapping[str, Any]) -> str:
    if not view:
        return "none"
    statuses = Counter(image["status"] for image in view.get("images", []))
    errors = Counter(
        image["error"]["code"] for image in view.get("images", []) if image.get("error")
    )
    return (
        f"status {view.get('status')}, counts {view.get('counts')}, images {dict(statuses)},"
        f" errors {dict(errors)}"
    )


def image_counts(db: Database, task_id: str) -> Counter[str]:
    rows = db.rows(
        "SELECT status, count(*) AS n FROM images WHERE task_id = %s GROUP BY status", [task_id]
    )
    return Counter({row["status"]: row["n"] for row in rows})


def events_by_image(db: Database, task_id: str) -> dict[str, list[tuple[str, int]]]:
    """Each image's recorded state changes, (status, attempts), in commit order."""
    rows = db.rows(
        "SELECT image_id::text AS image_id, status, attempts FROM image_events"
        " WHERE task_id = %s ORDER BY id",
        [task_id],
    )
    events: dict[str, list[tuple[str, int]]] = {}
    for row in rows:
        events.setdefault(row["image_id"], []).append((row["status"], row["attempts"]))
    return events


def assert_counts_add_up(view: Mapping[str, Any]) -> None:
    counts = view["counts"]
    images = view["images"]
    assert counts["total"] == len(images), counts
    by_status = Counter(image["status"] for image in images)
    states = ("queued", "processing", "retrying", "done", "failed", "cancelled")
    for status in states:
        assert counts[status] == by_status.get(status, 0), (status, counts, dict(by_status))
    assert sum(counts[status] for status in states) == counts["total"], counts


def assert_each_image_done_once(
    view: Mapping[str, Any],
    db: Database,
    storage: Storage,
    variants: Mapping[str, str],
    *,
    images: int,
) -> None:
    """Every image `done` once, with exactly one output per variant in PostgreSQL and in S3.

    `variants` maps each variant's name to its file extension.
    """
    task_id = view["id"]
    assert view["status"] == "done", _brief(view)
    assert view["counts"]["total"] == images
    assert view["counts"]["done"] == images, view["counts"]
    for state in ("queued", "processing", "retrying", "failed", "cancelled"):
        assert view["counts"][state] == 0, view["counts"]
    assert_counts_add_up(view)
    assert all(image["status"] == "done" and image["error"] is None for image in view["images"])
    for image in view["images"]:
        assert sorted(o["variant"] for o in image["outputs"]) == sorted(variants), image

    image_ids = {image["id"] for image in view["images"]}
    rows = db.rows("SELECT id::text AS id, status FROM images WHERE task_id = %s", [task_id])
    assert {row["id"] for row in rows} == image_ids
    assert {row["status"] for row in rows} == {"done"}

    outputs = db.rows(
        "SELECT o.image_id::text AS image_id, o.variant, o.s3_key FROM outputs o"
        " JOIN images i ON i.id = o.image_id WHERE i.task_id = %s",
        [task_id],
    )
    expected_keys = {
        f"results/{task_id}/{image_id}/{name}.{ext}"
        for image_id in image_ids
        for name, ext in variants.items()
    }
    assert len(outputs) == len(expected_keys)
    assert {row["s3_key"] for row in outputs} == expected_keys
    # One object per variant: a redone image overwrote its own results, left no second copy.
    assert storage.keys(f"results/{task_id}/") == expected_keys

    # A terminal state is reached once and never left.
    events = events_by_image(db, task_id)
    assert set(events) == image_ids
    for image_id, history in events.items():
        statuses = [status for status, _ in history]
        assert statuses.count("done") == 1, (image_id, history)
        assert statuses[-1] == "done", (image_id, history)


def attempts_of(view: Mapping[str, Any]) -> dict[str, int]:
    return {image["id"]: image["attempts"] for image in view["images"]}


def ids_of(view: Mapping[str, Any], statuses: Sequence[str] | None = None) -> set[str]:
    return {
        image["id"] for image in view["images"] if statuses is None or image["status"] in statuses
    }


def worker_pid(lease_owner: str) -> int:
    """The pid in a processor's worker id (host:pid:suffix)."""
    return int(lease_owner.split(":")[1])


def held_by(db: Database, task_id: str) -> Counter[int]:
    """How many of the task's images each processor (by pid) holds right now."""
    rows = db.rows(
        "SELECT lease_owner FROM images WHERE task_id = %s AND status = 'processing'", [task_id]
    )
    return Counter(worker_pid(row["lease_owner"]) for row in rows)


def database_client_ports(db: Database, pid: int) -> set[int]:
    """The local ports of a process's PostgreSQL connections (pg_stat_activity.client_port)."""
    server_port = db.value("SELECT inet_server_port()")
    return {
        connection.laddr.port
        for connection in psutil.Process(pid).net_connections(kind="tcp")
        if connection.raddr and connection.raddr.port == server_port
    }


def wait_sessions_ended(db: Database, client_ports: set[int], timeout: float = 30) -> None:
    """Until PostgreSQL has ended those sessions of a dead process.

    A statement a process sent just before it died still runs to its end (a COMMIT lands);
    once the session is gone, the database holds everything the process will ever write.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = db.value(
            "SELECT count(*) FROM pg_stat_activity WHERE client_port = ANY(%s)",
            [list(client_ports)],
        )
        if left == 0:
            return
        assert time.monotonic() < deadline, f"{left} sessions of a dead process still open"
        time.sleep(0.05)


def busiest_processor_once_done(
    cluster: Cluster, db: Database, task_id: str, done: int, timeout: float = 60
) -> Service:
    """Once `done` images of the task are done, the processor holding the most of the rest."""
    found: list[Service] = []

    def some_done_and_one_busy() -> bool:
        if image_counts(db, task_id)["done"] < done:
            return False
        holding = held_by(db, task_id)
        busy = [p for p in cluster.processors if holding.get(p.pid, 0) > 0]
        found[:] = [max(busy, key=lambda p: holding[p.pid])] if busy else []
        return bool(found)

    wait_for(cluster, some_done_and_one_busy, timeout, f"{done} images done, one held")
    return found[0]


@contextlib.contextmanager
def outage_mid_batch(
    cluster: Cluster, db: Database, task_id: str, service: str
) -> Iterator[tuple[Outage, int]]:
    """`service` of the stack stopped while the task's batch is in progress; (the outage,
    images done when it began).

    The processors stand still from the count until the service is down, so the outage
    starts between two images however fast this machine works through the batch.
    """
    with contextlib.ExitStack() as scope:
        with cluster.paused():
            done = image_counts(db, task_id)["done"]
            outage = scope.enter_context(infra.outage(service))
        yield outage, done


def metric(url: str, name: str) -> float:
    """The sum of a metric's samples on a service's /metrics (0 when it has none yet)."""
    text = httpx.get(f"{url}/metrics", timeout=10).raise_for_status().text
    total = 0.0
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == name or sample.startswith(name + "{"):
            total += float(value)
    return total
