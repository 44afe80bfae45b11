"""``muxscope demo``: the whole story in one command, no WezTerm needed.

Starts the emulated mux server, a muxscope proxy in front of it over a shaped
link (defaults near a typical SSH link: 40 ms RTT, 20 Mbit/s) with metrics and
capture on, and the emulated wezterm-gui client doing a resize drag through
it; then prints what muxscope saw: the per-fetch summary and the over-fetch
report, next to what the client itself recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import logs
from .endpoints import UnixAddress
from .runtime import ProxyRuntime, RuntimeOptions
from .shaping import LinkShape, parse_bandwidth, parse_duration, shaper_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="emulated mux server + proxy + emulated wezterm-gui: a resize storm, measured",
        description="Run the emulated mux server, a muxscope proxy over a shaped link (metrics and capture on) "
        "and the emulated wezterm-gui client dragging a window corner; print what muxscope saw and the "
        "over-fetch report. Finishes in well under 30 s with the defaults.",
    )
    p.add_argument("--rtt", default="40ms", help="round-trip time of the simulated link (default 40ms)")
    p.add_argument("--bandwidth", default="20mbit", help="bandwidth of the simulated link (default 20mbit)")
    p.add_argument("--panes", type=int, default=1, help="panes (tabs) on the emulated server (default 1)")
    p.add_argument("--rows", type=int, default=40, help="initial window rows (default 40)")
    p.add_argument("--cols", type=int, default=120, help="initial window columns (default 120)")
    p.add_argument("--scrollback", type=int, default=2000, help="scrollback rows per pane (default 2000)")
    p.add_argument("--resizes", type=int, default=20, help="size changes in the drag (default 20)")
    p.add_argument("--drag-seconds", type=float, default=1.0, help="how long the drag lasts (default 1.0)")
    p.add_argument("--policy", default="wezterm",
                   help="client fetch policy: wezterm (default), selective, coalesce, debounce=MS")
    p.add_argument("--out", default="muxscope-demo",
                   help="folder for the log and the capture (default ./muxscope-demo)")
    p.add_argument("--metrics", default="127.0.0.1:9464", metavar="HOST:PORT",
                   help="metrics endpoint (default 127.0.0.1:9464; port 0 picks a free one)")
    p.add_argument("--no-capture", action="store_true", help="do not record a capture")
    p.add_argument("--keep-running", action="store_true",
                   help="keep the server, proxy and metrics up after the drag (for Grafana) until Ctrl-C")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=15.0, help="seconds the client waits for the screen to settle")
    p.set_defaults(func=run)


def _summary_of_fetches(events: list[dict[str, Any]]) -> str:
    if not events:
        return "no GetLines seen"
    lat = sorted(e["latency_ms"] for e in events)
    rows = sum(e["rows_returned"] for e in events)
    wire = sum(e["response_wire_bytes"] for e in events)
    dec = sum(e["response_decompressed_bytes"] for e in events)
    p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
    return (f"{len(events)} GetLines, {rows} rows returned, {wire / 1024:.1f} KiB on the wire "
            f"({dec / 1024:.1f} KiB decompressed); latency p50 {statistics.median(lat):.1f} ms, "
            f"p95 {p95:.1f} ms, max {lat[-1]:.1f} ms")


class _FetchCollector:
    """Keeps the getlines events (the same ones the log file gets) for the summary."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []


