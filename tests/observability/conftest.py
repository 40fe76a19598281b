"""Observability tests: promtool on the repository's files, and a real Prometheus scraping the
four services started as real processes (like tests/e2e) on the real local stack.

Nothing skips: a missing `prometheus` or `promtool` fails with the package to install, a stack
that is down fails naming the service, a service that dies fails with its log.

The services of a session are isolated from everything else on the shared stack as the e2e
tests' are: free ports, their own PostgreSQL schema (so other processors skip their jobs and
they skip everyone else's) and their own consumer group, started at the jobs topic's end.
"""

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from common.settings import KeycloakSettings, PostgresSettings
from infra.local import stack as local_stack
from infra.local.services.prometheus import ScrapeJob, render_config, rule_files
from infra.local.settings import StackSettings
from tests.e2e import images
from tests.e2e.services import POLL_SECONDS, Service, base_environment, consumer_state
from tests.harness.auth import ShopToken
from tests.harness.kafka import start_group_at_end
from tests.harness.ports import free_port

START_TIMEOUT_SECONDS = 120
PROMETHEUS_START_SECONDS = 60
NEEDED = ("kafka", "postgres", "s3", "keycloak")
INSTALL_HINT = (
    "install Debian's `prometheus` package: `make prometheus` or `apt-get install prometheus`"
)


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not on PATH; {INSTALL_HINT}", pytrace=False)
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return _binary("prometheus")


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    details: Callable[[], str] = lambda: "",
) -> None:
    """Poll `condition` until it holds; at the deadline fail naming `what`, with `details()`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{details()}")
        time.sleep(POLL_SECONDS)


# ----------------------------------------------------------------------------- services


@dataclass
class Services:
    """task_service, the gateway, user_service and one processor, by Prometheus job name."""

    by_job: dict[str, Service]
    group: str

    def tails(self) -> str:
        return "\n\n".join(service.tail() for service in self.by_job.values())

    def check_alive(self) -> None:
        dead = [s for s in self.by_job.values() if s.exit_code() is not None]
        if dead:
            names = ", ".join(f"{s.name} (exit {s.exit_code()})" for s in dead)
            pytest.fail(f"service died: {names}\n\n{self.tails()}", pytrace=False)

    def metrics_url(self, job: str) -> str:
        return f"{self.by_job[job].url}/metrics"

    def scrape_jobs(self) -> list[ScrapeJob]:
        return [ScrapeJob(job, (f"127.0.0.1:{s.port}",)) for job, s in self.by_job.items()]

    def ready(self) -> bool:
        self.check_alive()
        healthy = all(service.healthy() for service in self.by_job.values())
        processor_log = self.by_job["processor"].log_text()
        return healthy and consumer_state(processor_log, self.group) is not None

    def stop(self) -> None:
        order = ["gateway", "processor", "user-service", "task-service"]
        for job in order:
            self.by_job[job].terminate()
        for job in order:
            self.by_job[job].wait_stopped(30)


@pytest.fixture(scope="session")
def stack_is_up() -> None:
    states = {name: state for name, _, _, state in local_stack.status(StackSettings())}
    down = [f"{name} ({states.get(name, 'absent')})" for name in NEEDED if states.get(name) != "up"]
    if down:
        pytest.fail(
            f"the local stack is not up: {', '.join(down)}; run `pixelmill stack up`",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def database_url(stack_is_up: None) -> Iterator[str]:
    """A schema of the session's own, which task_service migrates at start-up."""
    base = PostgresSettings().secret("database_url")
    schema = f"observability_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield make_conninfo(base, options=f"-c search_path={schema}")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Services]:
    logs = tmp_path_factory.mktemp("observability-logs")
    group = f"pixelmill-observability-{uuid.uuid4().hex[:8]}"
    ports = {job: free_port() for job in ("gateway", "task-service", "user-service", "processor")}
    common = {
        "PIXELMILL_TASK_SERVICE_PORT": str(ports["task-service"]),
        "PIXELMILL_TASK_SERVICE_URL": f"http://127.0.0.1:{ports['task-service']}",
        "PIXELMILL_USER_SERVICE_PORT": str(ports["user-service"]),
        "PIXELMILL_USER_SERVICE_URL": f"http://127.0.0.1:{ports['user-service']}",
        "PIXELMILL_GATEWAY_PORT": str(ports["gateway"]),
        "PIXELMILL_PROCESSOR_PORT": str(ports["processor"]),
        "PIXELMILL_PROCESSOR_GROUP": group,
        "PIXELMILL_DATABASE_URL": database_url,
        "PIXELMILL_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),
        # faust keeps per-worker files under the temporary directory: keep them in ours.
        "TMPDIR": str(tmp_path_factory.mktemp("processor")),
        # The processor logs at INFO so that its joining the group can be seen.
        "PIXELMILL_LOG_LEVEL": "INFO",
    }
    env = base_environment(common)
    running = Services(
        {job: Service(job, job, port, env, logs / f"{job}.log") for job, port in ports.items()},
        group,
    )
    start_group_at_end(group)
    try:
        for service in running.by_job.values():
            service.start()
        wait_for(running.ready, START_TIMEOUT_SECONDS, "the four services", running.tails)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def metrics_responses(services: Services) -> dict[str, httpx.Response]:
    """Each service's answer to GET /metrics, by job name."""
    return {job: httpx.get(services.metrics_url(job), timeout=10) for job in services.by_job}


