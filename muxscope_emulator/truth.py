"""Ground truth the wire alone does not show, in the JSON shape ``muxscope report --json`` emits.

Per fetched row: was it ``superseded`` (discarded by ``put_line``), ``redundant``
(identical content already held), ``new`` or ``changed``; per requested row:
why it was requested; per RPC: the latency the client measured (its last
request byte sent to the response's last byte received; see muxconn.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("redundant", "superseded", "changed", "new")


def _rows() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)


@dataclass
class Truth:
    rows: dict[str, int] = field(default_factory=_rows)
    panes: dict[int, dict[str, int]] = field(default_factory=dict)
    causes: Counter[str] = field(default_factory=Counter)
    rpcs: list[dict[str, Any]] = field(default_factory=list)
    #: (serial, pane, row, outcome, cause) per fetched row: for comparing row by row with muxscope's analysis
    detail: list[tuple[int, int, int, str, str]] = field(default_factory=list)
    #: (pdu, when it took effect, on CLOCK_MONOTONIC: read, or applied if it was queued) per push,
    #: in arrival order: with the capture's times of the same pushes and requests, which requests
    #: crossed which push
    pushes: list[tuple[str, int]] = field(default_factory=list)
    #: (serial, pane, row) of every fetched row that raced a push (:mod:`.racetruth`): superseded
    #: whichever order the GUI applied the two in
    raced: list[tuple[int, int, int]] = field(default_factory=list)
    #: predictive local echo: its threshold (None: off), the keys typed, and per key it predicted
    #: ``[pane, row, key, state before, state after, edited, CLOCK_MONOTONIC ns]``
    local_echo_ms: int | None = None
    keys_typed: int = 0
    predictions: list[list[Any]] = field(default_factory=list)

    def request(self, causes: list[str]) -> None:
        """One GetLines went out asking for rows with these causes."""
        self.causes.update(causes)

    def outcome(self, pane_id: int, outcome: str) -> None:
        self.rows[outcome] += 1
        pane = self.panes.get(pane_id)
        if pane is None:
            pane = self.panes[pane_id] = _rows()
        pane[outcome] += 1

    def reclassify(self, pane_id: int, old: str, new: str) -> None:
        """A row recorded as ``old`` turns out to be ``new`` (a push that raced its reply applied later)."""
        for counts in (self.rows, self.panes[pane_id]):
            counts[old] -= 1
            counts[new] += 1

    def rpc(self, serial: int, pdu: str, latency_ms: float, rows: int = 0, sent_ns: int = 0,
            received_ns: int = 0) -> None:
        """One RPC; ``sent_ns``/``received_ns`` on CLOCK_MONOTONIC, comparable with a capture's times."""
        self.rpcs.append({"serial": serial, "pdu": pdu, "latency_ms": round(latency_ms, 3), "rows": rows,
                          "sent_ns": sent_ns, "received_ns": received_ns})

    @property
    def rows_fetched(self) -> int:
        return sum(self.rows.values())

    def to_json(self, detail: bool = False) -> dict[str, Any]:
        """``{"rows", "panes", "causes", "rpcs", "raced_rows", "raced_rows_by_pane"}``: the shape shared
        with ``muxscope report --json``.

        With local echo on, ``local_echo``: ``{"threshold_ms", "keys", "predicted"}``.
        ``detail`` adds ``rows_detail``: ``[serial, pane, row, outcome, cause]`` per fetched row, and
        ``pushes_detail``: ``[pdu, effective_ns]`` per push read (when it took effect), and
        ``raced_detail``: ``[serial, pane, row]`` per raced row.
        """
        out: dict[str, Any] = {
            "rows": dict(self.rows),
            "panes": {str(pid): {"rows": dict(rows)} for pid, rows in sorted(self.panes.items())},
            "causes": dict(sorted(self.causes.items())),
            "rpcs": sorted(self.rpcs, key=lambda r: r["serial"]),
            "raced_rows": len(self.raced),
            "raced_rows_by_pane": {str(p): n for p, n in sorted(Counter(p for _, p, _ in self.raced).items())},
        }
        if self.local_echo_ms:
            out["local_echo"] = {"threshold_ms": self.local_echo_ms, "keys": self.keys_typed,
                                 "predicted": len(self.predictions)}
        if detail:
            out["raced_detail"] = [list(r) for r in self.raced]
            out["rows_detail"] = [list(d) for d in self.detail]
            out["pushes_detail"] = [list(p) for p in self.pushes]
            if self.local_echo_ms:
                out["predictions_detail"] = self.predictions
        return out
