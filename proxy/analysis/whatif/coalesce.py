"""The coalescing what-if: rows asked for again while a still-valid fetch for them was out.

A client that coalesces never asks for a row whose fetch, sent after the row's last invalidation,
is still pending or had its reply dropped: it would have waited for (or kept) that one. The
tracker keeps an event counter, when each row (and the whole pane) was last invalidated, and each
row's latest fetch; the reorder log snapshots and restores it with the line cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from proxy.analysis.linestate import bound_rows

if TYPE_CHECKING:
    from proxy.analysis.crossing import LoggedEvent


class FetchFate(Enum):
    PENDING = "pending"
    KEPT = "kept"
    DROPPED = "dropped"


@dataclass
class CoalesceTracker:
    max_rows: int
    tick: int = 0
    #: when the whole pane was last made stale
    stale_from: int = 0
    #: row -> when a push last invalidated it
    invalid_from: dict[int, int] = field(default_factory=dict)
    #: row -> its latest fetch as (tick, serial, fate)
    last_fetch: dict[int, tuple[int, int, FetchFate]] = field(default_factory=dict)

    def rows_invalidated(self, rows: set[int]) -> dict[int, int]:
        """A push touched ``rows``; returns what they were before, for the reorder log."""
        before = {row: self.invalid_from.get(row, 0) for row in rows}
        self.tick += 1
        for row in rows:
            self.invalid_from[row] = self.tick
        bound_rows(self.invalid_from, self.max_rows)
        return before

    def all_invalidated(self) -> int:
        """``make_all_stale``; returns when the pane was last made stale before, for the reorder log."""
        before = self.stale_from
        self.tick += 1
        self.stale_from = self.tick
        return before

    def requested(self, serial: int, rows: list[int]) -> int:
        """A GetLines for ``rows``: how many of them a coalescing client would not have asked for."""
        self.tick += 1
        tick, last = self.tick, self.last_fetch
        n = 0
        for row in rows:
            prior = last.get(row)
            if (prior is not None and prior[2] is not FetchFate.KEPT
                    and prior[0] > max(self.stale_from, self.invalid_from.get(row, 0))):
                n += 1
            last[row] = (tick, serial, FetchFate.PENDING)
        bound_rows(last, self.max_rows)
        return n

    def replied(self, serial: int, row: int, kept: bool) -> None:
        fetch = self.last_fetch.get(row)
        if fetch is not None and fetch[1] == serial:
            self.last_fetch[row] = (fetch[0], serial, FetchFate.KEPT if kept else FetchFate.DROPPED)

    def restore(self, undo: LoggedEvent) -> None:
        """Take back what a logged event changed."""
        self.invalid_from.update(undo.invalid_from)
        if undo.stale_kind is not None:
            self.stale_from = undo.stale_from
