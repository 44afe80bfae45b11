"""The report as text: the verdict, then tables whose rows add up to it.

Every table ends in a total row, and the burst table has a row for the fetches
outside any burst, so a reader can add the column up and find the verdict's
numbers and the pane table's. Column names say what they count, with units,
and a legend under each table says how.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

from proxy.analysis.report_model import Report, SpendSummary, WhatIf, add_up
from proxy.analysis.vocabulary import OUTCOMES, Outcome
from proxy.report.verdict import burst_totals

#: Prose lines (the legend, the what-if model) wrap here; the tables are as wide as their columns.
TEXT_WIDTH = 100

BURST_COLUMNS = ["burst", "resizes", "GetLines", "rows req", "rows ret", *OUTCOMES, "over-fetch", "wire KiB",
                 "wall s", "over wall s", "RPC s", "settle s"]
PANE_COLUMNS = ["pane", "GetLines", "rows req", "rows ret", *OUTCOMES, "over-fetch", "wire KiB", "wall s",
                "over wall s", "RPC s"]
LEGEND = ("rows req: rows the GetLines asked for; rows ret: rows the responses carried (= redundant + superseded "
          "+ changed + new); over-fetch: (redundant + superseded) / rows ret. wall s: wall-clock seconds the "
          "client had at least one GetLines outstanding, each moment shared among the fetches then in flight, "
          "so rows add up to the total; RPC s: request-to-response seconds summed over fetches (concurrent "
          "fetches count once each, so this can exceed the time that passed); over: the share of the rows "
          "already on the client (by serialized size); settle s: first Resize to the last response to a "
          "GetLines the burst caused (total: wall-clock, overlaps counted once).")


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if n and _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _numeric(s: str) -> bool:
    return s.replace(".", "", 1).replace("%", "").replace("-", "", 1).isdigit()


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.0f}%" if whole else "-"


def _spend_cells(s: SpendSummary) -> list[Any]:
    """The columns a burst, the outside-bursts row, a pane and a total share."""
    return [s.getlines, s.rows_requested, s.rows_returned, *s.rows.values(),
            _pct(s.overfetch_rows, s.rows_returned), f"{s.wire_bytes / 1024:.1f}",
            round(s.fetch_wall_s, 3), round(s.overfetch_wall_s, 3), round(s.fetch_wait_s, 3)]


def burst_table(rep: Report) -> str:
    rows = [[b.burst, b.resizes, *_spend_cells(b.spend), round(b.settle_s, 3)] for b in rep.bursts]
    unlisted = rep.unlisted_bursts
    parts = [b.spend for b in rep.bursts]
    if unlisted.bursts:
        rows.append(["unlisted", "-", *_spend_cells(unlisted.spend), "-"])  # bursts past the kept limit
        parts.append(unlisted.spend)
    outside = rep.outside_bursts
    rows.append(["outside", "-", *_spend_cells(outside), "-"])
    parts.append(outside)
    t = burst_totals(rep)
    rows.append(["total", t.resizes, *_spend_cells(add_up(parts)), round(t.settle_s, 3)])
    return _table(BURST_COLUMNS, rows)


def pane_table(rep: Report) -> str:
    stats = rep.pane_stats
    rows = [[pane, *_spend_cells(s)] for pane, s in stats.items()]
    rows.append(["total", *_spend_cells(add_up(list(stats.values())))])
    return _table(PANE_COLUMNS, rows)


def render_text(rep: Report) -> str:
    verdict, cap = rep.context()
    out = [verdict, ""]
    out.append(f"capture: {cap.file}  {cap.duration_s:.1f} s, {cap.connections} connection(s), "
               f"codec {cap.codec_version}, {rep.getlines} GetLines, {rep.rows_requested} rows requested, "
               f"{rep.rows_returned} rows returned"
               + ("  [TRUNCATED: " + str(cap.truncation_reason) + "]" if cap.truncated else ""))
    out.append("")
    if rep.bursts:
        out += ["Resize bursts", burst_table(rep), ""]
    out += ["Panes", pane_table(rep), ""]
    out += [textwrap.fill(LEGEND, width=TEXT_WIDTH, subsequent_indent="  "), ""]
    out.append("Rows requested by cause: " + ", ".join(f"{k} {v}" for k, v in rep.causes.items()))
    if rep.crossed_requests:
        out.append(f"{rep.crossed_requests} GetLines crossed a push on the wire (written before the client read it) "
                   f"and were judged in the client's order; client model: {rep.client_model}")
    if rep.raced_rows:
        by = ", ".join(f"{k} {v}" for k, v in rep.raced_rows_by_cause.items())
        out.append(f"Raced rows: {rep.raced_rows} fetched rows a push touched while their fetch was in flight "
                   f"({by}); counted superseded whichever order the GUI applied reply and push in")
    if rep.local_echo is not None:
        echo = rep.local_echo
        out.append(f"Local echo mirrored (local_echo_threshold_ms {echo['threshold_ms']}): {echo['predicted']} of "
                   f"{echo['keys']} keys predicted (the client edited the cursor row itself; --local-echo off to not)")
    out.append(f"GetLines wait, wall-clock: {rep.fetch_wall_s:.3f} s with at least one outstanding; by outcome "
               + _by_outcome(rep.wall_s.items()))
    out.append(f"GetLines wait, summed RPC time: {rep.fetch_wait_s:.3f} RPC-s; by outcome "
               + _by_outcome(rep.wait_s.items()))
    out.append("")
    out += _what_if(rep.what_if)
    return "\n".join(out)


def _by_outcome(seconds: Iterable[tuple[Outcome, float]]) -> str:
    return ", ".join(f"{k} {v:.3f} s" for k, v in seconds)


def _what_if(wi: WhatIf) -> list[str]:
    out = ["What if (estimates from this capture)"]
    wrows = [["selective invalidation", wi.selective.rows_saved, round(wi.selective.wait_saved_s, 3),
              round(wi.selective.wire_bytes_saved / 1024, 1)],
             ["coalesce in-flight rows", wi.coalesce.rows_saved, round(wi.coalesce.wait_saved_s, 3),
              round(wi.coalesce.wire_bytes_saved / 1024, 1)]]
    for d in wi.debounce:
        wrows.append([f"debounce Resize {d.label} ({d.resizes_sent}/{d.resizes} sent)", d.rows_saved,
                      round(d.wait_saved_s, 3), "-"])
    out.append(_table(["policy", "rows saved", "RPC s saved", "wire KiB saved"], wrows))
    out.append(textwrap.fill("model: " + wi.model, width=TEXT_WIDTH, subsequent_indent="  "))
    return out
