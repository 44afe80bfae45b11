"""The report adds up: verdict, burst table, pane table and JSON reconcile exactly (issue #15).

Checked on every shipped capture and on fresh demo runs. The identities are
written out here rather than taken from the report's code, and the wall-clock
totals are recomputed from the timeline marks (the union of each connection's
GetLines spans), so an accounting error in the analysis shows up as a
mismatch rather than being reproduced.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.analysis.report_model import CaptureSummary, Report
from proxy.report.build import build_report
from proxy.report.text import render_text

REPO = Path(__file__).resolve().parents[2]
CAPTURES = sorted((REPO / "captures").glob("*.muxcap"))
OUTCOMES = ("redundant", "superseded", "changed", "new")
EPS = 1e-5


def _union_s(spans: list[tuple[int, int]]) -> float:
    total, end = 0, None
    for a, b in sorted(spans):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total / 1e9


def settle_union_s(bursts: list[dict[str, Any]]) -> float:
    """Seconds covered by at least one burst's settle window, added up over connections (from the
    JSON's t_first_s and settle_s, independently of the analysis's own union)."""
    by_conn: dict[int, list[tuple[float, float]]] = {}
    for b in bursts:
        by_conn.setdefault(b["conn"], []).append((b["t_first_s"], b["t_first_s"] + b["settle_s"]))
    total = 0.0
    for spans in by_conn.values():
        end = None
        for a, z in sorted(spans):
            if end is None or a > end:
                total += z - a
                end = z
            elif z > end:
                total += z - end
                end = z
    return total


def _parts(rep: dict[str, Any]) -> list[dict[str, Any]]:
    unlisted = rep["unlisted_bursts"]
    return [*rep["bursts"], rep["outside_bursts"], *([unlisted] if unlisted["bursts"] else [])]


def check_json(rep: dict[str, Any]) -> None:
    rows = rep["rows"]
    assert sum(rows.values()) == rep["rows_returned"]
    # pane table == totals, in both the truth-file shape ("panes") and the added "pane_stats"
    assert rep["panes"].keys() == rep["pane_stats"].keys()
    for pane, stats in rep["pane_stats"].items():
        assert rep["panes"][pane]["rows"] == stats["rows"]
        assert sum(stats["rows"].values()) == stats["rows_returned"]
    panes = list(rep["pane_stats"].values())
    # bursts + outside (+ unlisted) == totals == panes, for every count and both kinds of wait
    for group in (_parts(rep), panes):
        assert sum(p["getlines"] for p in group) == rep["getlines"]
        assert sum(p["rows_requested"] for p in group) == rep["rows_requested"]
        for k in OUTCOMES:
            assert sum(p["rows"][k] for p in group) == rows[k], k
        assert sum(p["fetch_wait_s"] for p in group) == pytest.approx(rep["fetch_wait_s"], abs=EPS * len(group))
        assert sum(p["fetch_wall_s"] for p in group) == pytest.approx(rep["fetch_wall_s"], abs=EPS * len(group))
        assert sum(p["overfetch_wall_s"] for p in group) == pytest.approx(rep["overfetch_wall_s"],
                                                                          abs=EPS * len(group))
    assert sum(rep["wall_s"].values()) <= rep["fetch_wall_s"] + EPS
    # settling, counted once per moment: no less than the wall-clock wait of the bursts' fetches
    bursts_wall = sum(p["fetch_wall_s"] for p in _parts(rep) if p is not rep["outside_bursts"])
    assert bursts_wall <= rep["settle_wall_s"] + EPS * len(rep["bursts"])
    if not rep["unlisted_bursts"]["bursts"]:
        assert rep["settle_wall_s"] == pytest.approx(settle_union_s(rep["bursts"]), abs=EPS)
    for b in rep["bursts"]:
        assert sum(b["rows"].values()) == b["rows_returned"], b
        assert b["overfetch_rows"] == b["rows"]["redundant"] + b["rows"]["superseded"]
        # wall-clock shares fit in the burst's own busy time, which fits in its settle window
        assert b["overfetch_wall_s"] <= b["fetch_wall_s"] + EPS
        assert b["fetch_wall_s"] <= b["fetch_busy_s"] + EPS <= b["settle_s"] + 2 * EPS, b
        assert b["overfetch_wait_s"] <= b["fetch_wait_s"] + EPS


def check_verdict(rep: dict[str, Any]) -> None:
    bursts = [*rep["bursts"], *([rep["unlisted_bursts"]] if rep["unlisted_bursts"]["bursts"] else [])]
    m = re.search(r"\((\d+) redundant \+ (\d+) superseded of (\d+) rows returned in (\d+) resize bursts?\); "
                  r"the client waited ([\d.]+) s on them of the ([\d.]+) s it had GetLines outstanding, "
                  r"in ([\d.]+) s of settling", rep["verdict"])
    assert m is not None, rep["verdict"]
    red, sup, ret, n = (int(g) for g in m.groups()[:4])
    assert red == sum(b["rows"]["redundant"] for b in bursts)
    assert sup == sum(b["rows"]["superseded"] for b in bursts)
    assert ret == sum(b["rows_returned"] for b in bursts)
    assert n == len(rep["bursts"]) + rep["unlisted_bursts"]["bursts"]
    over_wall, wall, settle = (float(g) for g in m.groups()[4:])
    assert over_wall == pytest.approx(sum(b["overfetch_wall_s"] for b in bursts), abs=0.006)
    assert wall == pytest.approx(sum(b["fetch_wall_s"] for b in bursts), abs=0.006)
    assert over_wall <= wall <= settle + 0.006
    outside = rep["outside_bursts"]["rows_returned"]
    assert (f"{outside} more rows came outside bursts" in rep["verdict"]) == (outside > 0)


def check_timeline(rep: dict[str, Any], attribution: Any, duration_s: float) -> None:
    """The wall-clock totals are what the marks say: the union of each connection's GetLines spans."""
    tl = attribution.timeline
    assert rep["timeline_complete"] and tl.complete()
    marks = tl.fetches + tl.unanswered
    assert len(marks) == rep["getlines"]
    spans: dict[int, list[tuple[int, int]]] = {}
    for f in marks:
        spans.setdefault(f.conn, []).append((f.t_request_ns, f.t_response_ns))
    assert rep["fetch_wall_s"] == pytest.approx(sum(_union_s(s) for s in spans.values()), abs=EPS)
    assert rep["fetch_wall_s"] <= duration_s * max(1, len(spans)) + EPS
    assert rep["fetch_wait_s"] == pytest.approx(sum(f.latency_s for f in tl.fetches), abs=EPS)
    assert sum(f.wall_s for f in marks) == pytest.approx(rep["fetch_wall_s"], abs=EPS)
    for b in rep["bursts"]:
        mine = [f for f in marks if f.burst == b["burst"]]
        assert len(mine) == b["getlines"] and sum(f.rows_returned for f in mine) == b["rows_returned"]


