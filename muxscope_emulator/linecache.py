"""The emulated client's per-pane line cache: WezTerm's ``LineEntry`` LRU, row by row.

Reproduces ``wezterm-client/src/pane/renderable.rs``: the ``LineEntry`` enum
(``Line``, ``Fetching``, ``LineAndFetching``, ``Stale``), the
``LruCache<StableRowIndex, LineEntry>`` sized ``max(scrollback_lines, 128)``,
and the cache-only helpers ``make_all_stale`` / ``make_stale``. The fetch
decisions that also touch the connection live in :mod:`.clientpane`.

A fetch's ``Instant`` is modelled by an integer *token*, unique per fetch batch:
WezTerm compares Instants for equality in ``put_line``; two batches never share
one in practice, and a counter makes that explicit.

Each entry also carries a ``cause`` (why it is stale or being fetched): it is
bookkeeping for the ground truth and changes no behaviour.
"""

from __future__ import annotations

import enum
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from codec.lines import WrapFacts, line_text, line_wrap_facts, rewrap_rows, serialized_lines_fingerprints
from codec.pdu import LinesSummary
from codec.schema.versions import CodecVersion

#: the smallest cache WezTerm builds (``RenderableInner::new``: ``scrollback_lines.max(128)``).
MIN_CAPACITY = 128

_tokens = itertools.count(1)


def next_token() -> int:
    """A fresh stand-in for the ``Instant::now()`` a fetch batch is tagged with."""
    return next(_tokens)


