"""`pixelmill stack up --with-prometheus`: Prometheus as an optional service of the local
stack, started for real in a stack folder of the test's own on a free port."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from common import cli
from infra.local import stack
from infra.local.errors import StackError
from infra.local.service import port_is_open
from infra.local.services.prometheus import Prometheus, rule_files
from infra.local.settings import REPOSITORY_ROOT, StackSettings
from tests.harness.ports import free_port
from tests.observability import promql


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    return StackSettings(dir=tmp_path / "stack", prometheus_port=free_port())


@pytest.fixture
def started(settings: StackSettings, prometheus_binary: str) -> Iterator[list[str]]:
    lines: list[str] = []
    try:
        stack.up(settings, lines.append, ["prometheus"])
        yield lines
    finally:
        stack.down(settings, lines.append, ["prometheus"])


def test_prometheus_is_optional_in_the_stack(settings: StackSettings) -> None:
    default = [service.name for service in stack.services(settings)]
    assert "prometheus" not in default
    assert "prometheus" in stack.SERVICE_NAMES
    assert [s.name for s in stack.services(settings, optional=True)] == [*default, "prometheus"]
    assert [s.name for s in stack.services(settings, ["kafka"], optional=True)] == [
        "kafka",
        "prometheus",
    ]
    args = cli.build_parser().parse_args(["stack", "up", "--with-prometheus"])
    assert args.with_prometheus is True


def test_stack_up_starts_prometheus_with_its_config_rules_and_data_in_the_stack(
    settings: StackSettings, started: list[str]
) -> None:
    address = f"http://127.0.0.1:{settings.prometheus_port}"
    assert any(line.startswith("prometheus: ready") for line in started), started
    assert httpx.get(f"{address}/-/ready", timeout=5).status_code == 200

    flags = httpx.get(f"{address}/api/v1/status/flags", timeout=5).json()["data"]
    assert flags["web.listen-address"] == f"127.0.0.1:{settings.prometheus_port}"
    assert Path(flags["storage.tsdb.path"]) == settings.dir / "prometheus" / "data"
    assert Path(flags["config.file"]) == settings.dir / "prometheus" / "prometheus.yml"

    config = httpx.get(f"{address}/api/v1/status/config", timeout=5).json()["data"]["yaml"]
    for target in ("127.0.0.1:8000", "127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"):
        assert target in config
    groups = httpx.get(f"{address}/api/v1/rules", timeout=5).json()["data"]["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    assert loaded == {rule.name for rule in promql.rules()}
    assert {Path(group["file"]) for group in groups} == {p.resolve() for p in rule_files()}

    # While it runs it is part of the stack: status shows it, a plain `down` stops it.
    rows = {row[0]: row for row in stack.status(settings)}
    assert rows["prometheus"][3] == "up"
    assert rows["prometheus"][1] == address


def test_stack_down_stops_prometheus(settings: StackSettings, prometheus_binary: str) -> None:
    lines: list[str] = []
    stack.up(settings, lines.append, ["prometheus"])
    pid = Prometheus(settings).process.pid()
    assert pid is not None
    stack.down(settings, lines.append)
    assert "prometheus: stopped" in lines
    assert Prometheus(settings).process.pid() is None
    assert not port_is_open(settings.prometheus_port)
    assert "prometheus" not in {row[0] for row in stack.status(settings)}


def test_up_names_the_package_to_install_when_prometheus_is_missing(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(StackError) as raised:
        stack.up(settings, lambda line: None, ["prometheus"])
    assert "apt-get install prometheus" in str(raised.value)
    assert raised.value.service == "prometheus"


def test_cli_stack_up_prometheus_fails_clearly_without_the_binary(
    settings: StackSettings, tmp_path: Path
) -> None:
    env = {
        "PATH": str(tmp_path / "empty-bin"),
        "PIXELMILL_STACK_DIR": str(settings.dir),
        "PIXELMILL_STACK_PROMETHEUS_PORT": str(settings.prometheus_port),
    }
    result = subprocess.run(
        [sys.executable, "-m", "common.cli", "stack", "up", "prometheus"],
        cwd=REPOSITORY_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pixelmill stack up failed: prometheus:" in result.stderr
    assert "apt-get install prometheus" in result.stderr
