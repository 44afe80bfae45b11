"""The emulated client's own record, written as wezterm-gui writes it under ``WEZTERM_LOG=wezterm_client=trace``.

A real wezterm-gui logs every fetch it schedules, every row a reply fills or
leaves alone, every bonus line and every row a push makes stale. ``muxscope
check-log`` reads that log beside a capture of the same session; writing the
very same lines here lets the check be tested where no wezterm-gui can run.

Formats, at WezTerm 4ff581a8 (identical in release 20240203-110809-5046fc22,
a few lines higher; see docs/wezterm-behaviour.md):

* the line prefix: ``env-bootstrap/src/ringlog.rs:163-225``: local time
  ``%H:%M:%S%.3f``, two spaces, the level padded to 6, the target padded to the
  longest target logged *before* this line (``AtomicUsize::fetch_max`` returns
  the previous value), `` > ``, the message;
* the messages: ``wezterm-client/src/pane/renderable.rs`` (the ``log::trace!``
  calls at :310-:399, :412, :467-:483, :501, :551, :557, :578, :790, :851) and
  ``wezterm-client/src/client.rs:301`` and ``:399-403``;
* Rust's ``Debug`` of the values they print: ``RangeSet { ranges: [a..b], needs_sort: false }``
  (``rangeset/src/lib.rs:9``, derived), ``Instant { tv_sec: S, tv_nsec: N }``
  (std's unix ``Instant``), ``LineEntry::kind()`` as ``("Line", None)``
  (``renderable.rs:46-53``) and ``Option`` of it.

The ``dirty as of seq`` line shows the dirty set as WezTerm's ``RangeSet`` builds it
(:mod:`.rangeset`: a row added just below a range stays a range of its own).
"""

from __future__ import annotations

import datetime
import enum
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TextIO

from muxscope_emulator.rangeset import RangeSet

RENDERABLE = "wezterm_client::pane::renderable"
CLIENT = "wezterm_client::client"


class Level(enum.Enum):
    """``log::Level::as_str``."""

    ERROR = "ERROR"
    WARN = "WARN"
    INFO = "INFO"
    DEBUG = "DEBUG"
    TRACE = "TRACE"


def rust_range_set(ranges: Iterable[tuple[int, int]]) -> str:
    """``{:?}`` of a ``RangeSet<StableRowIndex>`` built in ascending order."""
    inner = ", ".join(f"{a}..{b}" for a, b in ranges)
    return f"RangeSet {{ ranges: [{inner}], needs_sort: false }}"


def wezterm_dirty(dirty_lines: Iterable[Mapping[str, int]], cursor_rows: Iterable[int],
                  bonus_rows: Iterable[int]) -> list[tuple[int, int]]:
    """``apply_changes_to_surface``'s dirty set as it prints (renderable.rs:319-328, :364-368):
    the push's ranges, then the old and new cursor rows, less each bonus row."""
    dirty = RangeSet()
    for r in dirty_lines:
        dirty.add_range((r["start"], r["end"]))
    for row in cursor_rows:
        dirty.add(row)
    for row in bonus_rows:
        dirty.remove(row)
    return dirty.ranges


def rust_instant(ns: int) -> str:
    """``{:?}`` of a ``std::time::Instant`` on unix (Linux and macOS)."""
    return f"Instant {{ tv_sec: {ns // 1_000_000_000}, tv_nsec: {ns % 1_000_000_000} }}"


def rust_kind(state: str, instant: str | None) -> str:
    """``{:?}`` of ``LineEntry::kind()``: ``(&'static str, Option<Instant>)``."""
    return f'("{state}", {"None" if instant is None else f"Some({instant})"})'


def wall_clock() -> str:
    """chrono's ``Local::now().format("%H:%M:%S%.3f")``."""
    now = datetime.datetime.now()
    return now.strftime("%H:%M:%S.") + f"{now.microsecond // 1000:03d}"


