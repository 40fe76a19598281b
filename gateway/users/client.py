"""The gateway's client for user_service: a typed proxy that relays its answers."""

import httpx
from fastapi import Response
from pydantic import BaseModel

from common.errors import DependencyUnavailable

# user_service's own answers worth passing on: its error bodies and `no-store` on tokens.
_RELAYED_HEADERS = ("content-type", "cache-control")


class UserServiceClient:
    def __init__(self, base_url: str, timeout_seconds: float = 15.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds)

    async def close(self) -> None:
        await self._http.aclose()

    async def forward(self, path: str, body: BaseModel) -> Response:
        """POST the validated body; user_service's answer, as it is, for the client."""
        try:
            upstream = await self._http.post(
                path,
                content=body.model_dump_json(),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as error:
            raise DependencyUnavailable(f"user_service is unavailable: {error}") from error
        # 503 is user_service saying Keycloak failed, in our error format: pass it on.
        if upstream.status_code >= 500 and upstream.status_code != 503:
            raise DependencyUnavailable(f"user_service answered {upstream.status_code}")
        headers = {
            name: upstream.headers[name] for name in _RELAYED_HEADERS if name in upstream.headers
        }
        return Response(upstream.content, status_code=upstream.status_code, headers=headers)
