"""Every gateway route needs a token, except the few that must not (health, identity).

/docs, /openapi.json and /metrics are not API operations (not in the OpenAPI document) and
take no token either.
"""

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings

# Routes a caller without a token must reach. Adding to this set is a security decision.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/user/register"),
    ("POST", "/api/v1/user/login"),
    ("POST", "/api/v1/user/refresh-token"),
    ("POST", "/api/v1/user/logout"),
}


def _routes() -> list[tuple[str, str]]:
    """Every documented operation of the API."""
    paths = create_app(Settings()).openapi()["paths"]
    return sorted((method.upper(), path) for path, item in paths.items() for method in item)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.fixture(scope="module")
def client() -> TestClient:
    # No lifespan, so no services: a route that gets past authentication fails with a 500,
    # which still tells it apart from a 401.
    return TestClient(create_app(Settings()), raise_server_exceptions=False)


def test_the_public_routes_are_exactly_the_listed_ones(client: TestClient) -> None:
    public = set()
    for method, path in _routes():
        if client.request(method, _concrete(path)).status_code != 401:
            public.add((method, path))

    assert public == PUBLIC


@pytest.mark.parametrize(("method", "path"), [r for r in _routes() if r not in PUBLIC])
def test_a_route_without_a_token_answers_401_with_a_bearer_challenge(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, _concrete(path))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    if method != "HEAD":  # an answer to HEAD has no body
        assert response.json()["error"]["code"] == "missing_token"


def test_the_openapi_document_declares_bearer_authentication(client: TestClient) -> None:
    document = client.get("/openapi.json").json()

    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/api/v1/task"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in document["paths"]["/api/v1/user/login"]["post"]
