"""The GUI's own tab copies (muxscope_emulator/clienttabs.py): what each listing, divider move and zoom
makes the client send, driven without a server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from muxscope_emulator.clientpane import ClientPane
from muxscope_emulator.clienttabs import ClientTab, SplitStats, TabHandling
from muxscope_emulator.splittree import HORIZONTAL, Leaf, TabTree, apply_sizes_from_splits, term_size


class Wire:
    """Records the Resize and SetPaneZoomed requests the panes would send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, Any]] = []

    def fetch_lines(self, pane: ClientPane, batch: Any) -> None:
        pass

    def poll(self, pane: ClientPane) -> None:
        pass

    def send_resize(self, pane: ClientPane, size: dict[str, int]) -> None:
        self.sent.append(("Resize", pane.remote_pane_id, size["cols"]))

    def send_zoom(self, pane: ClientPane, zoomed: bool) -> None:
        self.sent.append(("SetPaneZoomed", pane.remote_pane_id, zoomed))


class Gui(TabHandling):
    def __init__(self) -> None:
        self.wire = Wire()
        self.panes: dict[int, ClientPane] = {}
        self.tabs: dict[int, ClientTab] = {}
        self.windows: dict[int, list[int]] = {}
        self.window_size = None
        self.split_stats = SplitStats()

    def _new_pane(self, entry: Mapping[str, Any]) -> ClientPane:
        pane = ClientPane(entry["pane_id"], entry["tab_id"], entry["size"], "t", self.wire)
        self.panes[entry["pane_id"]] = pane
        return pane


def _listing(first: int, second: int, zoomed: int | None = None) -> dict[str, Any]:
    server = TabTree(Leaf(0), term_size(24, 80, 640, 384, 96))
    server.split(0, 1, HORIZONTAL)
    server.active = 0
    if first != 39:
        server.resize_split_by(0, first - 39)
    if zoomed is not None:
        server.active = zoomed
        server.toggle_zoom()
    sizes = dict(apply_sizes_from_splits(server.root, server.size))  # each pane as it is on the server
    sizes.update(server.pane_sizes())

    def entry(pane_id: int, left: int, top: int) -> dict[str, Any]:
        return {"pane_id": pane_id, "tab_id": 3, "window_id": 0, "size": sizes[pane_id],
                "is_active_pane": pane_id == server.active, "is_zoomed_pane": pane_id == server.zoomed,
                "left_col": left, "top_row": top}

    return {"tabs": [server.to_codec(entry)], "tab_titles": [""]}


def test_a_listing_older_than_the_drag_is_sent_back():
    """The divider moved to 36 locally; a listing from before (39/40) resizes both panes back."""
    gui = Gui()
    gui.process_pane_list(_listing(39, 40), "tab_resized")
    assert gui.wire.sent == []  # new panes take the listed sizes
    tab = gui.tabs[3]
    gui.drag_split(tab, 0, 36)
    assert gui.wire.sent == [("Resize", 0, 36), ("Resize", 1, 43)]
    gui.process_pane_list(_listing(39, 40), "tab_resized")
    assert gui.wire.sent[2:] == [("Resize", 0, 39), ("Resize", 1, 40)]
    assert gui.split_stats.fed_back == 2 and gui.split_stats.user == 2
    assert tab.tree.iter_splits()[0].left == 39  # the divider is back where the server had it


def test_a_listing_that_agrees_sends_nothing():
    gui = Gui()
    gui.process_pane_list(_listing(39, 40), "tab_resized")
    gui.drag_split(gui.tabs[3], 0, 36)
    gui.process_pane_list(_listing(36, 43), "tab_resized")
    assert len(gui.wire.sent) == 2 and gui.split_stats.fed_back == 0


def test_zoom_sends_set_pane_zoomed_then_the_resize_and_unzoom_the_same():
    gui = Gui()
    gui.process_pane_list(_listing(39, 40), "tab_resized")
    tab = gui.tabs[3]
    gui.toggle_zoom(tab)
    assert gui.wire.sent == [("SetPaneZoomed", 0, True), ("Resize", 0, 80)]
    assert tab.tree.visible() == [0]
    gui.process_pane_list(_listing(39, 40, zoomed=0), "tab_resized")  # the server agrees: nothing sent
    assert len(gui.wire.sent) == 2
    gui.toggle_zoom(tab)
    assert gui.wire.sent[2:] == [("SetPaneZoomed", 0, False), ("Resize", 0, 39)]
