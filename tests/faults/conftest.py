"""Fault tests: the services as real processes on the real stack, and the stack broken.

Like tests/e2e, a session runs its own task_service, gateway and two processors on free
ports, in a PostgreSQL schema and a Kafka consumer group of its own. Unlike them, these
services run with short retry delays, leases and reconcile intervals, so that recoveries
happen in seconds; and the tests stop Kafka, PostgreSQL and S3 of the shared local stack,
kill and stop processors, and start new ones.

Every test leaves things as it found them: a stack service it stopped is started again
(in the test's own `finally`, and checked once more after each test), and the session goes
on with two live processors in one settled consumer group.
"""

import json
import logging
import os
import secrets
import uuid
from collections.abc import Generator, Iterator
from itertools import count

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from common.s3 import s3_client
from common.settings import KeycloakSettings, PostgresSettings, S3Settings
from schemas import limits
from tests.e2e.api import Api, Storage
from tests.e2e.services import Service, Stack, base_environment
from tests.faults import infra
from tests.faults.cluster import Cluster
from tests.faults.db import Database
from tests.faults.servers import ScriptedServer
from tests.harness.auth import ShopToken
from tests.harness.kafka import forget_consumer_group, start_group_at_end
from tests.harness.ports import free_port

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 90
PROCESSOR_REPLICAS = 2
CLUSTER_KEY = pytest.StashKey[Cluster]()
KEEP_SCHEMA_ENV = "FAULTS_KEEP_SCHEMA"

# Short, so that every recovery in this suite takes seconds (the defaults are minutes). The
# tail outlasts the longest outage here (S3 stopped and started again) on a slow machine too.
RETRY_DELAYS_SECONDS = [1, 1, 2, 2, 3, 3, 5, 10, 15]
LEASE_SECONDS = 5
RECONCILE_INTERVAL_SECONDS = 0.5
RECONCILE_GRACE_SECONDS = 2
WEBHOOK_RETRY_DELAYS_SECONDS = [1, 2, 4]
SPOOL_RETRY_DELAYS_SECONDS = [0.5, 1, 1, 2, 2, 3]
# A member that vanished without leaving (SIGKILL, or Kafka gone) is dropped from the group
# after 10 s, so its partitions move on while the test waits.
SESSION_TIMEOUT_SECONDS = "10"


@pytest.fixture(scope="session", autouse=True)
def local_stack() -> None:
    infra.require_up()


