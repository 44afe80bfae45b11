"""The HTML report: one self-contained page with a timeline a user can explore.

Per connection and pane, one lane per GetLines in flight (a fetch takes the
first lane free when it is sent), each fetch a bar from request to response
split by what its rows turned out to be; Resizes and render-changes pushes in
lanes of their own; each resize burst's settle window shaded across the plot
and as a bar with its figures; under it, rows returned per time bin by outcome.
Every mark has hover details (rows, bytes, latency, wall-clock share, cause).

Why plotly (the ``plotly`` PyPI package, whose wheel bundles plotly.js): the
timeline needs horizontal bars at arbitrary start times, hover text per mark,
zoom and pan on a time axis with units, a legend that toggles outcomes, and
shapes for windows; plotly.js has all of them, is widely used and maintained,
and ``plotly.io.to_html(include_plotlyjs=True)`` writes one file that works
offline. The hand-written SVG it replaces had no scale, no hover and no
per-pane lanes. The cost is size: the page carries plotly.js (about 4.8 MB,
the same for every report). Smaller libraries were weighed: uPlot (~50 kB) draws
time series, not intervals; ECharts and plotly.js's "basic" bundle (~1 MB) would
have to be vendored into this repository as minified third-party code, which the
project does not do; the Python package is installed by pip like every other
dependency.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from proxy.analysis.report_model import BurstSummary, Report
from proxy.analysis.timeline import FetchMark, Timeline
from proxy.report import lanes
from proxy.report.text import render_text

COLORS = {"redundant": "#e8912d", "superseded": "#9b59b6", "changed": "#3b7dd8", "new": "#3aa55d"}
NO_ROWS = "#9e9e9e"
SETTLE = "#f5d76e"
OUTCOMES = tuple(COLORS)
#: fetch bars beyond this are left out of the plot (the page says so); the tables count every fetch
MAX_PLOTTED_FETCHES = 20_000
LANE_PX = 22


def _lane_prefix(conn: int, pane: int, many_conns: bool) -> str:
    return f"conn {conn} · pane {pane}" if many_conns else f"pane {pane}"


def assign_lanes(fetches: list[FetchMark], many_conns: bool) -> tuple[dict[int, str], dict[Any, int]]:
    """Each fetch (by index) -> its lane: the first of its pane's lanes free when it was sent."""
    lane, counts = lanes.assign(fetches, lambda f: (f.conn, f.pane), lambda f: f.t_request_ns,
                                lambda f: f.t_response_ns)
    lane_of = {i: f"{_lane_prefix(f.conn, f.pane, many_conns)} · GetLines {lane[i] + 1}" for i, f in enumerate(fetches)}
    return lane_of, counts


def _fetch_hover(f: FetchMark, t0: int) -> str:
    rows = ", ".join(f"{v} {k}" for k, v in f.rows.items() if v) or "none"
    causes = ", ".join(f"{k} {v}" for k, v in sorted(f.causes.items())) or "-"
    head = f"GetLines serial {f.serial} · pane {f.pane}" + (f" · burst {f.burst}" if f.burst is not None else "")
    answer = (f"answered after {f.latency_s * 1000:.1f} ms" if f.answered
              else f"never answered (given up after {f.latency_s * 1000:.1f} ms)")
    return (f"<b>{head}</b><br>sent at {(f.t_request_ns - t0) / 1e9:.3f} s, {answer}; "
            f"wall-clock share {f.wall_s * 1000:.1f} ms<br>rows: {f.rows_requested} requested, "
            f"{f.rows_returned} returned: {rows}<br>response: {f.wire_bytes / 1024:.1f} KiB on the wire, "
            f"{f.decompressed_bytes / 1024:.1f} KiB decompressed<br>cause: {causes}")


def _bar_trace(name: str, color: str, yaxis: str = "y") -> dict[str, Any]:
    return {"type": "bar", "orientation": "h", "name": name, "marker": {"color": color}, "x": [], "base": [],
            "y": [], "hovertext": [], "hovertemplate": "%{hovertext}<extra></extra>", "yaxis": yaxis,
            "legendgroup": name}


def fetch_traces(fetches: list[FetchMark], lane_of: dict[int, str], t0: int) -> list[dict[str, Any]]:
    """One bar trace per outcome (and one for fetches with no rows): a fetch is split by its rows' outcomes."""
    traces = {k: _bar_trace(k, c) for k, c in COLORS.items()}
    traces["no rows"] = _bar_trace("no rows (error, empty or unanswered)", NO_ROWS)
    for i, f in enumerate(fetches):
        start, dur = (f.t_request_ns - t0) / 1e9, f.latency_s
        total = f.rows_returned
        hover = _fetch_hover(f, t0)
        segments = [(k, dur * f.rows[k] / total) for k in OUTCOMES if f.rows[k]] if total else [("no rows", dur)]
        for key, width in segments:
            tr = traces[key]
            tr["x"].append(width)
            tr["base"].append(start)
            tr["y"].append(lane_of[i])
            tr["hovertext"].append(hover)
            start += width
    return [t for t in traces.values() if t["x"]]


