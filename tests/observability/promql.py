"""What the observability files query, and what the services export.

Metric names are read out of PromQL by removing what is not a metric name: string literals,
label matchers, range and subquery brackets, `by (...)`-style label lists, functions and
aggregations (an identifier followed by `(`), keywords and numbers. A histogram's
`_bucket`, `_count` and `_sum` series belong to the histogram; an exposition names
families, so exported families are expanded into the series names they produce.
"""

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "infra" / "prometheus"
COMPOSE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "alerts.test.yml"
GRAFANA_DIR = ROOT / "infra" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
DASHBOARD_PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources"

# Series Prometheus makes itself for every target and for its alerts.
PROMETHEUS_SERIES = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "ALERTS",
        "ALERTS_FOR_STATE",
    }
)

_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "atan2",
        "inf",
        "nan",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
# Grafana's variables ($__rate_interval, ${job}) stand where a duration or a value would.
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_COMMENT = re.compile(r"#[^\n]*")
# An identifier not glued to a preceding digit or word character (so `5m`, `1e3` are none).
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def metric_names(expr: str) -> set[str]:
    """The metric (or recorded series) names an expression selects."""
    text = _COMMENT.sub(" ", expr)
    text = _STRING.sub('""', text)
    text = _VARIABLES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


@dataclass(frozen=True)
class Rule:
    group: str
    name: str  # the recorded series or the alert
    expr: str
    recording: bool
    source: Path


def rules(rules_dir: Path = RULES_DIR) -> list[Rule]:
    found = []
    for path in sorted(rules_dir.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                recording = "record" in rule
                name = rule["record"] if recording else rule["alert"]
                found.append(Rule(group["name"], name, str(rule["expr"]), recording, path))
    return found


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    ref_id: str
    expr: str


def dashboards() -> dict[Path, dict[str, Any]]:
    return {path: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboard: dict[str, Any]) -> list[PanelQuery]:
    queries = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("expr"):
                queries.append(PanelQuery(panel["title"], target["refId"], target["expr"]))
    return queries


def exported_series(exposition: str) -> set[str]:
    """The series names an exposition's metric families produce (even with no sample yet)."""
    names = set()
    for family in text_string_to_metric_families(exposition):
        name = family.name
        if family.type == "counter":
            names |= {f"{name}_total", f"{name}_created"}
        elif family.type == "histogram":
            names |= {f"{name}{suffix}" for suffix in (*HISTOGRAM_SUFFIXES, "_created")}
        elif family.type == "summary":
            names |= {name, f"{name}_count", f"{name}_sum", f"{name}_created"}
        elif family.type == "info":
            names.add(f"{name}_info")
        else:
            names.add(name)
        names |= {sample.name for sample in family.samples}
    return names


def histogram_families(exposition: str) -> set[str]:
    return {f.name for f in text_string_to_metric_families(exposition) if f.type == "histogram"}


def unexported(
    names: Iterable[str], exported: set[str], histograms: set[str], recorded: set[str]
) -> set[str]:
    """The names that are neither exported, nor series of an exported histogram, nor made by
    Prometheus or a recording rule."""
    missing = set()
    for name in names:
        if name in exported or name in recorded or name in PROMETHEUS_SERIES:
            continue
        base = next((name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
        if base is not None and base in histograms:
            continue
        missing.add(name)
    return missing
