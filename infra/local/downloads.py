"""Fetching the stack's Java components from Maven Central into the download cache.

Each download lands in a temporary folder and is renamed into place once complete, so an
interrupted run never leaves a half-filled cache entry behind.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

from infra.local.errors import StackError

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pixelmill.local</groupId>
  <artifactId>{name}</artifactId>
  <version>1</version>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""
_DEPENDENCY = (
    "    <dependency><groupId>{0}</groupId><artifactId>{1}</artifactId>"
    "<version>{2}</version></dependency>"
)


def _mvn(service: str, args: list[str], cwd: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(service, "Maven (mvn) is needed to download it; install Maven")
    result = subprocess.run(
        [mvn, "--batch-mode", "--quiet", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(service, "Maven download failed", (result.stdout + result.stderr)[-4000:])


def maven_classpath(service: str, target: Path, artifacts: list[str]) -> Path:
    """A folder holding `artifacts` ("group:artifact:version") and their runtime dependencies."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        pom = Path(work) / "pom.xml"
        dependencies = "\n".join(_DEPENDENCY.format(*a.split(":")) for a in artifacts)
        pom.write_text(_POM.format(name=service, dependencies=dependencies))
        libs = Path(work) / "libs"
        _mvn(
            service,
            [
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={libs}",
            ],
            cwd=Path(work),
        )
        libs.rename(target)
    return target


def maven_archive(service: str, target: Path, artifact: str, top_folder: str) -> Path:
    """Unpack a tar.gz artifact ("group:artifact:version:tar.gz") whose content is `top_folder`."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        _mvn(
            service,
            ["dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={work}"],
            cwd=Path(work),
        )
        (archive,) = Path(work).glob("*.tar.gz")
        subprocess.run(["tar", "-xzf", str(archive), "-C", work], check=True)
        (Path(work) / top_folder).rename(target)
    return target
