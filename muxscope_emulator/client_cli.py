"""``muxscope emulate client``: run the emulated wezterm-gui against a mux server and say what it saw.

``register(subparsers)`` adds the ``client`` parser to the ``emulate``
sub-command's subparsers; ``run(args)`` plays one scenario and prints the RPCs,
rows fetched and discarded, and the settle time (``--json`` for the full
report, ``--truth-file`` for the ground truth in ``muxscope report --json``'s shape).
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import json
import sys
from typing import Any

from codec.schema.versions import SUPPORTED
from muxscope_emulator import reported
from muxscope_emulator.client import EmulatedClient
from muxscope_emulator.clientoptions import CODEC_VERSION, ClientOptions, IncompatibleVersion
from muxscope_emulator.clientreport import ClientReport
from muxscope_emulator.guiqueue import DEFAULT_PAINT_ROW_MS, GUI_ORDERS
from muxscope_emulator.muxconn import ConnectionLost
from muxscope_emulator.policy import POLICIES, Policy
from muxscope_emulator.scenarios import SCENARIOS
from proxy.relay.endpoints import AddressError, TcpAddress, TlsAddress, UnixAddress, parse_upstream


def _policy(spec: str) -> Policy:
    try:
        return Policy.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _gui_arguments(p: argparse.ArgumentParser) -> None:
    """The GUI thread's knobs (:mod:`.guiqueue`)."""
    p.add_argument("--gui-order", choices=GUI_ORDERS, default="queue",
                   help="the order the GUI thread applies a GetLines reply and a push that are both waiting: "
                        "queue (as wezterm-gui: a push takes two turns, a reply one), reply-first or push-first "
                        "(forced, to compare one session each way; default queue)")
    p.add_argument("--paint-row-ms", type=float, default=DEFAULT_PAINT_ROW_MS, metavar="MS",
                   help=f"what a paint costs the GUI thread per row drawn (an estimate; default "
                        f"{DEFAULT_PAINT_ROW_MS})")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "client",
        help="an emulated wezterm-gui mux client: resize storms, typing, scrolling",
        description="Connect like wezterm-gui does (GetCodecVersion, SetClientId, ListPanes, SetPalette), "
        "paint when invalidated (at most 60 fps) fetching lines as wezterm-client does, play a scenario, wait for "
        "the screen to settle, and report what it fetched, what it threw away, and how long it took.",
    )
    p.add_argument("--connect", required=True, metavar="ADDR",
                   help="the mux server: unix:PATH, tcp:HOST:PORT or tls://HOST:PORT (a tls_clients domain)")
    p.add_argument("--tls-cert", metavar="FILE", help="tls: client certificate (pem_cert; may hold the key)")
    p.add_argument("--tls-key", metavar="FILE", help="tls: its key (pem_private_key)")
    p.add_argument("--tls-ca", metavar="PATH", action="append", help="tls: trusted CA (pem_root_certs; repeatable)")
    p.add_argument("--tls-expected-cn", metavar="NAME", help="tls: the name the server's certificate must match")
    p.add_argument("--scenario", choices=SCENARIOS + reported.NAMES, default="resize-drag", metavar="NAME",
                   help=f"what the user does: {', '.join(SCENARIOS)}; or a session from WezTerm's bug reports "
                        f"({', '.join(reported.NAMES)}), which also sets the window size, the drag and the "
                        "typing as its reporter had them (run the server with the same --scenario)")
    p.add_argument("--quick", action="store_true",
                   help="with a reported --scenario: its short variant (seconds, not minutes)")
    p.add_argument("--resizes", type=int, default=20,
                   help="resize-drag, divider-drag: moves in the drag (default 20)")
    p.add_argument("--drag-seconds", type=float, default=1.0,
                   help="resize-drag, divider-drag: drag duration (default 1.0)")
    p.add_argument("--zoom-seconds", type=float, default=0.5,
                   help="zoom: how long the pane stays zoomed before it is unzoomed (default 0.5)")
    p.add_argument("--policy", type=_policy, default=Policy(), metavar="POLICY",
                   help=f"fetch behaviour: {', '.join(POLICIES)} (default wezterm)")
    p.add_argument("--truth-file", default=None, metavar="PATH", help="write the ground truth here as JSON")
    p.add_argument("--truth-detail", action="store_true",
                   help="with --truth-file: also list every fetched row (serial, pane, row, outcome, cause) "
                        "and every push read (pdu, CLOCK_MONOTONIC ns when it took effect)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for the screen to settle (default 10)")
    p.add_argument("--rows", type=int, default=24, help="initial window rows (default 24)")
    p.add_argument("--cols", type=int, default=80, help="initial window columns (default 80)")
    p.add_argument("--seed", type=int, default=0, help="random seed for pacing and drag steps")
    p.add_argument("--codec-version", type=int, choices=SUPPORTED, default=CODEC_VERSION,
                   help=f"the codec version this wezterm-gui speaks (a server speaking another is refused, as "
                        f"WezTerm refuses it; default {CODEC_VERSION})")
    p.add_argument("--wezterm-log", default=None, metavar="PATH",
                   help="also write the log a real wezterm-gui writes under WEZTERM_LOG=wezterm_client=trace, "
                        "line for line in its format (for `muxscope check-log`)")
    _gui_arguments(p)
    p.add_argument("--prefetch-rate", type=int, default=50, metavar="N",
                   help="ratelimit_mux_line_prefetches_per_second: pushes per second that may prefetch, the "
                        "rest make their rows stale (default 50, WezTerm's; 0: no limit)")
    p.add_argument("--keys", default=None, metavar="TEXT",
                   help="typing: type TEXT (backslash escapes such as \\x1b understood) then Enter, instead of "
                        "the default commands")
    p.add_argument("--key-interval", type=float, default=0.08, metavar="S",
                   help="typing: seconds between key presses, each jittered by +-50%% (default 0.08)")
    p.add_argument("--typing-via", choices=("keys", "write"), default="keys",
                   help="typing: SendKeyDown as wezterm-gui types (default), or WriteToPane as a PaneWriter does")
    p.add_argument("--local-echo-ms", type=int, default=None, metavar="MS",
                   help="predictive local echo: the client domain's local_echo_threshold_ms (WezTerm's default "
                        "for SSH and TLS domains is 100; 0 or absent: off, as for unix domains)")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.set_defaults(func=run)
    return p


