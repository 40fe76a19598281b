"""The gateway's token verifier against a local realm: our own RSA keys, JWKS over httpx."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from common.errors import DependencyUnavailable
from gateway.auth.errors import InvalidToken
from gateway.auth.keys import RealmKeys
from gateway.auth.verifier import Principal, TokenVerifier

ISSUER = "http://keycloak.test/realms/pixelmill"
DISCOVERY_URL = f"{ISSUER}/.well-known/openid-configuration"
JWKS_URL = f"{ISSUER}/protocol/openid-connect/certs"
AUDIENCE = "pixelmill-api"
LEEWAY_SECONDS = 30
MIN_REFETCH_SECONDS = 10
MAX_AGE_SECONDS = 600


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwk(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass
class Realm:
    """Keycloak as the verifier sees it: a discovery document and a JWKS, counted."""

    published: list[SigningKey]
    extra_jwks_entries: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    jwks_fetches: int = 0
    now: float = 1000.0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if str(request.url) == DISCOVERY_URL:
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": JWKS_URL})
        if str(request.url) == JWKS_URL:
            self.jwks_fetches += 1
            keys = [key.jwk() for key in self.published] + self.extra_jwks_entries
            return httpx.Response(200, json={"keys": keys})
        return httpx.Response(404)

    def clock(self) -> float:
        return self.now

    def verifier(self, issuer: str | None = None) -> TokenVerifier:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        keys = RealmKeys(
            http,
            DISCOVERY_URL,
            min_refetch_seconds=MIN_REFETCH_SECONDS,
            max_age_seconds=MAX_AGE_SECONDS,
            clock=self.clock,
        )
        return TokenVerifier(keys, audience=AUDIENCE, leeway_seconds=LEEWAY_SECONDS, issuer=issuer)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "typ": "Bearer",
        "azp": "pixelmill-user-service",
        "preferred_username": "shop",
        "iat": now,
        "exp": now + 300,
        "realm_access": {"roles": ["user"]},
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def mint(key: SigningKey, kid: str | None = None, **overrides: Any) -> str:
    headers = {"kid": kid or key.kid}
    return jwt.encode(claims(**overrides), key.private, algorithm="RS256", headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], body: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}"


def verify(verifier: TokenVerifier, token: str) -> Principal:
    return asyncio.run(verifier.verify(token))


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as error:
        verify(verifier, token)
    return error.value.reason


@pytest.fixture(scope="module")
def key_a() -> SigningKey:
    return SigningKey("key-a")


@pytest.fixture(scope="module")
def key_b() -> SigningKey:
    return SigningKey("key-b")


@pytest.fixture
def realm(key_a: SigningKey) -> Realm:
    return Realm(published=[key_a])


def test_a_valid_token_gives_its_subject_roles_and_client(realm: Realm, key_a: SigningKey) -> None:
    principal = verify(realm.verifier(), mint(key_a, realm_access={"roles": ["user", "admin"]}))

    assert principal == Principal(
        subject="user-1",
        roles=frozenset({"user", "admin"}),
        username="shop",
        client_id="pixelmill-user-service",
    )
    assert principal.is_admin


def test_an_expired_token_is_refused(realm: Realm, key_a: SigningKey) -> None:
    now = int(time.time())
    token = mint(key_a, iat=now - 400, exp=now - LEEWAY_SECONDS - 5)

    assert refused(realm.verifier(), token) == "the token has expired"


def test_a_token_expired_less_than_the_leeway_ago_is_accepted(
    realm: Realm, key_a: SigningKey
) -> None:
    now = int(time.time())
    token = mint(key_a, iat=now - 310, exp=now - LEEWAY_SECONDS + 10)

    assert verify(realm.verifier(), token).subject == "user-1"


def test_a_token_of_another_issuer_is_refused(realm: Realm, key_a: SigningKey) -> None:
    token = mint(key_a, iss="http://keycloak.test/realms/master")

    assert refused(realm.verifier(), token) == f"the token was not issued by {ISSUER}"


def test_the_configured_issuer_replaces_the_discovered_one(realm: Realm, key_a: SigningKey) -> None:
    public = "https://login.pixelmill.example/realms/pixelmill"
    verifier = realm.verifier(issuer=public)

    assert verify(verifier, mint(key_a, iss=public)).subject == "user-1"
    assert refused(verifier, mint(key_a)) == f"the token was not issued by {public}"


def test_a_token_for_another_audience_is_refused(realm: Realm, key_a: SigningKey) -> None:
    token = mint(key_a, aud="account")

    assert refused(realm.verifier(), token) == f"the token is not meant for {AUDIENCE}"


def test_a_token_without_an_audience_is_refused(realm: Realm, key_a: SigningKey) -> None:
    token = mint(key_a, aud=None)

    assert refused(realm.verifier(), token) == "the token has no aud claim"


def test_an_id_token_is_refused(realm: Realm, key_a: SigningKey) -> None:
    token = mint(key_a, typ="ID")

    assert refused(realm.verifier(), token) == "not an access token but of type ID"


def test_alg_none_is_refused(realm: Realm, key_a: SigningKey) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": key_a.kid}, claims()) + "."

    assert refused(realm.verifier(), token) == "alg none is refused; tokens must be RS256"
    assert realm.jwks_fetches == 0


def test_hs256_keyed_with_the_realm_public_key_is_refused(realm: Realm, key_a: SigningKey) -> None:
    """The algorithm confusion attack: anyone can HMAC with the published public key."""
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": key_a.kid}, claims())
    signature = hmac.new(key_a.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64(signature)}"

    assert refused(realm.verifier(), token) == "alg HS256 is refused; tokens must be RS256"


def test_a_changed_signature_is_refused(realm: Realm, key_a: SigningKey) -> None:
    header, body, signature = mint(key_a).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    assert refused(realm.verifier(), f"{header}.{body}.{flipped}") == (
        "the signature does not verify"
    )


def test_a_changed_claim_is_refused(realm: Realm, key_a: SigningKey) -> None:
    header, _, signature = mint(key_a).split(".")
    body = _b64(json.dumps(claims(sub="somebody-else")).encode())

    assert refused(realm.verifier(), f"{header}.{body}.{signature}") == (
        "the signature does not verify"
    )


def test_a_token_signed_by_a_foreign_key_under_a_realm_kid_is_refused(
    realm: Realm, key_a: SigningKey
) -> None:
    forger = SigningKey(key_a.kid)

    assert refused(realm.verifier(), mint(forger)) == "the signature does not verify"


def test_garbage_is_refused_as_not_a_jwt(realm: Realm) -> None:
    assert refused(realm.verifier(), "not-a-token").startswith("not a JWT")


def test_encryption_keys_of_the_jwks_are_not_signing_keys(realm: Realm) -> None:
    encryption = SigningKey("key-enc")
    realm.extra_jwks_entries.append({**encryption.jwk(), "use": "enc", "alg": "RSA-OAEP"})

    assert refused(realm.verifier(), mint(encryption)) == (
        "the token is not signed by a key of the realm"
    )


def test_a_rotated_key_is_fetched_when_a_token_names_it(
    realm: Realm, key_a: SigningKey, key_b: SigningKey
) -> None:
    verifier = realm.verifier()
    assert verify(verifier, mint(key_a)).subject == "user-1"
    assert realm.jwks_fetches == 1

    realm.published = [key_b, key_a]
    realm.now += MIN_REFETCH_SECONDS
    assert verify(verifier, mint(key_b)).subject == "user-1"
    assert verify(verifier, mint(key_a)).subject == "user-1"

    assert realm.jwks_fetches == 2


def test_unknown_kids_refetch_at_most_once_per_interval(realm: Realm, key_a: SigningKey) -> None:
    verifier = realm.verifier()
    verify(verifier, mint(key_a))
    realm.now += MIN_REFETCH_SECONDS
    junk = SigningKey("junk")

    for n in range(50):
        realm.now += 0.1
        assert refused(verifier, mint(junk, kid=f"junk-{n}")) == (
            "the token is not signed by a key of the realm"
        )
    assert realm.jwks_fetches == 2  # the first load, then one refetch for the first junk kid

    realm.now += MIN_REFETCH_SECONDS
    refused(verifier, mint(junk, kid="junk-late"))
    assert realm.jwks_fetches == 3


def test_a_new_key_within_the_refetch_interval_waits_for_it(
    realm: Realm, key_a: SigningKey, key_b: SigningKey
) -> None:
    verifier = realm.verifier()
    verify(verifier, mint(key_a))
    realm.published = [key_b, key_a]

    assert refused(verifier, mint(key_b)) == "the token is not signed by a key of the realm"
    realm.now += MIN_REFETCH_SECONDS
    assert verify(verifier, mint(key_b)).subject == "user-1"


def test_keys_older_than_their_max_age_are_refetched_so_a_removed_key_stops_working(
    realm: Realm, key_a: SigningKey, key_b: SigningKey
) -> None:
    verifier = realm.verifier()
    verify(verifier, mint(key_a))
    realm.published = [key_b]

    realm.now += MAX_AGE_SECONDS - 1
    assert verify(verifier, mint(key_a)).subject == "user-1"
    realm.now += 1
    assert refused(verifier, mint(key_a)) == "the token is not signed by a key of the realm"
    assert realm.jwks_fetches == 2


def test_concurrent_first_requests_fetch_the_keys_once(realm: Realm, key_a: SigningKey) -> None:
    verifier = realm.verifier()
    token = mint(key_a)

    async def many() -> list[Principal]:
        return await asyncio.gather(*(verifier.verify(token) for _ in range(20)))

    assert {p.subject for p in asyncio.run(many())} == {"user-1"}
    assert realm.jwks_fetches == 1


def test_keycloak_down_at_the_first_request_is_a_dependency_error(
    realm: Realm, key_a: SigningKey
) -> None:
    realm.down = True

    with pytest.raises(DependencyUnavailable):
        verify(realm.verifier(), mint(key_a))


def test_keycloak_down_when_the_keys_are_old_keeps_the_known_keys(
    realm: Realm, key_a: SigningKey
) -> None:
    verifier = realm.verifier()
    verify(verifier, mint(key_a))
    realm.down = True
    realm.now += MAX_AGE_SECONDS

    assert verify(verifier, mint(key_a)).subject == "user-1"


@pytest.mark.parametrize(
    ("reason", "header"),
    [
        (
            "the token has expired",
            'Bearer error="invalid_token", error_description="the token has expired"',
        ),
        (
            'a "quoted" \\ reason',
            'Bearer error="invalid_token", error_description="a ?quoted? ? reason"',
        ),
    ],
)
def test_the_challenge_carries_the_reason_in_header_safe_characters(
    reason: str, header: str
) -> None:
    error = InvalidToken(reason)

    assert error.status_code == 401
    assert error.code == "invalid_token"
    assert error.headers == {"WWW-Authenticate": header}
