"""compose.yaml and infra/Dockerfile stay in step with the code they run.

No Docker here: the files are parsed and checked against the `pixelmill` command, the
settings classes, DESIGN §9's ports and the repository's own files.
"""

import argparse
import importlib
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings

import gateway.settings
import processor.settings
import task_service.settings
import user_service.settings
from common import cli, dev
from common.settings import ENV_PREFIX, PixelmillSettings, env_names

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "infra" / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"
PROMETHEUS_CONFIG = ROOT / "infra" / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCE = ROOT / "infra" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

# `pixelmill serve NAME` runs the service whose settings are these.
SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": gateway.settings.Settings,
    "task-service": task_service.settings.Settings,
    "user-service": user_service.settings.Settings,
    "processor": processor.settings.Settings,
}

# DESIGN §1 and §7: the infrastructure, by compose service name.
INFRASTRUCTURE = {"kafka", "postgres", "s3", "keycloak", "prometheus", "grafana"}

# DESIGN §9: host ports, on 127.0.0.1. The processor publishes none, so that it can scale.
PUBLISHED_PORTS = {
    "gateway": {dev.GATEWAY_PORT},
    "task-service": {dev.TASK_SERVICE_PORT},
    "user-service": {dev.USER_SERVICE_PORT},
    "processor": set(),
    "kafka": {dev.KAFKA_PORT},
    "postgres": {dev.POSTGRES_PORT},
    "s3": {dev.S3_PORT},
    "keycloak": {dev.KEYCLOAK_PORT, dev.KEYCLOAK_MANAGEMENT_PORT},
    "prometheus": {dev.PROMETHEUS_PORT},
}

# Inside its container a service must listen on every interface to be reachable at all.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104

Service = dict[str, Any]


# ------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def built_from_dockerfile(service: Service) -> bool:
    build = service.get("build")
    if build is None:
        return False
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    else:
        context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
    return (ROOT / context / dockerfile).resolve() == DOCKERFILE.resolve()


@pytest.fixture(scope="module")
def pixelmill_services(services: dict[str, Service]) -> dict[str, Service]:
    """The compose services built from infra/Dockerfile, by compose name."""
    return {name: service for name, service in services.items() if built_from_dockerfile(service)}


def subcommands() -> set[str]:
    parser = cli.build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("the pixelmill parser has no subcommands")


def served(name: str, service: Service) -> str:
    """The argument of `pixelmill serve` that the compose service runs."""
    command = service.get("command")
    assert isinstance(command, list), f"{name}: command must be a list of words"
    assert all(isinstance(word, str) for word in command), f"{name}: {command}"
    assert command, f"{name}: empty command"
    assert command[0] in subcommands(), f"{name}: {command[0]!r} is no pixelmill subcommand"
    try:
        args = cli.build_parser().parse_args(command)
    except SystemExit:
        pytest.fail(f"{name}: the pixelmill script refuses `pixelmill {' '.join(command)}`")
    assert args.command == "serve", f"{name}: runs `pixelmill {args.command}`, not a service"
    assert args.service in cli.SERVICES
    return str(args.service)


def environment(service: Service) -> dict[str, str | None]:
    """A service's environment, mapping or list form; None for a variable passed through."""
    env = service.get("environment", {})
    if isinstance(env, dict):
        return {key: None if value is None else str(value) for key, value in env.items()}
    pairs: dict[str, str | None] = {}
    for entry in env:
        key, sep, value = str(entry).partition("=")
        pairs[key] = value if sep else None
    return pairs


_SUBSTITUTION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def with_defaults(value: str) -> str:
    """What compose makes of `value` when no variable is set: each ${VAR:-default} → default."""

    def default(match: re.Match[str]) -> str:
        assert match[2] is not None, f"${{{match[1]}}} has no default in {value!r}"
        return match[2]

    return _SUBSTITUTION.sub(default, value.replace("$$", "\0")).replace("\0", "$")


