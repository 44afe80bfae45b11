"""``muxscope replay FILE``: a capture, played again.

Three modes:

* default: feed the capture to the same analysis as a live proxy and print the
  same log events; ``--speed X`` paces it (1 = real time) and ``--metrics``
  serves metrics meanwhile, so a recorded storm plays in Grafana as if live.
* ``--serve ADDR``: act as the recorded *server* for a connecting client.
* ``--drive ADDR``: act as the recorded *client* against a live mux server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Any

from codec.schema.versions import SUPPORTED
from proxy.capture.format import CaptureError
from proxy.cli.options import add_burst_gap_argument, add_client_model_argument, add_local_echo_argument
from proxy.files import OutputError
from proxy.observe import logs
from proxy.relay.endpoints import AddressError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="play a capture again: through the analysis, as the server, or as the client",
        description="Replay a .muxcap capture. By default the capture goes through the same analysis as a "
        "live proxy and the same log events are printed (as fast as possible, with progress; --speed 1 for "
        "real time, with --metrics to watch it in Grafana). --serve ADDR answers a connecting client with the "
        "recorded responses; --drive ADDR sends the recorded client requests to a live mux server and compares.",
    )
    p.add_argument("file", help=".muxcap capture")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--serve", metavar="ADDR", help="act as the recorded server on ADDR (unix:PATH or tcp:HOST:PORT)")
    mode.add_argument("--drive", metavar="ADDR", help="act as the recorded client against a mux server at ADDR")
    p.add_argument("--speed", type=float, default=None,
                   help="pace the replay: 1 = real time, 2 = twice as fast (default: as fast as possible; "
                   "--drive defaults to 1)")
    p.add_argument("--metrics", metavar="HOST:PORT", default=None, help="serve Prometheus metrics meanwhile")
    p.add_argument("--start-after", type=float, default=0.0, metavar="SECONDS",
                   help="with --metrics: serve metrics this long before the replay starts, so Prometheus has "
                   "scraped the starting values (a scrape every 5 s needs about 10)")
    p.add_argument("--keep-running", action="store_true",
                   help="after the replay, keep serving metrics until Ctrl-C (for Grafana)")
    logs.add_arguments(p)
    p.add_argument("--codec-version", type=int, choices=SUPPORTED, default=None)
    add_burst_gap_argument(p)
    add_client_model_argument(p)
    add_local_echo_argument(p)
    p.add_argument("--allow-remote", action="store_true")
    p.add_argument("--ignore-field", action="append", default=[], metavar="PDU.FIELD",
                   help="--serve: also ignore this body field when matching requests (repeatable)")
    p.add_argument("--conn", type=int, default=None, help="--serve/--drive: use this recorded connection id")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        logs.configure_from_args(args)
        if args.serve:
            from proxy.capture.replay_serve import run_serve

            return run_serve(args)
        if args.drive:
            from proxy.capture.replay_drive import run_drive

            return run_drive(args)
        return _run_analysis(args)
    except (CaptureError, OutputError, AddressError) as exc:
        print(f"muxscope replay: {exc}", file=sys.stderr)
        return 2


def _run_analysis(args: argparse.Namespace) -> int:
    from proxy.capture.offline import analyze_capture
    from proxy.observe.metrics import Metrics, serve
    from proxy.relay.endpoints import listen_error, parse_metrics_addr

    metrics = Metrics()
    server: Any = None
    if args.metrics:
        host, port = parse_metrics_addr(args.metrics, args.allow_remote)
        try:
            server, _, bound = serve(metrics, host, port)
        except OSError as exc:
            raise listen_error("--metrics", args.metrics, exc) from None
        logs.get_logger().info("metrics_listening", url=f"http://{host}:{bound}/metrics")
        if args.start_after > 0:
            print(f"replay starts in {args.start_after:g} s (metrics already served)", file=sys.stderr)
            time.sleep(args.start_after)
    result = analyze_capture(args.file, codec_version=args.codec_version, burst_gap_s=args.burst_gap,
                             metrics=metrics, speed=args.speed, client_model=args.client_model,
                             local_echo=args.local_echo, prefetch_rate=args.prefetch_rate)
    if result.truncated:
        logs.get_logger().warning("capture_truncated", reason=result.truncation_reason)
    logs.get_logger().info("replay_done", records=result.records, capture_duration_s=round(result.duration_s, 3),
                           **result.attribution.report().rows.to_json())
    logs.flush()
    if server is not None and args.keep_running:
        print("replay done; serving metrics until Ctrl-C", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(asyncio.Event().wait())
    if server is not None:
        server.shutdown()
    return 0