class CachedLine:
    """A termwiz ``Line`` as the client holds it, with the facts the emulator needs.

    ``seqno`` is mutable: ``put_line`` raises it to the pane's seqno when a
    fetched line is stored (``line.update_last_change_seqno(self.seqno)``).

    The decoded value is built only when something needs it (the text of the
    screen, the wrap facts of a logical line or a rewrap): the client holds
    thousands of lines and looks inside few, and decoding every cell of every
    line in Python would keep its event loop busy while replies wait in its
    socket, inflating the latencies it measures.
    """

    __slots__ = ("_facts", "_load", "_value", "fingerprint", "seqno")

    def __init__(
        self,
        fingerprint: bytes,
        seqno: int,
        value: Mapping[str, Any] | None = None,
        load: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        if value is None and load is None:
            raise ValueError("a CachedLine needs its value or a way to load it")
        self.fingerprint = fingerprint
        self.seqno = seqno
        self._value = value
        self._load = load
        self._facts: tuple[str, WrapFacts] | None = None

    def changed_since(self, seqno: int) -> bool:
        """termwiz ``Line::changed_since``: SEQ_ZERO lines always count as changed."""
        return self.seqno == 0 or self.seqno > seqno

    @classmethod
    def from_value(cls, value: Mapping[str, Any], fingerprint: bytes) -> CachedLine:
        return cls(fingerprint, value["seqno"], value=value)

    @property
    def value(self) -> Mapping[str, Any]:
        if self._value is None:
            assert self._load is not None
            self._value, self._load = self._load(), None
        return self._value

    def _computed(self) -> tuple[str, WrapFacts]:
        if self._facts is None:
            value = self.value
            self._facts = (line_text(value), line_wrap_facts(value))
        return self._facts

    @property
    def text(self) -> str:
        return self._computed()[0]

    @property
    def wrap_facts(self) -> WrapFacts:
        return self._computed()[1]

    @property
    def wrapped(self) -> bool:
        return self._computed()[1].wrapped

    @property
    def length(self) -> int:
        """``Line::len()``: stored cells (vector storage) or the clustered ``len``."""
        return self._computed()[1].length

    @property
    def content_width(self) -> int:
        """Columns up to the last non-blank cell: what ``Line::wrap`` keeps."""
        return self._computed()[1].content_width


def lines_from_serialized(value: Mapping[str, Any]) -> list[tuple[int, CachedLine]]:
    """``(stable_row, CachedLine)`` for each line of a fully decoded ``SerializedLines``.

    Fingerprints come from :func:`codec.lines.serialized_lines_fingerprints`
    (content only, seqno ignored), the comparison the ground truth is built on.
    The client itself reads summaries (:func:`lines_from_summary`).
    """
    fps = serialized_lines_fingerprints(value)
    pairs = zip(value["lines"], fps, strict=True)
    return [(row, CachedLine.from_value(line, fp)) for (row, line), fp in pairs]


def lines_from_summary(summary: LinesSummary, version: CodecVersion) -> list[tuple[int, CachedLine]]:
    """``(stable_row, CachedLine)`` for each line of a summary-decoded ``SerializedLines``: the
    fingerprint and seqno now, the cells decoded from the payload if and when they are needed."""
    out = []
    for i, ln in enumerate(summary.lines):
        out.append((ln.row, CachedLine(ln.fingerprint, ln.seqno, load=partial(summary.line_value, i, version))))
    return out


class State(enum.Enum):
    """``renderable.rs: enum LineEntry``."""

    LINE = "Line"
    FETCHING = "Fetching"
    LINE_AND_FETCHING = "LineAndFetching"
    STALE = "Stale"


@dataclass(slots=True)
class Entry:
    state: State
    line: CachedLine | None = None
    #: the fetch batch (WezTerm: the ``Instant``) a *Fetching entry waits for
    token: int | None = None
    #: why the row is stale or being fetched (ground truth only)
    cause: str = "first_view"

    @property
    def fetching(self) -> bool:
        return self.state in (State.FETCHING, State.LINE_AND_FETCHING)


class LineCache:
    """``lru::LruCache<StableRowIndex, LineEntry>`` with WezTerm's usage.

    ``pop`` + ``put`` moves a row to most-recently-used, as in
    ``RenderableState::get_lines``; ``get`` promotes too (``get_changed_since``);
    ``peek`` does not (used by the emulator's own inspection only).
    """

    def __init__(self, scrollback_lines: int = 3500) -> None:
        self.capacity: int | None = max(scrollback_lines, MIN_CAPACITY)
        self._lru: OrderedDict[int, Entry] = OrderedDict()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._lru)

    def __contains__(self, row: int) -> bool:
        return row in self._lru

    def items(self) -> Iterator[tuple[int, Entry]]:
        return iter(list(self._lru.items()))

    def pop(self, row: int) -> Entry | None:
        return self._lru.pop(row, None)

    def put(self, row: int, entry: Entry) -> None:
        lru = self._lru
        lru[row] = entry
        lru.move_to_end(row)
        if self.capacity is not None:
            while len(lru) > self.capacity:
                lru.popitem(last=False)
                self.evictions += 1

    def get(self, row: int) -> Entry | None:
        entry = self._lru.get(row)
        if entry is not None:
            self._lru.move_to_end(row)
        return entry

    def peek(self, row: int) -> Entry | None:
        return self._lru.get(row)

    def make_all_stale(self, cause: str) -> None:
        """``RenderableInner::make_all_stale``: every Line/Stale entry becomes Stale.

        *Fetching entries are left alone. Quirk kept: WezTerm rebuilds the cache
        as ``LruCache::unbounded()``, so from the first call on it never evicts.
        """
        for entry in self._lru.values():
            if entry.state in (State.LINE, State.STALE):
                entry.state = State.STALE
                entry.cause = cause
        self.capacity = None

    def make_stale(self, row: int, cause: str) -> bool:
        """``RenderableInner::make_stale`` (renderable.rs:437-446): Line/Stale/LineAndFetching -> Stale;
        a ``Fetching`` entry is popped and not put back, so the row is gone (its next paint fetches
        it; a reply still in flight for it is dropped). Returns True if the row was removed."""
        entry = self.pop(row)
        if entry is None:
            return False
        if entry.state is State.FETCHING:
            return True
        self.put(row, Entry(State.STALE, entry.line, None, cause))
        return False

    def relabel_stale(self, cause: str) -> None:
        """Entries already ``Stale`` take ``cause`` (the newest invalidation), as ``make_all_stale``
        labels them; the ``selective`` policy's bookkeeping, so causes read the same under every
        policy."""
        for entry in self._lru.values():
            if entry.state is State.STALE:
                entry.cause = cause

    def make_rewrap_stale(self, new_cols: int, cause: str) -> int:
        """The ``selective`` policy (not WezTerm): stale only rows a rewrap to ``new_cols`` can alter
        (:func:`codec.lines.rewrap_rows`, judged on every row holding a line). Like
        ``make_all_stale`` the cache becomes unbounded and *Fetching entries are untouched.
        Returns the number of rows made stale."""
        self.capacity = None
        lru = self._lru
        held = sorted((row, e.line.wrap_facts) for row, e in lru.items() if e.line is not None)
        staled = 0
        for row in rewrap_rows(held, new_cols):
            entry = lru[row]
            if entry.state in (State.LINE, State.STALE):
                entry.state = State.STALE
                entry.cause = cause
                staled += 1
        return staled
