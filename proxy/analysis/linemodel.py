"""What the client has been sent, per pane and stable row, as seen from the wire.

Mirrors the bookkeeping of wezterm-client's ``RenderableInner`` closely enough
to say, for every row a ``GetLines`` asks for, what the client already held
and why it asked:

* rows arrive in ``GetLinesResponse`` (unless the client discards them, see
  ``superseded`` below) and in ``bonus_lines`` of ``GetPaneRenderChangesResponse``
  (renderable.rs ``apply_changes_to_surface`` -> ``put_line(.., None)``: always kept);
* ``dirty_lines`` (plus the old and new cursor rows when the cursor moved)
  announce rows as changed; rows above ``physical_top`` are dropped from the
  client's cache outright (the entry is popped before ``make_stale`` looks);
* ``Resize``/``SetPaneZoomed`` from the client and ``SetPalette``/``TabResized``
  from the server invalidate everything the client holds (``make_all_stale``).

A fetched row is *superseded* when, after its ``GetLines`` left and before the
response arrived, the client was sent that row by other means (bonus lines) or
told it is dirty again: either way the client restamps the cache entry and
``put_line`` then drops the fetched line ("changed since fetch started, leave
it be").

Memory is bounded: a fingerprint, a timestamp and two small ints per row, and
at most ``max_rows`` rows per pane (oldest deliveries forgotten first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Causes of a requested row, and outcomes of a fetched row.
CAUSES = ("dirty", "resize", "zoom", "palette", "tab_resized", "first_view", "unexplained")
OUTCOMES = ("redundant", "superseded", "changed", "new")
EVENT_KINDS = ("resize", "zoom", "palette", "tab_resized")
DEFAULT_MAX_ROWS = 200_000


@dataclass(slots=True)
class RowState:
    fingerprint: bytes
    t_ns: int
    #: ordinal of the delivery (connection-wide event counter)
    seq: int


@dataclass(slots=True)
class PendingFetch:
    """A GetLines in flight: what the client held for each row when it asked, and why it asked."""

    serial: int
    pane_id: int
    t_ns: int
    seq: int
    held: dict[int, bytes | None]
    causes: dict[int, str]
    #: rows the client was re-sent or re-told about after this request left
    superseded_rows: set[int] = field(default_factory=set)
    burst: Any = None


@dataclass
class PaneLines:
    pane_id: int
    max_rows: int = DEFAULT_MAX_ROWS
    rows: dict[int, RowState] = field(default_factory=dict)
    #: row -> seq at which it was announced dirty (cleared on delivery)
    dirty: dict[int, int] = field(default_factory=dict)
    #: kind -> seq of the latest invalidating event of that kind
    events: dict[str, int] = field(default_factory=dict)
    cursor: Any = None
    physical_top: int = 0

    def deliver(self, row: int, fingerprint: bytes, t_ns: int, seq: int) -> None:
        rows = self.rows
        if row in rows:
            del rows[row]  # re-insert: dict order is delivery order, oldest first
        rows[row] = RowState(fingerprint, t_ns, seq)
        self.dirty.pop(row, None)
        if len(rows) > self.max_rows:
            del rows[next(iter(rows))]

    def forget(self, row: int) -> None:
        self.rows.pop(row, None)

    def invalidate(self, kind: str, seq: int) -> None:
        self.events[kind] = seq

    def cause_of(self, row: int) -> str:
        """Why the client asks for ``row`` now (see the module docstring)."""
        if row in self.dirty:
            return "dirty"
        state = self.rows.get(row)
        if state is None:
            return "first_view"
        best_kind, best_seq = None, state.seq
        for kind, seq in self.events.items():
            if seq > best_seq:
                best_kind, best_seq = kind, seq
        return best_kind or "unexplained"

    def held(self, row: int) -> bytes | None:
        state = self.rows.get(row)
        return state.fingerprint if state is not None else None


def outcome(held: bytes | None, fingerprint: bytes, superseded: bool) -> str:
    if superseded:
        return "superseded"
    if held is None:
        return "new"
    return "redundant" if held == fingerprint else "changed"


def empty_rows() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)
