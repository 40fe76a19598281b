"""Readiness: each service checks the dependencies it needs and names the one that fails."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from confluent_kafka.admin import AdminClient
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from common.db import Pool

Check = Callable[[], Awaitable[None]]
_CHECK_TIMEOUT_SECONDS = 3.0


def postgres_check(pool: Pool) -> Check:
    async def check() -> None:
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")

    return check


def kafka_check(bootstrap_servers: str) -> Check:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})

    async def check() -> None:
        metadata = await asyncio.to_thread(admin.list_topics, timeout=_CHECK_TIMEOUT_SECONDS)
        if not metadata.brokers:
            raise RuntimeError("no broker answered")

    return check


def s3_check(client: Any, bucket: str) -> Check:
    async def check() -> None:
        await asyncio.to_thread(client.head_bucket, Bucket=bucket)

    return check


def http_check(url: str) -> Check:
    async def check() -> None:
        async with httpx.AsyncClient(timeout=_CHECK_TIMEOUT_SECONDS) as client:
            (await client.get(url)).raise_for_status()

    return check


async def failing(checks: dict[str, Check]) -> dict[str, str]:
    """The checks that fail, each with its reason; empty when all pass."""

    async def run(check: Check) -> str | None:
        try:
            await asyncio.wait_for(check(), _CHECK_TIMEOUT_SECONDS)
        except Exception as error:  # any failure means "not ready"; the reason is reported
            return f"{type(error).__name__}: {error}"[:300] or type(error).__name__
        return None

    results = await asyncio.gather(*(run(check) for check in checks.values()))
    return {name: reason for name, reason in zip(checks, results, strict=True) if reason}


def readiness_body(failed: dict[str, str]) -> tuple[dict[str, Any], int]:
    if failed:
        return {"status": "unavailable", "failing": failed}, 503
    return {"status": "ready"}, 200


def readiness_router(checks: Callable[[], dict[str, Check]]) -> APIRouter:
    """GET /readyz over the checks `checks()` returns once the app has started."""
    router = APIRouter(tags=["health"])

    @router.get("/readyz", summary="The service and its dependencies answer")
    async def readyz() -> JSONResponse:
        body, status = readiness_body(await failing(checks()))
        return JSONResponse(body, status_code=status)

    return router
