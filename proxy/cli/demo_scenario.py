"""``muxscope demo --scenario NAME``: a session from WezTerm's bug reports, through the demo.

Kept out of :mod:`.demo` so the demo stays one story: this module only adds the
options, takes the link, window and drag from the scenario
(:mod:`muxscope_emulator.reported`), and builds the server's and the client's
command lines, which name the scenario so both ends build the same session.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(p: argparse.ArgumentParser) -> None:
    from muxscope_emulator.reported import NAMES

    p.add_argument("--scenario", choices=NAMES, default=None, metavar="NAME",
                   help="a session from WezTerm's bug reports (" + ", ".join(NAMES) + "): the server's tabs, "
                        "content and output, the user's actions and the link as its reporter had them (--rtt, "
                        "--bandwidth, --panes, --rows, --cols, --resizes, --drag-seconds and --local-echo are "
                        "then the scenario's)")
    p.add_argument("--quick", action="store_true",
                   help="with --scenario: its short variant (seconds, not minutes)")
    p.add_argument("--truth-detail", action="store_true",
                   help="the client's record lists every fetched row and every push (emulate client --truth-detail)")
    p.add_argument("--gui-order", default=None, metavar="ORDER",
                   help="passed to the emulated client (emulate client --gui-order): which the GUI applies "
                        "first when a reply and a push are both waiting")
    p.add_argument("--wezterm-log", default=None, metavar="PATH",
                   help="the client also writes wezterm-gui's WEZTERM_LOG=wezterm_client=trace log here "
                        "(for `muxscope check-log PATH CAPTURE`)")


def apply(args: argparse.Namespace) -> None:
    """Take the link, the window, the tabs and the drag from ``--scenario`` (what the demo prints uses them)."""
    from muxscope_emulator.reported import get

    scenario = get(args.scenario)
    variant = scenario.variant(args.quick)
    args.rtt, args.bandwidth = scenario.link.rtt, scenario.link.bandwidth
    args.panes, args.scrollback = variant.server.panes, variant.server.scrollback
    args.rows, args.cols = variant.client.rows, variant.client.cols
    args.resizes, args.drag_seconds = variant.client.resizes, variant.client.drag_seconds
    args.timeout = max(args.timeout, variant.client.timeout)
    # the proxy's analysis mirrors the local echo the scenario's client domain has (the GUI reaches the
    # demo's proxy over a unix socket, where --local-echo auto would be off)
    echo = variant.client.local_echo_ms
    args.local_echo = str(echo) if echo else "off"


def describe(args: argparse.Namespace) -> str:
    """What the demo is about to run, for its first line."""
    from muxscope_emulator.reported import get

    scenario = get(args.scenario)
    missing = scenario.missing()
    short = " (quick variant)" if args.quick else ""
    gap = f" (without {', '.join(missing)} (not in this emulator yet): the nearest it has)" if missing else ""
    return f"{scenario.name}{short}, {scenario.url}: {scenario.description}{gap}"


def server_argv(args: argparse.Namespace, sock: str) -> list[str]:
    quick = ["--quick"] if args.quick else []
    return ["emulate", "server", "--listen", f"unix:{sock}", "--scenario", args.scenario, *quick,
            "--seed", str(args.seed)]


def client_argv(args: argparse.Namespace, sock: str, truth: Path) -> list[str]:
    extra = ["--quick"] if args.quick else []
    if args.truth_detail:
        extra.append("--truth-detail")
    if args.wezterm_log:
        extra += ["--wezterm-log", args.wezterm_log]
    if args.gui_order:
        extra += ["--gui-order", args.gui_order]
    return ["emulate", "client", "--connect", f"unix:{sock}", "--scenario", args.scenario, *extra,
            "--policy", args.policy, "--timeout", str(args.timeout), "--seed", str(args.seed),
            "--truth-file", str(truth), "--json"]
