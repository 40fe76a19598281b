"""Identity end to end: the real Keycloak, and gateway, task_service and user_service as real
processes on free ports.

The services use a PostgreSQL schema of their own, so the tasks made here are the only ones
they see (the stats are exact) and no processor of another session claims their images.
"""

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from keycloak import KeycloakAdmin, KeycloakOpenID
from psycopg import sql
from psycopg.conninfo import make_conninfo

from common import dev
from common.settings import KeycloakSettings, PostgresSettings
from tests.harness.ports import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60
# The gateway under test allows 1 s of clock skew (default 30 s), so that a token made to
# expire after 1 s is refused a few seconds later rather than half a minute.
LEEWAY_SECONDS = 1
RUN = uuid.uuid4().hex[:8]
PASSWORD = "Identity-test-1"
A_URL_TASK = {"urls": ["http://127.0.0.1:9/x.jpg"]}


@dataclass
class Service:
    name: str
    port: int
    log: Path
    process: "subprocess.Popen[bytes] | None" = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "common.cli", "serve", self.name],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited:\n{self.log.read_text()[-3000:]}", pytrace=False)
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Services:
    gateway: Service
    schema: str
    database_url: str


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    base_url = PostgresSettings().secret("database_url")
    schema = f"identity_{RUN}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    database_url = make_conninfo(base_url, options=f"-c search_path={schema}")
    logs = tmp_path_factory.mktemp("identity-logs")
    task_service = Service("task-service", free_port(), logs / "task-service.log")
    user_service = Service("user-service", free_port(), logs / "user-service.log")
    gateway = Service("gateway", free_port(), logs / "gateway.log")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PIXELMILL_DATABASE_URL": database_url,
        "PIXELMILL_TASK_SERVICE_PORT": str(task_service.port),
        "PIXELMILL_TASK_SERVICE_URL": task_service.url,
        "PIXELMILL_USER_SERVICE_PORT": str(user_service.port),
        "PIXELMILL_USER_SERVICE_URL": user_service.url,
        "PIXELMILL_GATEWAY_PORT": str(gateway.port),
        "PIXELMILL_TOKEN_LEEWAY_SECONDS": str(LEEWAY_SECONDS),
        # Another gateway's spooled files are not this one's to upload.
        "PIXELMILL_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),
    }
    started = [task_service, user_service, gateway]
    try:
        for service in started:
            service.start(env)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for service in started:
            while not service.healthy():
                if time.monotonic() > deadline:
                    pytest.fail(f"{service.name} did not answer /healthz", pytrace=False)
                time.sleep(0.2)
        yield Services(gateway, schema, database_url)
    finally:
        for service in reversed(started):
            service.stop()
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module")
def http(services: Services) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=services.gateway.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def admin() -> Iterator[KeycloakAdmin]:
    """Keycloak's master admin, for checks and clean-up only (the services never use it)."""
    settings = KeycloakSettings()
    keycloak = KeycloakAdmin(
        server_url=settings.keycloak_url,
        username=dev.KEYCLOAK_ADMIN_USER,
        password=dev.KEYCLOAK_ADMIN_PASSWORD,
        realm_name=settings.keycloak_realm,
        user_realm_name="master",
    )
    yield keycloak
    for user in keycloak.get_users({"search": f"it-{RUN}-"}):
        keycloak.delete_user(user["id"])


def _openid(client_id: str, secret: str | None = None, realm: str | None = None) -> KeycloakOpenID:
    settings = KeycloakSettings()
    return KeycloakOpenID(
        server_url=settings.keycloak_url,
        realm_name=realm or settings.keycloak_realm,
        client_id=client_id,
        client_secret_key=secret,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    username: str
    tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens["access_token"])