def secret_fields(settings: type[BaseSettings]) -> set[str]:
    return {
        name
        for name, field in settings.model_fields.items()
        if field.annotation is SecretStr or SecretStr in get_args(field.annotation)
    }


def field_ending(settings: type[BaseSettings], suffix: str) -> str:
    (name,) = [name for name in settings.model_fields if name.endswith(suffix)]
    return name


def bind_sources(service: Service) -> Iterator[str]:
    """Host paths a service mounts, as written in compose.yaml."""
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, sep, _ = volume.partition(":")
            if sep and source.startswith((".", "/", "~")):
                yield source
        elif volume.get("type") == "bind":
            yield str(volume["source"])


def named_volumes(service: Service) -> Iterator[str]:
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, sep, _ = volume.partition(":")
            if sep and not source.startswith((".", "/", "~")):
                yield source
        elif volume.get("type") == "volume" and volume.get("source"):
            yield str(volume["source"])


def published(name: str, service: Service) -> Iterator[tuple[str, int]]:
    """(host address, host port) of each published port."""
    for port in service.get("ports", []):
        if isinstance(port, dict):
            assert "published" in port, f"{name}: {port} leaves the host port to chance"
            yield str(port.get("host_ip", "")), int(port["published"])
        else:
            assert isinstance(port, str), f"{name}: port {port!r} must be a quoted string"
            parts = port.split("/")[0].rsplit(":", 2)
            assert len(parts) == 3, f"{name}: {port!r} does not name the host address"
            yield parts[0], int(parts[1])


def inline_config(compose: dict[str, Any], service: Service, target: str) -> str:
    """The inline content of the compose config a service mounts at `target`."""
    for config in service.get("configs", []):
        if isinstance(config, dict) and config.get("target") == target:
            content = compose["configs"][config["source"]]["content"]
            assert isinstance(content, str)
            return content
    raise AssertionError(f"no config mounted at {target}")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of infra/Dockerfile, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    starts = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "infra/Dockerfile has no FROM"
    return instructions[starts[-1] :]


# ------------------------------------------------------------------------------ compose


def test_infrastructure_services_of_design_are_present(services: dict[str, Service]) -> None:
    missing = INFRASTRUCTURE - set(services)
    assert not missing, f"missing: {sorted(missing)}"


def test_pixelmill_services_run_a_real_pixelmill_subcommand(
    pixelmill_services: dict[str, Service],
) -> None:
    assert pixelmill_services, "no service is built from infra/Dockerfile"
    for name, service in pixelmill_services.items():
        assert served(name, service) in cli.SERVICES


def test_each_service_of_the_cli_runs_once(pixelmill_services: dict[str, Service]) -> None:
    assert set(SETTINGS) == set(cli.SERVICES), "this test's settings map lags common.cli"
    runs = sorted(served(name, service) for name, service in pixelmill_services.items())
    assert runs == sorted(cli.SERVICES)


def test_pixelmill_variables_are_settings_of_the_receiving_service(
    services: dict[str, Service], pixelmill_services: dict[str, Service]
) -> None:
    base = env_names(PixelmillSettings)
    assert base == {ENV_PREFIX + "PROFILE", ENV_PREFIX + "LOG_LEVEL"}
    for name, service in services.items():
        assert "env_file" not in service, f"{name}: env_file hides variables from this test"
        variables = {key for key in environment(service) if key.startswith(ENV_PREFIX)}
        if name in pixelmill_services:
            known = env_names(SETTINGS[served(name, service)]) | base
            assert variables <= known, f"{name}: not its settings: {sorted(variables - known)}"
        else:
            assert not variables, f"{name} is no pixelmill service but gets {sorted(variables)}"


def test_every_secret_is_passed_explicitly_and_overridable(
    pixelmill_services: dict[str, Service],
) -> None:
    for name, service in pixelmill_services.items():
        env = environment(service)
        for field in secret_fields(SETTINGS[served(name, service)]):
            variable = ENV_PREFIX + field.upper()
            value = env.get(variable)
            assert value is not None, f"{name}: {variable} is left to the dev profile"
            assert _SUBSTITUTION.search(value), f"{name}: {variable} cannot be overridden"


