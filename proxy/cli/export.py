"""``muxscope export``: a capture in a format other tools read.

``--trace OUT.json`` writes the capture's timeline as Chrome trace events, to
open in Perfetto (ui.perfetto.dev, offline too) or chrome://tracing next to an
off-CPU profile of wezterm-gui. Each format has its own function here and its
own library module (the trace: proxy/report/trace.py), so formats are added
without touching each other.
"""

from __future__ import annotations

import argparse
import sys

from codec.schema.versions import SUPPORTED
from proxy.capture.format import CaptureError
from proxy.cli.options import add_burst_gap_argument, add_client_model_argument
from proxy.observe import logs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a capture in another format (Chrome trace events for Perfetto)",
        description="Export a .muxcap capture for other tools. --trace writes the analysed timeline (every "
        "GetLines with its rows' outcomes, every Resize and push, the resize bursts) in the Chrome "
        "trace-event format, to open in Perfetto or chrome://tracing.",
        epilog="example:\n  muxscope export --trace drag.json captures/resize-drag-40ms.muxcap\n"
        "  then open drag.json at ui.perfetto.dev (Open trace file), or in chrome://tracing (Load)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help=".muxcap capture")
    p.add_argument("--trace", metavar="OUT.json", default=None,
                   help="write Chrome trace-event JSON here ('-' for stdout)")
    p.add_argument("--clock", choices=("capture", "monotonic"), default="capture",
                   help="trace timestamps: time since the capture began (default), or the recording machine's "
                   "CLOCK_MONOTONIC, to line up with a profile of wezterm-gui recorded there")
    add_burst_gap_argument(p)
    p.add_argument("--codec-version", type=int, choices=SUPPORTED, default=None)
    add_client_model_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.set_defaults(func=run, export_parser=p)


def run(args: argparse.Namespace) -> int:
    if args.trace is None:
        args.export_parser.error("nothing to export: give --trace OUT.json")
    logs.configure("console", "warning")
    try:
        return export_trace(args)
    except CaptureError as exc:
        print(f"muxscope export: {exc}", file=sys.stderr)
        return 2


def export_trace(args: argparse.Namespace) -> int:
    from proxy.report.build import build_report
    from proxy.report.trace import write_trace

    rep, result = build_report(args.file, args.burst_gap, args.codec_version,
                               False if args.no_progress else None, args.client_model)
    if args.clock == "monotonic" and not result.header.get("t0_monotonic_ns"):
        print("muxscope export: this capture's header has no t0_monotonic_ns; use --clock capture", file=sys.stderr)
        return 2
    tl = result.attribution.timeline
    if args.trace == "-":
        n = write_trace(sys.stdout, rep, tl, result.header, args.clock)
    else:
        try:
            with open(args.trace, "w", encoding="utf-8") as out:
                n = write_trace(out, rep, tl, result.header, args.clock)
        except OSError as exc:
            print(f"muxscope export: cannot write {args.trace}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"trace written to {args.trace}: {n} events ({len(tl.fetches) + len(tl.unanswered)} GetLines, "
              f"{len(tl.resizes)} Resizes, {len(tl.pushes)} pushes, {len(rep['bursts'])} bursts); "
              "open it in Perfetto or chrome://tracing", file=sys.stderr)
    if not tl.complete():
        print(f"muxscope export: {tl.dropped} timeline marks past the analysis' limit were left out", file=sys.stderr)
    return 0