class WezLog:
    """One wezterm-gui process's log file: the ringlog prefix, and the ``Instant`` of each fetch.

    The emulator tags a fetch with an integer token where WezTerm uses ``Instant::now()``;
    each token gets the monotonic time it was first printed at (made strictly increasing,
    so two tokens never print alike, as two of WezTerm's fetches never share an Instant).
    """

    def __init__(self, out: TextIO, clock_ns: Callable[[], int] = time.monotonic_ns,
                 wall: Callable[[], str] = wall_clock) -> None:
        self.out = out
        self.clock_ns = clock_ns
        self.wall = wall
        self.padding = 0
        self._instants: dict[int, str] = {}
        self._last_ns = 0

    def write(self, level: Level, target: str, msg: str) -> None:
        pad = self.padding
        self.padding = max(pad, len(target))
        self.out.write(f"{self.wall()}  {level.value:<6} {target:<{pad}} > {msg}\n")

    def trace(self, msg: str, target: str = RENDERABLE) -> None:
        self.write(Level.TRACE, target, msg)

    def instant(self, token: int) -> str:
        text = self._instants.get(token)
        if text is None:
            ns = max(self.clock_ns(), self._last_ns + 1)
            self._last_ns = ns
            text = self._instants[token] = rust_instant(ns)
        return text

    def decoded(self, serial: int, pdu_name: str) -> None:
        """``client.rs:399-403``: the client thread's line for every PDU it decodes."""
        self.write(Level.DEBUG, CLIENT, f"decoded serial {serial} {pdu_name}")

    def kind(self, state: str, token: int | None) -> str:
        """``LineEntry::kind()``: only the *Fetching states carry an Instant (the emulator's
        entries may keep a stale token after ``make_all_stale``)."""
        fetching = state in ("Fetching", "LineAndFetching")
        return rust_kind(state, self.instant(token) if fetching and token is not None else None)

    def flush(self) -> None:
        self.out.flush()


class PaneLog:
    """The lines one ``ClientPane`` (local id, remote id) writes, in WezTerm's words."""

    def __init__(self, log: WezLog, local_pane_id: int, remote_pane_id: int) -> None:
        self.log = log
        self.local = local_pane_id
        self.remote = remote_pane_id

    # -- RenderableState::get_lines / get_changed_since (renderable.rs:790, :851) --
    def get_lines(self, start: int, end: int, n: int, to_fetch: list[tuple[int, int]]) -> None:
        self.log.trace(f"get_lines: {start}..{end}, num result lines={n}, will fetch {rust_range_set(to_fetch)}")

    def changed_since(self, seqno: int, rows: list[tuple[int, int]]) -> None:
        if rows:
            self.log.trace(f"get_changed_since: {seqno} -> {rust_range_set(rows)}")

    # -- schedule_fetch_lines (renderable.rs:501) --
    def will_fetch(self, ranges: list[tuple[int, int]], token: int) -> None:
        self.log.trace(f"will fetch lines {rust_range_set(ranges)} for remote tab id {self.remote} "
                       f"at {self.log.instant(token)}")

    # -- apply_changes_to_surface (renderable.rs:310-:420) --
    def push_begin(self, old_seqno: int, new_seqno: int) -> None:
        self.log.trace(f"apply_changes_to_surface local={self.local} remote={self.remote}")
        self.log.trace(f"server says: seqno from {old_seqno} -> {new_seqno} for local_pane_id={self.local}")

    def bonus_line(self, row: int, seqno: int) -> None:
        self.log.trace(f"bonus line {row} seqno={seqno}")

    def push_dirty(self, seqno: int, dirty: list[tuple[int, int]]) -> None:
        self.log.trace(f"apply_changes_to_surface: Generate PaneOutput event for local={self.local}")
        self.log.trace(f"dirty as of seq {seqno} -> {rust_range_set(dirty)}")

    def not_fetchable(self, row: int) -> None:
        self.log.trace(f"make {row} stale bcos not fetchable")

    def dirty_row(self, row: int, prior: tuple[str, int | None] | None, state: str, token: int) -> None:
        before = "None" if prior is None else f"Some({self.log.kind(*prior)})"
        self.log.trace(f"row {row} {before} -> {self.log.kind(state, token)} due to dirty and IN viewport")

    def throttled(self, ranges: list[tuple[int, int]]) -> None:
        self.log.write(Level.WARN, RENDERABLE, f"exceeded fetch throttle, drop {rust_range_set(ranges)} and mark stale")

    # -- apply_lines / put_line (renderable.rs:467-:483, :551-:582) --
    def fetch_complete(self, ranges: list[tuple[int, int]], token: int) -> None:
        self.log.trace(f"fetch complete for {rust_range_set(ranges)} at {self.log.instant(token)}")

    def fetch_done(self, row: int, line_seqno: int, pane_seqno: int) -> None:
        self.log.trace(f"row {row} fetch done -> Line seq={line_seqno} vs self.seq={pane_seqno}")

    def left_be(self, row: int, current: tuple[str, int | None], token: int) -> None:
        self.log.trace(f"row {row} {self.log.kind(*current)} changed since fetch started at "
                       f"{self.log.instant(token)}, so leave it be")

    def fetch_failed(self, err: str) -> None:
        self.log.write(Level.ERROR, RENDERABLE, f"get_lines failed: {err}")

    def lines_applied(self) -> None:
        self.log.trace(f"Generate PaneOutput event for local_pane_id={self.local}")
