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
import json
import os
import signal
import statistics
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.analysis.localecho import local_echo_threshold
from proxy.analysis.report_model import CaptureSummary
from proxy.analysis.vocabulary import CLIENT_MODELS
from proxy.cli import demo_scenario
from proxy.cli.options import add_local_echo_argument
from proxy.files import OutputError, check_parent
from proxy.observe import logs
from proxy.relay.endpoints import AddressError, UnixAddress, parse_metrics_addr
from proxy.relay.shaping import LinkShape, parse_bandwidth, parse_duration, shaper_for
from proxy.runtime import ProxyRuntime, RuntimeOptions


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
    p.add_argument("--resizes", type=int, default=20,
                   help="window sizes the drag goes through (default 20); the client also sends a Resize when it "
                   "connects and when the server's pane sizes differ from its own")
    p.add_argument("--drag-seconds", type=float, default=1.0, help="how long the drag lasts (default 1.0)")
    p.add_argument("--policy", default="wezterm",
                   help="client fetch policy: wezterm (default), selective, coalesce, debounce=MS")
    p.add_argument("--out", default="muxscope-demo",
                   help="folder for the log, the capture and the client's record (default ./muxscope-demo; "
                   "created if missing, its parent must exist); each run replaces the previous run's files")
    p.add_argument("--metrics", default="127.0.0.1:9464", metavar="HOST:PORT",
                   help="metrics endpoint (default 127.0.0.1:9464; port 0 picks a free one)")
    p.add_argument("--no-capture", action="store_true", help="do not record a capture")
    p.add_argument("--keep-running", action="store_true",
                   help="keep the server, proxy and metrics up after the drag (for Grafana) until Ctrl-C; "
                   "without it the metrics endpoint lives only as long as the run")
    p.add_argument("--seed", type=int, default=0)
    add_local_echo_argument(p)  # the GUI reaches the proxy as a unix domain: auto is off
    p.add_argument("--timeout", type=float, default=15.0, help="seconds the client waits for the screen to settle")
    demo_scenario.register(p)
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


