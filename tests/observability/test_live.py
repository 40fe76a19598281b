"""The dashboard and the rules against the real thing: the services' live /metrics, and a real
Prometheus scraping them while a small batch goes through."""

import re
from typing import Any

import httpx

from tests.observability import promql
from tests.observability.conftest import (
    BATCH_SIZE,
    RunningPrometheus,
    Services,
    wait_for,
)

JOBS = ("gateway", "task-service", "user-service", "processor")
STAGES = ("fetch", "decode", "transform", "encode", "store")
SCRAPE_TIMEOUT_SECONDS = 30


def test_every_service_serves_metrics_in_the_prometheus_format(
    metrics_responses: dict[str, httpx.Response],
) -> None:
    assert set(metrics_responses) == set(JOBS)
    for job, response in metrics_responses.items():
        assert response.status_code == 200, f"{job}: GET /metrics answered {response.status_code}"
        assert response.headers["content-type"].startswith("text/plain"), job
        assert "# TYPE pixelmill_http_requests_total counter" in response.text or (
            job == "processor"
            and "# TYPE pixelmill_stage_duration_seconds histogram" in response.text
        ), job


def test_every_metric_in_the_dashboard_and_rules_is_exported_by_a_service(
    expositions: dict[str, str],
) -> None:
    exported = set().union(*(promql.exported_series(text) for text in expositions.values()))
    histograms = set().union(*(promql.histogram_families(text) for text in expositions.values()))
    rules = promql.rules()
    recorded = {rule.name for rule in rules if rule.recording}
    used: dict[str, set[str]] = {}
    for rule in rules:
        for name in promql.metric_names(rule.expr):
            used.setdefault(name, set()).add(f"rule {rule.name} ({rule.source.name})")
    for path, dashboard in promql.dashboards().items():
        for query in promql.dashboard_queries(dashboard):
            for name in promql.metric_names(query.expr):
                used.setdefault(name, set()).add(f"{path.name}: {query.panel!r}")
    assert len(used) > 10, "the parser found almost no metric: it is broken"
    missing = promql.unexported(used, exported, histograms, recorded)
    assert not missing, "\n".join(f"{name} used by {sorted(used[name])}" for name in missing)


def test_every_service_exports_process_cpu_and_memory(expositions: dict[str, str]) -> None:
    """The dashboard's CPU and memory panels tell services apart by these, per job."""
    assert set(expositions) == set(JOBS), f"no /metrics from {set(JOBS) - set(expositions)}"
    for job, text in expositions.items():
        names = promql.exported_series(text)
        for metric in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
            assert metric in names, f"{job} does not export {metric}"


def test_prometheus_scrapes_all_four_services(prometheus: RunningPrometheus) -> None:
    def all_up() -> bool:
        series = prometheus.query("up")
        return {s["metric"]["job"] for s in series if s["value"][1] == "1"} >= set(JOBS)

    wait_for(all_up, SCRAPE_TIMEOUT_SECONDS, "every job up", lambda: str(prometheus.query("up")))
    targets = prometheus.query("up")
    assert {t["metric"]["job"]: t["value"][1] for t in targets} == dict.fromkeys(JOBS, "1")


def test_after_a_batch_prometheus_reports_the_images_and_their_stage_durations(
    prometheus: RunningPrometheus, batch: dict[str, Any], services: Services
) -> None:
    assert batch["counts"]["total"] == BATCH_SIZE
    done = 'sum(pixelmill_images_finished_total{outcome="done"})'
    wait_for(
        lambda: prometheus.value(done) >= BATCH_SIZE,
        SCRAPE_TIMEOUT_SECONDS,
        f"{done} >= {BATCH_SIZE}",
        lambda: str(prometheus.query("pixelmill_images_finished_total")),
    )
    assert prometheus.value(done) >= BATCH_SIZE

    counts = 'sum by (stage) (pixelmill_stage_duration_seconds_count{job="processor"})'

    def every_stage_counted() -> bool:
        found = {s["metric"]["stage"]: float(s["value"][1]) for s in prometheus.query(counts)}
        return all(found.get(stage, 0) >= BATCH_SIZE for stage in STAGES)

    wait_for(
        every_stage_counted, SCRAPE_TIMEOUT_SECONDS, counts, lambda: str(prometheus.query(counts))
    )
    stage_sums = prometheus.query("sum by (stage) (pixelmill_stage_duration_seconds_sum)")
    assert all(float(s["value"][1]) > 0 for s in stage_sums)
    assert prometheus.value("sum(pixelmill_images_finished_total)") > 0
    services.check_alive()


def test_the_rules_load_and_evaluate_without_errors(
    prometheus: RunningPrometheus, batch: dict[str, Any]
) -> None:
    expected = {rule.name for rule in promql.rules()}

    def rules() -> list[dict[str, Any]]:
        body = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()
        return [rule for group in body["data"]["groups"] for rule in group["rules"]]

    def evaluated() -> bool:
        loaded = rules()
        return {r["name"] for r in loaded} == expected and all(
            r.get("lastEvaluation", "").startswith("20") and r["health"] != "unknown"
            for r in loaded
        )

    wait_for(evaluated, SCRAPE_TIMEOUT_SECONDS, "every rule evaluated", lambda: str(rules()))
    broken = [(r["name"], r.get("lastError")) for r in rules() if r["health"] != "ok"]
    assert not broken


def test_every_dashboard_query_is_accepted_by_prometheus(
    prometheus: RunningPrometheus, batch: dict[str, Any]
) -> None:
    """Grafana's variables replaced as Grafana would; each query is valid PromQL here."""
    for dashboard in promql.dashboards().values():
        for query in promql.dashboard_queries(dashboard):
            expr = re.sub(r"\$__(rate_)?interval", "1m", query.expr)
            assert "$" not in expr, f"{query.panel}: a variable this test cannot fill: {expr}"
            prometheus.query(expr)  # asserts status success
