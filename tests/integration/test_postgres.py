import uuid

import psycopg
import pytest
from psycopg import sql

from common.settings import PostgresSettings


def test_round_trip_through_the_dev_database() -> None:
    settings = PostgresSettings()
    table = sql.Identifier(f"smoke_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(settings.secret("database_url")) as connection:
        connection.execute(
            sql.SQL("CREATE TEMPORARY TABLE {} (id int PRIMARY KEY, note text)").format(table)
        )
        connection.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(table), [1, "zażółć"])
        row = connection.execute(sql.SQL("SELECT id, note FROM {}").format(table)).fetchone()
        server_user = connection.execute("SELECT current_user").fetchone()

    assert row == (1, "zażółć")
    assert server_user == ("pixelmill",)


def test_a_wrong_password_is_refused() -> None:
    url = (
        PostgresSettings()
        .secret("database_url")
        .replace(":pixelmill-dev-password@", ":wrong-password@")
    )
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url, connect_timeout=5).close()
