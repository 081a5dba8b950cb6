"""The Grafana dashboard: well formed, only exported metrics, and every query runs on Prometheus.

The Prometheus half starts the real ``prometheus`` binary, lets it scrape a registry built
from Pegasus's own metric classes in a "generate is failing" state, and evaluates every panel
query the way Grafana would (variables substituted): each must parse and return data, and the
failure-ratio and SLO panels must colour the failing stage and the spent budget red.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from pegasus.db.models import StageName
from pegasus.observability.metrics import (
    EXPORTED_METRICS,
    DatabaseCollector,
    PipelineMetrics,
    QueueStats,
    ReadinessCollector,
)
from pegasus.observability.slo import DEFAULT_SLO_PATH, WINDOW_PLACEHOLDER, Slo, load_slos
from pegasus_testkit.prometheus import PrometheusServer, prometheus_server

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "ops" / "grafana"
DASHBOARD_FILE = GRAFANA / "dashboards" / "pegasus.json"
SLO_FILE = DEFAULT_SLO_PATH
DASHBOARD_PROVIDER_FILE = GRAFANA / "provisioning" / "dashboards" / "pegasus.yml"
DATASOURCE_FILE = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
#: Where the provider expects ops/grafana/dashboards to be mounted (see the provider file).
DASHBOARDS_MOUNT = "/var/lib/grafana/dashboards/pegasus"

STAGES = [stage.value for stage in StageName]
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
#: Series Prometheus itself makes, which panels may use besides Pegasus's metrics.
PROMETHEUS_SERIES = frozenset({"ALERTS", "up"})
#: Metrics with a ``stage`` label: every selector of them must honour the stage variable.
STAGE_METRICS = frozenset(
    {
        "pegasus_queue_depth",
        "pegasus_queue_oldest_age_seconds",
        "pegasus_stage_duration_seconds_bucket",
        "pegasus_stage_runs_total",
        "pegasus_stage_retries_total",
    }
)
#: What Grafana puts in for its built-in variables when the dashboard shows the last hour.
BUILTIN_VARIABLES = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
    | {"bool", "offset", "atan2", "inf", "nan", "start", "end"}
)


# --- reading the dashboard ---------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One PromQL expression of the dashboard and where it sits."""

    where: str
    expr: str


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    return dashboard


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in all_panels(dashboard) if panel["type"] != "row"]