@pytest.fixture(scope="session")
def expositions(metrics_responses: dict[str, httpx.Response]) -> dict[str, str]:
    """The expositions of the services that serve /metrics, by job name."""
    return {job: r.text for job, r in metrics_responses.items() if r.status_code == 200}


# ----------------------------------------------------------------------------- a batch


def bearer() -> dict[str, str]:
    """A token of the example shop's service account (client credentials)."""
    return {"Authorization": f"Bearer {ShopToken(KeycloakSettings()).access_token()}"}


FINISHED = {"done", "partial", "failed", "cancelled"}
BATCH_SIZE = 3


@pytest.fixture(scope="session")
def batch(services: Services) -> dict[str, Any]:
    """Three images submitted through the gateway, and the task once it has finished."""
    headers = bearer()
    files = [
        ("file", (f"observed-{i}.jpg", images.jpeg(640, 480, i), images.JPEG_TYPE))
        for i in range(BATCH_SIZE)
    ]
    with httpx.Client(base_url=services.by_job["gateway"].url, timeout=60) as client:
        response = client.post(
            "/api/v1/task",
            files=files,
            data={"width": "200", "format": "webp"},
            headers=headers,
        )
        assert response.status_code == 202, response.text
        task_id = response.json()["id"]
        task: dict[str, Any] = {}

        def finished() -> bool:
            nonlocal task
            services.check_alive()
            task = client.get(f"/api/v1/task/{task_id}", headers=headers).json()
            return task.get("status") in FINISHED

        wait_for(finished, 120, f"task {task_id} to finish", services.tails)
    assert task["status"] == "done", json.dumps(task, indent=2)
    return task


# ----------------------------------------------------------------------------- Prometheus


@dataclass
class RunningPrometheus:
    url: str
    process: "subprocess.Popen[bytes]"
    log: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float:
        """The single value of a scalar-like query; 0 when it returns nothing."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} returned {len(result)} series"
        return float(result[0]["value"][1]) if result else 0.0

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def prometheus(
    prometheus_binary: str, services: Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningPrometheus]:
    """A real Prometheus scraping the session's services every second, with the repo's rules."""
    workdir = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        render_config(services.scrape_jobs(), scrape_interval="1s", rules=rule_files())
    )
    log = workdir / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = RunningPrometheus(f"http://127.0.0.1:{port}", process, log)

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}:\n{running.log_text()}")
        try:
            return httpx.get(f"{running.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, PROMETHEUS_START_SECONDS, "prometheus to be ready", running.log_text)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