def test_services_and_infrastructure_share_each_credential(
    compose: dict[str, Any], services: dict[str, Service], pixelmill_services: dict[str, Service]
) -> None:
    """Raw, before substitution: one override changes both ends."""
    postgres = environment(services["postgres"])
    identities = json.loads(inline_config(compose, services["s3"], "/etc/seaweedfs/s3.json"))
    (credentials,) = [c for identity in identities["identities"] for c in identity["credentials"]]
    s3_command = " ".join(services["s3"]["command"])
    database_url = (
        f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    for name, service in pixelmill_services.items():
        env = environment(service)
        if ENV_PREFIX + "DATABASE_URL" in env:
            assert env[ENV_PREFIX + "DATABASE_URL"] == database_url, name
        if ENV_PREFIX + "S3_ACCESS_KEY" in env:
            assert env[ENV_PREFIX + "S3_ACCESS_KEY"] == credentials["accessKey"], name
            assert env[ENV_PREFIX + "S3_SECRET_KEY"] == credentials["secretKey"], name
            assert f"-bucket={env[ENV_PREFIX + 'S3_BUCKET']}" in s3_command, name


def test_credentials_default_to_the_dev_profile(
    services: dict[str, Service], pixelmill_services: dict[str, Service]
) -> None:
    """With nothing overridden, compose uses the credentials of common/dev.py (and so of the
    Keycloak realm export)."""
    expected = {
        "DATABASE_URL": (
            f"postgresql://{dev.POSTGRES_USER}:{dev.POSTGRES_PASSWORD}"
            f"@postgres:5432/{dev.POSTGRES_DATABASE}"
        ),
        "S3_BUCKET": dev.S3_BUCKET,
        "S3_REGION": dev.S3_REGION,
        "S3_ACCESS_KEY": dev.S3_ACCESS_KEY,
        "S3_SECRET_KEY": dev.S3_SECRET_KEY,
        "KEYCLOAK_REALM": dev.KEYCLOAK_REALM,
        "KEYCLOAK_CLIENT_ID": dev.KEYCLOAK_USER_CLIENT_ID,
        "KEYCLOAK_CLIENT_SECRET": dev.KEYCLOAK_USER_CLIENT_SECRET,
    }
    for name, service in pixelmill_services.items():
        for variable, value in environment(service).items():
            setting = variable.removeprefix(ENV_PREFIX)
            if setting in expected:
                assert value is not None
                assert with_defaults(value) == expected[setting], f"{name}: {variable}"
    postgres = environment(services["postgres"])
    assert with_defaults(postgres["POSTGRES_USER"] or "") == dev.POSTGRES_USER
    assert with_defaults(postgres["POSTGRES_PASSWORD"] or "") == dev.POSTGRES_PASSWORD
    assert with_defaults(postgres["POSTGRES_DB"] or "") == dev.POSTGRES_DATABASE


def test_services_listen_on_all_interfaces_of_their_container(
    pixelmill_services: dict[str, Service],
) -> None:
    for name, service in pixelmill_services.items():
        host = ENV_PREFIX + field_ending(SETTINGS[served(name, service)], "_host").upper()
        assert environment(service).get(host) == ALL_INTERFACES, f"{name}: {host}"


def test_processor_runs_two_replicas(pixelmill_services: dict[str, Service]) -> None:
    (processor,) = [s for n, s in pixelmill_services.items() if served(n, s) == "processor"]
    assert processor.get("deploy", {}).get("replicas") == 2
    # What would keep a second replica from starting.
    assert "container_name" not in processor
    assert not processor.get("ports")


def test_files_mounted_from_the_repository_exist(
    compose: dict[str, Any], services: dict[str, Service]
) -> None:
    mounted = 0
    for name, service in services.items():
        for source in bind_sources(service):
            assert source.startswith("./"), f"{name}: {source} is outside the repository"
            assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            mounted += 1
    for kind in ("configs", "secrets"):
        for key, definition in compose.get(kind, {}).items():
            if "file" in definition:
                assert (ROOT / definition["file"]).exists(), f"{kind} {key}: {definition}"
    assert mounted, "compose.yaml mounts nothing from the repository"


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Service]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in named_volumes(service):
            assert volume in declared, f"{name}: volume {volume} is not declared"


