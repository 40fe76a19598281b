"""The realm's issuer and signing keys, from its discovery document and JWKS.

Fetched with httpx's async client, so a fetch never blocks the event loop, and cached: a
token naming an unknown `kid` (Keycloak rotated its keys) triggers a refetch, and so does a
key set older than `max_age_seconds` (a key Keycloak removed stops being trusted). Fetches
are at most one per `min_refetch_seconds`, whatever the tokens say, so a stream of junk
`kid`s cannot turn the gateway into a load generator against Keycloak.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from common.errors import DependencyUnavailable

log = logging.getLogger(__name__)

ALGORITHM = "RS256"


class UnknownKey(Exception):
    """No signing key of the realm has this `kid`, even after a refetch."""


@dataclass(frozen=True)
class RealmMetadata:
    issuer: str
    jwks_uri: str


class RealmKeys:
    def __init__(
        self,
        http: httpx.AsyncClient,
        discovery_url: str,
        *,
        min_refetch_seconds: float,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._discovery_url = discovery_url
        self._min_refetch = min_refetch_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._metadata: RealmMetadata | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._attempted_at: float | None = None
        self._loaded_at: float | None = None
        self._last_fetch_failed = False
        self._lock = asyncio.Lock()

    async def metadata(self) -> RealmMetadata:
        """The discovery document's issuer and JWKS address (fetched once)."""
        if self._metadata is None:
            try:
                self._metadata = await self._discover()
            except (httpx.HTTPError, ValueError) as error:
                raise DependencyUnavailable(
                    f"the identity provider's discovery document: {error}"
                ) from error
        return self._metadata

    async def key(self, kid: str) -> jwt.PyJWK:
        """The RS256 signing key `kid`.

        Raises UnknownKey, or DependencyUnavailable when the keys could not be fetched and
        so the answer is not known.
        """
        known = self._keys.get(kid)
        if known is not None and not self._stale():
            return known
        async with self._lock:
            # Another request may have refetched while this one waited for the lock.
            if (kid not in self._keys or self._stale()) and self._may_fetch():
                await self._refresh()
        known = self._keys.get(kid)
        if known is not None:
            # Possibly stale, when Keycloak did not answer: still the realm's last word.
            return known
        if self._last_fetch_failed:
            raise DependencyUnavailable("the identity provider's signing keys cannot be fetched")
        raise UnknownKey(kid)

    def _stale(self) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at >= self._max_age

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self._min_refetch

    async def _refresh(self) -> None:
        self._attempted_at = self._clock()
        try:
            metadata = await self.metadata()
            response = await self._http.get(metadata.jwks_uri)
            response.raise_for_status()
            keys = _signing_keys(response.json())
        except (DependencyUnavailable, httpx.HTTPError, ValueError) as error:
            self._last_fetch_failed = True
            log.warning("could not fetch the realm's signing keys: %s", error)
            return
        self._keys = keys
        self._loaded_at = self._attempted_at
        self._last_fetch_failed = False
        log.info("fetched the realm's signing keys: %s", ", ".join(sorted(keys)) or "none")

    async def _discover(self) -> RealmMetadata:
        response = await self._http.get(self._discovery_url)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("the discovery document is not a JSON object")
        issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise ValueError("the discovery document has no issuer or jwks_uri")
        return RealmMetadata(issuer=issuer, jwks_uri=jwks_uri)


def _signing_keys(jwks: Any) -> dict[str, jwt.PyJWK]:
    """The RSA signature keys of a JWKS by kid; the realm also publishes encryption keys."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("the JWKS has no keys list")
    keys = {}
    for entry in jwks["keys"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except jwt.PyJWTError as error:
            log.warning("ignoring the realm's key %s: %s", entry["kid"], error)
    return keys