def _table_rows(text: str, title: str) -> dict[str, list[str]]:
    block = text.split(f"\n{title}\n", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return {line.split()[0]: line.split() for line in block}


def check_text(model: Report) -> None:
    """The printed tables: burst rows + outside == the total row == the pane table's total row."""
    text = render_text(model)
    rep = model.to_json()
    assert text.splitlines()[0] == rep["verdict"]
    if not rep["bursts"]:
        return
    total = check_printed_tables(text)
    assert int(total[4]) == rep["rows_returned"] and int(total[3]) == rep["rows_requested"]


def check_printed_tables(text: str) -> list[str]:
    """Column sums of a printed report (the JSON is not needed); returns the burst table's total row."""
    bursts = _table_rows(text, "Resize bursts")
    panes = _table_rows(text, "Panes")
    total, pane_total = bursts.pop("total"), panes.pop("total")
    # columns after the labels: GetLines, rows req, rows ret, 4 outcomes (bursts have "resizes" before them)
    for i in range(7):
        assert sum(int(r[2 + i]) for r in bursts.values()) == int(total[2 + i])
        assert int(total[2 + i]) == int(pane_total[1 + i])
    # rows ret == redundant + superseded + changed + new, on every row of both tables
    for row in [*bursts.values(), total]:
        assert int(row[4]) == sum(int(row[5 + k]) for k in range(4)), row
    return total


def _check_all(model: Report, result: Any) -> None:
    rep = model.to_json()
    check_json(rep)
    check_verdict(rep)
    check_timeline(rep, result.attribution, result.duration_s)
    check_text(model)


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.name for c in CAPTURES])
def test_shipped_capture_reconciles(capture):
    model, result = build_report(str(capture), show_progress=False)
    _check_all(model, result)


