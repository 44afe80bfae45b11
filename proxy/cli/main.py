"""``muxscope``: the command line.

Each sub-command lives in its own module; this one only builds the parser and
dispatches. User errors end in one line on stderr naming the problem and the
fix, and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from codec.schema.versions import DEFAULT_VERSION, SUPPORTED
from muxscope_emulator import cli as emulate
from proxy import __version__
from proxy.cli import capture as capture_cmd
from proxy.cli import demo
from proxy.cli import export as export_cmd
from proxy.cli import replay as replay_cmd
from proxy.cli import report as report_cmd
from proxy.cli.options import add_burst_gap_argument, add_client_model_argument
from proxy.observe import logs

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


def _add_decode(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decode",
        help="print every PDU of a raw frame stream or a capture",
        description="Decode a raw stream of mux frames (or a .muxcap capture) and print each PDU: "
        "a readable tree by default, one JSON object per line with --json. Bad frames are reported "
        "with their offset and decoding resumes at the next plausible frame.",
    )
    p.add_argument("file", help="raw frame stream or .muxcap capture ('-' for stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per PDU per line")
    p.add_argument("--codec-version", type=int, choices=SUPPORTED, default=None,
                   help=f"decode as this codec version (default: from GetCodecVersionResponse, else {DEFAULT_VERSION})")
    p.add_argument("--cells", action="store_true", help="tree output: show every cell, not one line per row")


def _add_proxy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "proxy",
        help="relay wezterm-gui <-> mux server, decoding and measuring on the side",
        description="Sit between wezterm-gui and the mux server: every byte is relayed unchanged; on the "
        "side every PDU is decoded, each GetLines is logged with its rows and latency, and metrics are "
        "exported for Prometheus.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="addresses:\n  --listen   unix:PATH | tcp:HOST:PORT | stdio | ssh:HOST:PORT\n"
        "  --upstream unix:PATH | tcp:HOST:PORT | exec:COMMAND | ssh://[USER@]HOST[:PORT]\n",
    )
    p.add_argument("--listen", required=True, help="where wezterm-gui connects (see below)")
    p.add_argument("--upstream", required=True, help="the real mux server (see below)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --listen/--metrics address (the mux protocol has no auth)")
    add_observability_args(p)
    p.add_argument("--codec-version", type=int, choices=SUPPORTED, default=None,
                   help="force the codec version instead of reading it from GetCodecVersionResponse")
    p.add_argument("--queue-chunks", type=int, default=4096,
                   help="analysis queue size in chunks; when full, analysis drops (never the relay)")
    p.add_argument("--analysis", choices=("process", "thread"), default="process",
                   help="run the analysis in a process of its own, restarted if it fails (default), or on "
                   "threads of the relay's process (for debugging: a hostile frame can then stall the relay)")
    p.add_argument("--analysis-memory", type=int, default=160, metavar="MB",
                   help="resident memory the analysis process may use before it is restarted (default 160)")
    p.add_argument("--grace", type=float, default=2.0,
                   help="seconds open connections get to finish on SIGINT/SIGTERM (default 2)")
    p.add_argument("--shape", default=None, metavar="SPEC",
                   help="simulate a slow link on the upstream side, e.g. 'rtt=60ms,bandwidth=20mbit,jitter=2ms'")
    _add_ssh_args(p)


def _add_ssh_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("ssh (--listen ssh:HOST:PORT, --upstream ssh://[USER@]HOST[:PORT])")
    g.add_argument("--host-key", metavar="FILE", default=None,
                   help="SSH host key (created on first use; default $XDG_STATE_HOME/muxscope/ssh_host_ed25519_key)")
    g.add_argument("--authorized-keys", metavar="FILE", default=None,
                   help="public keys allowed to log in (default ~/.ssh/authorized_keys)")
    g.add_argument("--allow-command", metavar="REGEX", action="append", default=None,
                   help="also accept exec commands fully matching REGEX (default: only `wezterm cli ... proxy`)")
    g.add_argument("--remote-command", metavar="CMD", default=None,
                   help="run CMD on the ssh:// upstream (default: the SSH client's command, "
                   "else 'wezterm cli --prefer-mux proxy')")
    g.add_argument("--ssh-config", metavar="FILE", default=None,
                   help="ssh_config for the upstream (default ~/.ssh/config)")
    g.add_argument("--known-hosts", metavar="FILE", default=None,
                   help="known_hosts for the upstream (default ~/.ssh/known_hosts)")
    g.add_argument("--identity", metavar="FILE", default=None,
                   help="private key for the upstream (default: ssh-agent and IdentityFile/default keys)")


def add_observability_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", metavar="HOST:PORT", default=None,
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (loopback unless --allow-remote)")
    logs.add_arguments(p)
    p.add_argument("--capture", default=None, metavar="FILE",
                   help="record every byte to a .muxcap capture (replayable, shareable after scrub)")
    p.add_argument("--capture-max-bytes", type=int, default=None,
                   help="rotate the capture after this many compressed bytes (FILE.1, FILE.2, ...)")
    p.add_argument("--capture-max-seconds", type=float, default=None,
                   help="rotate the capture after this many seconds")
    add_burst_gap_argument(p)
    add_client_model_argument(p)


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
    _add_decode(sub)
    _add_proxy(sub)
    for module in (demo, emulate, report_cmd, replay_cmd, capture_cmd, export_cmd):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "decode":
            from proxy.cli import decode as decode_cmd

            return decode_cmd.run(args.file, args.json, args.codec_version, args.cells)
        if args.command == "proxy":
            from proxy.cli import proxy as proxy_cmd

            return proxy_cmd.run(args)
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `muxscope decode ... | head`: the reader left; that is not an error
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0

