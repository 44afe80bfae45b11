"""``muxscope proxy``: run the proxy until SIGINT/SIGTERM.

First signal: stop accepting, give open connections ``--grace`` seconds, flush
logs and captures, exit 0. Second signal: exit at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys

from proxy.isolated import IsolatedRuntime
from proxy.observe import logs
from proxy.relay.endpoints import AddressError, SshAddress, StdioAddress, parse_listen, parse_upstream
from proxy.relay.errors import ProxyError
from proxy.runtime import ProxyRuntime, RuntimeOptions


def options_from_args(args: argparse.Namespace) -> RuntimeOptions:
    listen = parse_listen(args.listen, args.allow_remote)
    upstream = parse_upstream(args.upstream)
    wrap = None
    if getattr(args, "shape", None):
        from proxy.relay.shaping import LinkShape, shaper_for

        try:
            shape = LinkShape.parse(args.shape)
        except ValueError as exc:
            msg = str(exc)
            raise ValueError(msg if msg.startswith("--shape") else f"--shape {args.shape!r}: {msg}") from None
        wrap = shaper_for(shape)
    ssh_listen = ssh_upstream = None
    if isinstance(listen, SshAddress):
        from proxy.ssh.server import SshListenOptions

        ssh_listen = SshListenOptions(args.host_key, args.authorized_keys, tuple(args.allow_command or ()))
    if isinstance(upstream, SshAddress):
        from proxy.ssh.client import SshUpstreamOptions

        ssh_upstream = SshUpstreamOptions(args.ssh_config, args.known_hosts, args.identity, args.remote_command)
    return RuntimeOptions(
        listen=listen,
        upstream=upstream,
        metrics_addr=args.metrics,
        allow_remote=args.allow_remote,
        codec_version=args.codec_version,
        queue_chunks=args.queue_chunks,
        capture=args.capture,
        capture_max_bytes=args.capture_max_bytes,
        capture_max_seconds=args.capture_max_seconds,
        burst_gap_s=args.burst_gap,
        client_model=args.client_model,
        wrap_side=wrap,
        ssh_listen=ssh_listen,
        ssh_upstream=ssh_upstream,
    )


async def _main(opts: RuntimeOptions, grace: float, args: argparse.Namespace | None = None) -> int:
    rt: ProxyRuntime | IsolatedRuntime
    if args is not None and getattr(args, "analysis", "process") == "process":
        rt = IsolatedRuntime(opts, {"fmt": args.log_format, "level": args.log_level, "file": args.log_file,
                                    "log_content": args.log_content},
                             rss_limit=args.analysis_memory * 1024 * 1024)
    else:
        rt = ProxyRuntime(opts)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            logs.flush()
            os._exit(128 + signum)
        rt.log.info("shutting_down", signal=signal.Signals(signum).name, grace_s=grace)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await rt.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await rt.stop(0)  # a metrics server already listening, a capture already open...
        raise
    serve: asyncio.Task[None] | None = None
    if isinstance(opts.listen, StdioAddress):
        serve = asyncio.create_task(rt.server.serve_stdio())
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({serve, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    else:
        await stop.wait()
    await rt.stop(grace)
    rt.log.info("stopped")
    logs.flush()
    if serve is not None and serve.done() and not serve.cancelled():
        serve.result()  # the one stdio connection failed (ProxyError): a failed run
    return 0


def run(args: argparse.Namespace) -> int:
    # (logs go to stderr or --log-file, never stdout: with --listen stdio it carries the protocol)
    logs.configure_from_args(args)
    try:
        opts = options_from_args(args)
        return asyncio.run(_main(opts, args.grace, args))
    except (AddressError, ProxyError, ValueError) as exc:
        print(f"muxscope proxy: {exc}", file=sys.stderr)
        return 2