async def _demo(args: argparse.Namespace) -> int:
    from .emulator.client import ClientOptions, EmulatedClient
    from .emulator.server import EmulatedMuxServer, ServerOptions
    from .report_cmd import render_text, verdict

    shape = LinkShape(parse_duration(args.rtt) / 2, 0.0, parse_bandwidth(args.bandwidth))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "muxscope.log"
    capture_path = None if args.no_capture else out / "demo.muxcap"
    logs.configure("json", "info", str(log_path))
    sockdir = tempfile.mkdtemp(prefix="muxscope-demo-")
    server_sock, proxy_sock = os.path.join(sockdir, "mux.sock"), os.path.join(sockdir, "proxy.sock")
    server = EmulatedMuxServer(ServerOptions(panes=args.panes, rows=args.rows, cols=args.cols,
                                             scrollback=args.scrollback, seed=args.seed))
    await server.start(UnixAddress(server_sock))
    metrics_addr = args.metrics
    rt = ProxyRuntime(RuntimeOptions(
        listen=UnixAddress(proxy_sock), upstream=UnixAddress(server_sock), metrics_addr=metrics_addr,
        capture=str(capture_path) if capture_path else None, wrap_side=shaper_for(shape),
        capture_meta={"options": {"demo": True, "shape": shape.describe(), "policy": args.policy}},
    ))
    try:
        await rt.start()
    except Exception as exc:
        if metrics_addr.endswith(":9464"):
            print(f"muxscope demo: {exc}; using a free port instead", file=sys.stderr)
            rt = ProxyRuntime(RuntimeOptions(
                listen=UnixAddress(proxy_sock), upstream=UnixAddress(server_sock),
                metrics_addr=metrics_addr.rsplit(":", 1)[0] + ":0",
                capture=str(capture_path) if capture_path else None, wrap_side=shaper_for(shape)))
            await rt.start()
        else:
            raise
    print(f"muxscope demo: emulated mux server <- {shape.describe()} link <- muxscope proxy <- emulated "
          f"wezterm-gui ({args.resizes} resizes over {args.drag_seconds:g} s, policy {args.policy})", file=sys.stderr)
    t0 = time.monotonic()
    client = EmulatedClient(ClientOptions(
        scenario="resize-drag", resizes=args.resizes, drag_seconds=args.drag_seconds, policy=args.policy,
        rows=args.rows, cols=args.cols, timeout=args.timeout, seed=args.seed))
    report = await client.run(UnixAddress(proxy_sock))
    elapsed = time.monotonic() - t0
    await asyncio.get_running_loop().run_in_executor(None, rt.tap.wait_idle, 10.0)
    attribution = rt.attribution
    assert attribution is not None
    attribution.finish()
    rep = attribution.report()
    rep["verdict"] = verdict(rep)
    rep["capture"] = {"file": str(capture_path) if capture_path else "-", "records": 0,
                      "duration_s": round(elapsed, 3), "truncated": False, "truncation_reason": None,
                      "dropped_chunks": 0, "connections": 1, "codec_version": 44, "header": {}}
    getlines = _read_getlines(log_path)

    print()
    print(render_text(rep))
    print()
    print("Per-fetch summary (muxscope): " + _summary_of_fetches(getlines))
    t = report.truth["rows"]
    print(f"The emulated client itself recorded: {report.rows_fetched} rows fetched, {report.rows_discarded} "
          f"discarded on arrival; redundant {t['redundant']}, superseded {t['superseded']}, changed {t['changed']}, "
          f"new {t['new']}; screen settled {report.settle_time_s} s after the last resize.")
    print()
    print(f"metrics: {rt.metrics_url}")
    print(f"log:     {log_path}  (one JSON event per line; `grep getlines` for the per-fetch events)")
    if capture_path:
        print(f"capture: {capture_path}  (try: muxscope report {capture_path} --html report.html)")
    if args.keep_running:
        print(f"proxy still listening at unix:{proxy_sock} (mux server at unix:{server_sock}); Ctrl-C to stop")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    await rt.stop()
    await server.stop()
    with contextlib.suppress(OSError):
        os.rmdir(sockdir)
    return 0


def _read_getlines(path: Path) -> list[dict[str, Any]]:
    import json

    logs.flush()
    out = []
    with contextlib.suppress(OSError), open(path, encoding="utf-8") as f:
        for line in f:
            if '"getlines"' in line:
                with contextlib.suppress(ValueError):
                    ev = json.loads(line)
                    if ev.get("event") == "getlines":
                        out.append(ev)
    return out


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_demo(args))
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as exc:
        print(f"muxscope demo: {exc}", file=sys.stderr)
        return 2
