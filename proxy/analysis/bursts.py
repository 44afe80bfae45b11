"""Resize bursts: Resize PDUs on a connection less than ``burst_gap`` apart, and the fetches they caused.

The GetLines sent while a burst is active (its resizes are less than ``burst_gap`` old, or fetches it
caused are still in flight or ended less than ``burst_gap`` ago) belong to it. Settle time runs from
the burst's first Resize to the last response to a GetLines it caused (or the moment one was given
up): the repaint the user watches after letting go of the window corner. A burst that a later Resize
ended while its fetches were in flight waits for them (``ended``) before it is summarised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy.analysis.report_model import BurstSummary
from proxy.analysis.spend import spend_summary
from proxy.analysis.vocabulary import Outcome, empty_rows

#: Resize PDUs closer than this (seconds) form one burst, unless the user says otherwise
DEFAULT_BURST_GAP_S = 0.25


@dataclass
class Burst:
    index: int
    conn_id: int
    t_first_ns: int
    t_last_resize_ns: int
    resizes: list[int] = field(default_factory=list)  # resize times (ns), for the debounce what-if
    panes: set[int] = field(default_factory=set)
    getlines: int = 0
    rows_requested: int = 0
    rows: dict[Outcome, int] = field(default_factory=empty_rows)
    wire_bytes: int = 0
    decompressed_bytes: int = 0
    wait_s: float = 0.0
    overfetch_wait_s: float = 0.0
    open_fetches: int = 0
    t_last_response_ns: int | None = None
    closed: bool = False
    #: a later Resize began the next burst: no new fetch joins this one, it closes when its last is answered
    ended: bool = False
    #: wall-clock seconds its fetches were charged (see spend.WallClock), and their over-fetched share
    wall_s: float = 0.0
    overfetch_wall_s: float = 0.0
    #: (request, response) times of the GetLines it caused, for the busy time
    fetch_spans: list[tuple[int, int]] = field(default_factory=list)

    def fetch_done(self, rpc: Any, counts: dict[Outcome, int], overfetch_wait_s: float) -> None:
        """A GetLines this burst caused was answered: its rows, bytes and wait count here."""
        self.open_fetches -= 1
        self.t_last_response_ns = max(self.t_last_response_ns or 0, rpc.t_response_ns)
        for k, v in counts.items():
            self.rows[k] += v
        self.wire_bytes += rpc.response.wire_len
        self.decompressed_bytes += len(rpc.response.payload)
        self.wait_s += rpc.latency_s
        self.overfetch_wait_s += overfetch_wait_s
        self.fetch_spans.append((rpc.t_request_ns, rpc.t_response_ns))

    def fetch_given_up(self, t_request_ns: int, t_ns: int) -> None:
        """A GetLines this burst caused will never be answered: the client waited on it until now."""
        self.open_fetches -= 1
        self.t_last_response_ns = max(self.t_last_response_ns or 0, t_ns)
        self.fetch_spans.append((t_request_ns, t_ns))

    def busy_s(self) -> float:
        """Time during which at least one GetLines of this burst was in flight."""
        total = 0
        end = None
        for a, b in sorted(self.fetch_spans):
            if end is None or a > end:
                total += b - a
                end = b
            elif b > end:
                total += b - end
                end = b
        return total / 1e9

    def settle_s(self) -> float:
        end = self.t_last_response_ns if self.t_last_response_ns is not None else self.t_last_resize_ns
        return max(0.0, (end - self.t_first_ns) / 1e9)

    def quiet_since_ns(self) -> int:
        return max(self.t_last_resize_ns, self.t_last_response_ns or 0)

    def summary(self) -> BurstSummary:
        return BurstSummary(
            burst=self.index,
            conn=self.conn_id,
            panes=tuple(sorted(self.panes)),
            resizes=len(self.resizes),
            spend=spend_summary(self),
            settle_s=round(self.settle_s(), 6),
            fetch_busy_s=round(self.busy_s(), 6),
            t_first_s=self.t_first_ns / 1e9,
            resize_offsets_s=tuple(round((t - self.t_first_ns) / 1e9, 6) for t in self.resizes),
        )
