"""Read-only checks on the session's PostgreSQL schema that survive a database restart."""

from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row


class Database:
    """One autocommit connection, opened again when PostgreSQL dropped it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[DictRow] | None = None

    def _connection(self) -> psycopg.Connection[DictRow]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.url, autocommit=True, row_factory=dict_row, connect_timeout=5
            )
        return self._conn

    def rows(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        for attempt in (1, 2):
            try:
                return list(self._connection().execute(query, params).fetchall())
            except (psycopg.OperationalError, psycopg.InterfaceError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def value(self, query: str, params: Any = None) -> Any:
        found = self.rows(query, params)
        assert len(found) == 1, f"{query!r} gave {len(found)} rows"
        return next(iter(found[0].values()))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
