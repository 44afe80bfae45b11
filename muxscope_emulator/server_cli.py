"""The ``emulate server`` sub-command: run an emulated wezterm-mux-server.

``--listen unix:PATH`` / ``tcp:HOST:PORT`` serve any number of connections;
``--listen stdio`` serves exactly one on stdin/stdout, which is how the SSH
tests run it behind a fake ``wezterm`` script. The bound address is printed
on stderr (stdout may be the protocol stream).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import textwrap

from codec.schema.versions import DEFAULT_VERSION, SUPPORTED
from muxscope_emulator import reported
from muxscope_emulator.content import CONTENT_KINDS
from muxscope_emulator.scenarios import SCENARIOS
from muxscope_emulator.server import APPS, EmulatedMuxServer, ServerOptions
from muxscope_emulator.stream import parse_rate
from proxy.relay.endpoints import (
    AddressError,
    StdioAddress,
    TcpAddress,
    TlsAddress,
    UnixAddress,
    listen_error,
    parse_listen,
)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add ``server`` to the ``emulate`` sub-commands."""
    p = subparsers.add_parser(
        "server",
        help="run an emulated wezterm-mux-server",
        description=textwrap.fill(
            "Run an emulated wezterm-mux-server: panes of generated output that answer the mux protocol as "
            "WezTerm's server does (GetLines, pushes, Resize with rewrap). --listen unix:PATH, tcp:HOST:PORT or "
            "tls:HOST:PORT serves any number of clients; --listen stdio serves one client on stdin/stdout, as "
            "`wezterm cli proxy` does. The bound address is printed on stderr.", width=78),
        epilog="example:\n  muxscope emulate server --listen unix:/tmp/mux.sock --panes 2 --seed 1 &\n"
        "  muxscope proxy --listen unix:/tmp/muxscope.sock --upstream unix:/tmp/mux.sock",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--listen", default="stdio",
                   help="unix:PATH, tcp:HOST:PORT, tls:HOST:PORT (a tls_servers entry) or stdio (default: stdio)")
    p.add_argument("--tls-cert", metavar="FILE", help="tls: the server certificate (pem_cert; may hold the key)")
    p.add_argument("--tls-key", metavar="FILE", help="tls: its key (pem_private_key)")
    p.add_argument("--tls-ca", metavar="PATH", action="append",
                   help="tls: CA whose client certificates are accepted (pem_root_certs; repeatable)")
    p.add_argument("--panes", type=int, default=1, help="tabs (one pane each) to start with")
    p.add_argument("--rows", type=int, default=24, help="rows of each pane (default 24)")
    p.add_argument("--cols", type=int, default=80, help="columns of each pane (default 80)")
    p.add_argument("--scrollback", type=int, default=2000, metavar="ROWS", help="scrollback_lines per pane")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated content")
    p.add_argument("--codec-version", type=int, choices=SUPPORTED, default=DEFAULT_VERSION)
    p.add_argument(
        "--prefill-rows",
        type=int,
        default=None,
        help="generated lines each pane starts with (default 2*rows + scrollback/4)",
    )
    p.add_argument(
        "--output-rate",
        type=float,
        default=0.0,
        help="background output in lines per second per pane (default 0: quiet)",
    )
    _scenario_arguments(p)
    p.add_argument("--layout", choices=("tabs", "split"), default="tabs",
                   help="tabs: --panes tabs of one pane each; split: each tab split in two side by side "
                        "(default tabs)")
    p.add_argument("--app", choices=APPS, default="shell",
                   help="the program in each pane: shell (default) or editor (a full-screen editor with many "
                        "colours on the alternate screen, like neovim with a colour scheme)")
    p.add_argument("--stream-lines-per-s", metavar="RATE|max", type=_rate, default=None,
                   help="a steady text stream in one pane at RATE lines per second, or as fast as possible (max)")
    p.add_argument("--stream-pane", type=int, default=0, metavar="N", help="the pane the stream goes to (default 0)")
    p.add_argument("--stream-delay-s", type=float, default=0.0, metavar="S",
                   help="start the stream S seconds after the server starts (default 0)")
    p.set_defaults(func=run)
    return p


def _scenario_arguments(p: argparse.ArgumentParser) -> None:
    """``--content``, and ``--scenario``/``--quick`` (muxscope_emulator.reported)."""
    p.add_argument("--content", choices=CONTENT_KINDS, default="mixed",
                   help="what the panes print: mixed (find, ls -l, logs, wide and linked lines) or find "
                        "(`find /usr` paths only)")
    p.add_argument("--scenario", choices=SCENARIOS + reported.NAMES, default=None, metavar="NAME",
                   help="a session from WezTerm's bug reports (" + ", ".join(reported.NAMES) + "): tabs, "
                        "splits, content and output as its reporter had them (the options above but --seed and "
                        "--codec-version are then the scenario's); a client scenario name (resize-drag, ...) "
                        "changes nothing here")
    p.add_argument("--quick", action="store_true",
                   help="with --scenario: its short variant (seconds, not minutes)")


def _rate(text: str) -> str:
    try:
        parse_rate(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a positive number of lines per second, or max") from None
    return text


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    name = getattr(args, "scenario", None)
    if name in reported.REGISTRY:
        return reported.server_options(name, args.quick, seed=args.seed, codec_version=args.codec_version)
    return ServerOptions(
        panes=args.panes,
        rows=args.rows,
        cols=args.cols,
        scrollback=args.scrollback,
        seed=args.seed,
        codec_version=args.codec_version,
        prefill_rows=getattr(args, "prefill_rows", None),
        output_rate=args.output_rate,
        content=getattr(args, "content", "mixed"),
        layout=getattr(args, "layout", "tabs"),
        app=getattr(args, "app", "shell"),
        stream=getattr(args, "stream_lines_per_s", None),
        stream_pane=getattr(args, "stream_pane", 0),
        stream_delay_s=getattr(args, "stream_delay_s", 0.0),
    )


async def _serve(args: argparse.Namespace) -> int:
    listen = parse_listen(args.listen)
    server = EmulatedMuxServer(options_from_args(args))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if isinstance(listen, StdioAddress):
        print("emulated wezterm-mux-server on stdio", file=sys.stderr, flush=True)
        serving = asyncio.ensure_future(server.serve_stdio())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await serving
    elif isinstance(listen, (UnixAddress, TcpAddress, TlsAddress)):
        try:
            address = await server.start(listen, _tls_context(args) if isinstance(listen, TlsAddress) else None)
        except OSError as exc:
            raise listen_error("--listen", listen, exc) from None
        print(f"emulated wezterm-mux-server listening on {address}", file=sys.stderr, flush=True)
        await stop.wait()
    else:
        raise AddressError(f"--listen {listen}: the emulated server listens on unix:, tcp: or stdio")
    await server.stop()
    return 0


def _tls_context(args: argparse.Namespace) -> object:
    from proxy.tls.contexts import TlsSetupError, server_context

    if not args.tls_cert or not args.tls_ca:
        raise AddressError("--listen tls: needs --tls-cert (and --tls-key) and --tls-ca, as a tls_servers entry")
    try:
        return server_context(args.tls_cert, args.tls_key, args.tls_ca)
    except TlsSetupError as exc:
        raise AddressError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Run until SIGINT/SIGTERM (or, on stdio, until the peer hangs up)."""
    try:
        return asyncio.run(_serve(args))
    except AddressError as exc:
        print(f"muxscope emulate server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
