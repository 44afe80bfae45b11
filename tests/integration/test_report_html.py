"""The HTML timeline: the figure holds one mark per fact, and real headless Chromium draws them all.

The expected counts come from the analysis' timeline (fetches split by the
outcomes of their rows, Resizes, pushes, bursts), and the browser test counts
the marks plotly.js actually drew in the page's DOM, with no console error,
offline from the one file.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from proxy.analysis.report_model import CaptureSummary, Report
from proxy.report.build import build_report
from proxy.report.html import COLORS, assign_lanes, build_figure, write_html

REPO = Path(__file__).resolve().parents[2]
CAPTURES = sorted((REPO / "captures").glob("*.muxcap"))


def expected_marks(rep: dict[str, Any], tl: Any) -> dict[str, int]:
    """What the page must draw, counted from the timeline marks, not from the figure."""
    fetches = tl.fetches + tl.unanswered
    out = {k: sum(1 for f in fetches if f.rows[k]) for k in COLORS}
    out["no rows"] = sum(1 for f in fetches if not f.rows_returned)
    out["resize"] = len(tl.resizes)
    out["push"] = len(tl.pushes)
    out["burst"] = len(rep["bursts"])
    return out


def _trace_counts(fig: dict[str, Any]) -> dict[str, int]:
    names = {**{k: k for k in COLORS}, "no rows (error, empty or unanswered)": "no rows",
             "Resize (client)": "resize", "render-changes push (server)": "push",
             "resize burst (settle window)": "burst"}
    got = dict.fromkeys(names.values(), 0)
    for t in fig["data"]:
        if t.get("yaxis", "y") == "y":
            got[names[t["name"]]] += len(t["x"])
    return got


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.name for c in CAPTURES])
def test_figure_has_a_mark_per_fact_and_is_valid_plotly(capture):
    import plotly.graph_objects as go

    model, result = build_report(str(capture), show_progress=False)
    rep = model.to_json()
    tl = result.attribution.timeline
    fig = build_figure(model, tl)
    go.Figure(fig)  # plotly's own schema validation: raises on a property it does not know
    assert _trace_counts(fig) == expected_marks(rep, tl)
    hist = [t for t in fig["data"] if t.get("yaxis") == "y2"]
    assert sum(sum(t["y"]) for t in hist) == rep["rows_returned"]
    assert fig["layout"]["xaxis"]["ticksuffix"] == " s" and "per" in fig["layout"]["yaxis2"]["title"]["text"]


def test_lanes_never_overlap_two_fetches():
    _rep, result = build_report(str(REPO / "captures" / "resize-drag-40ms.muxcap"), show_progress=False)
    fetches = result.attribution.timeline.fetches
    lane_of, counts = assign_lanes(fetches, many_conns=False)
    by_lane: dict[str, list[tuple[int, int]]] = {}
    for i, lane in lane_of.items():
        by_lane.setdefault(lane, []).append((fetches[i].t_request_ns, fetches[i].t_response_ns))
    for spans in by_lane.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    # as many lanes as fetches were ever in flight at once on the pane
    events = sorted([(f.t_request_ns, 1) for f in fetches] + [(f.t_response_ns, -1) for f in fetches],
                    key=lambda e: (e[0], e[1]))
    peak = level = 0
    for _, d in events:
        level += d
        peak = max(peak, level)
    assert counts[(1, 0)] == len(by_lane) == peak > 1


COUNT_JS = """(() => {
  const gd = document.getElementById('timeline');
  const bars = [...gd.querySelectorAll('.barlayer .trace')];
  const scatters = [...gd.querySelectorAll('.scatterlayer .trace')];
  const barData = gd._fullData.filter(d => d.type === 'bar');
  const scatterData = gd._fullData.filter(d => d.type === 'scatter');
  const out = {};
  bars.forEach((t, i) => {
    if (barData[i].yaxis === 'y') out[barData[i].name] = t.querySelectorAll('.point path').length;
  });
  scatters.forEach((t, i) => { out[scatterData[i].name] = t.querySelectorAll('.points path.point').length; });
  out.shapes = gd.querySelectorAll('.shapelayer path').length;
  out.xtitle = gd.querySelector('.xtitle').textContent;
  out.ticks = [...gd.querySelectorAll('.xtick text')].map(t => t.textContent);
  return out;
})()"""

HOVER_JS = """(() => {
  const gd = document.getElementById('timeline');
  const i = gd._fullData.findIndex(d => d.name === 'superseded' || d.name === 'new');
  Plotly.Fx.hover(gd, [{curveNumber: i, pointNumber: 0}]);
  return gd.querySelector('.hoverlayer').textContent;
})()"""


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.name for c in CAPTURES])
def test_page_draws_every_mark_in_headless_chromium(tmp_path, capture):
    from tests.browser import Browser

    model, result = build_report(str(capture), show_progress=False)
    rep = model.to_json()
    page = tmp_path / "report.html"
    write_html(str(page), model, result.attribution)
    want = expected_marks(rep, result.attribution.timeline)
    with Browser() as browser:
        browser.open(page.as_uri(), "document.body && document.body.dataset.plotted === '1'")
        got = browser.evaluate(COUNT_JS)
        hover = browser.evaluate(HOVER_JS)
        errors = browser.errors()
    assert errors == []
    names = {**{k: k for k in COLORS}, "no rows": "no rows (error, empty or unanswered)",
             "resize": "Resize (client)", "push": "render-changes push (server)",
             "burst": "resize burst (settle window)"}
    for key, n in want.items():
        assert got.get(names[key], 0) == n, (key, got)
    assert got["shapes"] == len(rep["bursts"])  # the settle windows shaded across the plot
    assert "(s)" in got["xtitle"] and any(t.endswith(" s") for t in got["ticks"])
    assert "GetLines serial" in hover and "requested" in hover and "KiB" in hover and "ms" in hover
    print(f"{capture.name}: marks drawn {got}")


def two_connections() -> tuple[Report, Any]:
    """Two clients resize and fetch; one fetch fails with an ErrorResponse."""
    from proxy.report.verdict import verdict
    from tests.unit.test_attribution import C2S, ROWS, S2C, Wire, size

    w = Wire()
    for conn in (1, 2):
        w.get_lines(1, 0, 0, 4, conn=conn)
        w.lines(1, 0, ROWS, conn=conn)
        w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 81)}, 2, conn=conn)
        w.get_lines(3, 0, 0, 4, conn=conn)
        w.get_lines(4, 0, 4, 6, conn=conn)
    w.lines(3, 0, ROWS, conn=1)
    w.send(S2C, "ErrorResponse", {"reason": "pane is gone"}, 4, conn=1)
    w.lines(3, 0, ROWS, conn=2)
    w.lines(4, 0, {4: "x", 5: "y"}, conn=2)
    for conn in (1, 2):
        w.close(conn)
    model = w.model
    return model.with_context(verdict(model), CaptureSummary(file="two-clients", duration_s=0.1, connections=2,
                                                             codec_version=44, truncated=False)), w.addon


def test_two_connections_get_lanes_of_their_own_and_a_failed_fetch_shows():
    model, addon = two_connections()
    rep = model.to_json()
    tl = addon.timeline
    assert len(tl.unanswered) == 1 and not tl.unanswered[0].answered
    fig = build_figure(model, tl)
    cats = fig["layout"]["yaxis"]["categoryarray"]
    for conn in (1, 2):
        assert f"conn {conn} · resize bursts 1" in cats and f"conn {conn} · pane 0 · GetLines 2" in cats
    assert _trace_counts(fig) == expected_marks(rep, tl)
    failed = next(t for t in fig["data"] if t["name"].startswith("no rows"))
    assert len(failed["x"]) == 1 and "never answered" in failed["hovertext"][0]
