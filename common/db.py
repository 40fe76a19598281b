"""PostgreSQL connection pools, built the same way by every service."""

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from common.settings import PostgresSettings

Connection = AsyncConnection[DictRow]
Pool = AsyncConnectionPool[Connection]
Row = dict[str, Any]

_CONNECTION_WAIT_SECONDS = 5.0


async def open_pool(
    settings: PostgresSettings, *, name: str, min_size: int = 1, max_size: int = 10
) -> Pool:
    pool = Pool(
        settings.secret("database_url"),
        connection_class=Connection,
        name=name,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "application_name": f"pixelmill-{name}"},
        # A pooled connection is checked before use, so a restarted PostgreSQL costs one
        # failed check, not a failed request.
        check=Pool.check_connection,
        # Waiting longer for a connection than a caller waits for an answer only turns a
        # clear 503 (PostgreSQL unavailable) into the caller's own timeout.
        timeout=_CONNECTION_WAIT_SECONDS,
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    return pool
