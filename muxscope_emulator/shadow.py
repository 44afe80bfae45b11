"""The selective policy's shadow: what it would have saved, counted by a client running another policy.

The emulated client's own measure of the rows selective invalidation saves in a
run, for comparison with muxscope's what-if estimate of the same run.
"""

from __future__ import annotations

from collections.abc import Iterable

from codec.lines import rewrap_rows
from muxscope_emulator.linecache import CachedLine, LineCache, State


class SelectiveShadow:
    """What the ``selective`` policy would have done, kept alongside another policy's cache: the
    client's own measure of the rows selective invalidation saves in this very run (muxscope's
    what-if estimates the same from the wire).

    Per row, the invalidations since its last delivery: a resize to a new width (judged later by
    :func:`codec.lines.rewrap_rows` on the lines held then) or one the policy shares with WezTerm
    (zoom, palette). A row fetched because of a resize that none of them would have staled is a
    row saved; so is get_lines' refetch of a line that only such a fetch brought (newer than the
    pane's seqno: the selective client would still hold the older line). The lines' wrap facts
    are worked out only when :meth:`saved_rows` is asked, after the session, so that decoding
    them does not slow the client while it measures latencies.
    """

    def __init__(self) -> None:
        #: per invalidation: (new cols, the rows held then with their lines), or None for "every row"
        self._events: list[tuple[int, list[tuple[int, CachedLine]]] | None] = []
        self._rewrapped: dict[int, set[int]] = {}
        self._since: dict[int, list[int]] = {}
        #: per fetch that may be saved: (row, the invalidations behind a resize fetch or None for a
        #: refetch, the fetch that brought a refetched line)
        self._fetches: list[tuple[int, tuple[int, ...] | None, int]] = []
        self._pending: dict[tuple[int, int], int] = {}
        #: row -> the recorded fetch whose line the row holds
        self._brought_by: dict[int, int] = {}
        #: the recorded fetches whose row the reply returned (a row past the bottom may not be)
        self._returned: set[int] = set()

    def invalidated(self, cache: LineCache, cols: int | None) -> None:
        k = len(self._events)
        held = [(row, e.line) for row, e in cache.items() if e.line is not None]
        self._events.append(None if cols is None else (cols, held))
        since = self._since
        for row, e in cache.items():
            if e.state in (State.LINE, State.STALE):
                since.setdefault(row, []).append(k)

    def row_invalidated(self, row: int) -> None:
        """A push named the row: a selective client fetches it too."""
        self._brought_by.pop(row, None)

    def delivered(self, row: int, token: int | None) -> None:
        self._since.pop(row, None)
        fetch = self._pending.pop((token, row), None) if token is not None else None
        if fetch is None:
            self._brought_by.pop(row, None)
        else:
            self._brought_by[row] = fetch

    def fetched_for_resize(self, row: int, token: int) -> None:
        self._record(row, token, tuple(self._since.get(row, ())), -1)

    def fetched_again(self, row: int, token: int) -> None:
        """get_lines refetches a held line newer than the pane's seqno (or the Stale entry that left)."""
        parent = self._brought_by.get(row)
        if parent is not None:
            self._record(row, token, None, parent)

    def returned(self, token: int, rows: Iterable[int]) -> None:
        """The reply to fetch ``token`` holds these rows: only they count, as the report counts
        the rows a response returns."""
        for row in rows:
            i = self._pending.get((token, row))
            if i is not None:
                self._returned.add(i)

    def done(self, token: int, rows: Iterable[int]) -> None:
        for row in rows:
            self._pending.pop((token, row), None)

    def _record(self, row: int, token: int, events: tuple[int, ...] | None, parent: int) -> None:
        self._pending[(token, row)] = len(self._fetches)
        self._fetches.append((row, events, parent))

    def _staled(self, k: int, row: int) -> bool:
        event = self._events[k]
        if event is None:
            return True
        rows = self._rewrapped.get(k)
        if rows is None:
            cols, held = event
            rows = self._rewrapped[k] = set(rewrap_rows(sorted((r, ln.wrap_facts) for r, ln in held), cols))
        return row in rows

    def saved_rows(self) -> int:
        saved: list[bool] = []
        for row, events, parent in self._fetches:
            if events is None:
                saved.append(saved[parent])
            else:
                saved.append(not any(self._staled(k, row) for k in events))
        return sum(1 for i, ok in enumerate(saved) if ok and i in self._returned)
