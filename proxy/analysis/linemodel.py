"""The client's line cache, mirrored from the wire.

wezterm-client keeps, per pane, an LRU of ``LineEntry`` (renderable.rs):
``Line``, ``Stale``, ``Fetching(instant)``, ``LineAndFetching(line, instant)``.
A fetched line is stored only if its entry still waits for *that* fetch
(``put_line``: "changed since fetch started, leave it be"). Every transition
of that state machine is caused by something on the wire, so the proxy can
replay it and know, for every row a ``GetLinesResponse`` returns, whether the
client kept it or dropped it, and what it held when it asked:

* ``GetLines`` (render path, ``get_lines``): no entry -> ``Fetching``; ``Stale``
  -> ``LineAndFetching``; a ``Line`` the pane's seqno says has changed ->
  ``Stale`` (WezTerm's quirk: the reply to this very fetch is then dropped);
  an entry a push stamped for fetching is claimed by the request that follows.
* ``GetPaneRenderChangesResponse`` (``apply_changes_to_surface``): the pane's
  seqno; bonus lines stored as they are; dirty rows (and the old and new cursor
  rows when the cursor moved) popped, dropped above ``physical_top``, else
  stamped for fetching by the request the push triggers. A client that
  coalesces leaves rows already in flight out of that request: they keep their
  earlier fetch.
* ``Resize``, ``SetPaneZoomed`` (client) and ``SetPalette`` (server):
  ``make_all_stale``: ``Line`` -> ``Stale``.

The *cause* of a requested row (why the client asked) is kept alongside:
announced dirty, an invalidating event after its last delivery, never
delivered, or unexplained. Memory: one small entry per row, at most
``max_rows`` rows per pane (oldest deliveries forgotten first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

CAUSES = ("dirty", "resize", "zoom", "palette", "tab_resized", "first_view", "unexplained")
OUTCOMES = ("redundant", "superseded", "changed", "new")
EVENT_KINDS = ("resize", "zoom", "palette", "tab_resized")
DEFAULT_MAX_ROWS = 200_000

LINE, STALE, FETCHING, LINE_AND_FETCHING = "Line", "Stale", "Fetching", "LineAndFetching"
#: the stamp of an entry a push marked for fetching, before its GetLines is seen
PUSH_STAMP = -1


@dataclass(slots=True)
class Entry:
    state: str
    #: fingerprint of the line held (None when Fetching)
    fingerprint: bytes | None
    #: the held line's seqno as the client has it (after update_last_change_seqno)
    seqno: int
    #: serial of the GetLines whose reply this entry waits for (Fetching states), or PUSH_STAMP
    stamp: int | None = None
    #: the stamp a push replaced, to restore if the client coalesces (keeps its earlier fetch)
    prev_stamp: int | None = None
    #: connection-wide ordinal of the last delivery of a line into this entry (for causes)
    delivered_seq: int = 0


@dataclass(slots=True)
class PendingFetch:
    """A GetLines in flight: what the client held for each row when it asked, and why it asked."""

    serial: int
    pane_id: int
    t_ns: int
    seq: int
    held: dict[int, bytes | None]
    causes: dict[int, str]
    burst: object = None


@dataclass
class PaneLines:
    pane_id: int
    max_rows: int = DEFAULT_MAX_ROWS
    entries: dict[int, Entry] = field(default_factory=dict)
    #: the pane seqno of the last render-changes the client got (``RenderableInner::seqno``)
    seqno: int = 0
    #: rows announced dirty and not delivered since (for causes)
    dirty: set[int] = field(default_factory=set)
    #: kind -> ordinal of the latest invalidating event of that kind (for causes)
    events: dict[str, int] = field(default_factory=dict)
    cursor: object = None
    #: the input_serial of the client's last SendKeyDown (cursor updates older than it are ignored)
    input_serial: int = 0
    physical_top: int = 0
    #: rows the last push stamped for fetching, until the next GetLines claims them
    push_stamped: set[int] = field(default_factory=set)

    # -- causes -------------------------------------------------------------------------
    def cause_of(self, row: int) -> str:
        if row in self.dirty:
            return "dirty"
        e = self.entries.get(row)
        if e is None or e.delivered_seq == 0:
            return "first_view"
        best_kind, best_seq = None, e.delivered_seq
        for kind, seq in self.events.items():
            if seq > best_seq:
                best_kind, best_seq = kind, seq
        return best_kind or "unexplained"

    def held(self, row: int) -> bytes | None:
        e = self.entries.get(row)
        return e.fingerprint if e is not None else None

    # -- transitions -------------------------------------------------------------------
    def request(self, serial: int, rows: list[int]) -> None:
        """A GetLines for ``rows`` left the client."""
        if self.push_stamped:
            wanted = set(rows)
            for row in self.push_stamped - wanted:
                # the push's fetch left this row out: a coalescing client keeps
                # the fetch already in flight for it
                e = self.entries.get(row)
                if e is not None and e.stamp == PUSH_STAMP and e.prev_stamp is not None:
                    e.stamp, e.prev_stamp = e.prev_stamp, None
            self.push_stamped.clear()
        for row in rows:
            e = self.entries.get(row)
            if e is None:
                self._put(row, Entry(FETCHING, None, 0, serial))
            elif e.state in (FETCHING, LINE_AND_FETCHING):
                e.stamp, e.prev_stamp = serial, None
            elif e.state == STALE:
                e.state, e.stamp = LINE_AND_FETCHING, serial
            elif e.seqno == 0 or e.seqno > self.seqno:
                e.state, e.stamp = STALE, None  # get_lines: changed_since -> Stale; this reply is dropped
            else:
                e.state, e.stamp = LINE_AND_FETCHING, serial

    def response_line(self, serial: int, row: int, fingerprint: bytes, seqno: int, seq: int) -> bool:
        """A fetched line arrived; True if the client keeps it (``put_line`` with a fetch start)."""
        e = self.entries.get(row)
        if e is None or e.state not in (FETCHING, LINE_AND_FETCHING):
            return False
        if e.stamp != serial:
            if not (e.stamp == PUSH_STAMP and e.prev_stamp == serial):
                return False
            # A push marked the row for fetching while this fetch was in flight,
            # and no request claimed it before this reply: the client sent none
            # for it because it was already in flight (a coalescing client), so
            # this fetch is the one the entry waits for.
            self.push_stamped.discard(row)
        e.state, e.fingerprint, e.seqno, e.stamp, e.prev_stamp = LINE, fingerprint, max(seqno, self.seqno), None, None
        e.delivered_seq = seq
        self.dirty.discard(row)
        return True

    def fetch_failed(self, serial: int, rows: list[int]) -> None:
        """An ErrorResponse to a GetLines: apply_lines' Err branch."""
        for row in rows:
            e = self.entries.get(row)
            if e is None or e.stamp != serial:
                continue
            if e.state == FETCHING:
                del self.entries[row]
            elif e.state == LINE_AND_FETCHING:
                e.state, e.stamp = LINE, None

    def bonus_line(self, row: int, fingerprint: bytes, seqno: int, seq: int) -> None:
        """``put_line(.., None)``: stored as sent, whatever the entry was."""
        self._put(row, Entry(LINE, fingerprint, seqno, None, None, seq))
        self.dirty.discard(row)

    def dirty_row(self, row: int, seq: int) -> None:
        """A row of a push's dirty set that was not a bonus line."""
        e = self.entries.pop(row, None)
        if row < self.physical_top:
            self.dirty.discard(row)  # popped and not fetchable: simply gone
            return
        self.dirty.add(row)
        if e is not None and e.state != FETCHING and e.fingerprint is not None:
            new = Entry(LINE_AND_FETCHING, e.fingerprint, e.seqno, PUSH_STAMP, e.stamp, e.delivered_seq)
        else:
            new = Entry(FETCHING, None, 0, PUSH_STAMP, e.stamp if e is not None else None,
                        e.delivered_seq if e is not None else 0)
        self._put(row, new)
        self.push_stamped.add(row)

    def make_all_stale(self, kind: str, seq: int) -> None:
        self.events[kind] = seq
        for e in self.entries.values():
            if e.state == LINE:
                e.state = STALE

    def invalidate_cause_only(self, kind: str, seq: int) -> None:
        """An event that explains later fetches without touching the cache (TabResized)."""
        self.events[kind] = seq

    def _put(self, row: int, entry: Entry) -> None:
        entries = self.entries
        if row in entries:
            del entries[row]  # re-insert: dict order approximates LRU order
        entries[row] = entry
        if len(entries) > self.max_rows:
            del entries[next(iter(entries))]


def outcome(held: bytes | None, fingerprint: bytes, kept: bool) -> str:
    if not kept:
        return "superseded"
    if held is None:
        return "new"
    return "redundant" if held == fingerprint else "changed"


def empty_rows() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)
