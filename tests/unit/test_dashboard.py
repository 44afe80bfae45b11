"""grafana/muxscope.json and its provisioning files, checked structurally (no Prometheus or Grafana needed).

The dashboard must work both imported in the UI and provisioned from files: its
data source is a ``datasource`` template variable (``ds``), never an import-time
``${DS_...}`` input. Every panel has an id, a place, a data source through the
variable, a description and a unit; every target an expression whose metrics,
labels and label values exist in muxscope's own exposition.
(tests/integration/test_observability.py runs the expressions against a real Prometheus.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from proxy.analysis.vocabulary import CAUSES, OUTCOMES
from proxy.observe.metrics import DECODE_ERROR_REASONS, DIRECTIONS, Metrics

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARD = GRAFANA / "muxscope.json"
DS_REF = {"type": "prometheus", "uid": "${ds}"}
GRID_COLUMNS = 24
BUILTIN_VARS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"}
#: Grafana unit ids used by the dashboard; "suffix:<text>" is Grafana's custom-unit syntax
UNITS = {"s", "ms", "Bps", "bytes", "percentunit", "short", "none", "reqps", "cps", "ops"}
#: every metric a panel must show (the issue's list)
REQUIRED_METRICS = {
    "muxscope_fetch_wait_seconds_total", "muxscope_rows_fetched_total", "muxscope_rows_delivered_total",
    "muxscope_rpc_latency_seconds_bucket", "muxscope_resize_burst_settle_seconds_bucket",
    "muxscope_relay_bytes_total", "muxscope_overfetch_bytes_total", "muxscope_analysis_lag_seconds",
    "muxscope_analysis_dropped_chunks_total", "muxscope_analysis_queue_chunks", "muxscope_decode_errors_total",
    "muxscope_connections_active",
}
_VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")
_SELECTOR_RE = re.compile(r"(muxscope_\w+)\s*(\{[^}]*\})?")
_MATCHER_RE = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
_BY_RE = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


@pytest.fixture(scope="module")
def dash() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # a collapsed row keeps its panels inside
    return out


def data_panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in all_panels(dash) if p["type"] != "row"]


def exposition() -> dict[str, set[str]]:
    """Sample name -> label names, from a Metrics registry with every labelled family touched once."""
    m = Metrics()

    class _Tap:
        dropped_chunks = dropped_bytes = queued = consumer_errors = 0

    m.attach_tap(_Tap())
    m.rpc_latency.labels("GetLines").observe(0.01)
    for fam in (m.pdus, m.pdu_wire_bytes, m.pdu_decompressed_bytes):
        fam.labels(DIRECTIONS[1], "GetLinesResponse").inc()
    m.unsolicited.labels("TabResized").inc()
    out: dict[str, set[str]] = {}
    for fam in text_string_to_metric_families(generate_latest(m.registry).decode()):
        for s in fam.samples:
            out.setdefault(s.name, set()).update(s.labels)
    return out


def pdu_names() -> set[str]:
    import codec.schema.pdus as pdus
    from codec.wire.varbincode import Struct

    return {v.name for v in vars(pdus).values() if isinstance(v, Struct)}


# -- the dashboard as a whole -------------------------------------------------------------------------------------


def test_dashboard_is_importable_and_provisionable(dash):
    text = DASHBOARD.read_text(encoding="utf-8")
    assert "__inputs" not in dash and "__requires" not in dash
    assert "DS_" not in text, "import-time ${DS_...} inputs break file provisioning: use the $ds variable"
    assert dash["uid"] == "muxscope" and dash["title"]
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash.get("id") is None  # provisioning and import assign it
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables["ds"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    # every data source reference in the file goes through the variable (the built-in annotation aside)
    refs = re.findall(r'"datasource":\s*(\{[^{}]*\})', text)
    assert refs
    for ref in map(json.loads, refs):
        assert ref == DS_REF or ref.get("type") == "grafana", ref


def test_template_variables(dash):
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert {"ds", "job", "instance"} <= set(variables)
    for name, v in variables.items():
        if v["type"] != "query":
            continue
        assert v["datasource"] == DS_REF, name
        query = v["query"] if isinstance(v["query"], str) else v["query"]["query"]
        assert re.fullmatch(r"label_values\(muxscope_\w+(\{[^}]*\})?,\s*\w+\)", query), (name, query)
        assert v.get("definition", query) == query
        if v.get("includeAll"):
            # "All" must be a regex, so that =~"$var" matches every value, including ones not yet seen
            assert v.get("allValue") == ".*", name
    assert "instance" in variables["instance"]["query"] and "job" in variables["job"]["query"]


def test_panel_ids_are_unique_and_every_panel_has_a_place(dash):
    panels = all_panels(dash)
    ids = [p.get("id") for p in panels]
    assert all(isinstance(i, int) for i in ids), ids
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    boxes = []
    for p in panels:
        g = p.get("gridPos")
        assert g is not None, f"panel {p['id']} {p.get('title')!r} has no gridPos"
        assert all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")), (p["id"], g)
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0, (p["id"], g)
        assert g["x"] + g["w"] <= GRID_COLUMNS, (p["id"], g)
        boxes.append((p["id"], g))
    for i, (a, ga) in enumerate(boxes):
        for b, gb in boxes[i + 1:]:
            overlap = (ga["x"] < gb["x"] + gb["w"] and gb["x"] < ga["x"] + ga["w"]
                       and ga["y"] < gb["y"] + gb["h"] and gb["y"] < ga["y"] + ga["h"])
            assert not overlap, f"panels {a} and {b} overlap: {ga} {gb}"


def test_every_panel_has_datasource_targets_description_and_unit(dash):
    panels = data_panels(dash)
    assert len(panels) >= 12
    titles = [p.get("title") for p in panels]
    assert len(set(titles)) == len(titles), f"duplicate panel titles: {titles}"
    for p in panels:
        where = f"panel {p['id']} {p.get('title')!r}"
        assert p.get("title"), where
        assert p.get("datasource") == DS_REF, f"{where}: datasource {p.get('datasource')!r}"
        assert len(p.get("description", "")) >= 80, f"{where}: needs a description (what it means, what to do)"
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        assert unit, f"{where}: no unit"
        assert unit in UNITS or unit.startswith("suffix:"), f"{where}: unit {unit!r}"
        if p["type"] == "heatmap":
            assert p["options"]["yAxis"].get("unit") == unit, where
        targets = p.get("targets") or []
        assert targets, f"{where}: no targets"
        ref_ids = [t.get("refId") for t in targets]
        assert all(ref_ids) and len(set(ref_ids)) == len(ref_ids), f"{where}: refIds {ref_ids}"
        for t in targets:
            assert t.get("datasource") == DS_REF, f"{where} {t['refId']}: datasource {t.get('datasource')!r}"
            assert isinstance(t.get("expr"), str) and t["expr"].strip(), f"{where} {t['refId']}: no expression"
    for p in all_panels(dash):
        if p["type"] == "row":
            assert p.get("title") and "targets" not in p, p


def test_expressions_use_existing_metrics_labels_and_values(dash):
    known = exposition()
    pdus = pdu_names()
    vocab = {"outcome": set(OUTCOMES), "cause": set(CAUSES), "direction": set(DIRECTIONS),
             "layer": {"wire", "decompressed"}, "source": {"getlines", "bonus"},
             "reason": set(DECODE_ERROR_REASONS), "pdu": pdus}
    variables = {v["name"] for v in dash["templating"]["list"]}
    used: set[str] = set()
    for p in data_panels(dash):
        for t in p["targets"]:
            where = f"panel {p['id']} {p['title']!r} {t['refId']}"
            expr = t["expr"]
            for m in _VAR_RE.finditer(expr):
                name = m.group(1) or m.group(2) or m.group(3)
                assert name in BUILTIN_VARS or (name in variables and name != "ds"), f"{where}: ${name}"
            metric_labels: set[str] = set()
            selectors = _SELECTOR_RE.findall(expr)
            assert selectors, f"{where}: no muxscope metric in {expr!r}"
            for metric, body in selectors:
                assert metric in known, f"{where}: {metric} is not exported by muxscope"
                used.add(metric)
                labels = known[metric] | {"job", "instance"}
                metric_labels |= labels
                for label, op, value in _MATCHER_RE.findall(body or ""):
                    assert label in labels, f"{where}: {metric} has no label {label!r}"
                    if "$" in value:
                        # multi-value and "All" selections are regexes: only =~ / !~ work with them
                        assert op in ("=~", "!~"), f"{where}: {label}{op}\"{value}\" needs =~"
                    elif label in vocab:
                        for alt in value.split("|"):
                            assert alt in vocab[label], f"{where}: {label}={alt!r} is never exported"
            for group in _BY_RE.findall(expr):
                for label in filter(None, (s.strip() for s in group.split(","))):
                    assert label in metric_labels, f"{where}: grouping by {label!r}, which {selectors} lack"
            if t.get("format") == "heatmap":
                assert "_bucket" in expr and "by (le)" in expr, where
    missing = REQUIRED_METRICS - used
    assert not missing, f"metrics without a panel: {sorted(missing)}"
    exprs = " ".join(t["expr"] for p in data_panels(dash) for t in p["targets"])
    assert "histogram_quantile(0.5" in exprs and "histogram_quantile(0.99" in exprs
    assert any(p["type"] == "heatmap" for p in data_panels(dash))


def test_instant_stats_and_range_timeseries(dash):
    for p in data_panels(dash):
        for t in p["targets"]:
            if p["type"] == "stat":
                assert t.get("instant") is True, (p["title"], t["refId"])
            if "$__range" in t["expr"]:
                assert p["type"] == "stat", f"{p['title']}: $__range belongs to whole-range stat panels"


# -- provisioning and the scrape config ----------------------------------------------------------------------------


def test_provisioning_files():
    ds_text = (GRAFANA / "provisioning" / "datasources" / "muxscope.yaml").read_text(encoding="utf-8")
    dash_text = (GRAFANA / "provisioning" / "dashboards" / "muxscope.yaml").read_text(encoding="utf-8")
    prom_text = (GRAFANA / "prometheus.yml").read_text(encoding="utf-8")
    import yaml  # a test dependency (pyproject [test])
    ds = yaml.safe_load(ds_text)
    assert ds["apiVersion"] == 1
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"].startswith("http")
    prov = yaml.safe_load(dash_text)
    assert prov["apiVersion"] == 1
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
    prom = yaml.safe_load(prom_text)
    # Grafana's $__rate_interval is derived from the data source's scrape interval: keep them equal
    assert source["jsonData"]["timeInterval"] == prom["global"]["scrape_interval"] == "5s"
    (job,) = prom["scrape_configs"]
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert "127.0.0.1:9464" in targets
    # the provider loads every *.json under its path: the dashboard must be the only one in grafana/
    assert [p.name for p in GRAFANA.rglob("*.json")] == ["muxscope.json"]
