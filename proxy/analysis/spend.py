"""What GetLines cost, counted the same way wherever they are grouped, and the wall-clock clock that shares time.

A resize burst, the fetches outside any burst and a pane's fetches each add up
the same counters under the same names (``spend_summary``), so the report's
rows can be added up to its totals. Two kinds of wait are kept because fetches
overlap: RPC seconds (each fetch's latency, summed) and wall seconds (see
:class:`WallClock`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Protocol

from proxy.analysis.report_model import PerOutcome, SpendSummary
from proxy.analysis.vocabulary import Outcome, empty_rows


class Costs(Protocol):
    """The counters a :class:`Spend` and a resize burst share."""

    getlines: int
    rows_requested: int
    rows: dict[Outcome, int]
    wire_bytes: int
    decompressed_bytes: int
    wait_s: float
    overfetch_wait_s: float
    wall_s: float
    overfetch_wall_s: float


@dataclass
class Spend:
    """What a set of GetLines cost: the fetches outside any burst, one pane's fetches."""

    getlines: int = 0
    rows_requested: int = 0
    rows: dict[Outcome, int] = field(default_factory=empty_rows)
    wire_bytes: int = 0
    decompressed_bytes: int = 0
    wait_s: float = 0.0
    overfetch_wait_s: float = 0.0
    wall_s: float = 0.0
    overfetch_wall_s: float = 0.0

    def summary(self) -> SpendSummary:
        return spend_summary(self)


def spend_summary(s: Costs) -> SpendSummary:
    """The counters a :class:`Spend` and a resize burst share, under the same names in both."""
    rows = PerOutcome.of(s.rows)
    return SpendSummary(
        getlines=s.getlines,
        rows_requested=s.rows_requested,
        rows_returned=sum(s.rows.values()),
        rows=rows,
        overfetch_rows=rows.overfetch,
        wire_bytes=s.wire_bytes,
        decompressed_bytes=s.decompressed_bytes,
        fetch_wait_s=round(s.wait_s, 6),
        overfetch_wait_s=round(s.overfetch_wait_s, 6),
        fetch_wall_s=round(s.wall_s, 6),
        overfetch_wall_s=round(s.overfetch_wall_s, 6),
    )


def add_response(s: Costs, counts: dict[Outcome, int], wire: int, dec: int, latency: float,
                  over_wait: float) -> None:
    for k, v in counts.items():
        s.rows[k] += v
    s.wire_bytes += wire
    s.decompressed_bytes += dec
    s.wait_s += latency
    s.overfetch_wait_s += over_wait


@dataclass
class WallClock:
    """Wall-clock time with GetLines outstanding on one connection, shared among the fetches in flight.

    Each moment is split evenly among the fetches outstanding then, so the shares of all fetches add
    up to the time the client had at least one outstanding (the union of their spans), and any group
    of fetches (a burst, a pane, an outcome's rows) gets a part of it that never exceeds the time that
    passed. O(1) per event: a running sum of 1/n over time, read when a fetch starts and ends.
    """

    #: seconds each outstanding GetLines has accrued so far
    share_s: float = 0.0
    share_t_ns: int | None = None
    #: serial -> (share_s when it was sent, request time) of each GetLines outstanding
    started: dict[int, tuple[float, int]] = field(default_factory=dict)

    def advance(self, t_ns: int) -> None:
        """Share the time since the last start or end of a GetLines among those outstanding."""
        if self.share_t_ns is not None and self.started and t_ns > self.share_t_ns:
            self.share_s += (t_ns - self.share_t_ns) / 1e9 / len(self.started)
        self.share_t_ns = t_ns if self.share_t_ns is None else max(self.share_t_ns, t_ns)

    def start_fetch(self, serial: int, t_ns: int) -> None:
        self.advance(t_ns)
        self.started[serial] = (self.share_s, t_ns)

    def end_fetch(self, serial: int, t_ns: int) -> tuple[float, int]:
        """(wall seconds the fetch is charged, its request time) as it ends at ``t_ns``."""
        self.advance(t_ns)
        share0, t_request = self.started.pop(serial, (self.share_s, t_ns))
        return self.share_s - share0, t_request


@dataclass
class IntervalUnion:
    """The length of a union of intervals added in any order (disjoint runs kept sorted, merged on insert).

    The bursts' settle windows overlap when a burst is still settling as the next begins, and they
    are summarised out of order; the verdict's settling time counts each moment once.
    """

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    def add(self, a: int, b: int) -> None:
        if b < a:
            return
        i = bisect.bisect_left(self.ends, a)  # first run that ends at or after a
        j = bisect.bisect_right(self.starts, b)  # runs before j start at or before b
        if i < j:  # runs i..j-1 touch [a, b]: merge them
            a, b = min(a, self.starts[i]), max(b, self.ends[j - 1])
        self.starts[i:j] = [a]
        self.ends[i:j] = [b]

    def total(self) -> int:
        return sum(e - s for s, e in zip(self.starts, self.ends, strict=True))
