"""End-to-end tests: task_service, the gateway and two processors as real processes.

They run against the real local stack (`pixelmill stack up`) and never skip: a stack that is
down, or a service that does not come up, fails the run with the service's log tail.

Each session is isolated from whatever else runs on the shared stack: its own ports, its
own Kafka consumer group and its own PostgreSQL schema. Its requests carry a token of the
realm's example shop backend (tests/e2e/auth.py), whose service account owns the tasks.

The group alone does not isolate: every job goes through the one topic, and a consumer in
another group (a developer's processor, another engineer's `pixelmill run`) receives the same
records and claims whatever queued image row it finds, with its own settings (no allowlist
for the test image server, for one). With the session's tables in a schema of their own,
such a processor finds no row for the session's jobs and skips them, and the session's
processors skip everyone else's.
"""

import json
import logging
import os
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from common.s3 import s3_client
from common.settings import KeycloakSettings, PostgresSettings, S3Settings
from infra.local import stack as local_stack_status
from infra.local.settings import StackSettings
from tests.e2e.api import Api, Db, Storage
from tests.e2e.images import ImageServer
from tests.e2e.services import Service, Stack, base_environment
from tests.harness.auth import ShopToken
from tests.harness.kafka import forget_consumer_group, start_group_at_end
from tests.harness.ports import free_port

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 90
MAX_FILE_BYTES = 2 * 1024 * 1024
PROCESSOR_REPLICAS = 2
STACK_KEY = pytest.StashKey[Stack]()
# Set to keep the session's PostgreSQL schema (tasks, images, events) for a post-mortem.
KEEP_SCHEMA_ENV = "E2E_KEEP_SCHEMA"


# What these services use today; Keycloak joins once the gateway verifies tokens.
NEEDED = ("kafka", "postgres", "s3")
# The stack's S3 server by another name, as clients following presigned URLs would use.
S3_PUBLIC_ENDPOINT_URL = f"http://localhost:{urlsplit(S3Settings().s3_endpoint_url).port}"


@pytest.fixture(scope="session", autouse=True)
def local_stack() -> None:
    status = local_stack_status.status(StackSettings())
    states = {name: state for name, _, _, state in status}
    down = [f"{name} ({states.get(name, 'absent')})" for name in NEEDED if states.get(name) != "up"]
    if down:
        pytest.fail(
            f"the local stack is not up: {', '.join(down)}; run `pixelmill stack up`",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def session_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Database:
    url: str
    schema: str


@pytest.fixture(scope="session")
def database(session_id: str, local_stack: None) -> Iterator[Database]:
    """A schema of the session's own, which task_service migrates at start-up."""
    base = PostgresSettings().secret("database_url")
    schema = f"e2e_{session_id}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield Database(make_conninfo(base, options=f"-c search_path={schema}"), schema)
    if os.environ.get(KEEP_SCHEMA_ENV):
        log.warning("kept PostgreSQL schema %s (%s is set)", schema, KEEP_SCHEMA_ENV)
        return
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="session")
def image_server() -> Iterator[ImageServer]:
    """Serves the URL sources; its host:port is the processors' one allowlist entry."""
    server = ImageServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shop_token() -> ShopToken:
    return ShopToken(KeycloakSettings())


@pytest.fixture(scope="session")
def stack(
    request: pytest.FixtureRequest,
    shop_token: ShopToken,
    image_server: ImageServer,
    tmp_path_factory: pytest.TempPathFactory,
    session_id: str,
    database: Database,
) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("service-logs")
    task_service_port, gateway_port = free_port(), free_port()
    common = {
        "PIXELMILL_TASK_SERVICE_PORT": str(task_service_port),
        "PIXELMILL_TASK_SERVICE_URL": f"http://127.0.0.1:{task_service_port}",
        "PIXELMILL_GATEWAY_PORT": str(gateway_port),
        "PIXELMILL_DATABASE_URL": database.url,
        "PIXELMILL_PROCESSOR_GROUP": f"pixelmill-e2e-{session_id}",
        # pydantic-settings reads list fields as JSON.
        "PIXELMILL_URL_ALLOWLIST": json.dumps([image_server.address]),
        "PIXELMILL_RECONCILE_INTERVAL_SECONDS": "0.5",
        "PIXELMILL_RECONCILE_GRACE_SECONDS": "2",
    }

    def service(name: str, command: str, port: int, **extra: str) -> Service:
        env = base_environment({**common, **extra})
        return Service(name, command, port, env, logs / f"{name}.log")

    processors = []
    for replica in range(1, PROCESSOR_REPLICAS + 1):
        port = free_port()
        # faust keeps per-worker files under the temporary directory: keep them in ours.
        datadir = tmp_path_factory.mktemp(f"processor-{replica}")
        processors.append(
            service(
                f"processor-{replica}",
                "processor",
                port,
                PIXELMILL_PROCESSOR_PORT=str(port),
                TMPDIR=str(datadir),
            )
        )
    running = Stack(
        owner=shop_token.subject,
        processor_group=common["PIXELMILL_PROCESSOR_GROUP"],
        task_service=service("task-service", "task-service", task_service_port),
        gateway=service(
            "gateway",
            "gateway",
            gateway_port,
            PIXELMILL_MAX_FILE_BYTES=str(MAX_FILE_BYTES),
            PIXELMILL_SSE_KEEPALIVE_SECONDS="1",
            # Clients reach S3 by another name than the services do.
            PIXELMILL_S3_PUBLIC_ENDPOINT_URL=S3_PUBLIC_ENDPOINT_URL,
            # Sources waiting for S3 stay with this gateway, not a developer's.
            PIXELMILL_SPOOL_DIR=str(tmp_path_factory.mktemp("spool")),
        ),
        processors=processors,
        max_file_bytes=MAX_FILE_BYTES,
    )
    request.config.stash[STACK_KEY] = running
    try:
        start_group_at_end(running.processor_group)
        running.start(START_TIMEOUT_SECONDS)
        yield running
    finally:
        running.stop()
        del request.config.stash[STACK_KEY]
        forget_consumer_group(running.processor_group)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    running = item.config.stash.get(STACK_KEY, None)
    if report.failed and running is not None:
        report.sections.append(("pixelmill service logs", running.tails()))
    return report


@pytest.fixture(autouse=True)
def services_alive(request: pytest.FixtureRequest) -> None:
    """A service that died between tests fails the next one by name, not by a refused call."""
    running = request.config.stash.get(STACK_KEY, None)
    if running is not None:
        running.check_alive()


@pytest.fixture(scope="session")
def http(stack: Stack, shop_token: ShopToken) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway.url, timeout=60, auth=shop_token) as client:
        yield client


@pytest.fixture(scope="session")
def api(http: httpx.Client, stack: Stack) -> Api:
    return Api(http, stack)


@pytest.fixture(scope="session")
def storage() -> Storage:
    settings = S3Settings()
    return Storage(s3_client(settings), settings.s3_bucket)


@pytest.fixture(scope="session")
def db(database: Database) -> Iterator[Db]:
    """For checks only: the session's schema, read with the stack's own credentials."""
    with psycopg.connect(database.url, autocommit=True, row_factory=dict_row) as conn:
        yield conn
