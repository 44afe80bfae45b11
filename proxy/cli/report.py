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

from codec.schema.versions import SUPPORTED
from proxy.capture.format import CaptureError
from proxy.cli.options import add_burst_gap_argument, add_client_model_argument, add_local_echo_argument
from proxy.files import OutputError, check_parent
from proxy.observe import logs
from proxy.report.build import build_report
from proxy.report.html import write_html
from proxy.report.text import render_text


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
    add_burst_gap_argument(p)
    p.add_argument("--codec-version", type=int, choices=SUPPORTED, default=None)
    add_client_model_argument(p)
    add_local_echo_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.set_defaults(func=run)



def run(args: argparse.Namespace) -> int:
    logs.configure("console", "warning")
    try:
        if args.html:
            check_parent(args.html, "--html")  # before the analysis, not after it
        rep, result = build_report(args.file, args.burst_gap, args.codec_version,
                                   False if args.no_progress else None, args.client_model,
                                   args.local_echo, prefetch_rate=args.prefetch_rate)
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
        json.dump(rep.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(render_text(rep))
    return 0
