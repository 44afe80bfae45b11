"""``muxscope export``: a capture, written in formats other tools read.

Each output format has its own option and its own function, so formats can be
added side by side: ``--pcapng OUT`` writes every connection as a TCP stream
that Wireshark follows and, with ``wireshark/muxscope.lua``, dissects;
``--trace OUT.json`` writes the analysed timeline as Chrome trace events, to
open in Perfetto or chrome://tracing next to an off-CPU profile of wezterm-gui
(the format: proxy/report/trace.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from codec.schema.versions import SUPPORTED
from proxy.analysis.report_model import Report
from proxy.capture.format import CaptureError, open_capture
from proxy.cli.options import add_burst_gap_argument, add_client_model_argument, add_local_echo_argument
from proxy.files import OutputError, check_parent, create_private

EPILOG = """\
examples:
  muxscope export --pcapng resize.pcapng captures/resize-drag-40ms.muxcap
  tshark -X lua_script:wireshark/muxscope.lua -r resize.pcapng
  muxscope export --trace drag.json captures/resize-drag-40ms.muxcap
  then open drag.json in Perfetto (ui.perfetto.dev: Open trace file; chrome://tracing in older Chrome)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a capture in another tool's format (pcapng for Wireshark, trace events for Perfetto)",
        description="Export a .muxcap capture for other tools. Give at least one output option.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    p.add_argument("capture", help=".muxcap capture to export")
    add_pcapng_arguments(p)
    add_trace_arguments(p)
    p.set_defaults(func=run)


def add_pcapng_arguments(p: argparse.ArgumentParser) -> None:
    from proxy.capture.pcapng import DEFAULT_SERVER_PORT

    p.add_argument("--pcapng", metavar="OUT", default=None,
                   help="write a pcapng file: each connection a TCP stream from 127.0.0.1 to "
                   "127.0.0.2:PORT, with the capture's timestamps; dropped chunks, notes and truncation "
                   "are packet comments. Read it with wireshark/muxscope.lua (see wireshark/README.md)")
    p.add_argument("--pcapng-port", type=int, default=DEFAULT_SERVER_PORT, metavar="PORT",
                   help="the mux server's TCP port in the pcapng (default %(default)s, the dissector's "
                   "default port)")


def add_trace_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("trace events (--trace)")
    g.add_argument("--trace", metavar="OUT.json", default=None,
                   help="write the analysed timeline as Chrome trace-event JSON ('-' for stdout): every GetLines "
                   "with its rows' outcomes, every Resize and push, the resize bursts; open it in Perfetto")
    g.add_argument("--clock", choices=("capture", "monotonic"), default="capture",
                   help="trace timestamps: time since the capture began (default), or the recording machine's "
                   "CLOCK_MONOTONIC, to line up with a profile of wezterm-gui recorded there")
    add_burst_gap_argument(g)
    g.add_argument("--codec-version", type=int, choices=SUPPORTED, default=None)
    add_client_model_argument(g)
    add_local_echo_argument(g)
    g.add_argument("--no-progress", action="store_true", help="no progress line on stderr")


def run(args: argparse.Namespace) -> int:
    if not args.pcapng and not args.trace:
        print("muxscope export: nothing to do: give an output such as --pcapng OUT.pcapng or --trace OUT.json",
              file=sys.stderr)
        return 2
    status = run_pcapng(args) if args.pcapng else 0
    if args.trace and status == 0:
        status = run_trace(args)
    return status


def run_pcapng(args: argparse.Namespace) -> int:
    """``--pcapng OUT``: written to OUT.partial first, so a failed export never leaves a half file as OUT."""
    from proxy.capture.offline import Progress
    from proxy.capture.pcapng import export_pcapng

    if not 1 <= args.pcapng_port <= 65535:
        print(f"muxscope export: --pcapng-port {args.pcapng_port} is not a TCP port (1-65535)", file=sys.stderr)
        return 2
    try:
        check_parent(args.pcapng, "--pcapng")
        reader = open_capture(args.capture)
    except CaptureError as exc:
        print(f"muxscope export: {args.capture}: {exc}", file=sys.stderr)
        return 2
    except OutputError as exc:
        print(f"muxscope export: {exc}", file=sys.stderr)
        return 2
    tmp = args.pcapng + ".partial"
    progress = Progress(reader.total_bytes, f"exporting {args.capture}")
    try:
        # private, like the capture it is made from: it holds the same terminal traffic
        with reader.f, os.fdopen(create_private(tmp, "--pcapng", force=True), "wb") as out:
            result = export_pcapng(reader, out, source=os.path.basename(args.capture),
                                   server_port=args.pcapng_port, progress=progress.update)
        os.replace(tmp, args.pcapng)
    except (OSError, OutputError) as exc:
        print(f"muxscope export: cannot write {args.pcapng}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        if os.path.exists(tmp):
            os.unlink(tmp)
        return 1
    progress.done()
    trunc = f"; capture truncated ({reader.truncation_reason})" if result.truncated else ""
    drops = f"; {result.dropped_chunks} dropped chunk(s) marked in comments" if result.dropped_chunks else ""
    print(f"{args.pcapng}: {result.connections} connection(s), {result.packets} packets, "
          f"{result.data_bytes} bytes of mux traffic{drops}{trunc}", file=sys.stderr)
    return 0


def run_trace(args: argparse.Namespace) -> int:
    """``--trace OUT.json``: the capture analysed as ``report`` does, its timeline as trace events; written
    to OUT.json.partial first (private, like the capture), so a failed export never leaves a half file."""
    from proxy.observe import logs
    from proxy.report.build import build_report

    try:
        if args.trace != "-":
            check_parent(args.trace, "--trace")
        logs.configure("console", "warning")
        rep, result = build_report(args.capture, args.burst_gap, args.codec_version,
                                   False if args.no_progress else None, args.client_model,
                                   args.local_echo, prefetch_rate=args.prefetch_rate)
    except OutputError as exc:
        print(f"muxscope export: {exc}", file=sys.stderr)
        return 2
    except CaptureError as exc:
        print(f"muxscope export: {args.capture}: {exc}", file=sys.stderr)
        return 2
    if args.clock == "monotonic" and not result.header.get("t0_monotonic_ns"):
        print("muxscope export: this capture's header has no t0_monotonic_ns; use --clock capture", file=sys.stderr)
        return 2
    status = _write_trace(args, rep, result)
    tl = result.attribution.timeline
    if status == 0 and not tl.complete():
        print(f"muxscope export: {tl.dropped} timeline marks past the analysis' limit were left out", file=sys.stderr)
    return status


def _write_trace(args: argparse.Namespace, rep: Report, result: Any) -> int:
    from proxy.report.trace import write_trace

    tl, header = result.attribution.timeline, result.header
    if args.trace == "-":
        write_trace(sys.stdout, rep, tl, header, args.clock)
        return 0
    tmp = args.trace + ".partial"
    try:
        with os.fdopen(create_private(tmp, "--trace", force=True), "w", encoding="utf-8") as out:
            n = write_trace(out, rep, tl, header, args.clock)
        os.replace(tmp, args.trace)
    except (OSError, OutputError) as exc:
        print(f"muxscope export: cannot write {args.trace}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        if os.path.exists(tmp):
            os.unlink(tmp)
        return 1
    print(f"{args.trace}: {n} trace events ({len(tl.fetches) + len(tl.unanswered)} GetLines, "
          f"{len(tl.resizes)} Resizes, {len(tl.pushes)} pushes, {len(rep.bursts)} bursts); "
          "open it in Perfetto", file=sys.stderr)
    return 0
