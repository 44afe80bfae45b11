"""One pane's line cache as wezterm-client keeps it: entries, their states, and the transition table.

wezterm-client keeps, per pane, an LRU of ``LineEntry`` (wezterm-client/src/pane/renderable.rs):
``Line``, ``Stale``, ``Fetching(instant)``, ``LineAndFetching(line, instant)``. Every transition of
that state machine is caused by something on the wire; :data:`TRANSITIONS` lists them all, in the
manner of h11's ``_state.py``, and :class:`~proxy.analysis.linemodel.PaneLines` moves entries only
through :func:`next_state`. See docs/wezterm-behaviour.md for where each transition is in WezTerm.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from codec.lines import WrapFacts, line_text, line_wrap_facts
from proxy.analysis.vocabulary import Cause, LineState

LINE, STALE, FETCHING, LINE_AND_FETCHING = LineState
#: the stamp of an entry a push marked for fetching, before its GetLines is seen
PUSH_STAMP = -1
#: the newest delivered lines per pane whose bytes are kept for their wrap facts (each keeps its
#: response's payload alive); older ones count as unknown, which makes the selective what-if
#: assume they rewrap (it errs towards saving less). Far above any screen's rows.
MAX_LINE_FACTS = 4096
#: a pane's cursor before its first push (termwiz's default)
DEFAULT_CURSOR = {"x": 0, "y": 0, "shape": "Default", "visibility": "Visible"}


class LineEvent(Enum):
    """What happens to one row's entry, each caused by something on the wire."""

    #: a GetLines asks for the row (``get_lines``), the held line being up to date if any
    REQUEST = auto()
    #: a GetLines asks for a held ``Line`` the pane's seqno says has changed: WezTerm's quirk
    #: (``changed_since`` -> ``Stale``; the reply to this very fetch is then dropped)
    REQUEST_CHANGED_LINE = auto()
    #: the reply the entry waits for arrives (``put_line``)
    REPLY = auto()
    #: ``make_all_stale`` (Resize, SetPaneZoomed, SetPalette)
    MAKE_STALE = auto()
    #: a push names the row dirty at or below ``physical_top``: stamped for the fetch it triggers
    DIRTY = auto()
    #: a push carries the row as a bonus line: stored as it is
    BONUS = auto()
    #: the GetLines failed (``apply_lines``' Err branch)
    FETCH_FAILED = auto()
    #: the push that stamped the row was over the prefetch limit: ``make_stale`` instead of a fetch
    THROTTLED = auto()
    #: a key press the client echoed locally into the cursor row (``predict_from_key_event``;
    #: :mod:`proxy.analysis.localecho`): a Stale row becomes Line without a fetch
    PREDICT = auto()


#: (state before, or None for no entry; event) -> state after, or None for no entry. A pair that
#: is missing leaves the entry as it is.
TRANSITIONS: dict[tuple[LineState | None, LineEvent], LineState | None] = {
    (None, LineEvent.REQUEST): FETCHING,
    (FETCHING, LineEvent.REQUEST): FETCHING,
    (LINE_AND_FETCHING, LineEvent.REQUEST): LINE_AND_FETCHING,
    (STALE, LineEvent.REQUEST): LINE_AND_FETCHING,
    (LINE, LineEvent.REQUEST): LINE_AND_FETCHING,
    (LINE, LineEvent.REQUEST_CHANGED_LINE): STALE,
    (FETCHING, LineEvent.REPLY): LINE,
    (LINE_AND_FETCHING, LineEvent.REPLY): LINE,
    (LINE, LineEvent.MAKE_STALE): STALE,
    (STALE, LineEvent.MAKE_STALE): STALE,
    (None, LineEvent.DIRTY): FETCHING,
    (FETCHING, LineEvent.DIRTY): FETCHING,
    (LINE, LineEvent.DIRTY): LINE_AND_FETCHING,
    (STALE, LineEvent.DIRTY): LINE_AND_FETCHING,
    (LINE_AND_FETCHING, LineEvent.DIRTY): LINE_AND_FETCHING,
    (None, LineEvent.BONUS): LINE,
    (LINE, LineEvent.BONUS): LINE,
    (STALE, LineEvent.BONUS): LINE,
    (FETCHING, LineEvent.BONUS): LINE,
    (LINE_AND_FETCHING, LineEvent.BONUS): LINE,
    (FETCHING, LineEvent.FETCH_FAILED): None,
    (LINE_AND_FETCHING, LineEvent.FETCH_FAILED): LINE,
    (FETCHING, LineEvent.THROTTLED): None,
    (LINE_AND_FETCHING, LineEvent.THROTTLED): STALE,
    (LINE, LineEvent.PREDICT): LINE,
    (STALE, LineEvent.PREDICT): LINE,
    (LINE_AND_FETCHING, LineEvent.PREDICT): LINE_AND_FETCHING,
}


def next_state(state: LineState | None, event: LineEvent) -> LineState | None:
    """The entry's state after ``event`` (:data:`TRANSITIONS`; unchanged where the table is silent)."""
    return TRANSITIONS.get((state, event), state)


class LineFacts:
    """A delivered line's :class:`~codec.lines.WrapFacts`, worked out only when a resize needs
    them: decoding a line's cells costs far more than the rest of the model's work, and most
    lines are replaced before the next change of width."""

    __slots__ = ("_facts", "_index", "_summary", "_text", "_version")

    def __init__(self, summary: Any, index: int, version: int) -> None:
        self._summary, self._index, self._version = summary, index, version
        self._facts: WrapFacts | None = None
        self._text: str | None = None

    def forget(self) -> None:
        """Let go of the line's bytes; facts not yet worked out stay unknown."""
        self._summary = None

    def get(self) -> WrapFacts | None:
        """The facts, or None for a line that does not decode (it then counts as altered)."""
        self._decode()
        return self._facts

    def text(self) -> str | None:
        """The line's ``as_str()`` (for the local echo's password check and edits), None if unknown."""
        self._decode()
        return self._text

    def _decode(self) -> None:
        if self._summary is not None:
            try:
                value = self._summary.line_value(self._index, self._version)
                self._facts, self._text = line_wrap_facts(value), line_text(value)
            except Exception:  # noqa: BLE001 - an undecodable line is merely unknown here
                self._facts = None
            self._summary = None


@dataclass(slots=True)
class Entry:
    """One row's ``LineEntry``, with what the analysis needs beside it."""

    state: LineState
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
    cause: Cause = Cause.FIRST_VIEW
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
        return dataclasses.replace(self)


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


def bound_rows(rows: dict[int, Any], max_rows: int) -> None:
    """Keep a per-row dict within ``max_rows``: the rows set longest ago go first (dict order)."""
    excess = len(rows) - max_rows
    if excess > 0:
        for row in list(itertools.islice(rows, excess)):
            del rows[row]
