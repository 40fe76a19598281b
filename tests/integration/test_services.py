"""`pixelmill run` (what `make run` starts): each of the four services answers /healthz."""

import os
import signal
import subprocess
import sys
import time

import httpx

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


def test_pixelmill_run_starts_the_four_services_and_stops_them_on_sigterm() -> None:
    ports = {service: free_port() for service in PORT_SETTINGS}
    env = {**os.environ, **{PORT_SETTINGS[s]: str(p) for s, p in ports.items()}}
    run = subprocess.Popen(
        [sys.executable, "-m", "common.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
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
        output = run.communicate(timeout=60)[0].decode(errors="replace")

    assert run.returncode == 0, output
    assert not any(_healthy(port) for port in ports.values())