def register(http: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/v1/user/register", json={"username": username, "password": password})


def login(http: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/v1/user/login", json={"username": username, "password": password})


def new_account(http: httpx.Client, name: str) -> Account:
    username = f"it-{RUN}-{name}"
    assert register(http, username).status_code == 201
    response = login(http, username)
    assert response.status_code == 200, response.text
    return Account(username, response.json())


def submit(http: httpx.Client, headers: dict[str, str], body: Any = None) -> dict[str, Any]:
    response = http.post("/api/v1/task", json=body or A_URL_TASK, headers=headers)
    assert response.status_code == 202, response.text
    view: dict[str, Any] = response.json()
    return view


@pytest.fixture(scope="module")
def alice(http: httpx.Client, admin: KeycloakAdmin) -> Account:
    return new_account(http, "alice")


@pytest.fixture(scope="module")
def bob(http: httpx.Client, admin: KeycloakAdmin) -> Account:
    return new_account(http, "bob")


@pytest.fixture(scope="module")
def alices_task(http: httpx.Client, alice: Account) -> dict[str, Any]:
    return submit(http, alice.headers)


@pytest.fixture(scope="module")
def operator(http: httpx.Client) -> Account:
    response = login(http, dev.KEYCLOAK_DEMO_ADMIN_USER, dev.KEYCLOAK_DEMO_ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    return Account(dev.KEYCLOAK_DEMO_ADMIN_USER, response.json())


def shop_token() -> str:
    openid = _openid(dev.KEYCLOAK_SHOP_CLIENT_ID, dev.KEYCLOAK_SHOP_CLIENT_SECRET)
    token: str = openid.token(grant_type="client_credentials")["access_token"]
    return token


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def assert_refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_token"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert reason in challenge


# --- registration, login, tasks ---------------------------------------------------------


def test_a_registered_user_logs_in_submits_a_task_and_reads_it(
    http: httpx.Client, alice: Account, alices_task: dict[str, Any]
) -> None:
    assert set(alice.tokens) >= {"access_token", "refresh_token", "expires_in", "token_type"}
    assert claims_of(alice.tokens["access_token"])["preferred_username"] == alice.username

    read = http.get(f"/api/v1/task/{alices_task['id']}", headers=alice.headers)
    listed = http.get("/api/v1/task", headers=alice.headers)

    assert read.status_code == 200
    assert read.json()["id"] == alices_task["id"]
    assert alices_task["id"] in {task["id"] for task in listed.json()["items"]}


def test_the_task_belongs_to_the_token_subject(
    services: Services, alice: Account, alices_task: dict[str, Any]
) -> None:
    with psycopg.connect(services.database_url) as conn:
        row = conn.execute("SELECT owner FROM tasks WHERE id = %s", [alices_task["id"]]).fetchone()

    assert row == (claims_of(alice.tokens["access_token"])["sub"],)


def _head_of_stream(http: httpx.Client, path: str, headers: dict[str, str]) -> httpx.Response:
    """The answer with its body read only if it is not an event stream (which never ends
    while the task is unfinished)."""
    with http.stream("GET", path, headers=headers) as response:
        if not response.headers["content-type"].startswith("text/event-stream"):
            response.read()
        return response


def test_another_user_gets_404_for_the_task_its_image_events_cancel_and_retry(
    http: httpx.Client, alice: Account, bob: Account, alices_task: dict[str, Any]
) -> None:
    task_id, image_id = alices_task["id"], alices_task["images"][0]["id"]
    # Alice's own view first: these objects exist.
    own_image = http.get(f"/api/v1/image-processor/{image_id}", headers=alice.headers)
    assert own_image.json()["error"]["code"] == "image_not_ready"
    with http.stream("GET", f"/api/v1/task/{task_id}/events", headers=alice.headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")

    attempts = {
        "task": http.get(f"/api/v1/task/{task_id}", headers=bob.headers),
        "image": http.get(f"/api/v1/image-processor/{image_id}", headers=bob.headers),
        "events": _head_of_stream(http, f"/api/v1/task/{task_id}/events", bob.headers),
        "cancel": http.delete(f"/api/v1/task/{task_id}", headers=bob.headers),
        "retry": http.post(f"/api/v1/task/{task_id}/retry", headers=bob.headers),
    }

    assert {name: r.status_code for name, r in attempts.items()} == dict.fromkeys(attempts, 404)
    assert {r.json()["error"]["code"] for r in attempts.values()} == {"not_found"}
    assert http.get("/api/v1/task", headers=bob.headers).json()["items"] == []


def test_an_admin_sees_every_users_tasks(
    http: httpx.Client, operator: Account, alices_task: dict[str, Any]
) -> None:
    read = http.get(f"/api/v1/task/{alices_task['id']}", headers=operator.headers)
    listed = http.get("/api/v1/task", params={"limit": 100}, headers=operator.headers)

    assert read.status_code == 200
    assert alices_task["id"] in {task["id"] for task in listed.json()["items"]}


def test_a_service_account_submits_and_reads_its_task(http: httpx.Client) -> None:
    headers = bearer(shop_token())

    task = submit(http, headers)

    assert http.get(f"/api/v1/task/{task['id']}", headers=headers).status_code == 200


def test_a_token_without_the_user_role_is_forbidden(http: httpx.Client) -> None:
    # user_service's own service account: a valid token of the realm, for the API audience,
    # but it manages users and is no shop.
    openid = _openid(dev.KEYCLOAK_USER_CLIENT_ID, dev.KEYCLOAK_USER_CLIENT_SECRET)
    token = openid.token(grant_type="client_credentials")["access_token"]

    response = http.get("/api/v1/task", headers=bearer(token))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


# --- tokens the gateway refuses -----------------------------------------------------------


def test_no_token_is_401_with_a_bare_bearer_challenge(http: httpx.Client) -> None:
    response = http.post("/api/v1/task", json=A_URL_TASK)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "missing_token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _realm_public_key_pem(kid: str) -> bytes:
    certs = _openid(dev.KEYCLOAK_USER_CLIENT_ID).certs()
    (entry,) = [key for key in certs["keys"] if key["kid"] == kid]
    public_key = jwt.PyJWK(entry).key
    pem: bytes = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def test_a_token_with_a_changed_signature_is_refused(http: httpx.Client, alice: Account) -> None:
    header, payload, signature = alice.tokens["access_token"].split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    response = http.get("/api/v1/task", headers=bearer(f"{header}.{payload}.{flipped}"))

    assert_refused(response, "the signature does not verify")


def test_an_alg_none_token_is_refused(http: httpx.Client, alice: Account) -> None:
    _, payload, _ = alice.tokens["access_token"].split(".")
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())

    response = http.get("/api/v1/task", headers=bearer(f"{header}.{payload}."))

    assert_refused(response, "alg none is refused")


def test_an_hs256_token_keyed_with_the_realm_public_key_is_refused(
    http: httpx.Client, alice: Account
) -> None:
    real_header, payload, _ = alice.tokens["access_token"].split(".")
    kid = json.loads(base64.urlsafe_b64decode(real_header + "=="))["kid"]
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    signing_input = f"{header}.{payload}"
    signature = hmac.new(_realm_public_key_pem(kid), signing_input.encode(), hashlib.sha256)

    response = http.get(
        "/api/v1/task", headers=bearer(f"{signing_input}.{_b64(signature.digest())}")
    )

    assert_refused(response, "alg HS256 is refused")


def test_a_token_of_another_realm_is_refused(http: httpx.Client) -> None:
    master = _openid("admin-cli", realm="master")
    token = master.token(dev.KEYCLOAK_ADMIN_USER, dev.KEYCLOAK_ADMIN_PASSWORD)["access_token"]

    response = http.get("/api/v1/task", headers=bearer(token))

    assert_refused(response, "the token is not signed by a key of the realm")


@pytest.fixture
def short_lived_client(admin: KeycloakAdmin) -> Iterator[tuple[str, str]]:
    """A client of the realm whose access tokens live 1 s: a real token that really expires."""
    client_id, secret = f"pixelmill-it-{RUN}-expiry", f"expiry-secret-{RUN}"
    internal_id = admin.create_client(
        {
            "clientId": client_id,
            "secret": secret,
            "publicClient": False,
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": False,
            "attributes": {"access.token.lifespan": "1"},
            "protocolMappers": [
                {
                    "name": "pixelmill-api audience",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-audience-mapper",
                    "config": {
                        "included.custom.audience": "pixelmill-api",
                        "access.token.claim": "true",
                    },
                }
            ],
        }
    )
    yield client_id, secret
    admin.delete_client(internal_id)


def test_an_expired_token_is_refused(
    http: httpx.Client, short_lived_client: tuple[str, str]
) -> None:
    token = _openid(*short_lived_client).token(grant_type="client_credentials")["access_token"]
    expires = claims_of(token)["exp"]
    assert expires - claims_of(token)["iat"] == 1

    time.sleep(max(0.0, expires + LEEWAY_SECONDS + 1 - time.time()))
    response = http.get("/api/v1/task", headers=bearer(token))

    assert_refused(response, "the token has expired")


# --- refresh and logout ---------------------------------------------------------------------


def test_a_refresh_gives_a_working_access_token(http: httpx.Client) -> None:
    account = new_account(http, "refresher")

    refreshed = http.post(
        "/api/v1/user/refresh-token", json={"refresh_token": account.tokens["refresh_token"]}
    )

    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.headers["cache-control"] == "no-store"
    new_access = refreshed.json()["access_token"]
    assert new_access != account.tokens["access_token"]
    assert http.get("/api/v1/task", headers=bearer(new_access)).status_code == 200


def test_after_logout_the_refresh_token_no_longer_works(http: httpx.Client) -> None:
    account = new_account(http, "leaver")
    refresh_token = {"refresh_token": account.tokens["refresh_token"]}

    logout = http.post("/api/v1/user/logout", json=refresh_token)
    refresh = http.post("/api/v1/user/refresh-token", json=refresh_token)

    assert logout.status_code == 204
    assert refresh.status_code == 401
    assert refresh.json()["error"]["code"] == "invalid_refresh_token"


def test_a_junk_refresh_token_is_401(http: httpx.Client) -> None:
    response = http.post("/api/v1/user/refresh-token", json={"refresh_token": "junk"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_refresh_token"


# --- registration and login refusals ----------------------------------------------------------


def test_a_taken_username_is_409(http: httpx.Client, alice: Account) -> None:
    response = register(http, alice.username)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "username_taken"


def test_a_weak_password_is_400_with_the_policy_reason_and_leaves_no_user(
    http: httpx.Client, admin: KeycloakAdmin
) -> None:
    username = f"it-{RUN}-weak"

    response = register(http, username, password="weakweakweak")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_password"
    assert error["message"].startswith("Invalid password:")
    # The user was created before the password was refused: registration deleted it again.
    assert admin.get_user_id(username) is None
    assert register(http, username).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"username": "Upper-Case", "password": PASSWORD},
        {"username": "ab", "password": PASSWORD},
        {"username": "has space", "password": PASSWORD},
        {"username": "fine-name", "password": PASSWORD, "email": "not-an-email"},
        {"username": "fine-name"},
    ],
)
def test_a_malformed_registration_is_400(http: httpx.Client, body: dict[str, str]) -> None:
    response = http.post("/api/v1/user/register", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"


def test_a_wrong_password_is_401_invalid_credentials(http: httpx.Client) -> None:
    account = new_account(http, "forgetful")

    response = login(http, account.username, "Not-the-password-1")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


# --- admin stats -----------------------------------------------------------------------------


def test_stats_are_forbidden_to_a_non_admin(http: httpx.Client, alice: Account) -> None:
    response = http.get("/api/v1/admin/stats", headers=alice.headers)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_stats_count_done_and_failed_images_per_day(
    http: httpx.Client, services: Services, alice: Account, operator: Account
) -> None:
    task = submit(http, alice.headers, {"urls": [f"http://127.0.0.1:9/{n}.jpg" for n in range(4)]})
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    outcomes = [
        ("done", today - timedelta(days=2)),
        ("failed", today - timedelta(days=2)),
        ("done", today),
        ("done", today - timedelta(days=9)),  # before the period
    ]
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        for image, (status, finished_at) in zip(task["images"], outcomes, strict=True):
            conn.execute(
                "UPDATE images SET status = %s, finished_at = %s WHERE id = %s",
                [status, finished_at, image["id"]],
            )

    response = http.get("/api/v1/admin/stats", params={"period_days": 7}, headers=operator.headers)

    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["period_days"] == 7
    days = {day["day"]: (day["done"], day["failed"]) for day in stats["days"]}
    expected = {(today - timedelta(days=n)).date().isoformat(): (0, 0) for n in range(7)}
    expected[(today - timedelta(days=2)).date().isoformat()] = (1, 1)
    expected[today.date().isoformat()] = (1, 0)
    assert days == expected
    assert [day["day"] for day in stats["days"]] == sorted(expected)


@pytest.mark.parametrize("period_days", [0, 366])
def test_stats_refuse_a_period_outside_1_to_365_days(
    http: httpx.Client, operator: Account, period_days: int
) -> None:
    response = http.get(
        "/api/v1/admin/stats", params={"period_days": period_days}, headers=operator.headers
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
