"""The registry of sessions from WezTerm's bug reports is complete and consistent.

Every scenario issue 14 names is there, with the numbers its reporter gave; server,
client and link are buildable from it before and after the features it needs land
(the late fields fall back or are passed, never silently both); and the CLIs
(``emulate server|client --scenario``, ``demo --scenario``) take it.
"""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from muxscope_emulator import reported, scenarios
from muxscope_emulator.content import ContentGenerator
from proxy.relay.shaping import parse_bandwidth, parse_duration

WANTED = {"issue-7331", "issue-5142", "issue-3694", "issue-2048", "issue-2503"}


def test_every_reported_session_is_there():
    assert set(reported.NAMES) == WANTED
    for name, s in reported.REGISTRY.items():
        assert s.name == name
        assert s.url == "https://github.com/wezterm/wezterm/issues/" + name.removeprefix("issue-")
        assert s.title and s.description.endswith(".")
        assert s.needs <= reported.FEATURES.keys(), s.needs - reported.FEATURES.keys()


@pytest.mark.parametrize("name", sorted(WANTED))
def test_variants_are_consistent(name):
    s = reported.get(name)
    full, quick = s.full, s.quick
    assert dataclasses.is_dataclass(s) and s.__dataclass_params__.frozen
    # the quick variant is the same session, shorter
    assert (quick.server.panes, quick.server.layout, quick.server.content, quick.server.app, quick.server.stream_pane) \
        == (full.server.panes, full.server.layout, full.server.content, full.server.app, full.server.stream_pane)
    assert bool(quick.server.stream_lines_per_s) == bool(full.server.stream_lines_per_s)
    assert quick.client.runner == full.client.runner and quick.client.local_echo_ms == full.client.local_echo_ms
    assert quick.server.scrollback <= full.server.scrollback
    assert quick.client.drag_seconds <= full.client.drag_seconds and quick.client.resizes <= full.client.resizes
    assert full.client.runner in scenarios.RUNNERS
    # local_echo_threshold_ms: 100 on SSH and TLS domains, off on unix domains
    assert full.client.local_echo_ms == (None if s.link.domain == "unix" else 100)
    assert ("local-echo" in s.needs) == (s.link.domain != "unix")
    assert parse_duration(s.link.rtt) >= 0 and parse_bandwidth(s.link.bandwidth) > 0
    if full.server.stream_lines_per_s:
        assert full.server.stream_pane < full.server.panes and "stream" in s.needs


def test_the_numbers_of_the_reports():
    """issue 14's figures: #7331 3 tabs of 10,000 lines of find output, one streaming, a 10 s drag
    over 40 ms / 20 Mbit/s; #5142 a split, 5 s of divider drag; #3694 200 lines/s."""
    s = reported.get("issue-7331")
    assert (s.link.rtt, s.link.bandwidth) == ("40ms", "20mbit")
    srv, cli = s.full.server, s.full.client
    assert (srv.panes, srv.scrollback, srv.prefill_rows, srv.content) == (3, 10_000, 10_000, "find")
    assert srv.stream_lines_per_s > 0 and srv.stream_pane is not None
    assert (cli.runner, cli.drag_seconds) == ("stream-resize", 10.0)  # the drag, once the stream runs
    s = reported.get("issue-5142").full
    assert (s.server.layout, s.server.panes) == ("split", 1)  # one tab, split in two
    assert (s.client.runner, s.client.drag_seconds) == ("divider-drag", 5.0)
    assert reported.get("issue-3694").full.server.stream_lines_per_s == 200
    srv = reported.get("issue-2048").full.server
    assert srv.panes == 2 and srv.stream_pane == 1  # printing in a background tab, typing in the shown one
    assert reported.get("issue-2503").full.server.app == "editor"


@pytest.mark.parametrize("quick", [False, True])
@pytest.mark.parametrize("name", sorted(WANTED))
def test_options_build_before_and_after_the_features_land(name, quick):
    spec = reported.get(name).variant(quick)
    server = reported.server_options(name, quick, seed=3)
    client = reported.client_options(name, quick, policy="coalesce", seed=3)
    assert server.seed == client.seed == 3 and str(client.policy) == "coalesce"
    assert (server.panes, server.scrollback, server.content) == (spec.server.panes, spec.server.scrollback,
                                                                 spec.server.content)
    assert client.scenario in scenarios.RUNNERS
    assert (client.rows, client.cols, client.resizes) == (spec.client.rows, spec.client.cols, spec.client.resizes)
    # the stream in its one pane, at its rate (max: as fast as it can), after the attach; no output elsewhere
    rate = spec.server.stream_lines_per_s
    assert server.output_rate == 0
    assert server.stream == (None if not rate else "max" if rate == reported.MAX_RATE else f"{rate:g}")
    assert (server.stream_pane, server.stream_delay_s, server.app) == (
        spec.server.stream_pane, spec.server.stream_delay_s, spec.server.app)
    assert client.local_echo_ms == spec.client.local_echo_ms
    assert client.scenario == spec.client.runner and server.layout == spec.server.layout
    assert not reported.get(name).missing()  # every feature it needs has landed


def test_every_feature_the_scenarios_need_is_here_and_the_gui_order_passes():
    assert all(has() for has in reported.FEATURES.values()), [f for f, has in reported.FEATURES.items() if not has()]
    assert reported.client_options("issue-7331", True).gui_order == "queue"  # as wezterm-gui does
    assert reported.client_options("issue-7331", True, gui_order="push-first").gui_order == "push-first"


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="issue-7331"):
        reported.get("issue-1")


def test_find_content_is_find_output():
    gen = ContentGenerator(1, kind="find")
    lines = gen.lines(50).decode().split("\r\n")[:-1]
    assert len(lines) == 50 and all(ln.startswith("/usr/") and "\x1b" not in ln for ln in lines)
    assert ContentGenerator(1).lines(50) != gen.lines(50)
    with pytest.raises(ValueError):
        ContentGenerator(1, kind="cat")


def test_the_clis_take_a_scenario():
    from muxscope_emulator import client_cli, server_cli
    from proxy.cli.main import build_parser

    sub = argparse.ArgumentParser().add_subparsers()
    args = server_cli.register(sub).parse_args(["--scenario", "issue-7331", "--quick", "--seed", "2"])
    assert server_cli.options_from_args(args) == reported.server_options("issue-7331", True, seed=2)
    args = server_cli.register(argparse.ArgumentParser().add_subparsers()).parse_args(
        ["--scenario", "resize-drag", "--content", "find"])
    assert server_cli.options_from_args(args).content == "find"  # a client scenario name changes nothing
    args = client_cli.register(argparse.ArgumentParser().add_subparsers()).parse_args(
        ["--connect", "unix:/x", "--scenario", "issue-2503", "--quick"])
    assert client_cli._options(args).scenario == reported.runner("issue-2503", True)
    from proxy.cli import demo_scenario

    args = build_parser().parse_args(["demo", "--scenario", "issue-3694", "--quick", "--policy", "selective"])
    demo_scenario.apply(args)
    quick = reported.get("issue-3694").quick
    assert (args.rtt, args.resizes, args.rows) == ("40ms", quick.client.resizes, quick.client.rows)
    assert args.local_echo == "100"  # a TLS domain: the proxy's analysis mirrors the client's local echo
    argv = demo_scenario.client_argv(args, "/p.sock", "/t.json")
    assert argv[argv.index("--scenario") + 1] == "issue-3694" and "--quick" in argv and "selective" in argv
    assert "issue-3694" in demo_scenario.server_argv(args, "/s.sock")
