"""The gateway's bearer token for the e2e session: the realm's example shop backend.

Client credentials of `pixelmill-shop-example` (common/dev.py). An access token lives five
minutes and a session can run longer, so the token is renewed shortly before it expires.
"""

import threading
import time
from collections.abc import Generator

import httpx
import jwt

from common import dev
from common.settings import KeycloakSettings

# Renew this long before the expiry, so that a slow request still arrives in time.
_RENEW_BEFORE_SECONDS = 60.0


class ShopToken(httpx.Auth):
    def __init__(self, settings: KeycloakSettings) -> None:
        realm = f"{settings.keycloak_url}/realms/{settings.keycloak_realm}"
        self._token_url = f"{realm}/protocol/openid-connect/token"
        self._lock = threading.Lock()
        self._token = ""
        self._renew_at = 0.0

    @property
    def subject(self) -> str:
        """The service account's `sub`: the owner of every task this token submits."""
        claims = jwt.decode(self.access_token(), options={"verify_signature": False})
        subject: str = claims["sub"]
        return subject

    def access_token(self) -> str:
        with self._lock:
            if time.monotonic() >= self._renew_at:
                response = httpx.post(
                    self._token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": dev.KEYCLOAK_SHOP_CLIENT_ID,
                        "client_secret": dev.KEYCLOAK_SHOP_CLIENT_SECRET,
                    },
                    timeout=30,
                )
                response.raise_for_status()
                tokens = response.json()
                self._token = tokens["access_token"]
                self._renew_at = time.monotonic() + tokens["expires_in"] - _RENEW_BEFORE_SECONDS
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        yield request
