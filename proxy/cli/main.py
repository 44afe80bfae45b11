"""``muxscope``: the command line.

Each sub-command lives in its own module, which registers its parser and the function that
runs it; this one only builds the parser and dispatches. User errors end in one line on stderr
naming the problem and the fix, and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from muxscope_emulator import cli as emulate
from proxy import __version__
from proxy.cli import capture as capture_cmd
from proxy.cli import check_log as check_log_cmd
from proxy.cli import completion, demo
from proxy.cli import decode as decode_cmd
from proxy.cli import export as export_cmd
from proxy.cli import proxy as proxy_cmd
from proxy.cli import replay as replay_cmd
from proxy.cli import report as report_cmd
from proxy.files import OutputError

EPILOG = """\
examples:
  muxscope demo                                   # emulated mux + client, a resize storm, the report
  muxscope proxy --listen unix:/tmp/mux.sock --upstream unix:$XDG_RUNTIME_DIR/wezterm/sock
  muxscope proxy --listen stdio --upstream 'exec:ssh myhost wezterm cli --prefer-mux proxy'
  muxscope decode captures/resize-drag-40ms.muxcap --json | head
  muxscope report captures/resize-drag-40ms.muxcap
  muxscope export --pcapng drag.pcapng captures/resize-drag-40ms.muxcap   # for Wireshark

Every sub-command has its own --help.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="muxscope",
        description="An instrumented man-in-the-middle proxy for the WezTerm multiplexer protocol: "
        "it relays every byte, decodes every PDU, and shows how much of a resize's wait is over-fetching.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"muxscope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (decode_cmd, proxy_cmd, demo, emulate, report_cmd, replay_cmd, capture_cmd, export_cmd,
                   check_log_cmd, completion):
        module.register(sub)
    parser.set_defaults(root_parser=parser)  # for commands that describe the whole CLI (completion)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"muxscope {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `muxscope decode ... | head`: the reader left; that is not an error
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OutputError as exc:
        print(f"muxscope {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # the last resort, so that no file or socket problem ends in a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"muxscope {args.command}: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1