def marker_traces(tl: Timeline, t0: int, many_conns: bool) -> list[dict[str, Any]]:
    resize = {"type": "scatter", "mode": "markers", "name": "Resize (client)", "x": [], "y": [], "hovertext": [],
              "marker": {"symbol": "line-ns-open", "size": 16, "color": "#c0392b", "line": {"width": 2}},
              "hovertemplate": "%{hovertext}<extra></extra>"}
    push = {"type": "scatter", "mode": "markers", "name": "render-changes push (server)", "x": [], "y": [],
            "hovertext": [], "marker": {"symbol": "circle", "size": 7, "color": "#16a085"},
            "hovertemplate": "%{hovertext}<extra></extra>"}
    for r in tl.resizes:
        resize["x"].append((r.t_ns - t0) / 1e9)
        resize["y"].append(f"{_lane_prefix(r.conn, r.pane, many_conns)} · Resize")
        resize["hovertext"].append(f"<b>Resize pane {r.pane}</b> to {r.rows}×{r.cols} at {(r.t_ns - t0) / 1e9:.3f} s"
                                   f"<br>{r.kind.replace('_', ' ')}"
                                   + (f", burst {r.burst}" if r.burst is not None else ""))
    for p in tl.pushes:
        push["x"].append((p.t_ns - t0) / 1e9)
        push["y"].append(f"{_lane_prefix(p.conn, p.pane, many_conns)} · push")
        push["hovertext"].append(f"<b>push pane {p.pane}</b> seqno {p.seqno} at {(p.t_ns - t0) / 1e9:.3f} s"
                                 f"<br>{p.dirty_rows} dirty rows, {p.bonus_rows} lines sent along")
    return [t for t in (resize, push) if t["x"]]


def burst_parts(bursts: Sequence[BurstSummary], t0: int,
                many_conns: bool) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """A hoverable bar per burst's settle window (overlapping windows take separate lanes), the window
    shaded across the plot, and the lanes' names."""
    trace = _bar_trace("resize burst (settle window)", SETTLE)
    shapes = []
    lane, counts = lanes.assign(bursts, lambda b: b.conn, lambda b: b.t_first_s, lambda b: b.t_first_s + b.settle_s)
    for b, n in zip(bursts, lane, strict=True):
        start = b.t_first_s - t0 / 1e9
        s = b.spend
        trace["x"].append(b.settle_s)
        trace["base"].append(start)
        trace["y"].append(_burst_lane(b.conn, n, many_conns))
        trace["hovertext"].append(
            f"<b>burst {b.burst}</b>: {b.resizes} resizes, {s.getlines} GetLines, settle "
            f"{b.settle_s * 1000:.0f} ms<br>rows: {s.rows_requested} requested, {s.rows_returned} "
            f"returned, {s.overfetch_rows} already on the client<br>waited {s.fetch_wall_s * 1000:.0f} ms "
            f"wall-clock ({s.overfetch_wall_s * 1000:.0f} ms on over-fetched rows), "
            f"{s.fetch_wait_s:.3f} RPC-s")
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": start, "x1": start + b.settle_s,
                       "y0": 0, "y1": 1, "fillcolor": SETTLE, "opacity": 0.18, "line": {"width": 0},
                       "layer": "below"})
    cats = [_burst_lane(c, n, many_conns) for c in sorted(counts) for n in range(counts[c])]
    return trace, shapes, cats


def _burst_lane(conn: int, n: int, many_conns: bool) -> str:
    return (f"conn {conn} · " if many_conns else "") + f"resize bursts {n + 1}"


