"""The report as plain-text tables: the verdict first, then the figures that back it."""

from __future__ import annotations

import textwrap
from typing import Any

#: Prose lines (the what-if model) wrap here; the tables are as wide as their columns.
TEXT_WIDTH = 100


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if n and _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _numeric(s: str) -> bool:
    return s.replace(".", "", 1).replace("%", "").replace("-", "", 1).isdigit()


def render_text(rep: dict[str, Any]) -> str:
    out = [rep["verdict"], ""]
    cap = rep["capture"]
    out.append(f"capture: {cap['file']}  {cap['duration_s']:.1f} s, {cap['connections']} connection(s), "
               f"codec {cap['codec_version']}, {rep['getlines']} GetLines, {rep['rows_returned']} rows returned"
               + ("  [TRUNCATED: " + str(cap["truncation_reason"]) + "]" if cap["truncated"] else ""))
    out.append("")
    if rep["bursts"]:
        out.append("Resize bursts")
        rows = []
        for b in rep["bursts"]:
            n = sum(b["rows"].values())
            pct = f"{100.0 * b['overfetch_rows'] / n:.0f}%" if n else "-"
            rows.append([b["burst"], b["resizes"], b["getlines"], b["rows_requested"], b["rows"]["redundant"],
                         b["rows"]["superseded"], b["rows"]["changed"], b["rows"]["new"], pct,
                         round(b["wire_bytes"] / 1024, 1), round(b["overfetch_wait_s"], 3), round(b["settle_s"], 3)])
        out.append(_table(["burst", "resizes", "GetLines", "rows", "redundant", "superseded", "changed", "new",
                           "over-fetch", "wire KiB", "over wait s", "settle s"], rows))
        out.append("")
    out.append("Panes")
    prow = []
    for pane, v in rep["panes"].items():
        r = v["rows"]
        n = sum(r.values())
        prow.append([pane, n, r["redundant"], r["superseded"], r["changed"], r["new"],
                     f"{100.0 * (r['redundant'] + r['superseded']) / n:.0f}%" if n else "-"])
    out.append(_table(["pane", "rows", "redundant", "superseded", "changed", "new", "over-fetch"], prow))
    out.append("")
    out.append("Rows requested by cause: " + ", ".join(f"{k} {v}" for k, v in rep["causes"].items()))
    if rep.get("crossed_requests"):
        out.append(f"{rep['crossed_requests']} GetLines crossed a push on the wire (written before the client read it) "
                   f"and were judged in the client's order; client model: {rep.get('client_model', 'wezterm')}")
    out.append(f"Fetch wait: {rep['fetch_wait_s']:.3f} s total; by outcome "
               + ", ".join(f"{k} {v:.3f} s" for k, v in rep["wait_s"].items()))
    out.append("")
    wi = rep["what_if"]
    out.append("What if (estimates from this capture)")
    wrows = [["selective invalidation", wi["selective"]["rows_saved"], round(wi["selective"]["wait_saved_s"], 3),
              round(wi["selective"]["wire_bytes_saved"] / 1024, 1)],
             ["coalesce in-flight rows", wi["coalesce"]["rows_saved"], round(wi["coalesce"]["wait_saved_s"], 3),
              round(wi["coalesce"]["wire_bytes_saved"] / 1024, 1)]]
    for k, v in wi["debounce"].items():
        wrows.append([f"debounce Resize {k} ({v['resizes_sent']}/{v['resizes']} sent)", v["rows_saved"],
                      round(v["wait_saved_s"], 3), "-"])
    out.append(_table(["policy", "rows saved", "wait saved s", "wire KiB saved"], wrows))
    out.append(textwrap.fill("model: " + wi["model"], width=TEXT_WIDTH, subsequent_indent="  "))
    return "\n".join(out)


