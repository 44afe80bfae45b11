"""What a ClientPane hands to its client: fetch batches, the hooks it calls, its counters.

Split from :mod:`.clientpane` so the pane's state machine and the wire side
(:mod:`.client`) share these small types without either reaching into the
other: a :class:`FetchBatch` is one ``GetLines`` with the ground truth of why
each row was asked for, and :class:`PaneHooks` is everything the pane would
put on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from muxscope_emulator.clientpane import ClientPane


@dataclass(slots=True)
class FetchRow:
    """What the client knew of a row when it asked for it (ground truth)."""

    cause: str
    #: fingerprint of the line held at request time (any state), None if none
    held: bytes | None


@dataclass(slots=True)
class FetchBatch:
    """One ``GetLines`` as ``schedule_fetch_lines`` builds it."""

    token: int
    ranges: list[tuple[int, int]]
    rows: dict[int, FetchRow]
    #: "render" (get_lines) or "prefetch" (apply_changes_to_surface)
    origin: str


class PaneHooks(Protocol):
    """What a ClientPane asks its client to put on the wire."""

    def fetch_lines(self, pane: ClientPane, batch: FetchBatch) -> None: ...
    def poll(self, pane: ClientPane) -> None: ...
    def send_resize(self, pane: ClientPane, size: dict[str, int]) -> None: ...
    def send_zoom(self, pane: ClientPane, zoomed: bool) -> None: ...


def to_ranges(rows: Iterable[int]) -> list[tuple[int, int]]:
    """``RangeSet`` -> sorted, coalesced half-open ranges (``rangeset`` merges adjacent ones)."""
    out: list[list[int]] = []
    for row in sorted(set(rows)):
        if out and out[-1][1] == row:
            out[-1][1] = row + 1
        else:
            out.append([row, row + 1])
    return [(a, b) for a, b in out]


def rows_of(ranges: Iterable[Mapping[str, int]]) -> set[int]:
    rows: set[int] = set()
    for r in ranges:
        rows.update(range(r["start"], r["end"]))
    return rows


@dataclass
class PaneStats:
    """Counters the report and the tests read."""

    get_lines_batches: int = 0
    prefetch_batches: int = 0
    throttled_pushes: int = 0
    pushes: int = 0
    max_inflight_per_row: int = 0
    #: ``coalesce``: rows that waited for a fetch in flight instead of being asked for again
    coalesced_rows: int = 0
    #: rows asked for again while a fetch for them that left after their last invalidation was in
    #: flight, or had its reply dropped by ``put_line`` (WezTerm's Stale quirk): what coalescing saves
    refetched_in_flight: int = 0
    #: rows made stale by each cause (make_all_stale / make_rewrap_stale)
    staled: dict[str, int] = field(default_factory=dict)
