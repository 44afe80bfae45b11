"""``muxscope check-log WEZTERM_LOG CAPTURE``: wezterm-gui's own record against muxscope's reading, row by row.

The command only parses arguments, runs :func:`proxy.report.checklog.check`
and prints; see that module for the alignment and docs/wezterm-config.md for
how to record the two files.
"""

from __future__ import annotations

import argparse
import json
import sys

from proxy.capture.format import CaptureError
from proxy.cli.options import add_client_model_argument, add_local_echo_argument

EPILOG = """\
record both (docs/wezterm-config.md):
  muxscope proxy --listen unix:/tmp/mux.sock --upstream unix:$XDG_RUNTIME_DIR/wezterm/sock --capture s.muxcap
  WEZTERM_LOG=wezterm_client=trace wezterm connect scope 2> wezterm.log
  muxscope check-log wezterm.log s.muxcap

exit status: 0 every compared row agrees, 1 some disagree, 2 the files cannot be read or compared
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check-log",
        help="compare wezterm-gui's own trace log with muxscope's reading of a capture, row by row",
        description="Align a WEZTERM_LOG=wezterm_client=trace log of wezterm-gui with a capture of the same "
        "session, and compare, for every row of every GetLines reply, what the client says it kept or dropped "
        "with muxscope's outcome (superseded = dropped; redundant, changed, new = kept). Prints the agreement "
        "and every disagreement with the log lines around it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    p.add_argument("log", metavar="WEZTERM_LOG", help="wezterm-gui's log file, or its stderr saved ('-' for stdin)")
    p.add_argument("capture", metavar="CAPTURE", help=".muxcap capture of the same session")
    p.add_argument("--json", action="store_true", help="machine-readable output, every disagreement included")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="show only the first N disagreements (default: every one)")
    p.add_argument("--max-skew", type=float, default=0.5, metavar="SECONDS",
                   help="a logged fetch and its GetLines in the capture may be this far apart, once the clocks' "
                        "offset (time zone, two hosts) is taken out (default 0.5)")
    add_client_model_argument(p)
    add_local_echo_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proxy.report.checklog import check, render_text

    if (args.limit is not None and args.limit < 0) or args.max_skew <= 0:
        print("muxscope check-log: --limit must not be negative and --max-skew must be positive", file=sys.stderr)
        return 2

    try:
        log = sys.stdin if args.log == "-" else args.log
        result = check(log, args.capture, args.client_model, args.max_skew, args.local_echo, args.prefetch_rate)
    except OSError as exc:
        print(f"muxscope check-log: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except (CaptureError, ValueError) as exc:
        print(f"muxscope check-log: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(render_text(result, args.log, args.capture, args.limit))
    return 1 if result.disagreements else 0
