"""The emulated server's tabs with splits: ListPanes trees, Resize, SetPaneZoomed and SplitPane.

Kept apart from :mod:`.session` (one connection's handler) because these change the
mux every connection sees: each tab holds a :class:`~.splittree.TabTree`, the
server's ``TabInner``. What is mirrored (docs/wezterm-behaviour.md, "splits"):

* Resize (sessionhandler.rs ``Pdu::Resize``): ``pane.resize`` (a rewrap, new seqnos),
  then ``rebuild_splits_sizes_from_contained_panes``, which notifies TabResized
  unless the tab is zoomed;
* SetPaneZoomed (sessionhandler.rs ``Pdu::SetPaneZoomed`` -> tab.rs ``toggle_zoom``):
  zooming resizes the pane to the whole tab on the server, unzooming ``resize``s
  the splits back (TabResized from ``resize`` and again from ``toggle_zoom``);
* SplitPane (``split_pane`` -> ``Mux::split_pane`` -> ``split_and_insert``): the new
  pane gets the split's second (or first) half, the old one is resized to the other.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from muxscope_emulator.content import prefill
from muxscope_emulator.muxmodel import Pane, Tab
from muxscope_emulator.splittree import HORIZONTAL, Leaf, Size, TabTree, term_size

if TYPE_CHECKING:
    from muxscope_emulator.server import EmulatedMuxServer

LAYOUTS = ("tabs", "split")
#: the cell the emulated server assumes for panes it creates itself (the GUI's default font cell)
CELL = (8, 16, 96)


def pane_size(pane: Pane) -> Size:
    """``TerminalSize`` of a pane's terminal now (what ``pane_tree`` lists)."""
    d = pane.terminal.dimensions()
    return term_size(d["viewport_rows"], d["cols"], d["pixel_width"], d["pixel_height"], d["dpi"])


def tree_of(server: EmulatedMuxServer, tab: Tab) -> TabTree:
    """The tab's split tree; a tab made without one is a single leaf of its pane's size."""
    if tab.tree is None:
        tab.tree = TabTree(Leaf(tab.pane_ids[0]), pane_size(server.panes[tab.pane_ids[0]]))
    tree: TabTree = tab.tree
    return tree


def resize_pane(server: EmulatedMuxServer, pane_id: int, size: Size) -> None:
    """``LocalPane::resize``: the pty (the program redraws on SIGWINCH if the winsize changed), then the
    terminal rewraps (new seqnos)."""
    pane = server.panes.get(pane_id)
    if pane is None:
        return
    term = pane.terminal
    before = (term.rows, term.cols, term.pixel_width, term.pixel_height)
    term.resize(size["rows"], size["cols"], size["pixel_width"], size["pixel_height"], size["dpi"])
    if (term.rows, term.cols, term.pixel_width, term.pixel_height) != before and _serving():
        server.sigwinch(pane)  # the kernel signals only a changed winsize


