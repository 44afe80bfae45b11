"""``muxscope capture info|scrub``: look inside a capture, and make one safe to share.

``info`` answers "what is in this file?" without running the analysis: time
span, connections, PDUs by type and direction, bytes, codec version, and
whether the file was cut off (and where chunks were dropped).

``scrub`` exists because a capture holds everything the terminal showed and
the user typed. It writes a copy in which every piece of text is replaced by
placeholders of the same display width while the structure stays: rows,
cells, attributes, colours, sizes, serials, timings. That keeps the copy
useful for what captures are for (fetch analysis, replay) and useless for
reading someone's terminal. The text-replacement engine lives in
:class:`Placeholders` and :class:`BodyScrubber`; :func:`scrub_capture` does
the stream surgery (decode, scrub, re-encode, re-frame).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from proxy.capture.format import (
    CaptureError,
)
from proxy.capture.info import capture_info, format_info
from proxy.capture.scrub import scrub_capture
from proxy.files import OutputError, check_parent


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capture",
        help="inspect a .muxcap capture, or scrub its text before sharing it",
        description="Tools for .muxcap captures: `info` summarises one, `scrub` writes a copy whose text "
        "(screen content, titles, paths, keystrokes, pastes, ...) is replaced by same-width placeholders.",
    )
    csub = p.add_subparsers(dest="capture_command", metavar="SUBCOMMAND")
    csub.required = True
    pi = csub.add_parser("info", help="duration, connections, PDUs, bytes, codec version, truncation")
    pi.add_argument("file", help=".muxcap capture")
    pi.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    pi.set_defaults(func=run_info)
    ps = csub.add_parser(
        "scrub",
        help="write a copy with every text replaced by same-width placeholders",
        description="Replace the text of lines, titles, paths, keystrokes, pastes, clipboard, hyperlinks, "
        "client ids, alerts and search patterns with placeholders of the same display width, keeping rows, "
        "cells, attributes, sizes, serials and timings. Frames that cannot be decoded are dropped (they may "
        "hold text); the counts go into a `scrub_report` note record in OUT.",
    )
    ps.add_argument("input", metavar="IN", help=".muxcap capture to scrub")
    ps.add_argument("output", metavar="OUT",
                    help="where to write the scrubbed capture: a new file (0600) in an existing directory")
    ps.add_argument("--force", action="store_true",
                    help="replace an existing regular file at OUT (by rename: it is never truncated)")
    ps.add_argument("--seed", default=None,
                    help="derive placeholders from this seed (reproducible output; anyone knowing the seed "
                    "can test guesses of the original text, so omit it for captures you share)")
    ps.set_defaults(func=run_scrub)


# ============================================================================
# info


def run_info(args: argparse.Namespace) -> int:
    try:
        info = capture_info(args.file)
    except CaptureError as exc:
        print(f"muxscope capture info: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2, default=str) if args.json else format_info(info))
    return 0


def run_scrub(args: argparse.Namespace) -> int:
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        print("muxscope capture scrub: OUT must differ from IN", file=sys.stderr)
        return 2
    try:
        check_parent(args.output, "OUT")  # before reading IN
        report = scrub_capture(args.input, args.output, force=args.force,
                               secret=args.seed.encode() if args.seed is not None else None)
    except (CaptureError, OutputError) as exc:
        print(f"muxscope capture scrub: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"muxscope capture scrub: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 2
    wb = report["wire_bytes"]
    print(f"scrubbed {args.input} -> {args.output}: {report['strings_replaced']} strings replaced in "
          f"{sum(report['pdus_reencoded'].values())} PDUs; {sum(report['frames_dropped'].values())} frames dropped; "
          f"wire bytes {sum(wb['in'].values())} -> {sum(wb['out'].values())}")
    if report["source_truncated"]:
        print(f"note: the input was truncated ({report['source_truncated']})", file=sys.stderr)
    return 0
