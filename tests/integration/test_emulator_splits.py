"""Split tabs in the emulated server and client: ListPanes trees, SplitPane, zoom on the server, and
the divider-drag and zoom scenarios end to end (docs/wezterm-behaviour.md, "splits")."""

from __future__ import annotations

from typing import Any

import pytest

from muxscope_emulator import servertabs
from muxscope_emulator.server import EmulatedMuxServer, ServerOptions
from muxscope_emulator.session import Session
from tests.integration.test_emulator_client import assert_truth_adds_up, run_client


class _Sent:
    """A session's writer that keeps nothing (the test reads what the session handler returns)."""

    def write(self, data: bytes) -> None:
        pass


def _server() -> tuple[EmulatedMuxServer, Session, list[str]]:
    server = EmulatedMuxServer(ServerOptions(layout="split", prefill_rows=200))
    notified: list[str] = []
    server.broadcast = lambda name, body: notified.append(name)  # type: ignore[method-assign]
    return server, Session(server, _Sent()), notified  # type: ignore[arg-type]


def _leaves(node: Any) -> list[dict[str, Any]]:
    if "Leaf" in node:
        return [node["Leaf"]]
    return _leaves(node["Split"]["left"]) + _leaves(node["Split"]["right"])


def test_the_split_layout_lists_a_split_whose_panes_add_up_with_the_divider():
    _, session, _ = _server()
    _, body = session.on_ListPanes({})
    (tab,) = body["tabs"]
    node = tab["Split"]["node"]
    assert node["direction"] == "Horizontal"
    assert node["first"]["cols"] + 1 + node["second"]["cols"] == 80
    left, right = _leaves(tab)
    assert (left["size"]["cols"], right["size"]["cols"], right["left_col"]) == (39, 40, 40)
    assert left["is_active_pane"] and not right["is_active_pane"]


def test_resize_rebuilds_the_split_from_the_panes_and_notifies():
    server, session, notified = _server()
    seqno = server.pane(0).terminal.seqno
    session.on_Resize({"containing_tab_id": 0, "pane_id": 0,
                       "size": {"rows": 24, "cols": 35, "pixel_width": 280, "pixel_height": 384, "dpi": 96}})
    assert server.pane(0).terminal.seqno > seqno and notified == ["TabResized"]
    node = session.on_ListPanes({})[1]["tabs"][0]["Split"]["node"]
    assert (node["first"]["cols"], node["second"]["cols"]) == (35, 40)  # 76 wide until pane 1 follows


def test_zoom_resizes_the_pane_on_the_server_and_unzoom_gives_the_split_back():
    server, session, notified = _server()
    term = server.pane(1).terminal
    seqno = term.seqno
    session.on_SetPaneZoomed({"containing_tab_id": 0, "pane_id": 1, "zoomed": True})
    assert (term.cols, notified) == (80, ["TabResized"]) and term.seqno > seqno  # rewrapped
    leaves = _leaves(session.on_ListPanes({})[1]["tabs"][0])
    assert [leaf["is_zoomed_pane"] for leaf in leaves] == [False, True]
    session.on_Resize({"containing_tab_id": 0, "pane_id": 1,
                       "size": {"rows": 24, "cols": 80, "pixel_width": 640, "pixel_height": 384, "dpi": 96}})
    assert notified == ["TabResized"]  # none while zoomed
    session.on_SetPaneZoomed({"containing_tab_id": 0, "pane_id": 1, "zoomed": False})
    assert term.cols == 40 and notified == ["TabResized"] * 3  # resize and toggle_zoom each notify


def test_split_pane_answers_with_the_new_pane():
    server, session, _ = _server()
    name, body = session.on_SplitPane({
        "pane_id": 1, "command": None, "command_dir": None, "domain": "CurrentPaneDomain", "move_pane_id": None,
        "split_request": {"direction": "Vertical", "target_is_second": True, "top_level": False,
                          "size": {"Percent": 50}},
    })  # fmt: skip
    assert name == "SpawnResponse" and body["pane_id"] == 2 and body["tab_id"] == 0
    assert (body["size"]["rows"], body["size"]["cols"]) == (12, 40)
    assert server.pane(1).terminal.rows == 11
    assert [leaf["pane_id"] for leaf in _leaves(session.on_ListPanes({})[1]["tabs"][0])] == [0, 1, 2]
    servertabs.remove_pane(server, server.tabs[0], 2)
    assert server.pane(1).terminal.rows == 24


@pytest.mark.xfail(strict=False, reason=(
    "1 of 3 loaded full-suite runs: no Resize fed back reached the truth's causes (no 'resize' cause); "
    "passes alone"))
def test_divider_drag_feeds_back_and_ends_on_the_servers_sizes():
    report, _ = run_client({"layout": "split"}, scenario="divider-drag", resizes=8, drag_seconds=0.4)
    assert report.settled, report.errors
    assert_truth_adds_up(report)
    splits = report.splits
    assert splits["moves"] == 8 and splits["user_resizes"] > 0
    assert report.rpcs["Resize"] == splits["user_resizes"] + splits["fed_back_resizes"]
    assert report.rpcs["ListPanes"] > 1 and isinstance(splits["divider_offset"], int)
    assert "resize" in report.truth["causes"]


def test_zoom_scenario_sends_set_pane_zoomed_then_resize():
    report, _ = run_client({"layout": "split"}, scenario="zoom", zoom_seconds=0.2)
    assert report.settled, report.errors
    assert report.rpcs["SetPaneZoomed"] == 2 and report.rpcs["Resize"] == 2
    assert report.truth["causes"].get("zoom", 0) > 0
    assert report.splits["pane_sizes"] == {"0": [39, 24], "1": [40, 24]}