async def _start_process(*argv: str) -> asyncio.subprocess.Process:
    # In a session of their own: Ctrl-C reaches the demo alone, which then stops the client, the proxy
    # (flushing the capture) and the server in that order, instead of all dying at once mid-record.
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "proxy.cli", *argv, start_new_session=True,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def _wait_for_socket(path: str, proc: asyncio.subprocess.Process, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.returncode is not None or time.monotonic() > deadline:
            err = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
            raise OSError(f"the emulated mux server did not start: {err.strip()[-500:]}")
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class DemoFiles:
    """What a run leaves in ``--out``; each run replaces the previous run's files (log, capture, truth alike)."""

    out: Path
    log: Path
    capture: Path | None
    truth: Path
    #: muxscope's report (``muxscope report --json``'s shape) and the client's own (``emulate client --json``)
    report: Path
    client: Path

    @classmethod
    def prepare(cls, args: argparse.Namespace) -> DemoFiles:
        out = Path(args.out)
        check_parent(str(out), "--out")
        if out.exists() and not out.is_dir():
            raise OutputError(f"--out {out}: exists and is not a folder")
        out.mkdir(exist_ok=True, mode=0o700)
        files = cls(out, out / "muxscope.log", None if args.no_capture else out / "demo.muxcap",
                    out / "client-truth.json", out / "report.json", out / "client-report.json")
        for path in (files.log, files.truth, files.report, files.client):
            if path.is_symlink() or (path.exists() and not path.is_file()):
                raise OutputError(f"--out {out}: {path.name} is not a regular file; move it away")
            path.unlink(missing_ok=True)  # a fresh log per run, as the capture and the truth are
        return files


def validate(args: argparse.Namespace) -> None:
    """Every option checked before anything starts: a bad one is one line, not a half-run demo."""
    from muxscope_emulator.clientpane import Policy

    Policy.parse(args.policy)
    LinkShape(parse_duration(args.rtt) / 2, 0.0, parse_bandwidth(args.bandwidth))
    parse_metrics_addr(args.metrics, False)
    for name in ("panes", "rows", "cols"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be at least 1")
    if args.resizes < 0 or args.drag_seconds < 0 or args.scrollback < 0:
        raise ValueError("--resizes, --drag-seconds and --scrollback must not be negative")
    if args.timeout <= 0:
        raise ValueError("--timeout must be positive")


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) during the run: everything was stopped in order."""


async def _run_client(argv: list[str]) -> tuple[bytes, bytes, int]:
    """The emulated client to its end, or until SIGINT/SIGTERM (then it is stopped and Interrupted raised)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await _start_process(*argv)
    done = asyncio.ensure_future(client.communicate())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({done, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not done.done():
            client.terminate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(done, 5)
            raise Interrupted
        stdout, stderr = done.result()
        return stdout, stderr, client.returncode or 0
    finally:
        stopping.cancel()
        if client.returncode is None:
            client.kill()
            await client.wait()


def _client_line(report: dict[str, Any], resizes: int) -> str:
    """The client's own record: every row fetched by outcome (superseded ones are those it discarded)."""
    t = report["truth"]["rows"]
    settled = (f"settled {report['settle_time_s']} s after the last resize" if report["settled"]
               else "did not settle within --timeout")
    sent = report["rpcs"].get("Resize", 0)
    return (f"The emulated client itself recorded: {report['rows_fetched']} rows fetched: redundant {t['redundant']}, "
            f"superseded {t['superseded']} (discarded on arrival), changed {t['changed']}, new {t['new']}; "
            f"{sent} Resize PDUs sent ({resizes} for the drag, the rest when it connected and matched its "
            f"panes' sizes); screen {settled}. Its own count of what the what-ifs estimate: selective "
            f"invalidation {report['selective_saved_rows']} rows, coalescing {report['refetched_in_flight']} rows.")


def _print_results(rt: ProxyRuntime, files: DemoFiles, report: dict[str, Any], elapsed: float,
                   args: argparse.Namespace) -> None:
    from proxy.report.text import TEXT_WIDTH, render_text
    from proxy.report.verdict import verdict

    attribution = rt.attribution
    assert attribution is not None
    attribution.finish()
    rep = attribution.report()
    rep = rep.with_context(verdict(rep), CaptureSummary(file=str(files.capture) if files.capture else "-",
                                                        duration_s=round(elapsed, 3), connections=1,
                                                        codec_version=44))
    files.report.write_text(json.dumps(rep.to_json(), indent=1) + "\n")
    files.client.write_text(json.dumps(report, indent=1) + "\n")
    print()
    print(render_text(rep))
    print()
    print("Per-fetch summary (muxscope): " + _summary_of_fetches(_read_getlines(files.log)))
    print(textwrap.fill(_client_line(report, args.resizes), width=TEXT_WIDTH))
    print()
    if args.keep_running:
        print(f"metrics: {rt.metrics_url}  (served until Ctrl-C)")
    else:
        print(f"metrics: {rt.metrics_url} was served during the run only; add --keep-running to keep it "
              "up for Prometheus and Grafana")
    print(f"log:     {files.log}  (one JSON event per line; `grep getlines` for the per-fetch events)")
    if files.capture:
        print(f"capture: {files.capture}  (try: muxscope report {files.capture} --html report.html)")
    print(f"truth:   {files.truth}  (the client's own record, in the shape of `muxscope report --json`)")
    print(f"report:  {files.report}  (muxscope's report as JSON; the client's own: {files.client.name})")


async def _start_proxy(args: argparse.Namespace, files: DemoFiles, shape: LinkShape, proxy_sock: str,
                       server_sock: str) -> ProxyRuntime:
    def runtime(metrics_addr: str) -> ProxyRuntime:
        return ProxyRuntime(RuntimeOptions(
            listen=UnixAddress(proxy_sock), upstream=UnixAddress(server_sock), metrics_addr=metrics_addr,
            capture=str(files.capture) if files.capture else None, capture_force=True, wrap_side=shaper_for(shape),
            capture_meta={"options": {"demo": True, "shape": shape.describe(), "policy": args.policy}},
            client_model=args.policy if args.policy in CLIENT_MODELS else "wezterm", local_echo=args.local_echo,
        ))

    rt = runtime(args.metrics)
    try:
        await rt.start()
    except AddressError as exc:
        if not args.metrics.endswith(":9464"):
            raise
        print(f"muxscope demo: {exc}; using a free port instead", file=sys.stderr)
        rt = runtime(args.metrics.rsplit(":", 1)[0] + ":0")
        await rt.start()
    return rt


async def _demo(args: argparse.Namespace, files: DemoFiles) -> int:
    shape = LinkShape(parse_duration(args.rtt) / 2, 0.0, parse_bandwidth(args.bandwidth))
    logs.configure("json", "info", str(files.log))
    sockdir = tempfile.mkdtemp(prefix="muxscope-demo-")
    server_sock, proxy_sock = os.path.join(sockdir, "mux.sock"), os.path.join(sockdir, "proxy.sock")
    # Server and client run in processes of their own, as wezterm-mux-server and wezterm-gui do:
    # sharing one interpreter with the proxy would add their CPU time to every latency measured.
    server = await _start_process(*_server_argv(args, server_sock))
    rt: ProxyRuntime | None = None
    try:
        await _wait_for_socket(server_sock, server)
        rt = await _start_proxy(args, files, shape, proxy_sock, server_sock)
        what = (demo_scenario.describe(args) if args.scenario else
                f"a drag through {args.resizes} window sizes over {args.drag_seconds:g} s")
        print(f"muxscope demo: emulated mux server <- {shape.describe()} link <- muxscope proxy <- emulated "
              f"wezterm-gui ({what}, policy {args.policy}); Ctrl-C stops it", file=sys.stderr)
        t0 = time.monotonic()
        stdout, stderr, status = await _run_client(_client_argv(args, proxy_sock, files.truth))
        elapsed = time.monotonic() - t0
        if status not in (0, 3):  # 3: the screen did not settle in time (reported below)
            raise OSError(f"the emulated client failed: {stderr.decode(errors='replace').strip()[-500:]}")
        await asyncio.get_running_loop().run_in_executor(None, rt.tap.wait_idle, 10.0)
        _print_results(rt, files, json.loads(stdout), elapsed, args)
        if args.keep_running:
            print(f"proxy still listening at unix:{proxy_sock} (mux server at unix:{server_sock}); Ctrl-C to stop")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
    finally:
        if rt is not None:
            await rt.stop()
        if server.returncode is None:
            server.terminate()
            await server.wait()
        with contextlib.suppress(OSError):
            for name in os.listdir(sockdir):
                os.unlink(os.path.join(sockdir, name))
            os.rmdir(sockdir)
    return 0


def _server_argv(args: argparse.Namespace, sock: str) -> list[str]:
    if args.scenario:
        return demo_scenario.server_argv(args, sock)
    return ["emulate", "server", "--listen", f"unix:{sock}", "--panes", str(args.panes), "--rows", str(args.rows),
            "--cols", str(args.cols), "--scrollback", str(args.scrollback), "--seed", str(args.seed)]


def _client_argv(args: argparse.Namespace, sock: str, truth: Path) -> list[str]:
    if args.scenario:
        return demo_scenario.client_argv(args, sock, truth)
    extra = ["--truth-detail"] if args.truth_detail else []
    if args.wezterm_log:
        extra += ["--wezterm-log", args.wezterm_log]
    if args.gui_order:
        extra += ["--gui-order", args.gui_order]
    return ["emulate", "client", "--connect", f"unix:{sock}", "--scenario", "resize-drag", "--resizes",
            str(args.resizes), "--drag-seconds", str(args.drag_seconds), "--policy", args.policy, "--rows",
            str(args.rows), "--cols", str(args.cols), "--timeout", str(args.timeout), "--seed", str(args.seed),
            "--truth-file", str(truth), "--json", *extra,
            "--local-echo-ms", str(local_echo_threshold(args.local_echo, f"unix:{sock}") or 0)]


def _read_getlines(path: Path) -> list[dict[str, Any]]:
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
        if args.scenario:
            demo_scenario.apply(args)
        validate(args)
        files = DemoFiles.prepare(args)
        return asyncio.run(_demo(args, files))
    except Interrupted:
        where = f"; what was recorded is in {args.out}" if not args.no_capture else ""
        print(f"muxscope demo: interrupted; the client, proxy and server were stopped{where}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("muxscope demo: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        print(f"muxscope demo: {exc}", file=sys.stderr)
        return 2
