"""Pane, tab and window structure, learnt from the wire.

Later analyses need to know which tab a pane is in (``TabResized`` names a
tab, not its panes) and each pane's size. The server tells the client in
``ListPanesResponse`` (a tree of ``PaneNode`` per tab), ``SpawnResponse``,
``Resize`` requests and ``PaneRemoved`` pushes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proxy.analysis.wire import Fact, PaneListed, PaneRemoved, PanesListed, PaneSpawned, Resize


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

    def observe(self, fact: Fact | None) -> None:
        """Learn from what a PDU states (:mod:`proxy.analysis.wire`)."""
        if isinstance(fact, PanesListed):
            for listed in fact.panes:
                self._listed(listed)
        elif isinstance(fact, PaneSpawned):
            self._listed(fact.pane)
        elif isinstance(fact, Resize):
            p = self.pane(fact.pane_id)
            p.tab_id = fact.tab_id
            p.rows, p.cols = fact.size.rows, fact.size.cols
        elif isinstance(fact, PaneRemoved):
            self.pane(fact.pane_id).removed = True

    def _listed(self, listed: PaneListed) -> None:
        p = self.pane(listed.pane_id)
        p.tab_id, p.window_id = listed.tab_id, listed.window_id
        p.rows, p.cols = listed.size.rows, listed.size.cols