def _serving() -> bool:
    """A loop runs (not while the server builds its layout, before any client)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def tab_resized(server: EmulatedMuxServer, tab: Tab) -> None:
    """``MuxNotification::TabResized`` -> ``Pdu::TabResized`` to every client (dispatch.rs)."""
    server.broadcast("TabResized", {"tab_id": tab.tab_id})


def list_panes(server: EmulatedMuxServer) -> dict[str, Any]:
    """``ListPanesResponse``: ``codec_pane_tree`` of every tab of every window, and the titles."""
    tabs, titles = [], []
    for window in server.windows.values():
        for tab_id in window.tab_ids:
            tab = server.tabs[tab_id]
            tree = tree_of(server, tab)

            def entry(pane_id: int, left: int, top: int, tab: Tab = tab, tree: TabTree = tree,
                      workspace: str = window.workspace) -> dict[str, Any]:
                pane = server.panes[pane_id]
                term = pane.terminal
                return {
                    "window_id": tab.window_id, "tab_id": tab.tab_id, "pane_id": pane_id, "title": pane.title,
                    "size": pane_size(pane), "working_dir": pane.working_dir,
                    "is_active_pane": tree.active == pane_id, "is_zoomed_pane": tree.zoomed == pane_id,
                    "workspace": workspace, "cursor_pos": term.cursor_position(),
                    "physical_top": term.dimensions()["physical_top"], "top_row": top, "left_col": left,
                    "tty_name": f"/dev/pts/{pane_id}",
                }  # fmt: skip

            tabs.append(tree.to_codec(entry))
            titles.append(tab.title)
    window_titles = {w.window_id: w.title for w in server.windows.values()}
    return {"tabs": tabs, "tab_titles": titles, "window_titles": window_titles}


def on_resize(server: EmulatedMuxServer, tab: Tab, pane_id: int, size: Size) -> None:
    """``Pdu::Resize``: resize the pane, then ``rebuild_splits_sizes_from_contained_panes``."""
    resize_pane(server, pane_id, size)
    if tree_of(server, tab).rebuild_from_panes(lambda p: pane_size(server.panes[p])):
        tab_resized(server, tab)


def on_set_zoomed(server: EmulatedMuxServer, tab: Tab, pane_id: int, zoomed: bool) -> None:
    """``Pdu::SetPaneZoomed``: unzoom another pane first; zoom makes the pane active and resizes it."""
    tree = tree_of(server, tab)
    if tree.zoomed is not None:
        if (tree.zoomed == pane_id) != zoomed:
            _set_zoomed(server, tab, False)
            if zoomed:
                tree.active = tab.active_pane = pane_id
                _set_zoomed(server, tab, True)
    elif zoomed:
        tree.active = tab.active_pane = pane_id
        _set_zoomed(server, tab, True)
    tab.zoomed = tree.zoomed is not None


def _set_zoomed(server: EmulatedMuxServer, tab: Tab, zoomed: bool) -> None:
    """``TabInner::set_zoomed`` -> ``toggle_zoom``: its resizes, TabResized (twice when unzooming:
    ``resize`` notifies too)."""
    tree = tree_of(server, tab)
    if (tree.zoomed is not None) == zoomed:
        return
    for pane_id, size in tree.toggle_zoom():
        resize_pane(server, pane_id, size)
    if not zoomed:
        tab_resized(server, tab)
    tab_resized(server, tab)


def split_pane(server: EmulatedMuxServer, tab: Tab, pane_id: int, request: dict[str, Any]) -> Pane:
    """``Mux::split_pane`` for a spawn (not ``top_level``): the new pane takes its half of the split."""
    tree = tree_of(server, tab)
    size = request.get("size") or {"Percent": 50}
    cells = size.get("Cells") if isinstance(size, dict) else None
    percent = size.get("Percent", 50) if isinstance(size, dict) else 50
    tree.set_zoomed(False)
    new_id = server._id("pane")
    sizes = tree.split(pane_id, new_id, request.get("direction", HORIZONTAL),
                       request.get("target_is_second", True), cells, percent)
    new_size = dict(sizes)[new_id]
    pane = Pane(new_id, tab.tab_id, tab.window_id, new_size["rows"], new_size["cols"], server.options.scrollback,
                server.options.seed, new_size["pixel_width"], new_size["pixel_height"], new_size["dpi"])
    server.panes[new_id] = pane
    tab.pane_ids.append(new_id)
    for pid, s in sizes:
        if pid != new_id:
            resize_pane(server, pid, s)
    tab.active_pane = tree.active
    return pane


def remove_pane(server: EmulatedMuxServer, tab: Tab, pane_id: int) -> None:
    """A pane leaves its tab's tree; its sibling grows into the space."""
    if tab.tree is not None and tab.pane_ids:
        for pid, size in tab.tree.remove(pane_id):
            resize_pane(server, pid, size)


def build_split_layout(server: EmulatedMuxServer, tab: Tab) -> None:
    """``--layout split``: the tab's pane and a new one side by side (``SplitPane`` Horizontal, 50%),
    both with generated content; pixel sizes from :data:`CELL`."""
    first = server.panes[tab.pane_ids[0]]
    t = first.terminal
    cw, ch, dpi = CELL
    t.resize(t.rows, t.cols, t.cols * cw, t.rows * ch, dpi)
    tab.tree = TabTree(Leaf(first.pane_id), pane_size(first))
    pane = split_pane(server, tab, first.pane_id, {"direction": HORIZONTAL, "target_is_second": True})
    tab.active_pane = tab.tree.active = first.pane_id
    prefill(pane.terminal, pane.generator, server.options.initial_rows)
