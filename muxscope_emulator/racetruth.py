"""The emulated client's record of fetched rows, with the *raced* reading that does not depend on
the order the GUI applied a reply and a push in.

wezterm-gui applies a push two main-thread turns after reading it and a GetLines reply one turn
after (:mod:`.guiqueue`), so a reply read just after a push is often applied first. When that push
delivers, dirties or drops a row the fetch brought (or is a SetPalette, which stales every row), the
row's fate depends on that order alone: applied after the push, ``put_line`` drops it ("changed since
fetch started"); applied before, it is stored and at once overwritten, re-fetched or dropped. Either
way the fetch was not needed. So the truth records such a row as ``superseded`` whichever order the
GUI chose, and counts it as *raced*:

    a fetched row is raced when a push that delivered, dirtied or dropped it (a render push: its
    bonus lines, ``dirty_lines`` and the old and new cursor rows; a SetPalette: every row of the
    pane) was read by the client while the row's fetch was in flight (after the request was
    written, before its reply was read).

This is the definition the analysis applies to the wire (``proxy.analysis.linemodel``), where a push
relayed between a request and its reply is exactly that. One more thing is made order-free: a row
the push dirtied is fetched again, and what the client "held" when it asked again is, in the read
order, what it held before the raced reply (the reply is dropped); applied the other way round the
client holds the raced reply's line. The truth takes the read order's (``held`` of the refetch), so
the refetch's outcome (``new``, ``redundant``, ``changed``) is order-free too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from muxscope_emulator.panefetch import FetchBatch, rows_of

if TYPE_CHECKING:
    from muxscope_emulator.clientpane import ClientPane
    from muxscope_emulator.linecache import CachedLine
    from muxscope_emulator.truth import Truth

#: a SetPalette touches every row
ALL_ROWS = None


@dataclass
class _Fetch:
    """One GetLines as the race record sees it."""

    pane_id: int
    rows: frozenset[int]
    #: pushes read while it was in flight and not applied yet
    pushes_pending: int = 0
    #: rows raced before its reply was applied
    raced: set[int] = field(default_factory=set)
    #: once applied: row -> (index in truth.detail, fingerprint held before the reply was stored)
    applied: dict[int, tuple[int, bytes | None]] | None = None


@dataclass
class PushSnapshot:
    """What was in flight on the push's pane when the client read it."""

    pane_id: int | None
    tokens: tuple[int, ...]