def _options(args: argparse.Namespace) -> ClientOptions:
    if args.resizes < 0 or args.drag_seconds < 0 or args.timeout <= 0 or getattr(args, "zoom_seconds", 0) < 0:
        raise ValueError("--resizes, --drag-seconds, --zoom-seconds must not be negative and --timeout must be "
                         "positive")
    if args.paint_row_ms < 0:
        raise ValueError("--paint-row-ms must not be negative")
    if args.prefetch_rate < 0 or args.key_interval < 0:
        raise ValueError("--prefetch-rate and --key-interval must not be negative")
    if args.local_echo_ms is not None and args.local_echo_ms < 0:
        raise ValueError("--local-echo-ms must not be negative")
    if args.rows < 1 or args.cols < 1:
        raise ValueError("--rows and --cols must be at least 1")
    if args.wezterm_log:
        try:
            open(args.wezterm_log, "w", encoding="utf-8").close()
        except OSError as exc:
            raise ValueError(f"--wezterm-log {args.wezterm_log!r}: cannot write it ({exc.strerror})") from None
    if args.scenario in reported.REGISTRY:
        spec = reported.get(args.scenario).variant(args.quick).client
        return reported.client_options(
            args.scenario, args.quick, gui_order=args.gui_order, policy=args.policy, seed=args.seed,
            wezterm_log=args.wezterm_log, codec_version=args.codec_version, timeout=max(args.timeout, spec.timeout),
            paint_row_ms=args.paint_row_ms, prefetch_rate=args.prefetch_rate)
    return ClientOptions(
        scenario=args.scenario, resizes=args.resizes, drag_seconds=args.drag_seconds,
        policy=args.policy, rows=args.rows, cols=args.cols, timeout=args.timeout, seed=args.seed,
        wezterm_log=args.wezterm_log, codec_version=args.codec_version, local_echo_ms=args.local_echo_ms or None,
        prefetch_rate=args.prefetch_rate, key_interval=args.key_interval, typing_via=args.typing_via,
        zoom_seconds=getattr(args, "zoom_seconds", 0.5),
        **({"commands": (codecs.decode(args.keys, "unicode_escape"),)} if args.keys is not None else {}),
        gui_order=args.gui_order, paint_row_ms=args.paint_row_ms,
    )  # fmt: skip


