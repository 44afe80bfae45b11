"""Predictive local echo: what wezterm-client does with a key press over a slow link.

Reproduces ``wezterm-client/src/pane/renderable.rs`` (WezTerm 4ff581a8):

* ``should_predict`` (:138-143): only when the last measured input round trip
  (``last_input_rtt``, from the ``input_serial`` a push carries, :330-334) is at least
  the domain's ``local_echo_threshold_ms``. The threshold defaults to 100 ms for SSH and
  TLS domains (config/src/config.rs:1736, ssh.rs:74, tls.rs:85) and is off for unix
  domains (unix.rs:55-57, 78); ``--local-echo-ms`` sets it here (0 or absent: off).
* ``predict_from_key_event`` (:212-248): for a Char, Enter, an arrow, Backspace or
  Delete with no modifier but Shift, the cursor row's entry is popped; a ``Line`` or
  ``Stale`` one is edited and put back as ``Line`` (a Stale row is then not fetched on the
  next paint), a ``LineAndFetching`` one is edited and stays so, a ``Fetching`` one is put
  back untouched, and a row not held stays not held.
* ``apply_prediction`` (:156-206): nothing on a line containing "sword" (a password
  prompt: the entry still becomes ``Line``); Enter moves the cursor to column 0 of the
  next row (the line is not touched), arrows move it, Backspace/Delete erase a cell, a
  character is set at the cursor with a double underline (the cursor moves by its width).

The predicted cursor is the client's cursor: a later push whose cursor differs marks both
rows dirty (``apply_changes_to_surface``), which is how a predicted Enter makes the next row
fetched. The edited line's content is stood for by :func:`codec.lines.predicted.predicted_fingerprint`.
``predict_from_paste`` is not emulated (no scenario pastes; docs/wezterm-behaviour.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codec.lines import cell_width
from codec.lines.predicted import PASSWORD_HINT, erase_cell, predictable, predicted_fingerprint, set_cell
from muxscope_emulator.linecache import CachedLine, Entry, State

if TYPE_CHECKING:
    from muxscope_emulator.clientpane import ClientPane

#: ``config.rs: default_local_echo_threshold_ms`` (SSH and TLS domains)
DEFAULT_THRESHOLD_MS = 100


def wall_ms() -> int:
    """``InputSerial::now()``: milliseconds since the Unix epoch (codec/src/lib.rs:725-756)."""
    return int(time.time() * 1000)


def key_code(ch: str) -> Any:
    """The ``KeyCode`` wezterm-gui sends for a typed character: ``'\\r'`` is ``Enter``
    (wezterm-gui termwindow/keyevent.rs:752), a tab ``Tab``, anything else ``Char``."""
    return {"\r": "Enter", "\t": "Tab"}.get(ch) or {"Char": ch}


class PredictedLine(CachedLine):
    """A line the client edited locally: its cells as ``as_str()`` spells them, a stand-in
    fingerprint, the seqno of the line it was made from (``set_cell(.., SEQ_ZERO)`` keeps the
    larger seqno: ``update_last_change_seqno``), and that line's value for everything else."""

    __slots__ = ("cells",)

    def __init__(self, base: CachedLine, cells: tuple[str, ...], fingerprint: bytes) -> None:
        super().__init__(fingerprint, base.seqno, load=lambda: base.value)
        self.cells = cells

    @property
    def text(self) -> str:
        return "".join(self.cells)


@dataclass(frozen=True, slots=True)
class Prediction:
    """One key press while predicting, for the ground truth (``predictions_detail``)."""

    pane: int
    row: int
    key: str
    #: the row's entry state before and after (None: not held)
    before: str | None
    after: str | None
    #: whether the line's content changed (its fingerprint did)
    edited: bool
    t_ns: int

    def to_json(self) -> list[Any]:
        return [self.pane, self.row, self.key, self.before, self.after, self.edited, self.t_ns]


def cells_of(line: CachedLine) -> tuple[str, ...]:
    return line.cells if isinstance(line, PredictedLine) else tuple(line.text)


def apply_prediction(cursor: dict[str, Any], key: str, line: CachedLine) -> CachedLine:
    """``RenderableInner::apply_prediction``: moves ``cursor`` (in place) and returns the line,
    edited or as it was."""
    cells = cells_of(line)
    if PASSWORD_HINT in "".join(cells):
        return line
    x = cursor["x"]
    new = cells
    if key == "Enter":
        cursor["x"], cursor["y"] = 0, cursor["y"] + 1
    elif key == "UpArrow":
        cursor["y"] -= 1  # StableRowIndex is an isize: saturating_sub does not stop at 0
    elif key == "DownArrow":
        cursor["y"] += 1
    elif key == "RightArrow":
        cursor["x"] = x + 1
    elif key == "LeftArrow":
        cursor["x"] = max(0, x - 1)
    elif key == "Delete":
        new = erase_cell(cells, x)
    elif key == "Backspace":
        if x > 0:
            new = erase_cell(cells, x - 1)
            cursor["x"] = x - 1
    elif key.startswith("Char:"):
        ch = key[5:]
        new = set_cell(cells, x, ch)
        cursor["x"] = x + cell_width(ch)
        return PredictedLine(line, new, predicted_fingerprint(line.fingerprint, key, x))
    if new == cells:
        return line
    return PredictedLine(line, new, predicted_fingerprint(line.fingerprint, key, x))


def predict_from_key_event(pane: ClientPane, key: str | None, mods: int, threshold_ms: int | None) -> Prediction | None:
    """``RenderableInner::predict_from_key_event`` on ``pane``; None when it does not predict."""
    if not threshold_ms or pane.last_input_rtt < threshold_ms or key is None or not predictable(key, mods):
        return None
    cursor = dict(pane.cursor)
    row = cursor["y"]
    entry = pane.cache.pop(row)
    before = entry.state.value if entry is not None else None
    edited = False
    if entry is not None:
        if entry.state in (State.LINE, State.STALE, State.LINE_AND_FETCHING):
            assert entry.line is not None
            line = apply_prediction(cursor, key, entry.line)
            edited = line is not entry.line
            if entry.state is State.LINE_AND_FETCHING:
                entry = Entry(State.LINE_AND_FETCHING, line, entry.token, entry.cause)
            else:
                entry = Entry(State.LINE, line)
        pane.cache.put(row, entry)
        pane.cursor = cursor
    after = entry.state.value if entry is not None else None
    return Prediction(pane.remote_pane_id, row, key, before, after, edited, time.monotonic_ns())