@pytest.fixture(scope="session")
def session_id() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def database_url(session_id: str, local_stack: None) -> Iterator[str]:
    """A schema of the session's own, which task_service migrates at start-up."""
    base = PostgresSettings().secret("database_url")
    schema = f"faults_{session_id}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield make_conninfo(base, options=f"-c search_path={schema}")
    if os.environ.get(KEEP_SCHEMA_ENV):
        log.warning("kept PostgreSQL schema %s (%s is set)", schema, KEEP_SCHEMA_ENV)
        return
    infra.start("postgres")  # a test that failed half-way may have left it stopped
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="session")
def source_host() -> Iterator[ScriptedServer]:
    """Serves URL sources on 127.0.0.1; the processors' one URL allowlist entry."""
    server = ScriptedServer("source-host").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[ScriptedServer]:
    """Receives completion webhooks on 127.0.0.1; the one webhook allowlist entry."""
    server = ScriptedServer("webhook-receiver").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def webhook_secret() -> str:
    return secrets.token_hex(16)


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    session_id: str,
    database_url: str,
    source_host: ScriptedServer,
    webhook_receiver: ScriptedServer,
    webhook_secret: str,
) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("service-logs")
    task_service_port, gateway_port = free_port(), free_port()
    group = f"pixelmill-faults-{session_id}"
    common = {
        "PIXELMILL_TASK_SERVICE_PORT": str(task_service_port),
        "PIXELMILL_TASK_SERVICE_URL": f"http://127.0.0.1:{task_service_port}",
        "PIXELMILL_GATEWAY_PORT": str(gateway_port),
        "PIXELMILL_DATABASE_URL": database_url,
        "PIXELMILL_PROCESSOR_GROUP": group,
        # pydantic-settings reads list fields as JSON.
        "PIXELMILL_URL_ALLOWLIST": json.dumps([source_host.address]),
        "PIXELMILL_RETRY_DELAYS_SECONDS": json.dumps(RETRY_DELAYS_SECONDS),
        "PIXELMILL_PROCESSOR_LEASE_SECONDS": str(LEASE_SECONDS),
        "PIXELMILL_RECONCILE_INTERVAL_SECONDS": str(RECONCILE_INTERVAL_SECONDS),
        "PIXELMILL_RECONCILE_GRACE_SECONDS": str(RECONCILE_GRACE_SECONDS),
    }

    def service(name: str, command: str, port: int, **extra: str) -> Service:
        env = base_environment({**common, **extra})
        return Service(name, command, port, env, logs / f"{name}.log")

    replica = count(1)

    def make_processor() -> Service:
        number = next(replica)
        port = free_port()
        # faust keeps per-worker files under the temporary directory: keep them in ours.
        datadir = tmp_path_factory.mktemp(f"processor-{number}")
        return service(
            f"processor-{number}",
            "processor",
            port,
            PIXELMILL_PROCESSOR_PORT=str(port),
            TMPDIR=str(datadir),
            PIXELMILL_PROCESSOR_SESSION_TIMEOUT_SECONDS=SESSION_TIMEOUT_SECONDS,
        )

    stack = Stack(
        owner="",  # the token's subject: see the `shop` fixture
        processor_group=group,
        task_service=service(
            "task-service",
            "task-service",
            task_service_port,
            PIXELMILL_WEBHOOK_SECRET=webhook_secret,
            PIXELMILL_WEBHOOK_ALLOWLIST=json.dumps([webhook_receiver.address]),
            PIXELMILL_WEBHOOK_RETRY_DELAYS_SECONDS=json.dumps(WEBHOOK_RETRY_DELAYS_SECONDS),
            PIXELMILL_WEBHOOK_INTERVAL_SECONDS="0.2",
        ),
        gateway=service(
            "gateway",
            "gateway",
            gateway_port,
            PIXELMILL_SSE_KEEPALIVE_SECONDS="1",
            # Sources waiting for S3 stay with this gateway, not a developer's.
            PIXELMILL_SPOOL_DIR=str(tmp_path_factory.mktemp("spool")),
            PIXELMILL_SPOOL_RETRY_DELAYS_SECONDS=json.dumps(SPOOL_RETRY_DELAYS_SECONDS),
            PIXELMILL_SPOOL_INTERVAL_SECONDS="0.2",
        ),
        processors=[make_processor() for _ in range(PROCESSOR_REPLICAS)],
        max_file_bytes=limits.MAX_FILE_BYTES,
    )
    running = Cluster(stack, make_processor, PROCESSOR_REPLICAS)
    request.config.stash[CLUSTER_KEY] = running
    try:
        start_group_at_end(group)
        stack.start(START_TIMEOUT_SECONDS)
        yield running
    finally:
        stack.stop()
        del request.config.stash[CLUSTER_KEY]
        forget_consumer_group(group)


@pytest.fixture(autouse=True)
def restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """Before a test: every service alive. After it: the stack up, two processors ready."""
    running = request.config.stash.get(CLUSTER_KEY, None)
    if running is not None:
        running.stack.check_alive()
    yield
    for name, state in infra.states().items():
        if name in infra.NEEDED and state != "up":
            log.warning("%s was left %s; starting it", name, state)
            infra.start(name)
    running = request.config.stash.get(CLUSTER_KEY, None)
    if running is not None:
        running.restore()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    running = item.config.stash.get(CLUSTER_KEY, None)
    if report.failed and running is not None:
        report.sections.append(("pixelmill service logs", running.tails()))
    return report


@pytest.fixture(scope="session")
def shop() -> ShopToken:
    """The example shop's token, as tests/e2e sends it: its subject owns the tasks."""
    return ShopToken(KeycloakSettings())


@pytest.fixture(scope="session")
def http(cluster: Cluster, shop: ShopToken) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.stack.gateway.url, timeout=60, auth=shop) as client:
        yield client


@pytest.fixture(scope="session")
def api(http: httpx.Client, cluster: Cluster) -> Api:
    return Api(http, cluster.stack)


@pytest.fixture(scope="session")
def storage() -> Storage:
    settings = S3Settings()
    return Storage(s3_client(settings), settings.s3_bucket)


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    """For checks only: the session's schema, read with the stack's own credentials."""
    database = Database(database_url)
    yield database
    database.close()
