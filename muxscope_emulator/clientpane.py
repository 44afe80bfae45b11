"""One remote pane as the emulated wezterm-gui holds it: ``ClientPane`` + ``RenderableInner``.

Reproduces the fetch logic of ``wezterm-client/src/pane/renderable.rs``
(``RenderableState::get_lines``, ``get_changed_since``,
``RenderableInner::poll``, ``apply_changes_to_surface``, ``put_line``,
``apply_lines``) and the state changes of
``wezterm-client/src/pane/clientpane.rs`` (``resize``, ``set_zoomed``,
``process_unilateral(SetPalette)``). It never touches a socket: what WezTerm
sends from here (GetLines, GetPaneRenderChanges, Resize, SetPaneZoomed) goes
through :class:`PaneHooks`, which the client implements, so the state machine
can be driven directly by tests.

The ``policy`` switches in measured alternatives to WezTerm's behaviour; with
``Policy()`` (``wezterm``) every branch is WezTerm's (:mod:`.policy`). The
types it shares with the client (fetch batches, hooks, counters) are in
:mod:`.panefetch`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from muxscope_emulator.linecache import CachedLine, Entry, LineCache, State, next_token
from muxscope_emulator.panefetch import FetchBatch, FetchRow, PaneHooks, PaneStats, rows_of, to_ranges
from muxscope_emulator.policy import RESIZE_CAUSES, Policy
from muxscope_emulator.ratelimit import DEFAULT_PREFETCHES_PER_SECOND, RateLimiter
from muxscope_emulator.shadow import SelectiveShadow
from muxscope_emulator.wezlog import PaneLog, wezterm_dirty

#: ``renderable.rs: BASE_POLL_INTERVAL`` / ``MAX_POLL_INTERVAL``
BASE_POLL_INTERVAL = 0.020
MAX_POLL_INTERVAL = 30.0


def _initial_dims(size: Mapping[str, int]) -> dict[str, Any]:
    """``ClientPane::new``: dims from the PaneEntry size; physical_top 0 (quirk:
    PaneEntry.physical_top is ignored until the first push)."""
    return {
        "cols": size["cols"], "viewport_rows": size["rows"], "scrollback_rows": size["rows"],
        "physical_top": 0, "scrollback_top": 0, "dpi": size.get("dpi", 0),
        "pixel_width": size.get("pixel_width", 0), "pixel_height": size.get("pixel_height", 0),
        "reverse_video": False,
    }  # fmt: skip


class ClientPane:
    """``ClientPane`` + ``RenderableInner`` for one remote pane."""

    #: WezTerm's own trace lines for this pane (``--wezterm-log``), None when not asked for
    wezlog: PaneLog | None = None
    last_input_rtt = 0  #: ms, set by pushes with an input_serial; read by :mod:`.prediction`

    def __init__(
        self,
        remote_pane_id: int,
        remote_tab_id: int,
        size: Mapping[str, int],
        title: str,
        hooks: PaneHooks,
        *,
        scrollback_lines: int = 3500,
        prefetch_rate: int = DEFAULT_PREFETCHES_PER_SECOND,
        policy: Policy | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.remote_pane_id = remote_pane_id
        self.remote_tab_id = remote_tab_id
        self.title = title
        self.hooks = hooks
        self.policy = policy or Policy()
        self.clock = clock
        now = clock()
        self.dims: dict[str, Any] = _initial_dims(size)
        #: the dimensions of the last push (``dims`` also holds local resizes)
        self.server_dims: dict[str, Any] | None = None
        self.cursor: dict[str, Any] = {"x": 0, "y": 0, "shape": "Default", "visibility": "Visible"}
        self.seqno = 0
        self.cache = LineCache(scrollback_lines)
        self.limiter = RateLimiter(prefetch_rate, clock)
        self.poll_interval = BASE_POLL_INTERVAL
        self.last_poll = now
        self.poll_in_progress = False
        self.last_send_time = now
        self.last_recv_time = now
        self.input_serial = 0
        self.dead = False
        self.zoomed = False
        self.palette: Any = None
        #: the GUI's scroll position; None follows the bottom (``get_viewport``)
        self.viewport_top: int | None = None
        #: rows a push evicted, and why: their next fetch is attributed to it
        self.evicted_cause: dict[int, str] = {}
        #: row -> tokens of GetLines in flight that asked for it
        self.inflight: dict[int, list[int]] = {}
        #: ``coalesce``: fetches with a token below these left before the pane's last
        #: make_all_stale / the row's last push, so their replies cannot be reused
        self._valid_from = 0
        self._row_valid_from: dict[int, int] = {}
        #: row -> a still-valid fetch whose reply ``put_line`` dropped (for ``refetched_in_flight``)
        self._dropped_valid: dict[int, int] = {}
        self._selective = SelectiveShadow()
        self.stats = PaneStats()

    # -- geometry ----------------------------------------------------------
    def viewport(self) -> tuple[int, int]:
        """``paint_pane``: ``top = get_viewport() or dims.physical_top``, ``viewport_rows`` rows."""
        top = self.viewport_top if self.viewport_top is not None else self.dims["physical_top"]
        return top, top + self.dims["viewport_rows"]

    # -- fetch helpers -------------------------------------------------------
    def _valid_fetch_in_flight(self, row: int) -> int | None:
        """The newest fetch in flight for ``row`` if it left after the row was last invalidated
        (an older one brings content from before the change)."""
        tokens = self.inflight.get(row)
        if tokens and self._still_valid(tokens[-1], row):
            return tokens[-1]
        return None

    def _still_valid(self, token: int | None, row: int) -> bool:
        return token is not None and token >= max(self._valid_from, self._row_valid_from.get(row, 0))

    def _coalesced_token(self, row: int) -> int | None:
        """Under ``coalesce``: the newest in-flight fetch that already asks for ``row``, if it left
        after the row was last invalidated (an older one brings content from before the change)."""
        if self.policy.coalesce:
            token = self._valid_fetch_in_flight(row)
            if token is not None:
                self.stats.coalesced_rows += 1
                return token
        return None

    def _schedule(self, rows: dict[int, FetchRow], token: int, origin: str) -> None:
        """``RenderableInner::schedule_fetch_lines``: one GetLines per call; skipped if empty or dead."""
        if not rows or self.dead:
            return
        batch = FetchBatch(token, to_ranges(rows), rows, origin)
        if self.wezlog is not None:
            self.wezlog.will_fetch(batch.ranges, token)
        dropped = self._dropped_valid
        for row in rows:
            if self._valid_fetch_in_flight(row) or self._still_valid(dropped.pop(row, None), row):
                self.stats.refetched_in_flight += 1
            tokens = self.inflight.setdefault(row, [])
            tokens.append(token)
            self.stats.max_inflight_per_row = max(self.stats.max_inflight_per_row, len(tokens))
        if origin == "prefetch":
            self.stats.prefetch_batches += 1
        else:
            self.stats.get_lines_batches += 1
        self.hooks.fetch_lines(self, batch)

    def _fetch_done(self, batch: FetchBatch) -> None:
        for row in batch.rows:
            tokens = self.inflight.get(row)
            if tokens is not None:
                if batch.token in tokens:
                    tokens.remove(batch.token)
                if not tokens:
                    del self.inflight[row]

    # -- RenderableState -------------------------------------------------------
    def get_lines(self, start: int, end: int) -> list[CachedLine | None]:
        """``RenderableState::get_lines``: what the GUI renders, and the fetch of what it lacks.

        None stands for the blank ``Line::with_width(cols, SEQ_ZERO)`` placeholder.
        """
        cache = self.cache
        result: list[CachedLine | None] = []
        to_fetch: dict[int, FetchRow] = {}
        token = next_token()
        for row in range(start, end):
            entry = cache.pop(row)
            if entry is None:
                result.append(None)
                cause = self.evicted_cause.pop(row, "first_view")
                shared = self._coalesced_token(row)
                if shared is None:
                    to_fetch[row] = FetchRow(cause, None)
                entry = Entry(State.FETCHING, None, shared or token, cause)
            elif entry.state is State.LINE:
                line = entry.line
                assert line is not None
                result.append(line)
                if line.changed_since(self.seqno):
                    if self.policy.coalesce:
                        # the quirk fixed: wait for this fetch (or the one in flight)
                        shared = self._coalesced_token(row)
                        if shared is None:
                            to_fetch[row] = FetchRow("dirty", line.fingerprint)
                        entry = Entry(State.LINE_AND_FETCHING, line, shared or token, "dirty")
                    else:
                        # quirk kept: the entry goes Stale (not *Fetching), so the
                        # reply to this very fetch will be discarded by put_line
                        to_fetch[row] = FetchRow("dirty", line.fingerprint)
                        entry = Entry(State.STALE, line, None, "dirty")
                    if not self.policy.selective and row in to_fetch:
                        self._selective.fetched_again(row, token)
            elif entry.state is State.STALE:
                line = entry.line
                assert line is not None
                result.append(line)
                shared = self._coalesced_token(row)
                if shared is None:
                    to_fetch[row] = FetchRow(entry.cause, line.fingerprint)
                    if not self.policy.selective:
                        if entry.cause == "dirty":
                            self._selective.fetched_again(row, token)
                        elif entry.cause in RESIZE_CAUSES and not line.changed_since(self.seqno):
                            # (a line newer than the pane's seqno is fetched under every policy)
                            self._selective.fetched_for_resize(row, token)
                entry = Entry(State.LINE_AND_FETCHING, line, shared or token, entry.cause)
            else:
                result.append(entry.line)  # LineAndFetching: old line; Fetching: blank
            cache.put(row, entry)
        if self.wezlog is not None:
            self.wezlog.get_lines(start, end, len(result), to_ranges(to_fetch))
        self._schedule(to_fetch, token, "render")
        return result

    def get_changed_since(self, start: int, end: int, seqno: int) -> list[int]:
        """``RenderableState::get_changed_since``: runs ``poll()``, then the rows to repaint."""
        self.poll()
        dirty = []
        for row in range(start, end):
            entry = self.cache.get(row)
            if entry is None or (entry.line is not None and entry.line.changed_since(seqno)):
                dirty.append(row)
        if self.wezlog is not None:
            self.wezlog.changed_since(seqno, to_ranges(dirty))
        return dirty

    def poll(self) -> bool:
        """``RenderableInner::poll``: paint-driven GetPaneRenderChanges with a doubling interval."""
        if self.poll_in_progress or self.dead:
            return False
        now = self.clock()
        if now - self.last_poll < self.poll_interval:
            return False
        self.poll_interval = min(self.poll_interval * 2, MAX_POLL_INTERVAL)
        self.last_poll = now
        self.poll_in_progress = True
        self.hooks.poll(self)
        return True

    def poll_done(self, alive: bool) -> None:
        """The LivenessResponse (or error): does not reset the interval."""
        self.dead = not alive
        self.last_recv_time = self.clock()
        self.poll_in_progress = False

    def update_last_send(self) -> None:
        """``RenderableInner::update_last_send``: input resets the poll interval."""
        self.last_send_time = self.clock()
        self.poll_interval = BASE_POLL_INTERVAL

    # -- pushes ----------------------------------------------------------------
    def apply_changes(self, delta: Mapping[str, Any], bonus: list[tuple[int, CachedLine]]) -> None:
        """``RenderableInner::apply_changes_to_surface`` for one render-changes push."""
        now = self.clock()
        self.stats.pushes += 1
        self.poll_interval = BASE_POLL_INTERVAL
        self.last_recv_time = now
        dirty = rows_of(delta["dirty_lines"])
        cursor = delta["cursor_position"]
        moved = (self.cursor["y"], cursor["y"]) if cursor != self.cursor else ()
        dirty.update(moved)
        serial = delta.get("input_serial")
        self.last_input_rtt = self.last_input_rtt if serial is None else int(time.time() * 1000) - serial
        if serial is None or serial >= self.input_serial:
            self.cursor = dict(cursor)
        self.dims = dict(delta["dimensions"])
        self.server_dims = dict(self.dims)
        self.title = delta["title"]
        log = self.wezlog
        if log is not None:
            log.push_begin(self.seqno, delta["seqno"])
        self.seqno = delta["seqno"]
        token = next_token()
        for row, line in bonus:
            if log is not None:
                log.bonus_line(row, line.seqno)
            self.put_line(row, line, None)
            dirty.discard(row)
            self._row_valid_from[row] = token
        if log is not None:
            log.push_dirty(self.seqno, wezterm_dirty(delta["dirty_lines"], moved, [row for row, _ in bonus]))
        to_fetch = self._stamp_dirty(sorted(dirty), token)
        if to_fetch:
            if self.limiter.check():
                self._schedule(to_fetch, token, "prefetch")
            else:
                self.stats.throttled_pushes += 1
                if log is not None:
                    log.throttled(to_ranges(to_fetch))
                for row in to_fetch:
                    if self.cache.make_stale(row, "dirty"):
                        # a Fetching entry is removed: its next fetch is still the push's doing
                        self.evicted_cause[row] = "dirty"

    def _stamp_dirty(self, dirty: list[int], token: int) -> dict[int, FetchRow]:
        """``apply_changes_to_surface``'s loop over the dirty rows: evict those above
        ``physical_top``, stamp the others for the fetch (``token``) the push triggers."""
        physical_top = self.dims["physical_top"]
        to_fetch: dict[int, FetchRow] = {}
        cache = self.cache
        log = self.wezlog
        for row in dirty:
            self._row_valid_from[row] = token
            self._selective.row_invalidated(row)
            prior = cache.pop(row)
            if row < physical_top:
                # not fetchable: make_stale() after the pop is a no-op, so the
                # row is simply evicted (an in-flight reply for it is dropped)
                if log is not None:
                    log.not_fetchable(row)
                if prior is not None:
                    self.evicted_cause[row] = "dirty"
                continue
            shared = self._coalesced_token(row)
            old = prior.line if prior is not None else None
            if shared is None:
                to_fetch[row] = FetchRow("dirty", old.fingerprint if old is not None else None)
            state = State.FETCHING if old is None else State.LINE_AND_FETCHING
            cache.put(row, Entry(state, old, shared or token, "dirty"))
            if log is not None:
                log.dirty_row(row, None if prior is None else (prior.state.value, prior.token),
                              state.value, shared or token)
        return to_fetch

    def put_line(self, row: int, line: CachedLine, token: int | None) -> bool:
        """``RenderableInner::put_line``; False when a fetched line is discarded.

        "changed since fetch started, leave it be": a fetched line is stored
        only if the entry still waits for this very fetch.
        """
        if token is None:
            self.cache.put(row, Entry(State.LINE, line))
            self._delivered(row, None)
            return True
        entry = self.cache.pop(row)
        if entry is None:
            return False
        if entry.fetching and entry.token == token:
            if self.wezlog is not None:
                self.wezlog.fetch_done(row, line.seqno, self.seqno)
            line.seqno = max(line.seqno, self.seqno)
            self.cache.put(row, Entry(State.LINE, line))
            self._delivered(row, token)
            return True
        if self.wezlog is not None:
            self.wezlog.left_be(row, (entry.state.value, entry.token), token)
        self.cache.put(row, entry)
        if self._still_valid(token, row) and not entry.fetching:
            self._dropped_valid[row] = token
        return False

    def _delivered(self, row: int, token: int | None) -> None:
        self._dropped_valid.pop(row, None)
        self._selective.delivered(row, token)

    def apply_fetched(self, batch: FetchBatch, lines: list[tuple[int, CachedLine]]) -> list[tuple[int, str]]:
        """``RenderableInner::apply_lines`` (Ok), with each row's ground-truth outcome.

        Outcomes, exactly one per returned row: ``superseded`` (discarded by
        ``put_line``), else ``redundant`` (the client held identical content
        when it asked), else ``new`` (held nothing), else ``changed``.
        """
        self._fetch_done(batch)
        self._selective.returned(batch.token, [row for row, _ in lines])
        if self.wezlog is not None:
            self.wezlog.fetch_complete(batch.ranges, batch.token)
        outcomes = []
        for row, line in lines:
            meta = batch.rows.get(row)
            held = meta.held if meta is not None else None
            if not self.put_line(row, line, batch.token):
                outcome = "superseded"
            elif held is not None and held == line.fingerprint:
                outcome = "redundant"
            elif held is None:
                outcome = "new"
            else:
                outcome = "changed"
            outcomes.append((row, outcome))
        self._selective.done(batch.token, batch.rows)
        if self.wezlog is not None:
            self.wezlog.lines_applied()
        return outcomes

    def fetch_failed(self, batch: FetchBatch, err: str = "connection lost") -> None:
        """``RenderableInner::apply_lines`` (Err): undo this batch's *Fetching entries."""
        self._fetch_done(batch)
        if self.wezlog is not None:
            self.wezlog.fetch_failed(err)
        self._selective.done(batch.token, batch.rows)
        for row in batch.rows:
            entry = self.cache.pop(row)
            if entry is None:
                continue
            if entry.fetching and entry.token == batch.token:
                if entry.state is State.FETCHING:
                    continue
                entry = Entry(State.LINE, entry.line)
            self.cache.put(row, entry)
        if self.wezlog is not None:
            self.wezlog.lines_applied()

    def on_set_palette(self, palette: Any) -> None:
        """``ClientPane::process_unilateral(SetPalette)``: store it and ``make_all_stale``."""
        self.palette = palette
        self._make_all_stale("palette")

    def _make_all_stale(self, cause: str, cols: int | None = None) -> None:
        """``make_all_stale``; the shadow notes which rows the selective policy would have staled
        (for a resize to a new width ``cols``, those a rewrap can alter; else all)."""
        if cause not in RESIZE_CAUSES:
            self._selective.invalidated(self.cache, None)
        elif cols is not None:
            self._selective.invalidated(self.cache, cols)
        self._valid_from = next_token()
        before = sum(1 for _, e in self.cache.items() if e.state is State.LINE)
        self.cache.make_all_stale(cause)
        self.stats.staled[cause] = self.stats.staled.get(cause, 0) + before

    # -- user actions ------------------------------------------------------------
    def resize(self, size: Mapping[str, int], cause: str = "resize") -> bool:
        """``ClientPane::resize``: on any change of cols/rows/pixels, stale the cache and send Resize.

        ``cause`` only labels the ground truth (``resize`` from the GUI,
        ``tab_resized`` from a ListPanes resync). Returns True if a Resize was sent.
        """
        dims = self.dims
        if (
            dims["cols"] == size["cols"]
            and dims["viewport_rows"] == size["rows"]
            and dims["pixel_width"] == size["pixel_width"]
            and dims["pixel_height"] == size["pixel_height"]
        ):
            return False
        old_cols = dims["cols"]
        dims["cols"] = size["cols"]
        dims["viewport_rows"] = size["rows"]
        dims["pixel_width"] = size["pixel_width"]
        dims["pixel_height"] = size["pixel_height"]
        if self.policy.selective:
            self.cache.relabel_stale(cause)
            n = self.cache.make_rewrap_stale(size["cols"], cause) if size["cols"] != old_cols else 0
            self.stats.staled[cause] = self.stats.staled.get(cause, 0) + n
        else:
            self._make_all_stale(cause, size["cols"] if size["cols"] != old_cols else None)
        self.hooks.send_resize(self, dict(size))
        self.update_last_send()
        return True

    def set_zoomed(self, zoomed: bool) -> None:
        """``ClientPane::set_zoomed``: ``make_all_stale``, SetPaneZoomed, poll reset."""
        self.zoomed = zoomed
        self._make_all_stale("zoom")
        self.hooks.send_zoom(self, zoomed)
        self.update_last_send()

    # -- inspection (not WezTerm) -------------------------------------------------
    def selective_saved_rows(self) -> int:
        """Rows fetched because of a resize that the ``selective`` policy would not have staled
        (0 under that policy: it fetches no such row)."""
        return self._selective.saved_rows()

    def unsettled_rows(self) -> list[int]:
        """Viewport rows not held as an up-to-date Line (what a next paint would fetch or lacks)."""
        start, end = self.viewport()
        out = []
        for row in range(start, end):
            entry = self.cache.peek(row)
            current = entry is not None and entry.state is State.LINE
            if not current or entry.line.changed_since(self.seqno):  # type: ignore[union-attr]
                out.append(row)
        return out

    def screen(self) -> list[str]:
        """The viewport's text rows as the client would draw them (blank where it holds nothing)."""
        start, end = self.viewport()
        out = []
        for row in range(start, end):
            entry = self.cache.peek(row)
            out.append(entry.line.text if entry is not None and entry.line is not None else "")
        return out

    def screen_fingerprints(self) -> dict[int, str]:
        start, end = self.viewport()
        out = {}
        for row in range(start, end):
            entry = self.cache.peek(row)
            if entry is not None and entry.line is not None:
                out[row] = entry.line.fingerprint.hex()
        return out
