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

One thing the wire order cannot show directly: a push and a request that
cross (the proxy relayed the push before the request came up, but the client
wrote the request before it read the push). Pushes since the client's last
GetLines on the pane are therefore kept in a short log (with the client's
Resize, SetPaneZoomed and SendKeyDown and the server's SetPalette in between,
each with what it changed). A request crossed a logged push when

* it asks for a row the push delivered and the client would hold up to date
  (WezTerm never asks for such a row);
* it reached the proxy too soon after the push to be an answer to it, or too
  soon after a request that crossed the push (:data:`MIN_CLIENT_REACTION_NS`),
  or it is the next row up of a one-row logical-line walk that crossed it;
* it asks for two or more rows of the screen as it was before the push moved
  ``physical_top`` past them, or for a screen that starts at the old top and
  runs past the new one (a client that had read the push paints from the new
  top, and looks above it only a row at a time, for the start of a logical
  line; this includes a new pane's first paint from row 0), or for the one row
  above the old top (that look-up, from the old screen).

The model then puts events in the client's order: it undoes the log from that
push on, applies the client's own events, then the request, then the server's
events again (unless a reply in between touched the same rows: its outcome is
already final). The request's rows are judged as the client saw them, and a
row the push delivered or dropped after the request left is ``superseded``,
as the issue defines it. Crossings with none of this evidence stay as the wire
shows them (rare: a busy client, a request for a few rows, see tests/test_truth.py).

``client`` names the fetch logic mirrored: ``wezterm`` (the source), or
``coalesce`` (the emulator's coalescing policy: a row is never asked for while
a fetch for it is in flight, and the fetch of a row whose ``Line`` has changed
is waited for instead of being dropped by WezTerm's ``Stale`` quirk).

The *cause* of a requested row (why the client asked) is kept per entry, by the
rules the emulated client uses for its ground truth: the kind of the
``make_all_stale`` that made it stale, ``dirty`` when a push named it (or
dropped it, for its next fetch) or when get_lines refetches a changed line,
``first_view`` when never held, ``unexplained`` for an up-to-date line. Memory: one small entry per row, at most
``max_rows`` rows per pane (oldest deliveries forgotten first).
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field
from typing import Any

from codec.lines import WrapFacts, line_wrap_facts, rewrap_rows

CAUSES = ("dirty", "resize", "zoom", "palette", "tab_resized", "first_view", "unexplained")
OUTCOMES = ("redundant", "superseded", "changed", "new")
EVENT_KINDS = ("resize", "zoom", "palette", "tab_resized")
DEFAULT_MAX_ROWS = 200_000
CLIENT_MODELS = ("wezterm", "selective", "coalesce")
CLIENT_MODEL_HELP = (
    "the client fetch logic the analysis mirrors: wezterm (default: wezterm-client as released), "
    "selective (a client that on a resize stales only the rows a rewrap can alter, as the emulator's "
    "--policy selective) or coalesce (a client that never asks again for a row in flight, as the "
    "emulator's --policy coalesce)"
)
#: how long after a push a request may still have crossed it: far above the few milliseconds a
#: client takes to read what is already in its socket, far below human timescales
CROSSING_WINDOW_NS = 500_000_000
#: at most this many events are kept for reordering (a pane streaming output between requests)
MAX_CROSSING_EVENTS = 64
#: a request that reaches the proxy sooner than this after a push cannot be the client's doing
#: after reading it: the push had still to reach the client, be read and acted on, and the request
#: to come back (loopback round trip plus a client's wake-up and decoding). The proxy stamps a push
#: when it relays it, and any delay in reading the request only widens the gap, so the rule errs
#: only towards missing a crossing, never towards inventing one.
MIN_CLIENT_REACTION_NS = 100_000

#: the newest delivered lines per pane whose bytes are kept for their wrap facts (each keeps its
#: response's payload alive); older ones count as unknown, which makes the selective what-if
#: assume they rewrap (it errs towards saving less). Far above any screen's rows.
MAX_LINE_FACTS = 4096
#: the invalidations a selective client answers with :func:`codec.lines.rewrap_rows` instead of
#: ``make_all_stale`` (the emulator's ``--policy selective``)
RESIZE_KINDS = frozenset({"resize", "tab_resized"})

LINE, STALE, FETCHING, LINE_AND_FETCHING = "Line", "Stale", "Fetching", "LineAndFetching"
#: the stamp of an entry a push marked for fetching, before its GetLines is seen
PUSH_STAMP = -1


class LineFacts:
    """A delivered line's :class:`~codec.lines.WrapFacts`, worked out only when a resize needs
    them: decoding a line's cells costs far more than the rest of the model's work, and most
    lines are replaced before the next change of width."""

    __slots__ = ("_facts", "_index", "_summary", "_version")

    def __init__(self, summary: Any, index: int, version: int) -> None:
        self._summary, self._index, self._version = summary, index, version
        self._facts: WrapFacts | None = None

    def forget(self) -> None:
        """Let go of the line's bytes; facts not yet worked out stay unknown."""
        self._summary = None

    def get(self) -> WrapFacts | None:
        """The facts, or None for a line that does not decode (it then counts as altered)."""
        if self._summary is not None:
            try:
                self._facts = line_wrap_facts(self._summary.line_value(self._index, self._version))
            except Exception:  # noqa: BLE001 - an undecodable line is merely unknown here
                self._facts = None
            self._summary = None
        return self._facts


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
    #: connection-wide ordinal of the push or reply that last delivered a line into this entry
    delivered_seq: int = 0
    #: why the row is stale or being fetched (renderable.rs keeps no such thing; the emulated
    #: client's ground truth does, by the same rules)
    cause: str = "first_view"
    #: the held line's wrap facts (for the selective what-if), None if unknown
    facts: LineFacts | None = None
    #: a client with the selective policy would hold this row stale too (or not at all): set by
    #: every invalidation it shares with WezTerm's client, cleared when a line is delivered
    selective_stale: bool = False
    #: the held line came from a fetch a selective client would not have made: it would still
    #: hold the older line, so get_lines' refetch of this one (newer than the pane's seqno) is
    #: saved too
    selective_echo: bool = False

    def copy(self) -> Entry:
        return Entry(self.state, self.fingerprint, self.seqno, self.stamp, self.prev_stamp, self.delivered_seq,
                     self.cause, self.facts, self.selective_stale, self.selective_echo)


@dataclass(slots=True)
class Push:
    """One ``GetPaneRenderChangesResponse`` as the model needs it (to apply, and to apply again)."""

    seq: int
    t_ns: int
    seqno: int
    physical_top: int
    cursor: Any
    input_serial: int | None
    #: (row, fingerprint, seqno) per bonus line
    bonus: list[tuple[int, bytes, int]]
    #: the push's ``dirty_lines``, as half-open (start, end) ranges
    dirty: list[tuple[int, int]]
    #: the pane's width the push states (``dimensions.cols``)
    cols: int | None = None
    #: row -> the bonus line's facts
    bonus_facts: dict[int, LineFacts] | None = None


@dataclass(slots=True)
class _Undo:
    """One event of the reorder log and what it changed, so it can be taken back and applied
    again in the client's order: a push, a make_all_stale (from the server: SetPalette; from the
    client: Resize, SetPaneZoomed), or a SendKeyDown's input serial (client)."""

    t_ns: int
    from_client: bool
    rows: dict[int, Entry | None]
    evicted: dict[int, str | None]
    scalars: tuple[int, int, Any, frozenset[int], int, int | None]
    push: Push | None = None
    stale_kind: str | None = None
    input_serial: int | None = None
    #: the width a Resize asked for
    cols: int | None = None
    #: for the coalescing what-if: the rows' and the pane's last invalidation before this event
    invalid_from: dict[int, int] = field(default_factory=dict)
    stale_from: int = 0


@dataclass(slots=True)
class Requested:
    """What :meth:`PaneLines.request` found out about a GetLines."""

    held: dict[int, bytes | None]
    causes: dict[int, str]
    crossed: bool
    #: rows a coalescing client would not have asked for (see ``_note_fetches``)
    coalescible: int
    #: rows a selective client would not have asked for (see ``_selective_saves``)
    selective_saved: set[int] = field(default_factory=set)


@dataclass(slots=True)
class PendingFetch:
    """A GetLines in flight: what the client held for each row when it asked, and why it asked."""

    serial: int
    pane_id: int
    held: dict[int, bytes | None]
    causes: dict[int, str]
    burst: object = None
    selective_saved: set[int] = field(default_factory=set)


@dataclass
class PaneLines:
    pane_id: int
    max_rows: int = DEFAULT_MAX_ROWS
    entries: dict[int, Entry] = field(default_factory=dict)
    #: the pane seqno of the last render-changes the client got (``RenderableInner::seqno``)
    seqno: int = 0
    #: rows a push dropped from the cache (above its physical_top) -> why: the cause of their next fetch
    evicted: dict[int, str] = field(default_factory=dict)
    cursor: object = None
    #: the input_serial of the client's last SendKeyDown (cursor updates older than it are ignored)
    input_serial: int = 0
    physical_top: int = 0
    #: the pane's width as the client has it (pushes' dimensions, its own Resizes)
    cols: int | None = None
    #: rows the last push stamped for fetching, until the next GetLines claims them
    push_stamped: set[int] = field(default_factory=set)
    #: the client's fetch logic (:data:`CLIENT_MODELS`)
    client: str = "wezterm"
    #: the reorder log: pushes since the client's last GetLines on this pane (the ones a request
    #: may yet turn out to have crossed), and the events around them
    recent: list[_Undo] = field(default_factory=list)
    #: rows fetched lines arrived for since the first of ``recent``, and those of them the client
    #: kept: their outcome is final, so a reordering must not move a request before them or undo
    #: a push under them
    responded: set[int] = field(default_factory=set)
    responded_kept: set[int] = field(default_factory=set)
    #: when the last GetLines that crossed pushes came up (the pushes it crossed stay in the log)
    crossed_at: int | None = None
    #: the row of the last GetLines, if it asked for one row and crossed pushes: the logical-line
    #: walk of the old screen, which the next single-row request may continue
    crossed_walk_row: int | None = None
    #: that request's serial, and the sequence number of its reply once one came: the client read
    #: the pushes relayed before that reply before it took the next step
    crossed_walk_serial: int | None = None
    crossed_walk_reply_seq: int | None = None
    #: for the coalescing what-if: an event counter; when each row (and the whole pane) was last
    #: invalidated; each row's latest fetch as (tick, serial, "pending" | "kept" | "dropped")
    tick: int = 0
    stale_from: int = 0
    invalid_from: dict[int, int] = field(default_factory=dict)
    last_fetch: dict[int, tuple[int, int, str]] = field(default_factory=dict)
    #: the lines whose bytes are kept for their wrap facts, oldest first (MAX_LINE_FACTS)
    kept_facts: collections.deque[LineFacts] = field(default_factory=collections.deque)

    # -- causes -------------------------------------------------------------------------
    def cause_of(self, row: int) -> str:
        """Why the client asks for ``row`` now: what made its entry stale or marked it for
        fetching; ``first_view`` if it never held it; ``dirty`` for a held line newer than the
        pane's seqno (get_lines' own refetch); ``unexplained`` for an up-to-date line."""
        e = self.entries.get(row)
        if e is None:
            return self.evicted.get(row, "first_view")
        if e.state == LINE:
            return "dirty" if self._changed(e) else "unexplained"
        return e.cause

    def held(self, row: int) -> bytes | None:
        e = self.entries.get(row)
        return e.fingerprint if e is not None else None

    # -- transitions -------------------------------------------------------------------
    def request(self, serial: int, rows: list[int], t_ns: int = 0) -> Requested:
        """A GetLines for ``rows`` left the client: what it held for each row and why it asked,
        whether the request crossed recent pushes (it is then applied before them), and how many
        of its rows a coalescing client would not have asked for."""
        undone = self._undo_crossed(rows, t_ns)
        for undo in undone:  # what the client did since, it did before the request
            if undo.from_client:
                self._redo(undo)
        self.commit()
        self.crossed_at = t_ns if undone else None
        self.crossed_walk_row = rows[0] if undone and len(rows) == 1 else None
        self.crossed_walk_serial = serial if self.crossed_walk_row is not None else None
        self.crossed_walk_reply_seq = None
        held = {row: self.held(row) for row in rows}
        causes = {row: self.cause_of(row) for row in rows}
        selective_saved = {row for row, cause in causes.items() if self._selective_saves(row, cause)}
        coalescible = self._note_fetches(serial, rows)
        self._request(serial, rows)
        for undo in undone:  # and it reads the pushes after it: a later request may cross them too
            if not undo.from_client:
                self._redo(undo)
        return Requested(held, causes, bool(undone), coalescible, selective_saved)

    def _selective_saves(self, row: int, cause: str) -> bool:
        """Would a selective client have asked for ``row`` here? Not for a resize its rewrap rule
        let pass (unless get_lines would refetch the line anyway, being newer than the pane's
        seqno), nor for get_lines' refetch of a line only such a saved fetch brought."""
        e = self.entries.get(row)
        if e is None:
            return False
        if cause in RESIZE_KINDS:
            return not e.selective_stale and not self._changed(e)
        return cause == "dirty" and e.selective_echo and e.state in (LINE, STALE)

    def _redo(self, undo: _Undo) -> None:
        if undo.push is not None:
            self.apply_push(undo.push)
        elif undo.stale_kind is not None:
            self.make_all_stale(undo.stale_kind, undo.t_ns, undo.from_client, undo.cols)
        elif undo.input_serial is not None:
            self.set_input_serial(undo.input_serial, undo.t_ns)

    def _note_fetches(self, serial: int, rows: list[int]) -> int:
        """Rows asked for again although a fetch for them that left after their last invalidation
        is still pending or was dropped: a client that coalesces would have waited for (or kept)
        that one."""
        self.tick += 1
        tick, stale_from, invalid_from, last = self.tick, self.stale_from, self.invalid_from, self.last_fetch
        n = 0
        for row in rows:
            prior = last.get(row)
            if prior is not None and prior[2] != "kept" and prior[0] > max(stale_from, invalid_from.get(row, 0)):
                n += 1
            last[row] = (tick, serial, "pending")
        _bound(last, self.max_rows)
        return n

    def _request(self, serial: int, rows: list[int]) -> None:
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
                self._put(row, Entry(FETCHING, None, 0, serial, cause=self.evicted.pop(row, "first_view")))
            elif e.state in (FETCHING, LINE_AND_FETCHING):
                e.stamp, e.prev_stamp = serial, None
            elif e.state == STALE:
                e.state, e.stamp = LINE_AND_FETCHING, serial
            elif self._changed(e) and self.client != "coalesce":
                # get_lines: changed_since -> Stale; this reply is dropped
                e.state, e.stamp, e.cause = STALE, None, "dirty"
            else:
                e.state, e.stamp, e.cause = LINE_AND_FETCHING, serial, "dirty"

    def _changed(self, e: Entry) -> bool:
        """termwiz ``Line::changed_since(pane seqno)`` for the held line (SEQ_ZERO always changed)."""
        return e.seqno == 0 or e.seqno > self.seqno

    def _undo_crossed(self, rows: list[int], t_ns: int) -> list[_Undo]:
        """Take back the log from the first push a request for ``rows`` at ``t_ns`` crossed, if
        any (oldest first in the list returned); see the module docstring for the evidence."""
        recent = self.recent
        pushes = [
            (i, u.push) for i, u in enumerate(recent) if u.push is not None and t_ns - u.t_ns <= CROSSING_WINDOW_NS
        ]
        if not pushes or not rows:
            return []
        entries = self.entries
        by_seq = {push.seq: i for i, push in pushes}
        first = None
        if self.crossed_at is not None and t_ns - self.crossed_at < MIN_CLIENT_REACTION_NS:
            first = pushes[0][0]  # written right after a request that crossed these pushes: so did this one
        elif (
            self.crossed_walk_row is not None
            and len(rows) == 1
            and rows[0] == self.crossed_walk_row - 1
            and rows[0] != pushes[-1][1].physical_top - 1
        ):
            # the next step up of a logical-line walk that crossed them (a client that had read the
            # pushes would start its walk again, at the row above the new top). Once the last
            # step's reply has been relayed, the step is taken to have waited for it (it must,
            # for a row it never held), having read what came before it on the one stream: it
            # crossed only later pushes. A step over held rows that did not wait is then missed,
            # the side this model errs on.
            after = self.crossed_walk_reply_seq
            first = next((i for i, push in pushes if after is None or push.seq > after), None)
        for i, push in pushes:
            if t_ns - push.t_ns < MIN_CLIENT_REACTION_NS:
                first = i  # too soon to be an answer to that push
                break
            top_before = recent[i].scalars[1]
            if push.physical_top != top_before and set(rows) == {top_before - 1}:
                # the first step of the logical-line walk above the old top (mux pane.rs
                # get_logical_lines): the client still painted from there
                first = i
                break
            if len(rows) > 1 and min(rows) == top_before < push.physical_top <= max(rows):
                # a screen painted from the old top, across the new one: the top moved by too few rows
                # for the band rule below to see two of them (like that rule, it would misread a client
                # scrolled back to exactly the old top)
                first = i
                break
            if sum(1 for row in set(rows) if top_before <= row < push.physical_top) > 1:
                # the request is (part of) the screen as it was before the push moved
                # physical_top past it: a client that had read the push would paint from the new
                # top. (Single rows above the top are the logical-line walk of a client that has
                # read it; a client scrolled back into that band during a rewrap is the rare
                # exception this rule gets wrong.)
                first = i
                break
        for row in rows:
            e = entries.get(row)
            if e is not None and e.state == LINE and e.delivered_seq in by_seq and not self._changed(e):
                i = by_seq[e.delivered_seq]
                first = i if first is None else min(first, i)
        if first is None:
            return []
        undone = recent[first:]
        if not self.responded.isdisjoint(rows) or any(not self.responded_kept.isdisjoint(u.rows) for u in undone):
            return []  # a reply in between touched these rows: the order is no longer ours to change
        for undo in reversed(undone):
            for row, prior in undo.rows.items():
                if prior is None:
                    entries.pop(row, None)
                else:
                    entries[row] = prior
            for row, cause in undo.evicted.items():
                if cause is None:
                    self.evicted.pop(row, None)
                else:
                    self.evicted[row] = cause
            self.seqno, self.physical_top, self.cursor, stamped, self.input_serial, self.cols = undo.scalars
            self.invalid_from.update(undo.invalid_from)
            if undo.stale_kind is not None:
                self.stale_from = undo.stale_from
            self.push_stamped = set(stamped)
        del recent[first:]
        return undone

    def _log(self, undo: _Undo) -> None:
        recent = self.recent
        recent.append(undo)
        if len(recent) > MAX_CROSSING_EVENTS:
            del recent[0]

    def _scalars(self) -> tuple[int, int, Any, frozenset[int], int, int | None]:
        return (self.seqno, self.physical_top, self.cursor, frozenset(self.push_stamped), self.input_serial,
                self.cols)

    def set_input_serial(self, serial: int, t_ns: int) -> None:
        """A SendKeyDown: cursor updates older than it are ignored (logged, for reordering)."""
        if self.recent:
            self._log(_Undo(t_ns, True, {}, {}, self._scalars(), input_serial=serial))
        self.input_serial = serial

    def commit(self) -> None:
        """Whatever happened so far stays in the order the wire shows."""
        if self.recent:
            self.recent.clear()
            self.responded.clear()
            self.responded_kept.clear()

    def apply_push(self, push: Push) -> None:
        """``apply_changes_to_surface`` for one push (renderable.rs): the pane's seqno, bonus lines
        stored as they are, dirty rows (and the old and new cursor rows when the cursor moved)
        popped, dropped above ``physical_top``, else stamped for the fetch the push triggers."""
        previous = self.cursor if self.cursor is not None else DEFAULT_CURSOR
        dirty = self._dirty_rows_that_matter(push.dirty, push.physical_top)
        if push.cursor != previous:
            dirty.add(previous["y"])
            dirty.add(push.cursor["y"])
        bonus_rows = {row for row, _, _ in push.bonus}
        touched = dirty | bonus_rows
        entries = self.entries
        invalid_from = self.invalid_from
        undo = _Undo(
            push.t_ns,
            False,
            {row: (e.copy() if (e := entries.get(row)) is not None else None) for row in touched},
            {row: self.evicted.get(row) for row in touched},
            self._scalars(),
            push=push,
            invalid_from={row: invalid_from.get(row, 0) for row in touched},
        )
        self.tick += 1
        for row in touched:
            invalid_from[row] = self.tick
        _bound(invalid_from, self.max_rows)
        self.physical_top = push.physical_top
        self.seqno = push.seqno
        if push.cols is not None:
            self.cols = push.cols
        if push.input_serial is None or push.input_serial >= self.input_serial:
            self.cursor = push.cursor
        facts = push.bonus_facts or {}
        for row, fingerprint, seqno in push.bonus:
            line_facts = facts.get(row)
            self._keep_facts(line_facts)
            self._put(row, Entry(LINE, fingerprint, seqno, None, None, push.seq, facts=line_facts))
        for row in sorted(dirty - bonus_rows):
            self._dirty_row(row, push.seq)
        self._log(undo)

    def _dirty_rows_that_matter(self, ranges: list[tuple[int, int]], top: int) -> set[int]:
        """The rows of ``dirty_lines`` the push acts on: every row from the new physical_top on
        (stamped for fetching), and those above it the client holds (dropped). The server names
        every changed row from 0 (sessionhandler.rs), so after a rewrap a range can span the
        whole scrollback: the rows above the top cost what the client holds there, not their
        number."""
        entries = self.entries
        rows: set[int] = set()
        for start, end in ranges:
            rows.update(range(max(start, top), end))
            above_end = min(end, top)
            if above_end - start <= len(entries):
                rows.update(r for r in range(start, above_end) if r in entries)
            else:
                rows.update(r for r in entries if start <= r < above_end)
        return rows

    def response_line(self, serial: int, row: int, fingerprint: bytes, seqno: int, seq: int,
                      facts: LineFacts | None = None, selective_saved: bool = False) -> bool:
        """A fetched line arrived; True if the client keeps it (``put_line`` with a fetch start).
        ``selective_saved``: a selective client would not have asked for it."""
        if self.recent:
            self.responded.add(row)
        if serial == self.crossed_walk_serial and self.crossed_walk_reply_seq is None:
            self.crossed_walk_reply_seq = seq
        kept = self._response_line(serial, row, fingerprint, seqno, seq, facts, selective_saved)
        fetch = self.last_fetch.get(row)
        if fetch is not None and fetch[1] == serial:
            self.last_fetch[row] = (fetch[0], serial, "kept" if kept else "dropped")
        return kept

    def _response_line(self, serial: int, row: int, fingerprint: bytes, seqno: int, seq: int,
                       facts: LineFacts | None, selective_saved: bool) -> bool:
        e = self.entries.get(row)
        if e is None or e.state not in (FETCHING, LINE_AND_FETCHING):
            return False
        if e.stamp != serial:
            if not (self.client == "coalesce" and e.stamp == PUSH_STAMP and e.prev_stamp == serial):
                # (WezTerm's client re-stamped the row when it read the push, before this reply:
                # renderable.rs:392-405, then put_line's "leave it be")
                return False
            # A push marked the row for fetching while this fetch was in flight,
            # and no request claimed it before this reply: the client sent none
            # for it because it was already in flight (a coalescing client), so
            # this fetch is the one the entry waits for.
            self.push_stamped.discard(row)
        e.state, e.fingerprint, e.seqno, e.stamp, e.prev_stamp = LINE, fingerprint, max(seqno, self.seqno), None, None
        e.delivered_seq, e.facts, e.selective_stale, e.selective_echo = seq, facts, False, selective_saved
        self._keep_facts(facts)
        if self.recent:
            self.responded_kept.add(row)
        return True

    def fetch_failed(self, serial: int, rows: list[int]) -> None:
        """An ErrorResponse to a GetLines: apply_lines' Err branch."""
        self.commit()
        for row in rows:
            e = self.entries.get(row)
            if e is None or e.stamp != serial:
                continue
            if e.state == FETCHING:
                del self.entries[row]
            elif e.state == LINE_AND_FETCHING:
                e.state, e.stamp = LINE, None

    def _dirty_row(self, row: int, seq: int) -> None:
        """A row of a push's dirty set that was not a bonus line."""
        e = self.entries.pop(row, None)
        if row < self.physical_top:
            if e is not None:  # popped and not fetchable: gone, until the client scrolls back to it
                self.evicted[row] = "dirty"
                _bound(self.evicted, self.max_rows)
            return
        # the fetch the row waited for before the push (kept by a coalescing client); a second
        # push before any request keeps the first one's
        prev = None if e is None else (e.prev_stamp if e.stamp == PUSH_STAMP else e.stamp)
        delivered = e.delivered_seq if e is not None else 0
        if e is not None and e.state != FETCHING and e.fingerprint is not None:
            new = Entry(LINE_AND_FETCHING, e.fingerprint, e.seqno, PUSH_STAMP, prev, delivered, "dirty", e.facts)
        else:
            new = Entry(FETCHING, None, 0, PUSH_STAMP, prev, delivered, "dirty")
        self._put(row, new)
        self.push_stamped.add(row)

    def make_all_stale(self, kind: str, t_ns: int = 0, from_client: bool = True, cols: int | None = None) -> None:
        """``make_all_stale``: every ``Line`` or ``Stale`` entry becomes ``Stale`` for ``kind``;
        entries being fetched are left alone. Logged while there are pushes to reorder.

        For the selective what-if, a resize to ``cols`` (the Resize's width) marks only the rows
        :func:`codec.lines.rewrap_rows` names, and none when the width did not change; other
        kinds mark every row they stale. The ``selective`` client does just that instead: of its
        ``Line`` entries only those rows become ``Stale`` (the ``Stale`` ones take the new cause)."""
        entries = self.entries
        changed = [(row, e) for row, e in entries.items() if e.state == LINE or e.state == STALE]
        if self.recent:
            self._log(_Undo(t_ns, from_client, {row: e.copy() for row, e in changed}, {}, self._scalars(),
                            stale_kind=kind, cols=cols, stale_from=self.stale_from))
        self.tick += 1
        self.stale_from = self.tick
        if kind not in RESIZE_KINDS or cols is None or self.cols is None:
            # not a resize, or one from or to an unknown width (assume a rewrap): every row
            selective = {row for row, _ in changed}
        elif cols == self.cols:
            selective = set()
        else:
            held = sorted((row, e.facts.get() if e.facts is not None else None)
                          for row, e in entries.items() if e.fingerprint is not None)
            selective = set(rewrap_rows(held, cols))
        if kind in RESIZE_KINDS and cols is not None:
            self.cols = cols
        only_selective = self.client == "selective" and kind in RESIZE_KINDS and cols is not None
        for row, e in changed:
            if row in selective:
                e.selective_stale = True
            elif only_selective and e.state == LINE:
                continue
            e.state, e.cause = STALE, kind

    def _keep_facts(self, facts: LineFacts | None) -> None:
        if facts is None:
            return
        kept = self.kept_facts
        kept.append(facts)
        if len(kept) > MAX_LINE_FACTS:
            kept.popleft().forget()

    def _put(self, row: int, entry: Entry) -> None:
        entries = self.entries
        if row in entries:
            del entries[row]  # re-insert: dict order approximates LRU order
        entries[row] = entry
        if len(entries) > self.max_rows:
            del entries[next(iter(entries))]


def _bound(rows: dict[int, Any], max_rows: int) -> None:
    """Keep a per-row dict within ``max_rows``: the rows set longest ago go first (dict order)."""
    excess = len(rows) - max_rows
    if excess > 0:
        for row in list(itertools.islice(rows, excess)):
            del rows[row]


DEFAULT_CURSOR = {"x": 0, "y": 0, "shape": "Default", "visibility": "Visible"}


def outcome(held: bytes | None, fingerprint: bytes, kept: bool) -> str:
    if not kept:
        return "superseded"
    if held is None:
        return "new"
    return "redundant" if held == fingerprint else "changed"


def empty_rows() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)
