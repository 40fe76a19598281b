"""Finding the JDKs on this machine and their major versions."""

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from infra.local.errors import StackError

_SEARCH_ROOTS = (Path("/usr/lib/jvm"), Path("/opt/java"), Path("/usr/local/lib/jvm"))


@dataclass(frozen=True)
class Jdk:
    home: Path
    major: int

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


def _major_version(home: Path) -> int | None:
    try:
        release = (home / "release").read_text()
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', release, re.MULTILINE)
    if not match:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8".
    return int(match.group(2)) if major == 1 and match.group(2) else major


def _candidate_homes() -> list[Path]:
    homes = []
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parents[1])
    for root in _SEARCH_ROOTS:
        if root.is_dir():
            homes.extend(sorted(root.iterdir()))
    return homes


def find_jdks() -> list[Jdk]:
    found: dict[Path, Jdk] = {}
    for home in _candidate_homes():
        resolved = home.resolve()
        major = _major_version(resolved)
        if major is not None and (resolved / "bin" / "java").exists():
            found.setdefault(resolved, Jdk(resolved, major))
    return list(found.values())


def default_jdk(minimum: int) -> Jdk:
    """The machine's own Java (JAVA_HOME, else `java` on PATH), if it is new enough."""
    for jdk in find_jdks():
        if jdk.major >= minimum:
            return jdk
    raise StackError("java", f"needs Java {minimum} or newer; none found")


def newest_jdk(supported: range) -> Jdk:
    fitting = [jdk for jdk in find_jdks() if jdk.major in supported]
    if not fitting:
        versions = ", ".join(str(v) for v in supported)
        raise StackError("java", f"needs one of Java {versions}; none found")
    return max(fitting, key=lambda jdk: jdk.major)
