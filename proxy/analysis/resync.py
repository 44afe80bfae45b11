"""Who asked for a Resize: the user, a zoom, or a TabResized resync fed back by the client.

wezterm-client answers every ``TabResized`` (and ``TabAddedToWindow``) by listing the
panes again (client.rs:300-316 -> domain.rs ``resync``) and, in ``process_pane_list`` ->
``sync_with_pane_tree``, resizing every pane to the size the listing gives it. A pane
whose dimensions (the last push's, or the client's own last Resize) differ from the
listed size gets a Resize back, ``make_all_stale`` first (clientpane.rs:389-423): the
feedback that makes a drag end at an older size (#5142, #6884, #3694). Zooming sends
``SetPaneZoomed`` and then, in the same step, the zoomed pane's Resize (tab.rs
``toggle_zoom``; clientpane.rs ``set_zoomed``). docs/wezterm-behaviour.md, "splits".

:class:`ResizeCauses` works out after each listing which Resizes the client may send back
(each pane's listed size), and names each Resize's cause:
``tab_resized`` for those, ``zoom`` for the Resizes right behind a SetPaneZoomed, else
``resize`` (the user's). Pure: fed PDU bodies, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy.analysis.vocabulary import Cause

#: how many listings' sizes per pane may still be sent back
OWED_LISTINGS = 4
#: what ``ClientPane::resize`` compares: rows, cols and the pixel size
Dims = tuple[int, int, int, int]


def size_dims(size: Mapping[str, Any]) -> Dims:
    """A ``TerminalSize`` as compared by ``ClientPane::resize``."""
    return size["rows"], size["cols"], size.get("pixel_width", 0), size.get("pixel_height", 0)


def listed_sizes(tabroot: Any) -> Iterator[tuple[int, Dims]]:
    """Each pane's size after ``sync_with_pane_tree`` of one listed tab: the zoomed pane gets the
    root size (``PaneNode::root_size``), the others their parent split's ``first``/``second``
    (``apply_sizes_from_splits``); a lone leaf its own size."""
    if not isinstance(tabroot, dict):
        return
    zoomed = [leaf for leaf in _leaves(tabroot) if leaf["is_zoomed_pane"]]
    if zoomed:
        yield zoomed[0]["pane_id"], _root_dims(tabroot)
        return
    yield from _split_sizes(tabroot, None)


def _leaves(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "Leaf" in node:
            yield node["Leaf"]
        elif "Split" in node:
            yield from _leaves(node["Split"]["left"])
            yield from _leaves(node["Split"]["right"])


def _split_sizes(node: Any, size: Mapping[str, Any] | None) -> Iterator[tuple[int, Dims]]:
    if not isinstance(node, dict):
        return
    if "Leaf" in node:
        leaf = node["Leaf"]
        yield leaf["pane_id"], size_dims(size if size is not None else leaf["size"])
        return
    split = node["Split"]
    yield from _split_sizes(split["left"], split["node"]["first"])
    yield from _split_sizes(split["right"], split["node"]["second"])


def _root_dims(node: Mapping[str, Any]) -> Dims:
    """``PaneNode::root_size`` (``SplitDirectionAndSize::size`` for a split)."""
    if "Leaf" in node:
        return size_dims(node["Leaf"]["size"])
    spec = node["Split"]["node"]
    first, second = spec["first"], spec["second"]
    horizontal = spec["direction"] == "Horizontal"
    cols = first["cols"] + second["cols"] + 1 if horizontal else first["cols"]
    rows = first["rows"] if horizontal else first["rows"] + second["rows"] + 1
    cw = first.get("pixel_width", 0) // max(first["cols"], 1)
    ch = first.get("pixel_height", 0) // max(first["rows"], 1)
    return rows, cols, cw * cols, ch * rows


@dataclass
class ResizeCauses:
    """Per connection: the Resizes the listings may oblige the client to send, and the zoom's."""

    #: pane -> the sizes the last few listings gave it, oldest first: a Resize to one is the resync's
    owed: dict[int, list[Dims]] = field(default_factory=dict)
    #: panes whose next Resize (right behind a SetPaneZoomed) is the zoom's
    zooming: set[int] = field(default_factory=set)
    #: tab of each pane, from the listings
    tab_of: dict[int, int] = field(default_factory=dict)
    resizes: dict[Cause, int] = field(default_factory=dict)

    def listed(self, resp: Mapping[str, Any]) -> None:
        """A ListPanesResponse: each pane's listed size is owed. The client sends it only where its
        dims differ, but whether they do cannot be told from the wire: the client may have sent a
        Resize that the wire shows after this listing (it read the listing late). So the size stays
        owed until a Resize to it. Several listings can be on their way at once (each Resize brings a
        TabResized), and the client may read one after the wire shows the next: the last
        :data:`OWED_LISTINGS` sizes stay owed."""
        for tabroot in resp.get("tabs", ()):
            for leaf in _leaves(tabroot):
                self.tab_of[leaf["pane_id"]] = leaf["tab_id"]
            for pane_id, size in listed_sizes(tabroot):
                owed = self.owed.setdefault(pane_id, [])
                if not owed or owed[-1] != size:
                    owed.append(size)
                    del owed[:-OWED_LISTINGS]

    def zoomed(self, body: Mapping[str, Any]) -> None:
        """SetPaneZoomed: the Resizes of the tab's panes that follow at once are the zoom's."""
        tab = body.get("containing_tab_id")
        self.zooming = {p for p, t in self.tab_of.items() if t == tab} | {body["pane_id"]}

    def other_request(self) -> None:
        """Any other client request: the zoom's Resizes are behind it."""
        self.zooming.clear()

    def resize(self, pane_id: int, size: Mapping[str, Any]) -> Cause:
        """A Resize the client sent: whose doing it was."""
        if pane_id in self.zooming:
            cause = Cause.ZOOM
        elif size_dims(size) in self.owed.get(pane_id, ()):
            cause = Cause.TAB_RESIZED
            owed = self.owed[pane_id]
            del owed[: owed.index(size_dims(size)) + 1]  # it and the older listings are answered
        else:
            cause = Cause.RESIZE
            self.zooming.clear()
        self.resizes[cause] = self.resizes.get(cause, 0) + 1
        return cause
