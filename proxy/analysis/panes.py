"""Pane, tab and window structure, learnt from the wire.

Later analyses need to know which tab a pane is in (``TabResized`` names a
tab, not its panes) and each pane's size. The server tells the client in
``ListPanesResponse`` (a tree of ``PaneNode`` per tab), ``SpawnResponse``,
``Resize`` requests and ``PaneRemoved`` pushes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codec.pdu import Pdu


@dataclass
class PaneInfo:
    pane_id: int
    tab_id: int | None = None
    window_id: int | None = None
    rows: int | None = None
    cols: int | None = None
    removed: bool = False


@dataclass
class PaneDirectory:
    panes: dict[int, PaneInfo] = field(default_factory=dict)

    def pane(self, pane_id: int) -> PaneInfo:
        info = self.panes.get(pane_id)
        if info is None:
            info = self.panes[pane_id] = PaneInfo(pane_id)
        return info

    def panes_of_tab(self, tab_id: int) -> list[int]:
        return [p.pane_id for p in self.panes.values() if p.tab_id == tab_id and not p.removed]

    def observe(self, pdu: Pdu) -> None:
        name, body = pdu.name, pdu.body
        if name == "ListPanesResponse":
            for tab in body["tabs"]:
                self._walk(tab)
        elif name == "SpawnResponse":
            p = self.pane(body["pane_id"])
            p.tab_id, p.window_id = body["tab_id"], body["window_id"]
            self._size(p, body["size"])
        elif name == "Resize":
            p = self.pane(body["pane_id"])
            p.tab_id = body["containing_tab_id"]
            self._size(p, body["size"])
        elif name == "PaneRemoved":
            self.pane(body["pane_id"]).removed = True
        elif name == "MovePaneToNewTabResponse":
            pass

    def _walk(self, node: Any) -> None:
        if not isinstance(node, dict):
            return  # "Empty"
        if "Leaf" in node:
            leaf = node["Leaf"]
            p = self.pane(leaf["pane_id"])
            p.tab_id, p.window_id = leaf["tab_id"], leaf["window_id"]
            self._size(p, leaf["size"])
        elif "Split" in node:
            self._walk(node["Split"]["left"])
            self._walk(node["Split"]["right"])

    @staticmethod
    def _size(p: PaneInfo, size: dict[str, Any]) -> None:
        p.rows, p.cols = size["rows"], size["cols"]