def _nice_bin_s(span_s: float, bins: int = 60) -> float:
    raw = max(span_s / bins, 1e-3)
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def histogram_traces(fetches: list[FetchMark], t0: int, span_s: float) -> tuple[list[dict[str, Any]], float]:
    """Rows returned per time bin (at each response), stacked by outcome, on the lower axis."""
    width = _nice_bin_s(span_s)
    counts: dict[int, dict[str, int]] = {}
    for f in fetches:
        b = int((f.t_response_ns - t0) / 1e9 // width)
        for k in OUTCOMES:
            counts.setdefault(b, dict.fromkeys(OUTCOMES, 0))[k] += f.rows[k]
    traces = []
    for k in OUTCOMES:
        tr = {"type": "bar", "name": k, "legendgroup": k, "showlegend": False, "marker": {"color": COLORS[k]},
              "x": [], "y": [], "base": [], "width": [], "yaxis": "y2", "offsetgroup": "hist",
              "hovertemplate": f"%{{y}} {k} rows returned in the {width * 1000:g} ms from %{{x:.3f}} s<extra></extra>"}
        for b in sorted(counts):
            below = sum(counts[b][o] for o in OUTCOMES[:OUTCOMES.index(k)])
            if counts[b][k]:
                tr["x"].append((b + 0.5) * width)
                tr["y"].append(counts[b][k])
                tr["base"].append(below)
                tr["width"].append(width * 0.9)
        if tr["x"]:
            traces.append(tr)
    return traces, width


def _categories(lane_counts: dict[tuple[int, int], int], tl: Timeline, many_conns: bool) -> list[str]:
    keys = sorted({*lane_counts, *((r.conn, r.pane) for r in tl.resizes), *((p.conn, p.pane) for p in tl.pushes)})
    cats: list[str] = []
    for conn, pane in keys:
        prefix = _lane_prefix(conn, pane, many_conns)
        cats += [f"{prefix} · Resize", f"{prefix} · push"]
        cats += [f"{prefix} · GetLines {n + 1}" for n in range(lane_counts.get((conn, pane), 0))]
    return cats


def build_figure(rep: Report, tl: Timeline) -> dict[str, Any] | None:
    """The plotly figure (plain JSON-able dict), or None when there is nothing to plot."""
    fetches = (tl.fetches + tl.unanswered)[:MAX_PLOTTED_FETCHES]
    times = [t for f in fetches for t in (f.t_request_ns, f.t_response_ns)]
    times += [r.t_ns for r in tl.resizes] + [p.t_ns for p in tl.pushes]
    if not times:
        return None
    t0 = min(times)
    span_s = (max(times) - t0) / 1e9
    many_conns = len({f.conn for f in fetches} | {r.conn for r in tl.resizes} | {p.conn for p in tl.pushes}) > 1
    lane_of, lane_counts = assign_lanes(fetches, many_conns)
    data = fetch_traces(fetches, lane_of, t0) + marker_traces(tl, t0, many_conns)
    shapes: list[dict[str, Any]] = []
    cats: list[str] = []
    if rep.bursts:
        trace, shapes, cats = burst_parts(rep.bursts, t0, many_conns)
        data.insert(0, trace)
    hist, bin_s = histogram_traces(tl.fetches, t0, span_s)
    data += hist
    cats += _categories(lane_counts, tl, many_conns)
    layout = {
        "height": 220 + LANE_PX * len(cats) + 200,
        "margin": {"l": 190, "r": 30, "t": 60, "b": 60},
        "barmode": "overlay",
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        "xaxis": {"title": {"text": "time since the first GetLines, Resize or push (s)"}, "ticksuffix": " s",
                  "zeroline": False, "showgrid": True, "anchor": "y2"},
        "yaxis": {"type": "category", "categoryorder": "array", "categoryarray": cats, "autorange": "reversed",
                  "domain": [0.3, 1], "title": {"text": "lane"}, "showgrid": True},
        "yaxis2": {"domain": [0, 0.22], "title": {"text": f"rows returned<br>per {bin_s * 1000:g} ms"},
                   "rangemode": "tozero"},
        "shapes": shapes,
    }
    return {"data": data, "layout": layout}


def write_html(path: str, rep: Report, attribution: Any) -> None:
    import plotly.io as pio  # imported when a page is written: plotly takes a while to load

    verdict, capture = rep.context()
    tl: Timeline = attribution.timeline
    fig = build_figure(rep, tl)
    notes = []
    total = len(tl.fetches) + len(tl.unanswered)
    if total > MAX_PLOTTED_FETCHES:
        notes.append(f"The plot shows the first {MAX_PLOTTED_FETCHES} of {total} GetLines; the tables count all.")
    if not tl.complete():
        notes.append(f"{tl.dropped} timeline marks past the analysis' limit are not plotted; the tables count all.")
    if fig is None:
        plot = "<p>No GetLines, Resize or push traffic to plot.</p>"
    else:
        plot = pio.to_html(fig, include_plotlyjs=True, full_html=False, validate=False, div_id="timeline",
                           config={"displaylogo": False, "responsive": True},
                           post_script="document.body.dataset.plotted = '1';")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>muxscope report: {html.escape(str(capture.file))}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} pre{{background:#f6f6f6;padding:1em;overflow-x:auto}}
.note{{color:#8a6d3b}}</style></head>
<body><h1>muxscope report</h1>
<p><b>{html.escape(verdict)}</b></p>
{"".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)}
<p>Hover over a mark for its details; drag to zoom, double-click to zoom out; click a legend entry to hide it.</p>
{plot}
<pre>{html.escape(render_text(rep).split(chr(10), 2)[2])}</pre>
</body></html>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
