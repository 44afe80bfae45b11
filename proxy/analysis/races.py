"""Raced rows: fetched rows a push touched while their fetch was in flight (README "Raced rows").

wezterm-gui applies a push two turns of its main-thread queue after reading it and a GetLines reply
one turn after, so which of the two it applied first is a matter of scheduling the wire cannot show.
A row a push delivered, dirtied or dropped (or a SetPalette staled) while its fetch was in flight is
therefore read as superseded whichever the order. Per pane, this keeps which GetLines are in flight
for each row, and what a push did to a row while one was; :class:`~.linemodel.PaneLines` feeds it in
its own (the client's) order, the crossing reorder included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proxy.analysis.vocabulary import Race


@dataclass(slots=True)
class Races:
    #: row -> serials of the GetLines in flight that ask for it (until their reply or failure)
    inflight: dict[int, set[int]] = field(default_factory=dict)
    #: serial -> row -> what a push did to the row while that fetch was in flight
    raced: dict[int, dict[int, Race]] = field(default_factory=dict)

    def requested(self, serial: int, rows: list[int]) -> None:
        for row in rows:
            self.inflight.setdefault(row, set()).add(serial)

    def touched(self, rows: set[int] | None, race: Race) -> None:
        """A push touched ``rows`` (None: every row, a SetPalette): those being fetched raced it."""
        inflight = self.inflight
        if not inflight:
            return
        for row in inflight.keys() if rows is None else rows & inflight.keys():
            for serial in inflight[row]:
                self.raced.setdefault(serial, {}).setdefault(row, race)

    def take(self, serial: int, row: int) -> Race | None:
        """What a push did to ``row`` while the GetLines ``serial`` was in flight, if anything."""
        rows = self.raced.get(serial)
        return rows.pop(row, None) if rows else None

    def done(self, serial: int, rows: list[int]) -> None:
        """A GetLines was judged, failed or given up: no longer in flight."""
        self.raced.pop(serial, None)
        inflight = self.inflight
        for row in rows:
            serials = inflight.get(row)
            if serials is not None:
                serials.discard(serial)
                if not serials:
                    del inflight[row]
