"""`pixelmill run` (what `make run` starts): each of the four services answers /healthz."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.harness.kafka import forget_consumer_group, start_group_at_end
from tests.harness.ports import free_port

START_TIMEOUT_SECONDS = 60

PORT_SETTINGS = {
    "gateway": "PIXELMILL_GATEWAY_PORT",
    "task-service": "PIXELMILL_TASK_SERVICE_PORT",
    "user-service": "PIXELMILL_USER_SERVICE_PORT",
    "processor": "PIXELMILL_PROCESSOR_PORT",
}


def _healthy(port: int) -> bool:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json() == {"status": "ok"}


def test_pixelmill_run_starts_the_four_services_and_stops_them_on_sigterm(tmp_path: Path) -> None:
    ports = {service: free_port() for service in PORT_SETTINGS}
    # Its own consumer group, from the jobs topic's end: never a developer's `make run`
    # group, and no replay of the jobs earlier tests published.
    group = f"pixelmill-run-test-{uuid.uuid4().hex[:8]}"
    start_group_at_end(group)
    env = {
        **os.environ,
        **{PORT_SETTINGS[s]: str(p) for s, p in ports.items()},
        "PIXELMILL_PROCESSOR_GROUP": group,
        "PIXELMILL_SPOOL_DIR": str(tmp_path / "spool"),
    }
    # A file, not a pipe: a pipe nobody reads until the end would block the services' logs.
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log_file:
        run = subprocess.Popen(
            [sys.executable, "-m", "common.cli", "run"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        waiting = dict(ports)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while waiting and time.monotonic() < deadline:
            assert run.poll() is None, "pixelmill run exited early"
            waiting = {s: p for s, p in waiting.items() if not _healthy(p)}
            time.sleep(0.3)
        assert not waiting, f"no /healthz answer from {sorted(waiting)}"
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
        output = log_path.read_text(errors="replace")
        forget_consumer_group(group)

    assert run.returncode == 0, output
    assert not any(_healthy(port) for port in ports.values())
