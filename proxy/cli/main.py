"""``muxscope``: the command line.

Each sub-command lives in its own module, which registers its parser and the function that
runs it; this one only builds the parser and dispatches. User errors end in one line on stderr
naming the problem and the fix, and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from proxy import __version__
from proxy.files import OutputError

#: the modules that register the sub-commands, in the order --help lists them
COMMAND_MODULES = ("proxy.cli.decode", "proxy.cli.proxy", "proxy.cli.demo", "muxscope_emulator.cli",
                   "proxy.cli.report", "proxy.cli.replay", "proxy.cli.capture", "proxy.cli.export",
                   "proxy.cli.check_log", "proxy.cli.completion")

EPILOG = """\
examples:
  muxscope demo                                   # emulated mux + client, a resize storm, the report
  muxscope proxy --listen unix:/tmp/mux.sock --upstream unix:$XDG_RUNTIME_DIR/wezterm/sock
  muxscope proxy --listen stdio --upstream 'exec:ssh myhost wezterm cli --prefer-mux proxy'
  muxscope decode captures/resize-drag-40ms.muxcap --json | head
  muxscope report captures/resize-drag-40ms.muxcap
  muxscope export --pcapng drag.pcapng captures/resize-drag-40ms.muxcap   # for Wireshark
  muxscope export --trace drag.json captures/resize-drag-40ms.muxcap   # for Perfetto

Every sub-command has its own --help.
"""


def _modules(argv: Sequence[str] | None) -> list[ModuleType]:
    """The sub-command modules to import. ``muxscope proxy`` imports only its own: the relay's
    process stays small (the emulator, the report and asyncssh are tens of MB it never uses)."""
    args = list(sys.argv[1:] if argv is None else argv)
    names = ("proxy.cli.proxy",) if args[:1] == ["proxy"] else COMMAND_MODULES
    return [importlib.import_module(n) for n in names]


def build_parser(argv: Sequence[str] | None = None, *, every_command: bool = True) -> argparse.ArgumentParser:
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
    modules = [importlib.import_module(n) for n in COMMAND_MODULES] if every_command else _modules(argv)
    for module in modules:
        module.register(sub)
    parser.set_defaults(root_parser=parser)  # for commands that describe the whole CLI (completion)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv, every_command=False)
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

