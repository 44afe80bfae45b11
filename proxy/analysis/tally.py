"""Rows, wait and bytes added up per outcome and cause (one tally per connection, one overall)."""

from __future__ import annotations

from typing import Any

from proxy.analysis.spend import Spend
from proxy.analysis.vocabulary import CAUSES, OUTCOMES, RACES, Cause, Outcome, Race, empty_rows


class _Triple:
    """(rows, wait seconds, wire bytes), added to with ``+= (n, w, b)``."""

    def __init__(self) -> None:
        self.rows = 0
        self.wait_s = 0.0
        self.wire_bytes = 0.0

    def __iadd__(self, other: tuple[int, float, float]) -> _Triple:
        self.rows += other[0]
        self.wait_s += other[1]
        self.wire_bytes += other[2]
        return self


class Tally:
    """Rows, wait and bytes added up per outcome and cause (one per connection, one overall)."""

    def __init__(self) -> None:
        self.rows = empty_rows()
        self.panes: dict[int, dict[str, int]] = {}
        self.causes = dict.fromkeys(CAUSES, 0)
        self.rows_by_cause_outcome: dict[tuple[str, str], int] = {}
        self.wait_s = dict.fromkeys(OUTCOMES, 0.0)
        self.wait_by_cause_outcome: dict[tuple[str, str], float] = {}
        self.wire_bytes = dict.fromkeys(OUTCOMES, 0.0)
        self.decompressed_bytes = dict.fromkeys(OUTCOMES, 0.0)
        self.bytes_by_cause_outcome: dict[tuple[str, str], float] = {}
        #: a bonus line is never dropped, so never superseded
        self.bonus_rows = {Outcome.REDUNDANT: 0, Outcome.CHANGED: 0, Outcome.NEW: 0}
        self.getlines = 0
        self.rows_requested = 0
        #: rows asked for again while a still-valid fetch for them was pending or had been dropped
        self.coalescible_rows = 0
        #: GetLines the client wrote before it read pushes the proxy had already relayed (see linemodel)
        self.crossed_requests = 0
        self.fetch_wait_s = 0.0
        #: wall-clock seconds with at least one GetLines outstanding (spend.WallClock), and their split by outcome
        self.fetch_wall_s = 0.0
        self.wall_s = dict.fromkeys(OUTCOMES, 0.0)
        #: per pane: GetLines, rows requested and returned, RPC and wall seconds
        self.pane_spend: dict[int, Spend] = {}
        #: rows a selective client would not have asked for: (rows, wait, wire bytes)
        self.selective_saved = _Triple()
        #: raced rows (a push touched them while their fetch was in flight), by what the push did,
        #: and per pane
        self.raced = dict.fromkeys(RACES, 0)
        self.raced_by_pane: dict[int, int] = {}

    def raced_fields(self) -> dict[str, Any]:
        """The report's raced-row fields (:class:`~proxy.analysis.report_model.Report`)."""
        return {"raced_rows": sum(self.raced.values()), "raced_rows_by_pane": dict(sorted(self.raced_by_pane.items())),
                "raced_rows_by_cause": {r: n for r, n in self.raced.items() if n}}

    def add_row(self, pane: int, cause: Cause, out: Outcome, wait: float, wire: float, dec: float,
                raced: Race | None = None) -> None:
        if raced is not None:
            self.raced[raced] += 1
            self.raced_by_pane[pane] = self.raced_by_pane.get(pane, 0) + 1
        self.rows[out] += 1
        self.panes.setdefault(pane, empty_rows())[out] += 1
        key = (cause, out)
        self.rows_by_cause_outcome[key] = self.rows_by_cause_outcome.get(key, 0) + 1
        self.wait_s[out] += wait
        self.wait_by_cause_outcome[key] = self.wait_by_cause_outcome.get(key, 0.0) + wait
        self.wire_bytes[out] += wire
        self.decompressed_bytes[out] += dec
        self.bytes_by_cause_outcome[key] = self.bytes_by_cause_outcome.get(key, 0.0) + wire