class RaceTruth:
    """Records fetched rows into :class:`~.truth.Truth`, reclassifying raced ones (module docstring)."""

    def __init__(self, truth: Truth) -> None:
        self.truth = truth
        #: token -> fetch, from the request until its reply was applied and no push read during its
        #: flight waits any more
        self.fetches: dict[int, _Fetch] = {}
        #: tokens whose reply has not been read, per pane
        self.in_flight: dict[int, set[int]] = {}
        #: pane -> row -> (the raced reply's line object, the fingerprint held before it)
        self.held_before: dict[int, dict[int, tuple[Any, bytes | None]]] = {}
        #: rows the client stored that the truth counts as superseded because they raced
        self.discarded = 0

    # -- requests and replies ---------------------------------------------------------------------
    def request(self, pane: ClientPane, batch: FetchBatch) -> None:
        """A GetLines is written: it is in flight; a row the read order would hold otherwise gets
        that order's ``held``."""
        pid = pane.remote_pane_id
        self.fetches[batch.token] = _Fetch(pid, frozenset(batch.rows))
        self.in_flight.setdefault(pid, set()).add(batch.token)
        before = self.held_before.get(pid)
        if not before:
            return
        for row, meta in batch.rows.items():
            kept = before.pop(row, None)
            entry = pane.cache.peek(row)
            if kept is not None and entry is not None and entry.line is kept[0]:
                meta.held = kept[1]

    def reply_read(self, pane_id: int, token: int) -> None:
        """The reply was read (or the fetch failed): no later push raced it."""
        self.in_flight.get(pane_id, set()).discard(token)

    def failed(self, pane_id: int, token: int) -> None:
        self.reply_read(pane_id, token)
        fetch = self.fetches.get(token)
        if fetch is not None and fetch.pushes_pending == 0:
            del self.fetches[token]

    def held_now(self, pane: ClientPane, batch: FetchBatch) -> dict[int, bytes | None]:
        """Before a reply is applied: what each of its rows holds (the read order's ``held`` if a
        push read during its flight, applied after it, turns out to race it)."""
        out: dict[int, bytes | None] = {}
        for row in batch.rows:
            entry = pane.cache.peek(row)
            out[row] = entry.line.fingerprint if entry is not None and entry.line is not None else None
        return out

    def record(self, pane: ClientPane, batch: FetchBatch, serial: int, outcomes: list[tuple[int, str]],
               before: Mapping[int, bytes | None]) -> None:
        """The reply's rows as the truth records them: raced ones ``superseded``."""
        truth = self.truth
        fetch = self.fetches.get(batch.token)
        applied: dict[int, tuple[int, bytes | None]] = {}
        for row, outcome in outcomes:
            raced = fetch is not None and row in fetch.raced
            if raced:
                outcome = self._raced(pane.remote_pane_id, serial, row, outcome)
            fetched = batch.rows.get(row)
            cause = fetched.cause if fetched is not None else "unexplained"
            truth.outcome(pane.remote_pane_id, outcome)
            if not raced:
                applied[row] = (len(truth.detail), before.get(row))
            truth.detail.append((serial, pane.remote_pane_id, row, outcome, cause))
        if fetch is None:
            return
        if fetch.pushes_pending:
            fetch.applied = applied
        else:
            del self.fetches[batch.token]

    def _raced(self, pane_id: int, serial: int, row: int, outcome: str) -> str:
        self.truth.raced.append((serial, pane_id, row))
        if outcome != "superseded":
            self.discarded += 1
        return "superseded"

    # -- pushes -------------------------------------------------------------------------------------
    def push_read(self, pane_id: int | None) -> PushSnapshot:
        """A push was read: the fetches in flight on its pane may race it."""
        tokens = tuple(self.in_flight.get(pane_id, ())) if pane_id is not None else ()
        for token in tokens:
            self.fetches[token].pushes_pending += 1
        return PushSnapshot(pane_id, tokens)

    def push_applied(self, pane: ClientPane | None, snap: PushSnapshot, touched: set[int] | None) -> None:
        """The push takes effect now (before the pane applies it); ``touched``: the rows it
        delivers, dirties or drops (None: every row, a SetPalette). Call with ``pane`` None for a
        push that is not applied (its pane is gone). Once per push: the snapshot is emptied."""
        tokens, snap.tokens = snap.tokens, ()
        for token in tokens:
            fetch = self.fetches.get(token)
            if fetch is None:
                continue
            fetch.pushes_pending -= 1
            if pane is not None:
                rows = set(fetch.rows) if touched is ALL_ROWS else fetch.rows & touched
                if fetch.applied is None:
                    fetch.raced |= rows
                else:
                    self._reclassify(pane, fetch, rows, touched is not ALL_ROWS)
            if fetch.pushes_pending == 0 and fetch.applied is not None:
                del self.fetches[token]

    def _reclassify(self, pane: ClientPane, fetch: _Fetch, rows: set[int], read_order_held: bool) -> None:
        """A reply applied before the push that raced it: its rows become ``superseded``, and, for a
        render push (``read_order_held``), the line it stored is held, for the refetch, as the read
        order would hold it (after a SetPalette the client holds the reply's line in either order)."""
        assert fetch.applied is not None
        truth = self.truth
        for row in sorted(rows):
            done = fetch.applied.pop(row, None)
            if done is None:
                continue
            index, before = done
            serial, pid, _, outcome, cause = truth.detail[index]
            if outcome != "superseded":
                truth.reclassify(pid, outcome, "superseded")
                self.discarded += 1
            truth.detail[index] = (serial, pid, row, "superseded", cause)
            truth.raced.append((serial, pid, row))
            entry = pane.cache.peek(row)
            if read_order_held and entry is not None and entry.line is not None:
                self.held_before.setdefault(pid, {})[row] = (entry.line, before)


def touched_rows(pane: ClientPane, delta: Mapping[str, Any], bonus: list[tuple[int, CachedLine]]) -> set[int]:
    """The rows a render push delivers, dirties or drops (``apply_changes_to_surface``'s dirty set and
    bonus lines), computed before the pane applies it."""
    rows = rows_of(delta["dirty_lines"]) | {row for row, _ in bonus}
    cursor = delta["cursor_position"]
    if cursor != pane.cursor:
        rows.update((pane.cursor["y"], cursor["y"]))
    return rows