def test_drag_sample_puts_every_row_in_a_burst():
    """The numbers of issue #15: 79 rows logged with burst=N after that burst was summarised never
    reached the burst table (205 of 284). Every GetLines of this capture is sent during a burst."""
    rep = build_report(str(REPO / "captures" / "resize-drag-40ms.muxcap"), show_progress=False)[0].to_json()
    assert rep["rows_returned"] == 284 and rep["outside_bursts"]["rows_returned"] == 0
    assert sum(b["rows_returned"] for b in rep["bursts"]) == 284
    assert sum(b["rows"]["superseded"] for b in rep["bursts"]) == rep["rows"]["superseded"]
    assert rep["fetch_wait_s"] > rep["capture"]["duration_s"] > rep["fetch_wall_s"]


@pytest.mark.parametrize("extra", [
    ["--resizes", "6", "--drag-seconds", "0.3", "--rows", "20", "--cols", "70"],
    ["--resizes", "8", "--drag-seconds", "0.4", "--rows", "16", "--cols", "60", "--rtt", "80ms", "--panes", "2"],
], ids=["small", "slow-link"])
def test_fresh_demo_run_reconciles(tmp_path, extra):
    out = tmp_path / "demo"
    res = subprocess.run([sys.executable, "-m", "proxy.cli", "demo", *extra, "--out", str(out),
                          "--metrics", "127.0.0.1:0"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    model, result = build_report(str(out / "demo.muxcap"), show_progress=False)
    assert model.bursts and model.getlines > 0
    _check_all(model, result)
    # the demo's own printout (the live analysis, not the capture) adds up too
    check_printed_tables(res.stdout)


def test_verdict_without_resizes_uses_the_totals():
    from proxy.report.verdict import verdict
    from tests.unit.test_attribution import ROWS, Wire

    w = Wire()
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS, dt_ms=40)
    w.get_lines(2, 0, 0, 4)  # asked again for rows it holds: redundant
    w.lines(2, 0, ROWS, dt_ms=20)
    w.close()
    rep = w.report
    rep["verdict"] = verdict(w.model)
    m = re.match(r"No resizes in this capture; (\d+)% of the (\d+) rows returned were already on the client; "
                 r"the client waited ([\d.]+) s on them of ([\d.]+) s with GetLines outstanding", rep["verdict"])
    assert m is not None, rep["verdict"]
    assert int(m[1]) == 50 and int(m[2]) == rep["rows_returned"] == 8
    assert float(m[3]) == pytest.approx(rep["overfetch_wall_s"], abs=5e-4) and float(m[3]) > 0
    assert float(m[4]) == pytest.approx(rep["fetch_wall_s"], abs=5e-4)
    assert rep["fetch_wall_s"] == pytest.approx(0.04 + 0.02)
    check_json(rep)


def test_two_connections_with_a_failed_fetch_reconcile():
    from tests.integration.test_report_html import two_connections

    model, addon = two_connections()
    rep = model.to_json()
    check_json(rep)
    check_verdict(rep)
    assert len(addon.timeline.unanswered) == 1 and rep["getlines"] == 6


def test_bursts_past_the_kept_limit_still_add_up(monkeypatch):
    from proxy.analysis import attribution
    from proxy.report.verdict import verdict
    from tests.unit.test_attribution import C2S, ROWS, Wire, size

    monkeypatch.setattr(attribution, "MAX_BURSTS_KEPT", 2)
    w = Wire()
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    for i in range(4):  # four bursts a second apart, each with a refetch
        w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 81 + i)}, 10 + 2 * i,
               dt_ms=1000)
        w.get_lines(11 + 2 * i, 0, 0, 4)
        w.lines(11 + 2 * i, 0, ROWS, dt_ms=20)
    w.close()
    model = w.model
    model = model.with_context(verdict(model), CaptureSummary(file="-", duration_s=4.1, connections=1,
                                                              codec_version=44, truncated=False))
    rep = model.to_json()
    assert len(rep["bursts"]) == 2 and rep["unlisted_bursts"]["bursts"] == 2
    assert rep["unlisted_bursts"]["rows_returned"] == 8
    check_json(rep)
    check_verdict(rep)
    check_text(model)
    assert "in 4 resize bursts" in rep["verdict"]


@given(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 30)), max_size=25))
def test_interval_union_counts_each_moment_once(spans):
    from proxy.analysis.spend import IntervalUnion

    u = IntervalUnion()
    covered: set[int] = set()
    for a, n in spans:
        u.add(a, a + n)
        covered.update(range(a, a + n))
    assert u.total() == len(covered)
    assert all(u.ends[k] < u.starts[k + 1] for k in range(len(u.starts) - 1))  # disjoint, sorted runs
