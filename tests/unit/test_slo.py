"""SLO file validation and the generated Prometheus rules."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pegasus.errors import SloFileError
from pegasus.observability.metrics import PipelineMetrics
from pegasus.observability.slo import (
    BURN_RATE_TIERS,
    DEFAULT_RULES_PATH,
    DEFAULT_SLO_PATH,
    HISTOGRAM_BUCKETS,
    RUNBOOK_BASE_URL,
    Slo,
    burn_rate,
    error_ratio_threshold,
    is_up_to_date,
    load_slos,
    render_rules,
    render_to_file,
)

ROOT = Path(__file__).resolve().parents[2]
SLO_FILE = ROOT / DEFAULT_SLO_PATH
RULES_FILE = ROOT / DEFAULT_RULES_PATH

VALID: dict[str, Any] = {
    "version": 1,
    "slos": [
        {
            "name": "ingest-success",
            "description": "Ingest runs that succeed.",
            "target": 0.99,
            "window": "30d",
            "rationale": "Because.",
            "sli": {
                "good": 'sum(rate(pegasus_stage_runs_total{outcome="succeeded"}[$window]))',
                "total": (
                    'sum(rate(pegasus_stage_runs_total{outcome=~"succeeded|failed"}[$window]))'
                ),
            },
        },
        {
            "name": "processing-time",
            "description": "Lectures ready within 20 minutes.",
            "target": 0.95,
            "window": "30d",
            "rationale": "Because.",
            "sli": {
                "good": (
                    "sum(rate(pegasus_lecture_processing_seconds_bucket"
                    '{le=~"1200|1200.0"}[$window]))'
                ),
                "total": "sum(rate(pegasus_lecture_processing_seconds_count[$window]))",
                "threshold": {
                    "histogram": "pegasus_lecture_processing_seconds",
                    "le_seconds": 1200,
                },
            },
        },
    ],
}


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _variant(path: str, value: Any) -> dict[str, Any]:
    """A copy of VALID with the dotted ``path`` (list indexes as numbers) set to ``value``."""
    data = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node: Any = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value
    return data


def _rules(slos: list[Slo]) -> list[dict[str, Any]]:
    parsed = yaml.safe_load(render_rules(slos))
    return [rule for group in parsed["groups"] for rule in group["rules"]]


# --- loading -------------------------------------------------------------------------------


def test_committed_slo_file_declares_the_three_launch_slos() -> None:
    slos = {slo.name: slo for slo in load_slos(SLO_FILE)}

    assert list(slos) == ["ingest-success", "generation-success", "processing-time"]
    assert {slo.window for slo in slos.values()} == {"30d"}
    assert slos["ingest-success"].target == 0.99
    assert 'stage="ingest"' in slos["ingest-success"].sli.good
    assert 'stage="generate"' in slos["generation-success"].sli.total
    assert "retried" not in slos["generation-success"].sli.total
    latency = slos["processing-time"]
    assert latency.target == 0.95
    assert latency.sli.threshold is not None
    assert latency.sli.threshold.le_seconds == 1200
    assert all(slo.rationale.strip() for slo in slos.values())


def _exported_buckets(histogram: str, observed: list[float]) -> dict[float, float]:
    """The cumulative ``le`` buckets of ``histogram`` as the metrics endpoint exposes them,
    after observing ``observed`` (read back from the exposition text)."""
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    for seconds in observed:
        metrics.lecture_processing.observe(seconds)
    text = generate_latest(registry).decode("utf-8")
    return {
        float(sample.labels["le"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == f"{histogram}_bucket"
    }


def test_every_latency_slo_threshold_is_a_bucket_the_exporter_really_has() -> None:
    # The committed file, read as plain YAML: the thresholds operators chose.
    declared = yaml.safe_load(SLO_FILE.read_text(encoding="utf-8"))["slos"]
    thresholds = [
        (slo["sli"]["threshold"]["histogram"], float(slo["sli"]["threshold"]["le_seconds"]))
        for slo in declared
        if "threshold" in slo["sli"]
    ]
    assert thresholds == [("pegasus_lecture_processing_seconds", 1200.0)]
    for histogram, le in thresholds:
        # One lecture just inside the objective, one just outside it.
        buckets = _exported_buckets(histogram, [le - 1, le + 1])
        assert le in buckets, f"{histogram} has no le={le} bucket: {sorted(buckets)}"
        assert buckets[le] == 1, "the lecture inside the threshold counts as good"
        assert buckets[float("inf")] == 2
        # The validator accepts exactly the boundaries the exporter has.
        assert set(HISTOGRAM_BUCKETS[histogram]) == set(buckets) - {float("inf")}


def test_a_valid_file_loads(tmp_path: Path) -> None:
    slos = load_slos(_write(tmp_path, VALID))
    assert [slo.name for slo in slos] == ["ingest-success", "processing-time"]
    assert slos[0].error_budget == Decimal("0.01")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("slos.0.target", 1.0, "target must be a fraction strictly between 0 and 1"),
        ("slos.0.target", 0, "target must be a fraction strictly between 0 and 1"),
        ("slos.0.target", 99.9, "target must be a fraction strictly between 0 and 1"),
        ("slos.0.window", "30 days", 'window must be a number of days like "30d"'),
        ("slos.0.window", "4w", 'window must be a number of days like "30d"'),
        ("slos.0.window", "3d", "window must be at least 7d"),
        ("slos.0.name", "Ingest Success", "must be kebab-case"),
        ("slos.0.sli.good", "sum(rate(x[5m]))", "range placeholder [$window]"),
        ("slos.1.sli.threshold.le_seconds", 1000, "1000 is not a bucket boundary"),
        ("slos.1.sli.threshold.histogram", "pegasus_other_seconds", "unknown histogram"),
        (
            "slos.1.sli.good",
            'sum(rate(pegasus_lecture_processing_seconds_bucket{le="1800"}[$window]))',
            'good selects le="1800" but threshold.le_seconds is 1200',
        ),
        (
            "slos.1.sli.good",
            "sum(rate(pegasus_lecture_processing_seconds_bucket[$window]))",
            'good must select the bucket with le="1200"',
        ),
        ("slos.1.sli.total", "sum(rate(pegasus_lectures_total[$window]))", "_count"),
        ("slos.0.owner", "me", "Extra inputs are not permitted"),
        ("version", 2, "version"),
    ],
)
def test_invalid_files_are_refused_naming_the_field(
    tmp_path: Path, path: str, value: Any, message: str
) -> None:
    with pytest.raises(SloFileError) as excinfo:
        load_slos(_write(tmp_path, _variant(path, value)))

    text = str(excinfo.value)
    assert message in text
    assert str(tmp_path / "slo.yaml") in text
    assert excinfo.value.code == "slo.invalid"


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    data["slos"].append(copy.deepcopy(data["slos"][0]))
    with pytest.raises(SloFileError, match="repeated: ingest-success"):
        load_slos(_write(tmp_path, data))


def test_a_missing_or_malformed_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SloFileError, match="cannot read"):
        load_slos(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("slos: [unclosed\n", encoding="utf-8")
    with pytest.raises(SloFileError, match="not valid YAML"):
        load_slos(broken)


# --- burn rates ------------------------------------------------------------------------------


def test_burn_rates_follow_the_sre_workbook_for_a_30_day_window() -> None:
    ingest, latency = load_slos(SLO_FILE)[0], load_slos(SLO_FILE)[2]
    fast, medium, slow = BURN_RATE_TIERS

    assert [burn_rate(ingest, tier) for tier in BURN_RATE_TIERS] == [
        Decimal("14.4"),
        Decimal("6"),
        Decimal("1"),
    ]
    assert (fast.long_window, fast.short_window, fast.severity) == ("1h", "5m", "page")
    assert (medium.long_window, medium.short_window, medium.severity) == ("6h", "30m", "page")
    assert (slow.long_window, slow.short_window, slow.severity) == ("3d", "6h", "ticket")
    assert [error_ratio_threshold(ingest, t) for t in BURN_RATE_TIERS] == [
        Decimal("0.144"),
        Decimal("0.06"),
        Decimal("0.01"),
    ]
    assert [error_ratio_threshold(latency, t) for t in BURN_RATE_TIERS] == [
        Decimal("0.72"),
        Decimal("0.3"),
        Decimal("0.05"),
    ]


def test_burn_rates_scale_with_the_window(tmp_path: Path) -> None:
    (slo, _) = load_slos(_write(tmp_path, _variant("slos.0.window", "28d")))
    # 2 % of a 28-day budget in one hour: 0.02 * 672 h / 1 h.
    assert burn_rate(slo, BURN_RATE_TIERS[0]) == Decimal("13.44")


# --- rendering -------------------------------------------------------------------------------


def test_rendering_records_error_ratios_for_every_window_and_slo() -> None:
    slos = load_slos(SLO_FILE)
    parsed = yaml.safe_load(render_rules(slos))

    assert [group["name"] for group in parsed["groups"]] == [
        "pegasus-slo-ingest-success",
        "pegasus-slo-generation-success",
        "pegasus-slo-processing-time",
    ]
    for group, slo in zip(parsed["groups"], slos, strict=True):
        records = [(r["record"], r["labels"]) for r in group["rules"] if "record" in r]
        assert records == [
            (f"pegasus:slo_errors:ratio_rate{w}", {"slo": slo.name})
            for w in ("5m", "30m", "1h", "6h", "3d", "30d")
        ] + [("pegasus:slo_objective:ratio", {"slo": slo.name})]


def test_recorded_error_ratio_substitutes_the_window_into_both_queries() -> None:
    ingest = load_slos(SLO_FILE)[0]
    rule = next(r for r in _rules([ingest]) if r.get("record") == "pegasus:slo_errors:ratio_rate6h")
    expr = rule["expr"]

    assert "$window" not in expr
    assert ingest.sli.good.replace("$window", "6h") in expr
    assert ingest.sli.total.replace("$window", "6h") in expr
    assert expr.startswith("1 - (")
    assert "or vector(0)" in expr


def test_rendering_produces_multi_window_burn_rate_alerts() -> None:
    alerts = [r for r in _rules(load_slos(SLO_FILE)) if "alert" in r]
    by_key = {(a["alert"], a["labels"]["slo"]): a for a in alerts}

    assert len(alerts) == 9
    fast = by_key[("PegasusSLOBurnRateFast", "ingest-success")]
    assert fast["expr"].split() == [
        'pegasus:slo_errors:ratio_rate1h{slo="ingest-success"}',
        ">",
        "0.144",
        "and",
        'pegasus:slo_errors:ratio_rate5m{slo="ingest-success"}',
        ">",
        "0.144",
    ]
    assert fast["labels"] == {"severity": "page", "slo": "ingest-success"}
    medium = by_key[("PegasusSLOBurnRateMedium", "processing-time")]
    assert 'ratio_rate6h{slo="processing-time"} > 0.3' in medium["expr"]
    assert 'ratio_rate30m{slo="processing-time"} > 0.3' in medium["expr"]
    slow = by_key[("PegasusSLOBurnRateSlow", "generation-success")]
    assert slow["labels"]["severity"] == "ticket"
    assert 'ratio_rate3d{slo="generation-success"} > 0.01' in slow["expr"]
    assert 'ratio_rate6h{slo="generation-success"} > 0.01' in slow["expr"]


def test_every_alert_names_its_runbook_and_explains_itself() -> None:
    for alert in (r for r in _rules(load_slos(SLO_FILE)) if "alert" in r):
        annotations = alert["annotations"]
        assert annotations["runbook_url"] == f"{RUNBOOK_BASE_URL}/{alert['alert']}.md"
        assert alert["labels"]["slo"] in annotations["summary"]
        assert "{{ $value | humanizePercentage }}" in annotations["description"]
    fast = next(
        r for r in _rules(load_slos(SLO_FILE)) if r.get("alert") == "PegasusSLOBurnRateFast"
    )
    assert "14.4x" in fast["annotations"]["summary"]
    assert "spent in about 50 hours" in fast["annotations"]["description"]


def test_rendering_is_deterministic_and_marked_generated() -> None:
    slos = load_slos(SLO_FILE)
    first = render_rules(slos)

    assert first == render_rules(load_slos(SLO_FILE))
    assert first.startswith("# GENERATED by `pegasus slo render`")
    # Multi-line PromQL stays readable: literal blocks, no escaped newlines.
    assert "expr: |" in first
    assert "\\n" not in first


def test_committed_rules_are_up_to_date() -> None:
    assert is_up_to_date(SLO_FILE, RULES_FILE), "run `pegasus slo render` and commit the result"


def test_render_to_file_writes_what_is_up_to_date_and_detects_drift(tmp_path: Path) -> None:
    slo_file = _write(tmp_path, VALID)
    out = tmp_path / "rules" / "slo.rules.yml"

    assert not is_up_to_date(slo_file, out)
    assert render_to_file(slo_file, out) == out
    assert is_up_to_date(slo_file, out)
    assert out.read_text(encoding="utf-8") == render_rules(load_slos(slo_file))

    _write(tmp_path, _variant("slos.0.target", 0.995))
    assert not is_up_to_date(slo_file, out)
