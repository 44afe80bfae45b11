"""The HTML report: one self-contained page with a timeline that shows the storm.

Plain SVG written by hand (no plotting dependency, opens anywhere, attaches to
a bug report): resize ticks, every GetLines as a bar from request to response
coloured by the outcomes of its rows, rows per outcome per time bin, and the
settle window of each resize burst shaded behind them.
"""

from __future__ import annotations

import html
from typing import Any

from proxy.report.text import render_text

COLORS = {"redundant": "#e8912d", "superseded": "#9b59b6", "changed": "#3b7dd8", "new": "#3aa55d"}
WIDTH = 1100
LEFT = 110
LANE_RESIZE = 40
BAR_H = 6


def _svg(rep: dict[str, Any], attribution: Any) -> str:
    fetches = attribution.fetches
    resizes = attribution.resize_times
    times = [f[0] for f in fetches] + [f[1] for f in fetches] + list(resizes)
    if not times:
        return "<p>No GetLines or Resize traffic to plot.</p>"
    t0, t1 = min(times), max(times)
    span = max(t1 - t0, 1)
    plot_w = WIDTH - LEFT - 20

    def x(t: int) -> float:
        return LEFT + (t - t0) / span * plot_w

    # greedy row assignment so overlapping fetches stack
    ends: list[int] = []
    placed = []
    for t_req, t_resp, _pane, counts, _burst, _serial in sorted(fetches, key=lambda f: f[0]):
        for i, end in enumerate(ends):
            if end <= t_req:
                ends[i] = t_resp
                row = i
                break
        else:
            ends.append(t_resp)
            row = len(ends) - 1
        placed.append((row, t_req, t_resp, counts))
    fetch_top = 20 + LANE_RESIZE + 20
    fetch_h = max(1, len(ends)) * (BAR_H + 2)
    hist_top = fetch_top + fetch_h + 40
    hist_h = 120
    height = hist_top + hist_h + 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" '
             f'font-size="11">']
    # settle windows
    for b in rep["bursts"]:
        bs = int(b["t_first_s"] * 1e9)
        be = bs + int(b["settle_s"] * 1e9)
        parts.append(f'<rect x="{x(bs):.1f}" y="10" width="{max(1.0, x(be) - x(bs)):.1f}" height="{height - 40}" '
                     f'fill="#fdf2d0"><title>burst {b["burst"]}: {b["resizes"]} resizes, settle {b["settle_s"]:.3f} s'
                     f'</title></rect>')
    # lanes
    parts.append(f'<text x="5" y="{20 + LANE_RESIZE / 2}">Resize</text>')
    for t in resizes:
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="20" y2="{20 + LANE_RESIZE}" stroke="#c0392b"/>')
    parts.append(f'<text x="5" y="{fetch_top + 10}">GetLines</text>')
    parts.append(f'<text x="5" y="{fetch_top + 24}">in flight</text>')
    for row, t_req, t_resp, counts in placed:
        y = fetch_top + row * (BAR_H + 2)
        total = sum(counts.values()) or 1
        xa, xb = x(t_req), max(x(t_resp), x(t_req) + 1)
        cur = xa
        for k in ("redundant", "superseded", "changed", "new"):
            w = (xb - xa) * counts[k] / total
            if w > 0:
                parts.append(f'<rect x="{cur:.1f}" y="{y}" width="{w:.2f}" height="{BAR_H}" fill="{COLORS[k]}"/>')
                cur += w
        parts.append(f'<rect x="{xa:.1f}" y="{y}" width="{xb - xa:.2f}" height="{BAR_H}" fill="none">'
                     f'<title>{(t_resp - t_req) / 1e6:.1f} ms: '
                     + ", ".join(f"{k} {v}" for k, v in counts.items() if v) + "</title></rect>")
    # rows per outcome per bin
    bins = 60
    hist = [dict.fromkeys(COLORS, 0) for _ in range(bins)]
    for _, t_resp, _, counts, _, _ in fetches:
        i = min(bins - 1, int((t_resp - t0) / span * bins))
        for k, v in counts.items():
            hist[i][k] += v
    peak = max((sum(h.values()) for h in hist), default=1) or 1
    parts.append(f'<text x="5" y="{hist_top + 10}">rows per</text><text x="5" y="{hist_top + 24}">outcome</text>')
    bw = plot_w / bins
    for i, h in enumerate(hist):
        ybase = hist_top + hist_h
        for k in ("new", "changed", "superseded", "redundant"):
            hh = hist_h * h[k] / peak
            if hh > 0:
                ybase -= hh
                parts.append(f'<rect x="{LEFT + i * bw:.1f}" y="{ybase:.1f}" width="{bw - 1:.1f}" height="{hh:.1f}" '
                             f'fill="{COLORS[k]}"/>')
    # axis
    axis_y = hist_top + hist_h + 15
    for i in range(11):
        t = t0 + span * i / 10
        parts.append(f'<text x="{x(int(t)):.1f}" y="{axis_y}" text-anchor="middle">{(t - t0) / 1e9:.2f}s</text>')
    # legend
    lx = LEFT
    for k, c in COLORS.items():
        parts.append(f'<rect x="{lx}" y="{axis_y + 12}" width="10" height="10" fill="{c}"/>'
                     f'<text x="{lx + 14}" y="{axis_y + 21}">{k}</text>')
        lx += 100
    parts.append(f'<rect x="{lx}" y="{axis_y + 12}" width="10" height="10" fill="#fdf2d0"/>'
                 f'<text x="{lx + 14}" y="{axis_y + 21}">settle window</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def write_html(path: str, rep: dict[str, Any], attribution: Any) -> None:
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>muxscope report</title>
<style>body{{font-family:sans-serif;margin:2em}} pre{{background:#f6f6f6;padding:1em}}</style></head>
<body><h1>muxscope report</h1>
<p><b>{html.escape(rep["verdict"])}</b></p>
{_svg(rep, attribution)}
<pre>{html.escape(render_text(rep))}</pre>
</body></html>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
