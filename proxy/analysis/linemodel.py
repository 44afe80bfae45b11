"""The client's line cache, mirrored from the wire.

wezterm-client keeps, per pane, an LRU of ``LineEntry`` (renderable.rs):
``Line``, ``Stale``, ``Fetching(instant)``, ``LineAndFetching(line, instant)``.
A fetched line is stored only if its entry still waits for *that* fetch
(``put_line``: "changed since fetch started, leave it be"). Every transition
of that state machine (:data:`proxy.analysis.linestate.TRANSITIONS`) is caused by
something on the wire, so the proxy can replay it and know, for every row a ``GetLinesResponse`` returns, whether the
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

Evidence against a crossing overrides these (crossing.py): a request whose rows were all held up
to date before the push (a client that had not read it would not ask), a multi-row request from
the top a logged push set, and a one-row request that a walk up from the new top reaches over held
rows. A request for a row that a push of the same read of the client's socket delivered up to date,
after an earlier request of that read committed the log, is judged as the client held it before.

The model then puts events in the client's order: it undoes the log from that
push on, applies the client's own events, then the request, then the server's
events again (unless a reply in between touched the same rows: its outcome is
already final). The request's rows are judged as the client saw them, and a
row the push delivered or dropped after the request left is ``superseded``,
as the issue defines it. Crossings with none of this evidence stay as the wire
shows them (rare: a busy client, a request for a few rows, see tests/integration/test_truth.py).

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
from dataclasses import dataclass, field

from proxy.analysis import crossing
from proxy.analysis.crossing import MAX_CROSSING_EVENTS, LoggedEvent, Scalars
from proxy.analysis.fetchlimit import FetchLimiter, throttle
from proxy.analysis.linestate import (
    DEFAULT_CURSOR,
    FETCHING,
    LINE,
    LINE_AND_FETCHING,
    MAX_LINE_FACTS,
    PUSH_STAMP,
    STALE,
    Entry,
    LineEvent,
    LineFacts,
    Push,
    bound_rows,
    next_state,
)
from proxy.analysis.localecho import LocalEcho
from proxy.analysis.races import Races
from proxy.analysis.vocabulary import RESIZE_KINDS, Cause, ClientModel, Race
from proxy.analysis.whatif import selective
from proxy.analysis.whatif.coalesce import CoalesceTracker

DEFAULT_MAX_ROWS = 200_000


@dataclass(slots=True)
class Requested:
    """What :meth:`PaneLines.request` found out about a GetLines."""

    held: dict[int, bytes | None]
    causes: dict[int, Cause]
    crossed: bool
    #: rows a coalescing client would not have asked for (:mod:`proxy.analysis.whatif.coalesce`)
    coalescible: int
    #: rows a selective client would not have asked for (:mod:`proxy.analysis.whatif.selective`)
    selective_saved: set[int] = field(default_factory=set)


@dataclass
class PaneLines:
    pane_id: int
    max_rows: int = DEFAULT_MAX_ROWS
    entries: dict[int, Entry] = field(default_factory=dict)
    #: the pane seqno of the last render-changes the client got (``RenderableInner::seqno``)
    seqno: int = 0
    #: rows a push dropped from the cache (above its physical_top) -> why: the cause of their next fetch
    evicted: dict[int, Cause] = field(default_factory=dict)
    cursor: object = None
    #: the input_serial of the client's last SendKeyDown (cursor updates older than it are ignored)
    input_serial: int = 0
    #: ``last_input_rtt`` (ms), and the connection's predictive local echo (None: off)
    last_input_rtt: int = 0
    echo: LocalEcho | None = None
    physical_top: int = 0
    #: the pane's width as the client has it (pushes' dimensions, its own Resizes)
    cols: int | None = None
    #: rows the last push stamped for fetching, until the next GetLines claims them
    push_stamped: set[int] = field(default_factory=set)
    #: the client's fetch logic
    client: ClientModel = ClientModel.WEZTERM
    #: the reorder log (:mod:`proxy.analysis.crossing`): pushes since the client's last GetLines on
    #: this pane (the ones a request may yet turn out to have crossed), and the events around them
    recent: list[LoggedEvent] = field(default_factory=list)
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
    #: the coalescing what-if's view of the same events
    coalesce: CoalesceTracker = field(init=False)
    #: the lines whose bytes are kept for their wrap facts, oldest first (MAX_LINE_FACTS)
    kept_facts: collections.deque[LineFacts] = field(default_factory=collections.deque)
    #: raced rows: what pushes did to rows being fetched (:mod:`proxy.analysis.races`)
    races: Races = field(default_factory=Races)
    #: the read instant of the last GetLines and the pushes logged up to the requests of that read
    #: (:func:`proxy.analysis.crossing.note_chunk`)
    chunk_log: tuple[int, list[LoggedEvent]] | None = None
    #: the client's prefetch throttle (:mod:`proxy.analysis.fetchlimit`)
    limiter: FetchLimiter = field(default_factory=FetchLimiter)

    def __post_init__(self) -> None:
        self.coalesce = CoalesceTracker(self.max_rows)

    # -- what the client holds ------------------------------------------------------------
    def cause_of(self, row: int) -> Cause:
        """Why the client asks for ``row`` now: what made its entry stale or marked it for
        fetching; ``first_view`` if it never held it; ``dirty`` for a held line newer than the
        pane's seqno (get_lines' own refetch); ``unexplained`` for an up-to-date line."""
        e = self.entries.get(row)
        if e is None:
            return self.evicted.get(row, Cause.FIRST_VIEW)
        if e.state == LINE:
            return Cause.DIRTY if self.changed(e) else Cause.UNEXPLAINED
        return e.cause

    def held(self, row: int) -> bytes | None:
        e = self.entries.get(row)
        return e.fingerprint if e is not None else None

    def changed(self, e: Entry) -> bool:
        """termwiz ``Line::changed_since(pane seqno)`` for the held line (SEQ_ZERO always changed)."""
        return e.seqno == 0 or e.seqno > self.seqno

    # -- transitions -------------------------------------------------------------------
    def request(self, serial: int, rows: list[int], t_ns: int = 0) -> Requested:
        """A GetLines for ``rows`` left the client: what it held for each row and why it asked,
        whether the request crossed recent pushes (it is then applied before them), and how many
        of its rows a coalescing client would not have asked for."""
        chunk = crossing.note_chunk(self, t_ns)
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
        # rows a push of the same read delivered after this request left stay as that push left them
        early = {} if undone else crossing.delivered_in_chunk(self, rows, chunk, t_ns)
        for row, before in early.items():
            held[row] = before.fingerprint if before is not None else None
            causes[row] = crossing.cause_before(self, row, before, self.seqno)
        selective_saved = {row for row, cause in causes.items() if selective.would_skip(self, row, cause)}
        coalescible = self.coalesce.requested(serial, rows)
        self._request(serial, [row for row in rows if row not in early])
        for undo in undone:  # and it reads the pushes after it: a later request may cross them too
            if not undo.from_client:
                self._redo(undo)
        return Requested(held, causes, bool(undone or early), coalescible, selective_saved)

    def _redo(self, undo: LoggedEvent) -> None:
        if undo.push is not None:
            self.apply_push(undo.push)
        elif undo.stale_kind is not None:
            self.make_all_stale(undo.stale_kind, undo.t_ns, undo.from_client, undo.cols)
        elif undo.input_serial is not None:
            self.set_input_serial(undo.input_serial, undo.t_ns, undo.key)

    def _request(self, serial: int, rows: list[int]) -> None:
        self.races.requested(serial, rows)
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
                state = next_state(None, LineEvent.REQUEST)
                self._put(row, Entry(state, None, 0, serial, cause=self.evicted.pop(row, Cause.FIRST_VIEW)))
            elif e.state in (FETCHING, LINE_AND_FETCHING):
                e.stamp, e.prev_stamp = serial, None
            elif e.state == LINE and self.changed(e) and self.client != ClientModel.COALESCE:
                # get_lines: changed_since -> Stale; this reply is dropped
                e.state, e.stamp, e.cause = next_state(e.state, LineEvent.REQUEST_CHANGED_LINE), None, Cause.DIRTY
            else:
                if e.state == LINE:
                    e.cause = Cause.DIRTY
                e.state, e.stamp = next_state(e.state, LineEvent.REQUEST), serial

    def _undo_crossed(self, rows: list[int], t_ns: int) -> list[LoggedEvent]:
        """Take back the log from the first push a request for ``rows`` at ``t_ns`` crossed, if
        any (oldest first in the list returned); :mod:`proxy.analysis.crossing` has the evidence."""
        first = crossing.first_crossed(self, rows, t_ns)
        if first is None or crossing.reply_in_between(self, rows, first):
            return []
        return crossing.take_back(self, first)

    def _log(self, undo: LoggedEvent) -> None:
        recent = self.recent
        recent.append(undo)
        if len(recent) > MAX_CROSSING_EVENTS:
            del recent[0]

    def _scalars(self) -> Scalars:
        return (self.seqno, self.physical_top, self.cursor, frozenset(self.push_stamped), self.input_serial,
                self.cols, self.last_input_rtt, self.limiter.tat_ns)

    def restore_scalars(self, scalars: Scalars) -> None:
        (self.seqno, self.physical_top, self.cursor, stamped, self.input_serial, self.cols, self.last_input_rtt,
         self.limiter.tat_ns) = scalars
        self.push_stamped = set(stamped)

    def set_input_serial(self, serial: int, t_ns: int, key: tuple[str | None, int] | None = None) -> None:
        """A SendKeyDown: cursor updates older than it are ignored, and with local echo on the key
        may edit the cursor row (:mod:`proxy.analysis.localecho`); logged, for reordering."""
        echo = self.echo if key is not None else None
        if self.recent:
            row = (self.cursor if self.cursor is not None else DEFAULT_CURSOR)["y"]
            rows = {row: e.copy() if (e := self.entries.get(row)) is not None else None} if echo else {}
            self._log(LoggedEvent(t_ns, True, rows, {}, self._scalars(), input_serial=serial, key=key))
        self.input_serial = serial
        if echo is not None and key is not None:
            echo.key_down(self, serial, t_ns, key)

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
        rows_before = {row: (e.copy() if (e := entries.get(row)) is not None else None) for row in touched}
        evicted_before = {row: self.evicted.get(row) for row in touched}
        scalars = self._scalars()
        invalid_before = self.coalesce.rows_invalidated(touched)
        undo = LoggedEvent(push.t_ns, False, rows_before, evicted_before, scalars, push=push,
                           invalid_from=invalid_before)
        self.physical_top = push.physical_top
        self.seqno = push.seqno
        if push.cols is not None:
            self.cols = push.cols
        if self.echo is not None:
            self.echo.push(self, push)
        if push.input_serial is None or push.input_serial >= self.input_serial:
            self.cursor = push.cursor
        facts = push.bonus_facts or {}
        for row, fingerprint, seqno in push.bonus:
            line_facts = facts.get(row)
            self._keep_facts(line_facts)
            e = entries.get(row)
            state = next_state(e.state if e is not None else None, LineEvent.BONUS)
            self._put(row, Entry(state, fingerprint, seqno, None, None, push.seq, facts=line_facts))
        for row in sorted(dirty - bonus_rows):
            self._dirty_row(row, push.seq)
        throttle(self, sorted(row for row in dirty - bonus_rows if row >= self.physical_top), push)
        self._log(undo)
        self.races.touched(bonus_rows, Race.DELIVERED)
        self.races.touched({r for r in dirty - bonus_rows if r >= push.physical_top}, Race.DIRTIED)
        self.races.touched({r for r in dirty - bonus_rows if r < push.physical_top}, Race.DROPPED)

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
                      facts: LineFacts | None = None, selective_saved: bool = False,
                      raced: Race | None = None) -> bool:
        """A fetched line arrived; True if the client keeps it (``put_line`` with a fetch start).
        ``selective_saved``: a selective client would not have asked for it. ``raced``
        (:meth:`~proxy.analysis.races.Races.take`): a push touched the row while the fetch was in flight, so the row
        is not kept whatever the order; after a SetPalette (which leaves rows being fetched
        alone) the line is held, stale for the palette, as a GUI that applied the reply first
        holds it."""
        if self.recent:
            self.responded.add(row)
        if serial == self.crossed_walk_serial and self.crossed_walk_reply_seq is None:
            self.crossed_walk_reply_seq = seq
        kept = self._response_line(serial, row, fingerprint, seqno, seq, facts, selective_saved)
        if raced is not None and kept:
            if raced == Race.PALETTE:
                e = self.entries[row]
                e.state, e.cause = next_state(e.state, LineEvent.MAKE_STALE), Cause.PALETTE
            kept = False
        self.coalesce.replied(serial, row, kept)
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
        e.state, e.fingerprint, e.seqno = next_state(e.state, LineEvent.REPLY), fingerprint, max(seqno, self.seqno)
        e.stamp, e.prev_stamp = None, None
        e.delivered_seq, e.facts, e.selective_stale, e.selective_echo = seq, facts, False, selective_saved
        self._keep_facts(facts)
        if self.recent:
            self.responded_kept.add(row)
        return True

    def fetch_failed(self, serial: int, rows: list[int]) -> None:
        """An ErrorResponse to a GetLines: apply_lines' Err branch."""
        self.commit()
        self.races.done(serial, rows)
        for row in rows:
            e = self.entries.get(row)
            if e is None or e.stamp != serial:
                continue
            state = next_state(e.state, LineEvent.FETCH_FAILED)
            if state is None:
                del self.entries[row]
            else:
                e.state, e.stamp = state, None

    def _dirty_row(self, row: int, seq: int) -> None:
        """A row of a push's dirty set that was not a bonus line."""
        e = self.entries.pop(row, None)
        if row < self.physical_top:
            if e is not None:  # popped and not fetchable: gone, until the client scrolls back to it
                self.evicted[row] = Cause.DIRTY
                bound_rows(self.evicted, self.max_rows)
            return
        # the fetch the row waited for before the push (kept by a coalescing client); a second
        # push before any request keeps the first one's
        prev = None if e is None else (e.prev_stamp if e.stamp == PUSH_STAMP else e.stamp)
        delivered = e.delivered_seq if e is not None else 0
        state = next_state(e.state if e is not None else None, LineEvent.DIRTY)
        if e is not None and state == LINE_AND_FETCHING:
            new = Entry(state, e.fingerprint, e.seqno, PUSH_STAMP, prev, delivered, Cause.DIRTY, e.facts)
        else:
            new = Entry(FETCHING, None, 0, PUSH_STAMP, prev, delivered, Cause.DIRTY)
        self._put(row, new)
        self.push_stamped.add(row)

    def make_all_stale(self, kind: Cause, t_ns: int = 0, from_client: bool = True, cols: int | None = None) -> None:
        """``make_all_stale``: every ``Line`` or ``Stale`` entry becomes ``Stale`` for ``kind``;
        entries being fetched are left alone. Logged while there are pushes to reorder.

        For the selective what-if, a resize to ``cols`` (the Resize's width) marks only the rows
        :func:`codec.lines.rewrap_rows` names, and none when the width did not change; other
        kinds mark every row they stale. The ``selective`` client does just that instead: of its
        ``Line`` entries only those rows become ``Stale`` (the ``Stale`` ones take the new cause)."""
        changed = [(row, e) for row, e in self.entries.items() if e.state == LINE or e.state == STALE]
        logged = bool(self.recent)
        rows_before = {row: e.copy() for row, e in changed} if logged else {}
        scalars = self._scalars() if logged else None
        stale_before = self.coalesce.all_invalidated()
        if logged:
            self._log(LoggedEvent(t_ns, from_client, rows_before, {}, scalars, stale_kind=kind, cols=cols,
                                  stale_from=stale_before))
        if not from_client:
            self.races.touched(None, Race.PALETTE)
        altered = selective.rows_a_rewrap_alters(self, kind, cols, changed)
        if kind in RESIZE_KINDS and cols is not None:
            self.cols = cols
        only_selective = self.client == ClientModel.SELECTIVE and kind in RESIZE_KINDS and cols is not None
        for row, e in changed:
            if row in altered:
                e.selective_stale = True
            elif only_selective and e.state == LINE:
                continue
            e.state, e.cause = next_state(e.state, LineEvent.MAKE_STALE), kind

    def _keep_facts(self, facts: LineFacts | None) -> None:
        if facts is None:
            return
        kept = self.kept_facts
        kept.append(facts)
        if len(kept) > MAX_LINE_FACTS:
            kept.popleft().forget()

    def put_entry(self, row: int, entry: Entry) -> None:
        """Store ``entry`` as the row's most recently used (``LruCache::put``)."""
        self._put(row, entry)

    def _put(self, row: int, entry: Entry) -> None:
        entries = self.entries
        if row in entries:
            del entries[row]  # re-insert: dict order approximates LRU order
        entries[row] = entry
        if len(entries) > self.max_rows:
            del entries[next(iter(entries))]
