"""The GUI's own copy of each remote tab, and what it resizes: ListPanes, window resizes, divider drags, zoom.

A mixin of :class:`~muxscope_emulator.client.EmulatedClient`. wezterm-gui keeps a
local ``mux::Tab`` per remote tab (``ClientDomain::process_pane_list``); every pane
resize it decides on goes through ``ClientPane::resize``, which sends a Resize
whenever the size differs from the pane's dimensions (the last push's, or the last
resize's). What this mirrors (docs/wezterm-behaviour.md, "splits"):

* TabResized -> ``resync`` -> ListPanes -> ``process_pane_list`` -> ``sync_with_pane_tree``:
  the local tree becomes the listed one and every pane is resized to the listed
  split sizes. A listing that predates the client's own newer Resize makes it send
  the older size back (client.rs:300-316, domain.rs:476-481/580, tab.rs:770-818,
  clientpane.rs:389-423): the feedback of #5142, #6884, #3694;
* a window resize (``TermWindow::resize`` -> ``Tab::resize``);
* a divider drag (mouseevent.rs ``drag_split`` -> ``Tab::resize_split_by``): a Resize
  per pane whose size changed, each bringing a TabResized;
* zoom (``Tab::toggle_zoom``): ``ClientPane::set_zoomed`` (SetPaneZoomed), then the
  pane's Resize.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from muxscope_emulator.panetree import leaves
from muxscope_emulator.splittree import Size, TabTree

if TYPE_CHECKING:
    from muxscope_emulator.clientoptions import ClientOptions
    from muxscope_emulator.clientpane import ClientPane


@dataclass
class ClientTab:
    """``mux::Tab`` in the GUI process for one remote tab."""

    tab_id: int
    window_id: int
    tree: TabTree


@dataclass
class SplitStats:
    """What the divider-drag and zoom scenarios read off the client (``ClientReport.splits``)."""

    #: where the pointer let go of the divider, in cells from the tab's left edge
    pointer: int | None = None
    #: Resizes sent because a listing differed from the pane's dimensions (``tab_resized``)
    fed_back: int = 0
    #: Resizes sent by the user's action (window corner, divider, zoom)
    user: int = 0
    moves: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class TabHandling:
    """Tabs and their panes' sizes for :class:`~muxscope_emulator.client.EmulatedClient`."""

    # what it uses of the client (set in EmulatedClient.__init__)
    options: ClientOptions
    panes: dict[int, ClientPane]
    tabs: dict[int, ClientTab]
    windows: dict[int, list[int]]
    window_size: dict[str, int] | None
    split_stats: SplitStats

    def process_pane_list(self, resp: Mapping[str, Any], cause: str) -> None:
        """``ClientDomain::process_pane_list`` + ``TabInner::sync_with_pane_tree``.

        Known panes are kept, new ones created (each advising the server of our
        palette with SetPalette), then the tab takes the listed tree and size and
        resizes every pane to the listed split sizes: ``ClientPane::resize`` sends a
        Resize wherever that differs from the pane's dimensions, even when the
        listing is older than a Resize the client has sent since (WezTerm does).
        """
        seen: set[int] = set()
        for tabroot, _title in zip(resp["tabs"], resp["tab_titles"], strict=False):
            listed = TabTree.from_pane_node(tabroot)
            if listed is None:
                continue
            entries = list(leaves(tabroot))
            window_id, tab_id = entries[0]["window_id"], entries[0]["tab_id"]
            tab = self.tabs.get(tab_id)
            if tab is None:
                tab = self.tabs[tab_id] = ClientTab(tab_id, window_id, listed)
            tabs = self.windows.setdefault(window_id, [])
            if tab_id not in tabs:
                tabs.append(tab_id)
            for entry in entries:
                seen.add(entry["pane_id"])
                if entry["pane_id"] not in self.panes:
                    self._new_pane(entry)
                self.panes[entry["pane_id"]].zoomed = entry["is_zoomed_pane"]
            self._apply(tab.tree.sync(listed), cause)
        for pane_id in [p for p in self.panes if p not in seen]:
            self.panes.pop(pane_id).dead = True

    def _apply(self, resizes: list[tuple[int, Size]], cause: str) -> int:
        """``pane.resize`` for each, in order; returns how many sent a Resize."""
        sent = 0
        for pane_id, size in resizes:
            pane = self.panes.get(pane_id)
            if pane is not None and pane.resize(size, cause):
                sent += 1
        if cause == "tab_resized":
            self.split_stats.fed_back += sent
        elif cause in ("resize", "zoom"):
            self.split_stats.user += sent
        return sent

    def _adopt_tabs(self) -> None:
        """The GUI's ``TabAddedToWindow`` handling: the window grows to fit its tabs, then ``tab.resize``."""
        rows, cols = self.options.rows, self.options.cols
        for tab in self.tabs.values():
            size = tab.tree.size
            rows, cols = max(rows, size["rows"]), max(cols, size["cols"])
        self.window_size = self._gui_size(rows, cols)
        for tab_id in list(self.tabs):
            self._tab_resize(tab_id, self.window_size, "resize")

    def _tab_resize(self, tab_id: int, size: Mapping[str, int], cause: str) -> None:
        """``Tab::resize``: the zoomed pane gets everything, else the delta goes through the splits."""
        self._apply(self.tabs[tab_id].tree.resize(size), cause)

    # -- the user's actions on splits --------------------------------------------------
    def shown_tab(self) -> ClientTab | None:
        """The first window's active (first) tab."""
        for tab_ids in self.windows.values():
            if tab_ids and tab_ids[0] in self.tabs:
                return self.tabs[tab_ids[0]]
        return None

    def drag_split(self, tab: ClientTab, index: int, x: int, y: int = 0) -> None:
        """``TermWindow::drag_split``: delta = pointer - the divider where the local tab has it now,
        then ``resize_split_by`` (a Resize per pane whose size changed)."""
        splits = tab.tree.iter_splits()
        if index >= len(splits):
            return
        split = splits[index]
        delta = x - split.left if split.direction == "Horizontal" else y - split.top
        self.split_stats.moves += 1
        if delta:
            self._apply(tab.tree.resize_split_by(index, delta), "resize")

    def toggle_zoom(self, tab: ClientTab) -> None:
        """``Tab::toggle_zoom`` (TogglePaneZoomState): ``set_zoomed`` on the active pane (make_all_stale,
        SetPaneZoomed), then the resizes: the zoomed pane to the tab, or the splits back."""
        tree = tab.tree
        pane_id = tree.zoomed if tree.zoomed is not None else tree.active
        pane = self.panes.get(pane_id)
        if pane is None:
            return
        pane.set_zoomed(tree.zoomed is None)
        self._apply(tree.toggle_zoom(), "zoom")

    def divider_offset(self) -> int | None:
        """Where the shown tab's first divider is minus where the pointer let go (None: no drag)."""
        tab = self.shown_tab()
        stats = self.split_stats
        if tab is None or stats.pointer is None:
            return None
        splits = tab.tree.iter_splits()
        return splits[0].left - stats.pointer if splits else None