def test_ports_are_published_on_loopback_only(services: dict[str, Service]) -> None:
    for name, service in services.items():
        for address, port in published(name, service):
            assert address == "127.0.0.1", f"{name}: port {port} is published on {address!r}"


def test_published_ports_are_the_design_defaults(services: dict[str, Service]) -> None:
    for name, ports in PUBLISHED_PORTS.items():
        assert {port for _, port in published(name, services[name])} == ports, name


def test_healthy_dependencies_define_a_healthcheck(services: dict[str, Service]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        if isinstance(depends_on, list):
            depends_on = {dependency: {} for dependency in depends_on}
        for dependency, condition in depends_on.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits on {dependency}"


def test_prometheus_scrapes_every_pixelmill_service(
    pixelmill_services: dict[str, Service],
) -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets: set[tuple[str, int]] = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                targets.add((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            targets.update((host, int(dns["port"])) for host in dns["names"])
    for name, service in pixelmill_services.items():
        settings = SETTINGS[served(name, service)]
        port_field = field_ending(settings, "_port")
        port = environment(service).get(ENV_PREFIX + port_field.upper())
        expected = int(port) if port else settings.model_fields[port_field].default
        assert (name, expected) in targets, f"prometheus does not scrape {name}:{expected}"


def test_grafana_datasource_is_the_compose_prometheus(services: dict[str, Service]) -> None:
    provisioning = yaml.safe_load(GRAFANA_DATASOURCE.read_text())
    (datasource,) = provisioning["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in services


# ---------------------------------------------------------------------------- Dockerfile


def test_dockerfile_entrypoint_is_the_pixelmill_console_script() -> None:
    entrypoints = [arguments for keyword, arguments in final_stage() if keyword == "ENTRYPOINT"]
    assert entrypoints, "the final stage of infra/Dockerfile has no ENTRYPOINT"
    entrypoint = json.loads(entrypoints[-1])  # the exec form, so that signals reach Python
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    assert entrypoint == ["pixelmill"]
    assert "pixelmill" in scripts
    module, _, function = scripts["pixelmill"].partition(":")
    assert getattr(importlib.import_module(module), function) is cli.main


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [arguments for keyword, arguments in final_stage() if keyword == "USER"]
    assert users, "the final stage of infra/Dockerfile runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_compose_builds_from_a_context_that_holds_the_dockerfile(
    pixelmill_services: dict[str, Service],
) -> None:
    for name, service in pixelmill_services.items():
        build = service["build"]
        context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
        assert context.resolve() == ROOT, f"{name}: the image needs the whole repository"
        assert DOCKERFILE.is_file()


def test_mapping_helpers_read_both_compose_forms() -> None:
    """The checks above see lists as well as mappings, so a rewrite cannot slip past them."""
    service: Service = {
        "environment": ["PIXELMILL_PROFILE=dev", "PASSED_THROUGH"],
        "ports": ["127.0.0.1:8000:8000/tcp", {"host_ip": "192.0.2.1", "published": 1}],
        "volumes": ["./infra:/x:ro", "data:/y", {"type": "bind", "source": "./z", "target": "/z"}],
    }
    assert environment(service) == {"PIXELMILL_PROFILE": "dev", "PASSED_THROUGH": None}
    assert list(published("x", service)) == [("127.0.0.1", 8000), ("192.0.2.1", 1)]
    assert list(bind_sources(service)) == ["./infra", "./z"]
    assert list(named_volumes(service)) == ["data"]
    assert with_defaults("a${B:-c}d$$e") == "acd$e"
