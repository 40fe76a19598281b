"""Schema migrations, applied at start-up; safe when several instances start together."""

import logging
from importlib import resources

from common.db import Connection

log = logging.getLogger(__name__)

# Any constant shared by all instances: only one holds this lock while migrating.
_MIGRATION_LOCK = 7_310_514_001


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("task_service") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


async def migrate(connection: Connection) -> list[str]:
    """Apply the pending migrations in order, each in its own transaction; returns their names."""
    await connection.set_autocommit(True)
    await connection.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor = await connection.execute("SELECT version FROM schema_migrations")
        applied = {row["version"] for row in await cursor.fetchall()}
        done = []
        for version, name, sql in _migrations():
            if version in applied:
                continue
            async with connection.transaction():
                await connection.execute(sql.encode())
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", [version, name]
                )
            log.info("applied migration %s", name)
            done.append(name)
        return done
    finally:
        await connection.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])