def format_report(report: ClientReport) -> str:
    """The human-readable summary."""
    truth = report.truth["rows"]
    rpcs = ", ".join(f"{name} {n}" for name, n in sorted(report.rpcs.items(), key=lambda kv: -kv[1]))
    latencies = sorted(r["latency_ms"] for r in report.truth["rpcs"] if r["pdu"] == "GetLines")
    lat = ""
    if latencies:
        p50 = latencies[len(latencies) // 2]
        lat = f"; GetLines latency p50 {p50:.2f} ms, max {latencies[-1]:.2f} ms"
    settle = f"{report.settle_time_s:.3f} s" if report.settle_time_s is not None else "did not settle"
    lines = [
        f"scenario {report.scenario}, policy {report.policy}",
        f"RPCs sent: {sum(report.rpcs.values())} ({rpcs})",
        f"rows fetched: {report.rows_fetched} ({report.rows_fetched_scenario} during the scenario){lat}",
        f"rows by outcome: redundant {truth['redundant']}, superseded {truth['superseded']} (discarded on "
        f"arrival), changed {truth['changed']}, new {truth['new']}",
        f"settle time: {settle}",
        f"what other policies would have saved here: selective {report.selective_saved_rows} rows, "
        f"coalesce {report.refetched_in_flight} rows"
        + (f" (this run coalesced {report.coalesced_rows})" if report.policy == "coalesce" else ""),
    ]
    if report.errors:
        lines.append(f"errors: {len(report.errors)} (first: {report.errors[0]})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        addr = parse_upstream(args.connect)
        if not isinstance(addr, (UnixAddress, TcpAddress, TlsAddress)):
            raise AddressError(f"--connect {args.connect!r}: the emulated client connects to unix:PATH, "
                               "tcp:HOST:PORT or tls://HOST:PORT only")
        options = _options(args)
        if isinstance(addr, TlsAddress):
            from proxy.tls.contexts import TlsUpstreamOptions

            options.tls = TlsUpstreamOptions(args.tls_cert, args.tls_key, tuple(args.tls_ca or ()),
                                             args.tls_expected_cn)
    except ValueError as exc:
        print(f"muxscope emulate client: {exc}", file=sys.stderr)
        return 2
    try:
        client = EmulatedClient(options)
        report = asyncio.run(client.run(addr))
    except (OSError, ConnectionLost, IncompatibleVersion, ValueError, TimeoutError) as exc:
        print(f"muxscope emulate client: cannot talk to {addr}: {exc}", file=sys.stderr)
        return 1
    if args.truth_file:
        with open(args.truth_file, "w", encoding="utf-8") as fh:
            truth = client.truth.to_json(detail=args.truth_detail)
            json.dump(truth, fh, indent=1)
            fh.write("\n")
    out: Any = report.to_json() if args.json else format_report(report)
    print(json.dumps(out, indent=1) if args.json else out)
    return 0 if report.settled else 3
