"""Keycloak from its distribution on Maven Central, pre-built once for fast starts.

`kc.sh build` bakes the build-time options into the cached distribution, so every start
after the first skips the slow augmentation step (`start --optimized`). Realm state lives in
an H2 file under the stack folder; the realm in infra/keycloak/ is imported when that
state is new, and the state is reset when the realm file changes.
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import httpx

from common import dev
from infra.local.downloads import maven_archive
from infra.local.errors import StackError
from infra.local.java import Jdk, find_jdks, newest_jdk
from infra.local.service import LocalService
from infra.local.settings import REPOSITORY_ROOT

REALM_FILE = REPOSITORY_ROOT / "infra" / "keycloak" / "pixelmill-realm.json"
# Keycloak 26 runs on Java 17, 21 and 25.
_SUPPORTED_JAVA = range(17, 26)
_BUILD_OPTIONS = ["--db=dev-file", "--health-enabled=true", "--metrics-enabled=true"]
_BUILD_MARKER = ".pixelmill-build"


class Keycloak(LocalService):
    name = "keycloak"

    @property
    def address(self) -> str:
        return f"http://{dev.HOST}:{self.settings.keycloak_port}"

    def ports(self) -> list[int]:
        return [self.settings.keycloak_port, self.settings.keycloak_management_port]

    @property
    def _home(self) -> Path:
        return self.settings.cache_dir / f"keycloak-{self.settings.keycloak_version}"

    def _jdk(self) -> Jdk:
        if self.settings.keycloak_java_home is None:
            return newest_jdk(_SUPPORTED_JAVA)
        home = self.settings.keycloak_java_home.resolve()
        for jdk in find_jdks():
            if jdk.home == home:
                return jdk
        raise StackError(self.name, f"no JDK at {home}")

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "JAVA_HOME": str(self._jdk().home),
            "JAVA_OPTS_KC_HEAP": f"-Xms256m -Xmx{self.settings.keycloak_heap}",
            "KC_BOOTSTRAP_ADMIN_USERNAME": dev.KEYCLOAK_ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": dev.KEYCLOAK_ADMIN_PASSWORD,
        }

    def prepare(self) -> None:
        version = self.settings.keycloak_version
        maven_archive(
            self.name,
            self._home,
            f"org.keycloak:keycloak-quarkus-dist:{version}:tar.gz",
            f"keycloak-{version}",
        )
        self._build_once()
        self._install_realm()

    def _build_once(self) -> None:
        marker = self._home / _BUILD_MARKER
        wanted = " ".join([f"java{self._jdk().major}", *_BUILD_OPTIONS])
        if marker.exists() and marker.read_text() == wanted:
            return
        print(f"{self.name}: building the optimized server once (about a minute)", flush=True)
        result = subprocess.run(
            [str(self._home / "bin" / "kc.sh"), "build", *_BUILD_OPTIONS],
            env=self._env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                self.name, "kc.sh build failed", (result.stdout + result.stderr)[-4000:]
            )
        marker.write_text(wanted)

    def _install_realm(self) -> None:
        realm = REALM_FILE.read_bytes()
        digest = hashlib.sha256(realm).hexdigest()
        recorded = self.state_dir / "realm.sha256"
        if recorded.exists() and recorded.read_text() != digest:
            # Import skips a realm that already exists: start from fresh state instead.
            print(f"{self.name}: realm file changed, resetting its state", flush=True)
            shutil.rmtree(self.state_dir / "db", ignore_errors=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        recorded.write_text(digest)
        import_dir = self._home / "data" / "import"
        import_dir.mkdir(parents=True, exist_ok=True)
        (import_dir / REALM_FILE.name).write_bytes(realm)

    def start(self) -> int:
        s = self.settings
        database = self.state_dir / "db" / "keycloak"
        command = [
            str(self._home / "bin" / "kc.sh"),
            "start",
            "--optimized",
            "--import-realm",
            "--http-enabled=true",
            f"--http-host={dev.HOST}",
            f"--http-port={s.keycloak_port}",
            f"--http-management-port={s.keycloak_management_port}",
            "--hostname-strict=false",
            f"--db-url=jdbc:h2:file:{database};NON_KEYWORDS=VALUE",
        ]
        return self.process.start(command, self.log_file, env=self._env())

    def is_ready(self) -> bool:
        url = f"{self.address}/realms/{dev.KEYCLOAK_REALM}/.well-known/openid-configuration"
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def exports(self) -> dict[str, str]:
        return {
            "PIXELMILL_KEYCLOAK_URL": self.address,
            "PIXELMILL_KEYCLOAK_REALM": dev.KEYCLOAK_REALM,
        }