def panel_titled(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    matches = [panel for panel in data_panels(dashboard) if panel["title"] == title]
    assert len(matches) == 1, f"expected one panel titled {title!r}, found {len(matches)}"
    return matches[0]


def queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every panel target and annotation query, as written in the JSON."""
    found = [
        Query(f"panel {panel['title']!r} target {target['refId']}", target["expr"])
        for panel in data_panels(dashboard)
        for target in panel["targets"]
    ]
    found += [
        Query(f"annotation {annotation['name']!r}", annotation["expr"])
        for annotation in dashboard["annotations"]["list"]
    ]
    return found


def variable_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """What each dashboard variable expands to in a query, "All" selected."""
    values = dict(BUILTIN_VARIABLES)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "constant":
            values[variable["name"]] = variable["query"]
        elif variable["type"] == "custom":
            options = [option.strip() for option in variable["query"].split(",")]
            values[variable["name"]] = variable.get("allValue") or "|".join(options)
        else:
            raise AssertionError(f"variable {variable['name']!r}: unexpected {variable['type']}")
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace ``$name`` and ``${name}`` as Grafana would; unknown variables fail."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"unknown variable ${name} in {expr!r}"
        return values[name]

    result = re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, expr)
    assert "$" not in result, result
    return result


def selectors(expr: str) -> list[tuple[str, str]]:
    """``(metric name, label matchers)`` for every vector selector in ``expr``."""
    strings: list[str] = []

    def keep_string(match: re.Match[str]) -> str:
        strings.append(match.group(0))
        return f"\0{len(strings) - 1}\0"

    # Strings first: they may hold braces, parentheses or words that look like metrics.
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', keep_string, expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found: list[tuple[str, str]] = []
    pattern = r"(?<![\w:.])([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?(?=\s*(\(?))"
    for match in re.finditer(pattern, text):
        name, braces, paren = match.group(1), match.group(2), match.group(3)
        if name in PROMQL_KEYWORDS or (paren == "(" and not braces):
            continue  # a keyword or a function call, not a metric
        matchers = re.sub(r"\0(\d+)\0", lambda m: strings[int(m.group(1))], braces or "")
        found.append((name, matchers))
    return found


def metric_names(expr: str) -> set[str]:
    return {name for name, _matchers in selectors(expr)}


def allowed_metric(name: str) -> bool:
    """Exported by Pegasus (histogram series included), a ``pegasus:`` rule, or Prometheus's."""
    if name in EXPORTED_METRICS or name in PROMETHEUS_SERIES or name.startswith("pegasus:"):
        return True
    return any(
        name.endswith(suffix) and name.removesuffix(suffix) in EXPORTED_METRICS
        for suffix in HISTOGRAM_SUFFIXES
    )


def threshold_color(panel: dict[str, Any], value: float) -> str:
    """The colour Grafana gives ``value`` by the panel's absolute thresholds."""
    thresholds = panel["fieldConfig"]["defaults"]["thresholds"]
    assert thresholds["mode"] == "absolute"
    color = ""
    for step in thresholds["steps"]:
        if step["value"] is None or value >= step["value"]:
            color = step["color"]
    return color


def budget_expr(slo: Slo) -> str:
    """Error budget left over the SLO window, from the SLI queries of the SLO file."""
    good = slo.sli.good.replace(WINDOW_PLACEHOLDER, slo.window)
    total = slo.sli.total.replace(WINDOW_PLACEHOLDER, slo.window)
    return f"1 - (1 - ({good}) / ({total})) / (1 - {slo.target})"


# --- the dashboard file on its own -------------------------------------------------------


def test_selector_extraction_ignores_functions_labels_and_strings() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, stage) (rate(a_bucket{x="b{c}",le=~"1(\\\\.0)?"}'
        "[5m]))) / on (stage) group_left max(b_total) or vector(0) > bool 1e3"
    )
    assert selectors(expr) == [("a_bucket", '{x="b{c}",le=~"1(\\\\.0)?"}'), ("b_total", "")]
    assert metric_names('ALERTS{alertstate="firing"}') == {"ALERTS"}
    assert metric_names("pegasus:slo_errors:ratio_rate5m") == {"pegasus:slo_errors:ratio_rate5m"}


def test_dashboard_identity() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "pegasus"
    assert dashboard["title"] == "Pegasus"
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert "id" not in dashboard or dashboard["id"] is None  # provisioned: Grafana assigns it


def test_stage_variable_lists_the_pipeline_stages_in_order() -> None:
    dashboard = load_dashboard()
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    stage = variables["stage"]
    assert stage["multi"] is True
    assert stage["includeAll"] is True
    assert stage["query"].split(",") == STAGES
    assert [option["value"] for option in stage["options"]] == ["$__all", *STAGES]
    assert stage["current"]["value"] == ["$__all"]
    assert variable_values(dashboard)["stage"] == "|".join(STAGES)


def test_every_panel_is_titled_described_placed_and_uses_the_prometheus_datasource() -> None:
    dashboard = load_dashboard()
    panels = all_panels(dashboard)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    for panel in panels:
        assert panel.get("title"), panel
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= grid.keys(), panel["title"]
        assert grid["w"] > 0, panel["title"]
        assert grid["h"] > 0, panel["title"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    for panel in data_panels(dashboard):
        assert len(panel.get("description", "")) > 40, f"{panel['title']!r} has no description"
        assert "bad" in panel["description"].lower(), f"{panel['title']!r}: say what bad is"
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus", panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_panels_do_not_overlap() -> None:
    occupied: dict[tuple[int, int], str] = {}
    for panel in all_panels(load_dashboard()):
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in occupied, f"{panel['title']!r} overlaps {occupied[(x, y)]!r}"
                occupied[(x, y)] = panel["title"]


def test_alert_annotations_come_from_firing_alerts() -> None:
    annotations = load_dashboard()["annotations"]["list"]
    firing = [a for a in annotations if a["expr"] == 'ALERTS{alertstate="firing"}']
    assert len(firing) == 1
    assert firing[0]["enable"] is True
    assert firing[0]["datasource"]["uid"] == "prometheus"


def test_the_top_row_shows_slo_budgets_workers_and_readiness() -> None:
    dashboard = load_dashboard()
    top = [panel for panel in data_panels(dashboard) if panel["gridPos"]["y"] <= 1]
    budgets = [panel for panel in top if panel["title"].startswith("SLO budget left")]
    assert len(budgets) == len(load_slos(SLO_FILE)) == 3
    for panel in budgets:
        assert panel["type"] == "stat"
        assert threshold_color(panel, -0.01) == "red"
        assert threshold_color(panel, 0.1) == "yellow"
        assert threshold_color(panel, 0.5) == "green"
    workers = panel_titled(dashboard, "Workers alive")
    assert workers in top
    assert threshold_color(workers, 0) == "red"
    assert threshold_color(workers, 1) == "green"
    assert panel_titled(dashboard, "Ready") in top


def test_slo_budget_panels_compute_the_slos_of_ops_slo_yaml() -> None:
    """One budget panel per SLO, over raw counters, with the formula in its description."""
    dashboard = load_dashboard()
    for slo in load_slos(SLO_FILE):
        panel = panel_titled(dashboard, f"SLO budget left: {slo.name}")
        [target] = panel["targets"]
        assert target["expr"] == budget_expr(slo), f"{slo.name}: regenerate from {SLO_FILE}"
        assert not any(name.startswith("pegasus:") for name in metric_names(target["expr"]))
        formula = f"1 - (error ratio over {slo.window}) / (1 - {slo.target})"
        assert formula in panel["description"], panel["description"]
        if slo.sli.threshold is not None:  # the latency panel draws the same threshold
            latency = panel_titled(dashboard, "Lecture processing time p50 / p95")
            assert threshold_color(latency, slo.sli.threshold.le_seconds) == "red"
            assert threshold_color(latency, slo.sli.threshold.le_seconds - 1) == "green"


def test_queries_use_only_exported_metrics() -> None:
    for query in queries(load_dashboard()):
        names = metric_names(query.expr)
        assert names, f"{query.where}: no metric found in {query.expr!r}"
        unknown = {name for name in names if not allowed_metric(name)}
        assert not unknown, f"{query.where} uses metrics Pegasus does not export: {unknown}"


def test_per_stage_selectors_follow_the_stage_variable() -> None:
    """Selectors of per-stage metrics honour $stage unless they pin one stage (SLO panels)."""
    pinned = re.compile(r'stage="(?:{})"'.format("|".join(STAGES)))
    for query in queries(load_dashboard()):
        for name, matchers in selectors(query.expr):
            if name in STAGE_METRICS:
                assert 'stage=~"$stage"' in matchers or pinned.search(matchers), (
                    f"{query.where}: {name}{matchers}"
                )


def test_provisioning_points_grafana_at_the_dashboard_and_the_datasource() -> None:
    provider_config = yaml.safe_load(DASHBOARD_PROVIDER_FILE.read_text(encoding="utf-8"))
    assert provider_config["apiVersion"] == 1
    [provider] = provider_config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == DASHBOARDS_MOUNT
    assert DASHBOARD_FILE.parent == GRAFANA / "dashboards"  # what is mounted there

    datasource_config = yaml.safe_load(DATASOURCE_FILE.read_text(encoding="utf-8"))
    assert datasource_config["apiVersion"] == 1
    [datasource] = datasource_config["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["uid"] == "prometheus"
    assert datasource["url"] == "http://127.0.0.1:9090"
    used = {panel["datasource"]["uid"] for panel in data_panels(load_dashboard())}
    assert used == {datasource["uid"]}


# --- every query against a real Prometheus -----------------------------------------------


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    """Prometheus that has scraped Pegasus's metrics while the generate stage was failing."""
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    stats = QueueStats(depth={}, oldest_age_seconds={}, workers_alive=2)
    registry.register(DatabaseCollector(lambda: stats))
    registry.register(ReadinessCollector(lambda: True, cache_seconds=0.0))
    # Series a running Pegasus has after its first requests; zero until the scenario runs.
    retry_causes = [("transcribe", "storage.unavailable"), ("generate", "generate.timeout")]
    for stage, code in retry_causes:
        metrics.stage_retries.labels(stage=stage, error_code=code)
    routes = [("GET", "/api/v1/lectures/{lecture_id}", "200"), ("POST", "/api/v1/lectures", "500")]
    for method, route, status in routes:
        metrics.http_requests.labels(method=method, route=route, status=status)
        metrics.http_duration.labels(method=method, route=route)

    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    config = (
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: pegasus\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{server.server_port}']\n"
    )
    try:
        with prometheus_server(config) as prom:
            # Two scrapes of the zeros first, so increase() and rate() see every change.
            prom.wait_for('count_over_time(pegasus_ready{job="pegasus"}[1m]) >= 2', timeout=30)
            _generate_is_failing(metrics)
            stats = QueueStats(
                depth={"generate": 12}, oldest_age_seconds={"generate": 2400.0}, workers_alive=2
            )
            prom.wait_for(
                'pegasus_http_requests_total{job="pegasus",status="500"} == 5', timeout=30
            )
            time.sleep(1.5)  # one more scrape of the final state
            yield prom
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _generate_is_failing(metrics: PipelineMetrics) -> None:
    """Traffic in which only the generate stage fails; the HTTP 500s are written last."""
    runs = {
        "ingest": {"succeeded": 199, "failed": 1},
        "transcribe": {"succeeded": 56, "retried": 2},
        "generate": {"succeeded": 40, "failed": 16, "retried": 6},
        "export": {"succeeded": 40},
    }
    codes = {"transcribe": "storage.unavailable", "generate": "generate.timeout"}
    for stage, outcomes in runs.items():
        for outcome, count in outcomes.items():
            for _ in range(count):
                metrics.observe_stage(stage, outcome, 3.0, error_code=codes.get(stage))
    for index in range(40):  # one of 40 succeeded lectures is slower than the 1800 s SLO
        seconds = 3000.0 if index == 0 else 600.0
        metrics.observe_lecture("succeeded", processing_seconds=seconds, audio_seconds=3000.0)
    for _ in range(16):
        metrics.observe_lecture("failed", processing_seconds=100.0, audio_seconds=3000.0)
    metrics.ingest_requests.labels(outcome="accepted").inc(56)
    for _ in range(50):
        metrics.http_requests.labels("GET", "/api/v1/lectures/{lecture_id}", "200").inc()
        metrics.http_duration.labels("GET", "/api/v1/lectures/{lecture_id}").observe(0.05)
    metrics.http_duration.labels("POST", "/api/v1/lectures").observe(2.0)
    metrics.http_requests.labels("POST", "/api/v1/lectures", "500").inc(5)


def _evaluate(prometheus: PrometheusServer, panel: dict[str, Any]) -> list[dict[str, Any]]:
    values = variable_values(load_dashboard())
    [target] = panel["targets"]
    response = prometheus.query(substitute(target["expr"], values))
    assert response["status"] == "success", response
    result: list[dict[str, Any]] = response["data"]["result"]
    return result


def test_every_query_parses_and_returns_data(prometheus: PrometheusServer) -> None:
    dashboard = load_dashboard()
    values = variable_values(dashboard)
    for query in queries(dashboard):
        response = prometheus.query(substitute(query.expr, values))
        assert response["status"] == "success", f"{query.where}: {response}"
        if "ALERTS" not in metric_names(query.expr):  # no alert rules are loaded here
            assert response["data"]["result"], f"{query.where} returned no data"


def test_a_query_that_does_not_parse_is_refused(prometheus: PrometheusServer) -> None:
    """Shows the check above can fail: Prometheus answers a parse error with bad_data."""
    response = prometheus.query('sum by (stage (rate(pegasus_stage_runs_total{stage=~"x"}[5m]))')
    assert response["status"] == "error"
    assert response["errorType"] == "bad_data"


def test_the_failing_stage_is_first_and_red(prometheus: PrometheusServer) -> None:
    panel = panel_titled(load_dashboard(), "Failure ratio by stage (dashboard range)")
    result = _evaluate(prometheus, panel)
    ratios = {series["metric"]["stage"]: float(series["value"][1]) for series in result}
    assert set(ratios) == set(STAGES)
    assert result[0]["metric"]["stage"] == "generate"  # worst first
    assert ratios["generate"] == pytest.approx(16 / 62, rel=0.01)
    assert threshold_color(panel, ratios["generate"]) == "red"
    assert ratios["ingest"] == pytest.approx(1 / 200, rel=0.01)
    for stage in ("ingest", "transcribe", "export"):
        assert ratios[stage] < ratios["generate"]
        assert threshold_color(panel, ratios[stage]) == "green"


def test_slo_budget_panels_show_the_spent_budget(prometheus: PrometheusServer) -> None:
    dashboard = load_dashboard()
    expected = {
        # 1 of 200 ingest runs failed against a 1 % budget: half of it is left
        "ingest-success": 1 - (1 / 200) / 0.01,
        # 16 of 56 final generate runs failed against a 1 % budget (retries do not count)
        "generation-success": 1 - (16 / 56) / 0.01,
        # 1 of 40 succeeded lectures slower than the 1200 s threshold against a 5 % budget
        "processing-time": 1 - (1 / 40) / 0.05,
    }
    colors = {}
    for name, budget in expected.items():
        title = f"SLO budget left: {name}"
        panel = panel_titled(dashboard, title)
        [series] = _evaluate(prometheus, panel)
        value = float(series["value"][1])
        assert value == pytest.approx(budget, rel=0.01, abs=0.01), title
        colors[title] = threshold_color(panel, value)
    assert list(colors.values()) == ["green", "red", "green"]


def test_health_stats_and_queue_age(prometheus: PrometheusServer) -> None:
    dashboard = load_dashboard()
    [workers] = _evaluate(prometheus, panel_titled(dashboard, "Workers alive"))
    assert float(workers["value"][1]) == 2
    [ready] = _evaluate(prometheus, panel_titled(dashboard, "Ready"))
    assert float(ready["value"][1]) == 1
    age_panel = panel_titled(dashboard, "Oldest queued run age by stage")
    by_stage = {
        series["metric"]["stage"]: float(series["value"][1])
        for series in _evaluate(prometheus, age_panel)
    }
    assert by_stage == {"ingest": 0, "transcribe": 0, "generate": 2400, "export": 0}
    assert threshold_color(age_panel, by_stage["generate"]) == "red"
    assert threshold_color(age_panel, by_stage["ingest"]) == "green"
