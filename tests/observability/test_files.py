"""infra/prometheus and infra/grafana as files: promtool's checks, the rules' own unit tests,
and the shape of the alerts, the dashboard and their provisioning. No services needed."""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.local.services.prometheus import local_jobs, render_config, rule_files
from tests.observability import promql

COMPOSE_FILE = promql.ROOT / "compose.yaml"
SEVERITIES = {"critical", "warning"}
PIXELMILL_JOBS = {"gateway", "task-service", "user-service", "processor"}


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def recorded_names() -> set[str]:
    return {rule.name for rule in promql.rules() if rule.recording}


def base_metrics(names: set[str]) -> set[str]:
    """Names with every recorded series replaced, recursively, by what its rule reads."""
    by_record = {rule.name: rule for rule in promql.rules() if rule.recording}
    resolved: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in by_record:
            pending.extend(promql.metric_names(by_record[name].expr))
        else:
            resolved.add(name)
    return resolved


@pytest.fixture(scope="module")
def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return services


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    found = promql.dashboards()
    assert len(found) == 1, f"one dashboard expected in {promql.DASHBOARDS_DIR}: {list(found)}"
    (only,) = found.values()
    return only


# ----------------------------------------------------------------------------- promtool


def test_promtool_check_config_passes_on_the_compose_configuration(promtool: str) -> None:
    result = run([promtool, "check", "config", str(promql.COMPOSE_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    # It checks the rule files the configuration names, too.
    assert f"{len(rule_files())} rule files found" in result.stdout + result.stderr


def test_promtool_check_rules_passes_on_every_rule_file(promtool: str) -> None:
    files = rule_files()
    assert {path.name for path in files} >= {"recording.yml", "alerts.yml"}
    result = run([promtool, "check", "rules", *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass(promtool: str) -> None:
    """infra/prometheus/tests: each alert fires when it should, with its annotations."""
    result = run([promtool, "test", "rules", str(promql.RULE_TESTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rule_unit_tests_exercise_every_alert() -> None:
    tests = yaml.safe_load(promql.RULE_TESTS.read_text())
    firing = {
        case["alertname"]
        for group in tests["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {rule.name for rule in promql.rules() if not rule.recording}
    assert alerts - firing == set(), "alerts no test sees firing"


def test_the_local_stack_configuration_passes_promtool(promtool: str, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_config(
            local_jobs({}), scrape_interval="5s", rules=rule_files(), self_target="127.0.0.1:1"
        )
    )
    result = run([promtool, "check", "config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_local_stack_scrapes_the_ports_the_services_are_set_to() -> None:
    defaults = {job.name: job.targets for job in local_jobs({})}
    assert defaults == {
        "gateway": ("127.0.0.1:8000",),
        "task-service": ("127.0.0.1:8001",),
        "user-service": ("127.0.0.1:8002",),
        "processor": ("127.0.0.1:8003",),
    }
    moved = {job.name: job.targets for job in local_jobs({"PIXELMILL_PROCESSOR_PORT": "9103"})}
    assert moved["processor"] == ("127.0.0.1:9103",)


def test_local_and_compose_configurations_have_the_same_jobs() -> None:
    compose = yaml.safe_load(promql.COMPOSE_CONFIG.read_text())
    compose_jobs = {job["job_name"] for job in compose["scrape_configs"]}
    assert {job.name for job in local_jobs({})} == PIXELMILL_JOBS
    assert compose_jobs == PIXELMILL_JOBS | {"prometheus"}


# ----------------------------------------------------------------------------- rules


def test_metric_names_are_read_out_of_promql() -> None:
    cases = {
        'sum by (outcome) (rate(pixelmill_images_finished_total{outcome="failed"}[5m]))': {
            "pixelmill_images_finished_total"
        },
        'histogram_quantile(0.95, sum(rate(a_seconds_bucket{x=~"a|b"}[$__rate_interval])) '
        "by (le, route))": {"a_seconds_bucket"},
        "x:y:rate5m > 0.05 and on() deriv(b[10m:1m]) > 0 or vector(1) offset 1h": {
            "x:y:rate5m",
            "b",
        },
        'absent(up{job="processor"} == 1) unless ignoring (le) c / bool 2e3': {"up", "c"},
        'label_replace(m, "dst", "$1", "src", "(.*)") # sum(not_this)': {"m"},
        'max without (instance) (process_resident_memory_bytes{job=~"${job}"})': {
            "process_resident_memory_bytes"
        },
    }
    for expr, expected in cases.items():
        assert promql.metric_names(expr) == expected, expr


def test_every_alert_has_a_for_duration_a_severity_and_annotations() -> None:
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                name = rule["alert"]
                assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), f"{name}: for"
                assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity"
                annotations = rule.get("annotations", {})
                assert annotations.get("summary"), f"{name}: summary"
                assert annotations.get("description"), f"{name}: description"


def test_alerts_watch_errors_lag_dead_letters_targets_and_the_spool() -> None:
    watched = {
        rule.name: base_metrics(promql.metric_names(rule.expr))
        for rule in promql.rules()
        if not rule.recording
    }
    everything = set().union(*watched.values())
    for metric in (
        "pixelmill_images_finished_total",  # the image error ratio
        "pixelmill_consumer_lag_records",
        "pixelmill_dlq_records_total",
        "up",
        "pixelmill_spool_bytes",
    ):
        assert metric in everything, f"no alert reads {metric}"
    lag = [name for name, metrics in watched.items() if "pixelmill_consumer_lag_records" in metrics]
    assert any("deriv(" in rule.expr for rule in promql.rules() if rule.name in lag)


def test_rules_read_only_series_recorded_before_them() -> None:
    """A recorded series a rule reads is defined, and earlier in its group if in the same one
    (rules of a group run in order; a later one would be read one evaluation late)."""
    by_group: dict[str, list[str]] = {}
    recorded = recorded_names()
    for rule in promql.rules():
        earlier = by_group.setdefault(rule.group, [])
        for name in promql.metric_names(rule.expr) & recorded:
            same_group = any(r.name == name and r.group == rule.group for r in promql.rules())
            assert not same_group or name in earlier, f"{rule.name} reads {name} before it exists"
        if rule.recording:
            earlier.append(rule.name)


def test_recorded_names_follow_level_metric_operations() -> None:
    for name in recorded_names():
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", name), name


# ----------------------------------------------------------------------------- Grafana


def test_every_dashboard_panel_queries_a_metric(dashboard: dict[str, Any]) -> None:
    for panel in promql.panels(dashboard):
        if panel["type"] == "row":
            continue
        exprs = [target.get("expr", "") for target in panel.get("targets", [])]
        assert exprs, f"panel {panel['title']!r} has no query"
        for expr in exprs:
            assert promql.metric_names(expr), f"panel {panel['title']!r}: {expr!r}"


def test_dashboard_shows_what_issue_7_asks_for(dashboard: dict[str, Any]) -> None:
    shown = set().union(*(promql.metric_names(q.expr) for q in promql.dashboard_queries(dashboard)))
    for metric in (
        "pixelmill_images_finished_total",
        "pixelmill_stage_duration_seconds_bucket",
        "pixelmill_consumer_lag_records",
        "pixelmill_images_in_flight",
        "pixelmill_image_retries_scheduled_total",
        "pixelmill_dlq_records_total",
        "pixelmill_http_requests_total",
        "pixelmill_http_request_duration_seconds_bucket",
        "pixelmill_spool_bytes",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert metric in shown, f"the dashboard does not show {metric}"
    quantiles = {
        match
        for q in promql.dashboard_queries(dashboard)
        if "pixelmill_stage_duration_seconds_bucket" in q.expr
        for match in re.findall(r"histogram_quantile\((0\.\d+)", q.expr)
    }
    assert {float(q) for q in quantiles} == {0.5, 0.95, 0.99}


def test_dashboard_uses_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    datasources = yaml.safe_load((promql.DATASOURCES / "prometheus.yml").read_text())
    uids = {source["uid"] for source in datasources["datasources"]}
    for panel in promql.panels(dashboard):
        for holder in [panel, *panel.get("targets", [])]:
            if "datasource" in holder:
                assert holder["datasource"]["uid"] in uids, panel["title"]


def test_dashboard_panels_have_unique_ids_and_fit_the_grid(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in promql.panels(dashboard)]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"]
    for panel in promql.panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_compose_mounts_what_prometheus_and_grafana_read(
    compose_services: dict[str, Any],
) -> None:
    def mounts(service: str) -> dict[str, str]:
        found = {}
        for volume in compose_services[service]["volumes"]:
            source, _, rest = volume.partition(":")
            if source.startswith("./"):
                found[rest.split(":")[0]] = source
        return found

    # Prometheus: its folder at /etc/prometheus, so rule_files resolve beside the config.
    assert mounts("prometheus")["/etc/prometheus"] == "./infra/prometheus"
    compose_config = yaml.safe_load(promql.COMPOSE_CONFIG.read_text())
    for pattern in compose_config["rule_files"]:
        assert not Path(pattern).is_absolute()
        assert list(promql.PROMETHEUS_DIR.glob(pattern)), pattern

    # Grafana: each file provider's path is a mounted folder of the repository's dashboards.
    grafana = mounts("grafana")
    assert grafana["/etc/grafana/provisioning"] == "./infra/grafana/provisioning"
    providers = [
        provider
        for path in sorted(promql.DASHBOARD_PROVIDERS.glob("*.yml"))
        for provider in yaml.safe_load(path.read_text())["providers"]
    ]
    assert providers, "no dashboards provider"
    for provider in providers:
        source = grafana[provider["options"]["path"]]
        assert (promql.ROOT / source).resolve() == promql.DASHBOARDS_DIR.resolve()
