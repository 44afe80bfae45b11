"""``muxscope report FILE``: the verdict on a capture, then the tables that back it.

The first line answers the question muxscope exists for, with numbers: how
much of what the client fetched after resizes it already had, and how much of
the settle time was spent waiting on those rows. Then per-burst and per-pane
tables, and what-if estimates with their model stated. ``--json`` gives the
same figures in the JSON shape of the emulated client's ``--truth-file``;
``--html OUT`` adds a timeline of the storm.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from proxy.analysis.attribution import add_client_model_argument
from proxy.capture.format import CaptureError
from proxy.files import OutputError, check_parent
from proxy.observe import logs
from proxy.report.html import write_html

#: Prose lines (the what-if model) wrap here; the tables are as wide as their columns.
TEXT_WIDTH = 100


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="verdict and tables on over-fetching in a capture",
        description="Analyse a .muxcap capture and report how much fetch wait and how many bytes went to rows "
        "the client already had (redundant) or dropped on arrival (superseded), per resize burst and per pane, "
        "with what-if estimates for selective invalidation, coalescing and debouncing.",
    )
    p.add_argument("file", help=".muxcap capture")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output (the shape `muxscope emulate client --truth-file` writes)")
    p.add_argument("--html", metavar="OUT", default=None,
                   help="also write an HTML page with a timeline plot (OUT's directory must exist)")
    p.add_argument("--burst-gap", type=float, default=0.25,
                   help="Resize PDUs closer than this many seconds form one burst (default 0.25)")
    p.add_argument("--codec-version", type=int, choices=(42, 44, 45), default=None)
    add_client_model_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.set_defaults(func=run)


def build_report(path: str, burst_gap_s: float = 0.25, codec_version: int | None = None,
                 show_progress: bool | None = None, client_model: str = "wezterm") -> tuple[dict[str, Any], Any]:
    from proxy.capture.offline import analyze_capture

    result = analyze_capture(path, codec_version=codec_version, burst_gap_s=burst_gap_s, client_model=client_model,
                             show_progress=show_progress, logger=_NullLogger())
    rep = result.attribution.report()
    rep["verdict"] = verdict(rep)
    rep["capture"] = {
        "file": path,
        "records": result.records,
        "duration_s": round(result.duration_s, 3),
        "truncated": result.truncated,
        "truncation_reason": result.truncation_reason or None,
        "dropped_chunks": result.dropped_chunks,
        "connections": len(result.analyzer.closed),
        "codec_version": next((c["codec_version"] for c in result.analyzer.closed if c.get("codec_version")), None),
        "header": {k: v for k, v in result.header.items() if k in ("started_at", "muxscope_version", "upstream")},
    }
    return rep, result


class _NullLogger:
    """The report prints tables, not the live log events."""

    def __getattr__(self, name: str) -> Any:
        return self._noop

    def _noop(self, *a: Any, **k: Any) -> _NullLogger:
        return self


def verdict(rep: dict[str, Any]) -> str:
    bursts = rep["bursts"]
    if bursts:
        rows: dict[str, int] = {"redundant": 0, "superseded": 0, "changed": 0, "new": 0}
        for b in bursts:
            for k in rows:
                rows[k] += b["rows"][k]
        fetched = sum(rows.values())
        settle = sum(b["settle_s"] for b in bursts)
        busy = sum(b["fetch_busy_s"] for b in bursts)
        wait = sum(b["fetch_wait_s"] for b in bursts)
        over_wait = sum(b["overfetch_wait_s"] for b in bursts)
        if not fetched:
            return (f"No over-fetching measured: {len(bursts)} resize burst(s), but no GetLines rows came back "
                    f"during them ({settle:.1f} s settle time).")
        over = rows["redundant"] + rows["superseded"]
        pct = 100.0 * over / fetched
        waited = busy * (over_wait / wait) if wait else 0.0
        label = "Over-fetching" if pct >= 50 else "Some over-fetching" if pct >= 10 else "Little over-fetching"
        return (f"{label}: {pct:.0f}% of rows fetched after resizes were already on the client "
                f"({rows['redundant']} redundant, {rows['superseded']} superseded of {fetched}); "
                f"{waited:.1f} s of the {settle:.1f} s settle time waited on them.")
    fetched = sum(rep["rows"].values())
    if not fetched:
        return "No GetLines traffic in this capture: nothing to attribute."
    over = rep["rows"]["redundant"] + rep["rows"]["superseded"]
    return (f"No resizes in this capture; {100.0 * over / fetched:.0f}% of the {fetched} rows fetched were "
            f"already on the client, {rep['overfetch_wait_s']:.2f} s of {rep['fetch_wait_s']:.2f} s fetch wait.")


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


def run(args: argparse.Namespace) -> int:
    logs.configure("console", "warning")
    try:
        if args.html:
            check_parent(args.html, "--html")  # before the analysis, not after it
        rep, result = build_report(args.file, args.burst_gap, args.codec_version,
                                   False if args.no_progress else None, args.client_model)
    except (CaptureError, OutputError) as exc:
        print(f"muxscope report: {exc}", file=sys.stderr)
        return 2
    if args.html:
        try:
            write_html(args.html, rep, result.attribution)
        except OSError as exc:
            print(f"muxscope report: --html {args.html}: cannot write it: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"timeline written to {args.html}", file=sys.stderr)
    if args.json:
        json.dump(rep, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(render_text(rep))
    return 0
