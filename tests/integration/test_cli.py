"""The user-facing commands, run as a user would: decode, report, demo."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import golden

PY = [sys.executable, "-m", "proxy.cli"]
REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "captures" / "resize-drag-40ms.muxcap"


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_decode_json_matches_the_manifest():
    stream = golden.GOLDEN / "v44" / "stream.bin"
    res = run("decode", str(stream), "--json")
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines()]
    frames = golden.manifest("v44")["stream"]["frames"]
    assert [(r["pdu"], r["serial"], r["compressed"], r["wire_bytes"]) for r in records] == [
        (f["pdu"], f["serial"], f["compressed"], f["frame_len"]) for f in frames
    ]
    assert set(records[0]) >= {"serial", "ident", "pdu", "compressed", "wire_bytes", "payload_bytes", "body"}
    by_file = {e["file"]: e for e in golden.entries("v44")}
    for rec, f in zip(records, frames, strict=True):
        entry = by_file[f["same_value_as"]]
        if entry.get("expected") is not None:
            assert golden.normalise(rec["body"]) == golden.normalise(entry["expected"])
        if "lines" in (entry.get("facts") or {}):
            assert [(ln["row"], ln["text"], ln["seqno"]) for ln in rec["lines"]] == [
                (x["stable_row"], x["text"], x["seqno"]) for x in entry["facts"]["lines"]
            ]
            assert all(len(ln["fingerprint"]) == 16 for ln in rec["lines"])
    assert "PDUs, 0 errors" in res.stderr


def test_decode_reports_a_bad_frame_and_goes_on(tmp_path):
    from codec import encode_pdu

    data = encode_pdu("Ping", {}, 1) + bytes(7) + encode_pdu("Pong", {}, 2)
    f = tmp_path / "s.bin"
    f.write_bytes(data)
    res = run("decode", str(f))
    assert res.returncode == 1  # everything that decodes is shown, and the status says not all did
    assert "Ping serial=1" in res.stdout and "Pong serial=2" in res.stdout
    assert "offset 3" in res.stdout and "error" in res.stdout


def test_decode_tree_shows_lines_as_text():
    res = run("decode", str(golden.GOLDEN / "v44" / "GetLinesResponse__wide.bin"))
    assert res.returncode == 0
    assert "日本語テキスト: 漢字" in res.stdout and "row 40 seqno 31" in res.stdout


@pytest.mark.skipif(not SAMPLE.is_file(), reason="sample capture missing")
def test_report_json_and_html(tmp_path):
    html = tmp_path / "r.html"
    res = run("report", str(SAMPLE), "--json", "--html", str(html), "--no-progress")
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert set(rep["rows"]) == {"redundant", "superseded", "changed", "new"}
    assert rep["panes"] and all(set(p) == {"rows"} for p in rep["panes"].values())
    assert sum(rep["rows"].values()) == rep["rows_returned"] > 0
    assert rep["bursts"] and rep["verdict"].startswith(("Over-fetching", "Some", "Little", "No"))
    assert "% of rows fetched after resizes" in rep["verdict"]
    page = html.read_text()
    assert 'id="timeline"' in page and "settle window" in page and rep["verdict"].split(":")[0] in page
    text = run("report", str(SAMPLE), "--no-progress")
    assert text.stdout.splitlines()[0] == rep["verdict"]
    assert "Resize bursts" in text.stdout and "What if" in text.stdout


@pytest.mark.skipif(not SAMPLE.is_file(), reason="sample capture missing")
def test_report_client_model_changes_causes_not_outcomes():
    """The sample is a WezTerm client's drag. Told the client was selective, the analysis keeps
    the rows the rewrap rule spares valid, so the client's requests for them read as unexplained
    (the sign of a wrong model); outcomes are the client's own either way."""
    reports = {}
    for model in ("wezterm", "selective"):
        res = run("report", str(SAMPLE), "--json", "--no-progress", "--client-model", model)
        assert res.returncode == 0, res.stderr
        reports[model] = json.loads(res.stdout)
    wezterm, selective = reports["wezterm"], reports["selective"]
    assert (wezterm["client_model"], selective["client_model"]) == ("wezterm", "selective")
    assert selective["rows"] == wezterm["rows"]
    assert "unexplained" not in wezterm["causes"] and selective["causes"]["unexplained"] > 0
    assert selective["causes"]["resize"] < wezterm["causes"]["resize"]
    assert wezterm["what_if"]["selective"]["rows_saved"] > 0 == selective["what_if"]["selective"]["rows_saved"]
    bad = run("report", str(SAMPLE), "--client-model", "eager")
    assert bad.returncode == 2 and "choose from 'wezterm', 'selective', 'coalesce'" in bad.stderr


def test_demo_end_to_end(tmp_path):
    res = run("demo", "--resizes", "6", "--drag-seconds", "0.3", "--rows", "20", "--cols", "70",
              "--out", str(tmp_path / "demo"), "--metrics", "127.0.0.1:0", timeout=90)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert out.lstrip().startswith(("Over-fetching", "Some over-fetching", "Little over-fetching", "No"))
    assert "Per-fetch summary (muxscope):" in out and "GetLines" in out
    assert "The emulated client itself recorded" in out
    assert "metrics: http://127.0.0.1:" in out
    # the what-if table's estimates, next to the client's own count of the same run
    estimated = [int(re.search(rf"^{name} +(\d+)", out, re.M).group(1))
                 for name in ("selective invalidation", "coalesce in-flight rows")]
    counted = re.search(r"selective invalidation (\d+) rows, coalescing (\d+) rows", out)
    assert counted is not None and estimated == [int(counted.group(1)), int(counted.group(2))], out
    capture = tmp_path / "demo" / "demo.muxcap"
    log = tmp_path / "demo" / "muxscope.log"
    assert capture.is_file() and log.is_file()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e["event"] == "getlines" for e in events)
    assert any(e["event"] == "resize_burst" for e in events)


def test_help_teaches():
    res = run("--help")
    assert res.returncode == 0
    for cmd in ("decode", "proxy", "demo", "report", "replay", "capture", "emulate"):
        assert cmd in res.stdout
    assert "examples:" in res.stdout
    res = run("proxy", "--help")
    assert "unix:PATH" in res.stdout and "exec:COMMAND" in res.stdout
