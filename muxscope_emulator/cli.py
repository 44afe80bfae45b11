"""``muxscope emulate server|client``: the emulated mux server and wezterm-gui client."""

from __future__ import annotations

import argparse

from muxscope_emulator import client_cli, server_cli


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "emulate",
        help="run the emulated mux server or the emulated wezterm-gui client",
        description="An emulated wezterm-mux-server and an emulated wezterm-gui mux client, faithful to "
        "WezTerm's fetch behaviour (line cache, make_all_stale on resize, polling, bonus lines). Use them to "
        "reproduce a resize storm without WezTerm, through `muxscope proxy`.",
    )
    roles = p.add_subparsers(dest="role", metavar="ROLE")
    roles.required = True
    server_cli.register(roles)
    client_cli.register(roles)
