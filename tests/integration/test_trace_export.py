"""``muxscope export --trace``: a valid Chrome trace-event file whose events are the capture's facts.

Validity is checked against the fields the Trace Event Format documents for the
JSON object form and for the phases used (X complete, i instant, M metadata);
counts are checked against two independent sources: the report's JSON and the
PDU counts of ``capture info`` (which only decodes, no analysis).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from proxy.capture.format import open_capture

REPO = Path(__file__).resolve().parents[2]
CAPTURES = sorted((REPO / "captures").glob("*.muxcap"))
METADATA = {"process_name": "name", "thread_name": "name", "process_sort_index": "sort_index",
            "thread_sort_index": "sort_index"}


def muxscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO)


def validate(doc: Any) -> list[dict[str, Any]]:
    """The format's documented rules for what this exporter writes; returns the events."""
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list)
    assert doc.get("displayTimeUnit", "ms") in ("ms", "ns")
    named: set[tuple[int, int | None]] = set()
    spans: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for ev in doc["traceEvents"]:
        assert isinstance(ev["name"], str) and ev["ph"] in ("X", "i", "M"), ev
        assert isinstance(ev["pid"], int)
        if ev["ph"] == "M":
            assert ev["name"] in METADATA and set(ev["args"]) == {METADATA[ev["name"]]}, ev
            if ev["name"].endswith("_name"):
                named.add((ev["pid"], ev.get("tid")))
            continue
        assert isinstance(ev["tid"], int) and isinstance(ev["ts"], int | float) and ev["ts"] >= 0, ev
        assert isinstance(ev.get("cat", ""), str) and isinstance(ev.get("args", {}), dict)
        if ev["ph"] == "X":
            assert isinstance(ev["dur"], int | float) and ev["dur"] >= 0
            spans.setdefault((ev["pid"], ev["tid"]), []).append((ev["ts"], ev["ts"] + ev["dur"]))
        else:
            assert ev["s"] in ("g", "p", "t")
        assert (ev["pid"], None) in named and (ev["pid"], ev["tid"]) in named, "every track is named"
    for track in spans.values():  # complete events on one thread must nest: ours never overlap
        track.sort()
        assert all(a[1] <= b[0] + 1e-3 for a, b in itertools.pairwise(track)), track
    return doc["traceEvents"]


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.name for c in CAPTURES])
def test_trace_is_valid_and_counts_match(tmp_path, capture):
    out = tmp_path / "trace.json"
    res = muxscope("export", "--trace", str(out), str(capture), "--no-progress")
    assert res.returncode == 0, res.stderr
    events = validate(json.loads(out.read_text()))
    rep = json.loads(muxscope("report", str(capture), "--json", "--no-progress").stdout)
    info = json.loads(muxscope("capture", "info", str(capture), "--json").stdout)
    c2s, s2c = info["pdus"]["client_to_server"], info["pdus"]["server_to_client"]

    getlines = [e for e in events if e["name"] == "GetLines"]
    assert len(getlines) == rep["getlines"] == c2s["GetLines"]
    assert all(e["ph"] == "X" and e["cat"] == "getlines" for e in getlines)
    for k in ("redundant", "superseded", "changed", "new"):
        assert sum(e["args"][k] for e in getlines) == rep["rows"][k], k
    assert sum(e["args"]["rows_requested"] for e in getlines) == rep["rows_requested"]
    assert sum(e["args"]["latency_ms"] for e in getlines if e["args"]["answered"]) == pytest.approx(
        rep["fetch_wait_s"] * 1000, abs=0.01 * len(getlines))
    assert all(e["dur"] == pytest.approx(e["args"]["latency_ms"] * 1000, abs=0.6) for e in getlines)  # ms to 3 places
    resizes = [e for e in events if e["name"] == "Resize"]
    assert len(resizes) == c2s["Resize"] == sum(b["resizes"] for b in rep["bursts"])
    pushes = [e for e in events if e["name"] == "render-changes push"]
    assert len(pushes) == s2c.get("GetPaneRenderChangesResponse", 0)
    bursts = [e for e in events if e.get("cat") == "burst"]
    assert [e["args"]["burst"] for e in bursts] == [b["burst"] for b in rep["bursts"]]

    # timestamps: microseconds on the capture's clock, within its first and last record
    times = [r.t_ns for r in open_capture(str(capture)).records()]
    stamped = [e["ts"] for e in events if e["ph"] != "M"]
    assert min(times) / 1000 - 0.001 <= min(stamped) and max(stamped) <= max(times) / 1000 + 0.001
    assert max(e["ts"] + e["dur"] for e in getlines) <= max(times) / 1000 + 0.001


def test_monotonic_clock_adds_the_capture_t0(tmp_path):
    capture = CAPTURES[0]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert muxscope("export", "--trace", str(a), str(capture), "--no-progress").returncode == 0
    assert muxscope("export", "--trace", str(b), str(capture), "--clock", "monotonic", "--no-progress").returncode == 0
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    t0 = open_capture(str(capture)).header["t0_monotonic_ns"]
    assert db["otherData"]["t0_monotonic_ns"] == t0 > 0
    for ea, eb in zip(da["traceEvents"], db["traceEvents"], strict=True):
        if ea["ph"] != "M":
            assert eb["ts"] == pytest.approx(ea["ts"] + t0 / 1000, abs=0.002)


def test_export_errors_are_one_line(tmp_path):
    res = muxscope("export", str(CAPTURES[0]))
    assert res.returncode == 2 and "--trace OUT.json" in res.stderr
    res = muxscope("export", "--trace", str(tmp_path / "missing" / "t.json"), str(CAPTURES[0]), "--no-progress")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "does not exist" in res.stderr
    out = tmp_path / "out"
    (out / "t.json").mkdir(parents=True)  # a directory where the file should go (root ignores permissions)
    res = muxscope("export", "--trace", str(out / "t.json"), str(CAPTURES[0]), "--no-progress")
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "cannot write" in res.stderr
    assert [p.name for p in out.iterdir()] == ["t.json"]  # no half file left behind
    res = muxscope("export", "--trace", "-", str(tmp_path / "nope.muxcap"))
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_two_connections_are_two_processes_and_a_failed_fetch_is_kept():
    from proxy.report.trace import trace_document
    from tests.integration.test_report_html import two_connections

    model, addon = two_connections()
    rep = model.to_json()
    doc = trace_document(model, addon.timeline, {"t0_monotonic_ns": 5})
    events = validate(json.loads(json.dumps(doc)))
    names = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    assert names == {1: "mux connection 1", 2: "mux connection 2"}
    getlines = [e for e in events if e["name"] == "GetLines"]
    assert len(getlines) == rep["getlines"] == 6
    assert [e["args"]["answered"] for e in getlines].count(False) == 1
    # the two concurrent fetches of a connection are on two threads
    per_conn = {pid: {e["tid"] for e in getlines if e["pid"] == pid} for pid in (1, 2)}
    assert all(len(tids) == 2 for tids in per_conn.values())
