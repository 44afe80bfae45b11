"""``muxscope export``: a capture, written in formats other tools read.

Each output format has its own option and its own function, so formats can be
added side by side: ``--pcapng OUT`` writes every connection as a TCP stream
that Wireshark follows and, with ``wireshark/muxscope.lua``, dissects.
"""

from __future__ import annotations

import argparse
import os
import sys

from proxy.capture.format import CaptureError, open_capture
from proxy.files import OutputError, check_parent, create_private

EPILOG = """\
examples:
  muxscope export --pcapng resize.pcapng captures/resize-drag-40ms.muxcap
  tshark -X lua_script:wireshark/muxscope.lua -r resize.pcapng
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a capture in another tool's format (pcapng for Wireshark)",
        description="Export a .muxcap capture for other tools. Give at least one output option.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    p.add_argument("capture", help=".muxcap capture to export")
    add_pcapng_arguments(p)
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


def run(args: argparse.Namespace) -> int:
    if not args.pcapng:
        print("muxscope export: nothing to do: give an output such as --pcapng OUT.pcapng", file=sys.stderr)
        return 2
    return run_pcapng(args)


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
