"""A pane's terminal as wezterm-term keeps it: termwiz lines, stable rows, seqnos, rewrap.

This is the ground truth the emulated mux server serves and muxscope's
analysis is checked against, so the parts that decide *which lines a client
fetches* follow WezTerm's source closely (``term/src/screen.rs``,
``term/src/terminalstate/{mod,performer}.rs``,
``termwiz/src/surface/line/line.rs``; docs/wezterm-behaviour.md, the server
table):

* a line is a list of *column* cells, exactly what ``to_cell_vec`` of a
  clustered line gives (a wide cell is followed by blank spacer cells that
  carry its attributes), so :meth:`Line.value` is byte-for-byte the ``Line``
  a real server puts on the wire (``CellStorage::V``);
* every change stamps the touched line with the terminal's seqno, which goes
  up by one per output batch (``perform_actions``) and per resize;
* ``stable_row = phys_index + offset``; the offset only moves when scrollback
  overflows, never on resize;
* :meth:`Terminal.resize` is ``TerminalState::resize`` + ``Screen::resize`` +
  ``Screen::rewrap_lines`` + ``Line::wrap``, quirks included.

The VT parser is deliberately small (printable text, CR, LF, BS, TAB, SGR
colours (:mod:`.sgr`), cursor moves, erases and the alternate screen
(:mod:`.csi`, :mod:`.altscreen`), OSC 0/2 titles, OSC 8 hyperlinks and the
palette OSCs (:mod:`.oscpalette`)): enough for shell-like output and a
full-screen editor, with autowrap setting the wrap bit exactly where WezTerm sets it.

The line and cell model lives in :mod:`.termlines`, the generated shell-like
content in :mod:`.content`.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from codec.lines import cell_width, line_text, serialized_lines_fingerprints
from muxscope_emulator import altscreen, csi, oscpalette
from muxscope_emulator.palette import default_palette
from muxscope_emulator.termlines import BLANK, Line, make_hyperlink, serialize_lines


class Terminal:
    """wezterm-term's screens (primary and alternate) plus the terminal state that drives them."""

    def __init__(
        self,
        rows: int = 24,
        cols: int = 80,
        scrollback: int = 2000,
        *,
        pixel_width: int = 0,
        pixel_height: int = 0,
        dpi: int = 0,
    ) -> None:
        self.seqno = 1  # TerminalState::new
        self.rows = max(rows, 1)
        self.cols = max(cols, 1)
        self.scrollback = scrollback
        self.pixel_width, self.pixel_height, self.dpi = pixel_width, pixel_height, dpi
        self.lines: list[Line] = [Line(self.seqno) for _ in range(self.rows)]
        self.offset = 0  # stable_row_index_offset
        self.cursor_x = 0
        self.cursor_y = 0  # VisibleRowIndex
        self.wrap_next = False
        self.pen = BLANK
        self.title = "wezterm"
        self.reverse_video = False
        #: the alternate screen (the one not shown is swapped out: :mod:`.altscreen`)
        self.screens = altscreen.Screens.new(self.rows, self.seqno)
        #: the palette as escapes changed it (None: the configured one; :mod:`.oscpalette`)
        self.palette: dict[str, Any] | None = None
        #: ``Alert``s raised by output (``PaletteChanged``), for the pane to hand to the mux
        self.alerts: list[str] = []
        #: the configured palette escapes start from and reset to (the pane's: a client may set it)
        self.base_palette: Callable[[], dict[str, Any]] = default_palette
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._state = "ground"
        self._buf: list[str] = []
        self._print: list[str] = []

    # -- addressing (screen.rs) --------------------------------------------
    @property
    def physical_top(self) -> int:
        return self.offset + len(self.lines) - self.rows

    def phys_row(self, vis: int) -> int:
        return len(self.lines) - self.rows + max(0, min(vis, self.rows))

    def stable_to_phys(self, row: int) -> int | None:
        p = row - self.offset
        return p if 0 <= p < len(self.lines) else None

    def stable_range(self, start: int, end: int) -> range:
        """``Screen::stable_range``, bottom-anchored n+1-row quirk included."""
        n = max(end - start, 0)
        first = self.stable_to_phys(start)
        if first is None:
            return range(0, min(n, len(self.lines)))
        last = self.stable_to_phys(end - 1)
        if last is None:
            last = len(self.lines) - 1
            return range(max(last - n, 0), last + 1)
        return range(first, last + 1)

    def get_lines(self, start: int, end: int) -> list[tuple[int, Line]]:
        """``terminal_get_lines``: the rows ``stable_range`` picks, with their actual stable index."""
        return [(p + self.offset, self.lines[p]) for p in self.stable_range(start, end)]

    def get_changed_since(self, start: int, end: int, seqno: int) -> list[int]:
        """``Screen::get_changed_stable_rows``."""
        return [p + self.offset for p in self.stable_range(start, end) if self.lines[p].changed_since(seqno)]

    def dirty_rows_since(self, seqno: int) -> list[int]:
        """Every stable row (scrollback and screen) changed after ``seqno``."""
        return self.get_changed_since(0, self.physical_top + self.rows, seqno)

    def dimensions(self) -> dict[str, Any]:
        """``terminal_get_dimensions`` (mux/src/renderable.rs)."""
        return {
            "cols": self.cols,
            "viewport_rows": self.rows,
            "scrollback_rows": len(self.lines),
            "physical_top": self.physical_top,
            "scrollback_top": self.offset,
            "dpi": self.dpi,
            "pixel_width": self.pixel_width,
            "pixel_height": self.pixel_height,
            "reverse_video": self.reverse_video,
        }

    def cursor_position(self) -> dict[str, Any]:
        """``terminal_get_cursor_position``: StableCursorPosition."""
        return {
            "x": self.cursor_x,
            "y": self.physical_top + self.cursor_y,
            "shape": "Default",
            "visibility": "Visible",
        }

    # -- ground truth -------------------------------------------------------
    def _rows(self, rows: Iterable[int] | None) -> list[tuple[int, Line]]:
        if rows is None:
            return [(p + self.offset, line) for p, line in enumerate(self.lines)]
        out = []
        for row in rows:
            p = self.stable_to_phys(row)
            if p is not None:
                out.append((row, self.lines[p]))
        return out

    def serialize_lines(self, rows: Iterable[int] | None = None) -> dict[str, Any]:
        """The SerializedLines value a server would send for ``rows`` (all rows if None)."""
        return serialize_lines(self._rows(rows))

    def snapshot(self, rows: Iterable[int] | None = None) -> dict[int, bytes]:
        """``{stable_row: fingerprint}`` computed with codec.lines on the values we would send."""
        value = self.serialize_lines(rows)
        fps = serialized_lines_fingerprints(value)
        return {row: fp for (row, _), fp in zip(value["lines"], fps, strict=True)}

    def text_rows(self, rows: Iterable[int] | None = None) -> dict[int, str]:
        """``{stable_row: Line::as_str()}`` of the values we would send."""
        return {row: line_text(v) for row, v in self.serialize_lines(rows)["lines"]}

    def viewport_text(self) -> list[str]:
        """The visible rows' text, top to bottom, trailing blanks stripped (assert_visible_contents)."""
        return [line.text().rstrip() for line in self.lines[len(self.lines) - self.rows :]]

    # -- output (performer.rs) ----------------------------------------------
    def write(self, data: bytes | str) -> None:
        """Apply one batch of pty output (``Terminal::perform_actions``: seqno + 1 first)."""
        self.seqno += 1
        text = data if isinstance(data, str) else self._decoder.decode(data)
        for ch in text:
            self._feed(ch)
        self._flush_print()

    def _feed(self, ch: str) -> None:
        state = self._state
        if state == "ground":
            if ch >= " " and ch != "\x7f":
                self._print.append(ch)
                return
            self._flush_print()
            if ch == "\x1b":
                self._state = "esc"
            else:
                self._control(ch)
        elif state == "esc":
            if ch == "[":
                self._state, self._buf = "csi", []
            elif ch == "]":
                self._state, self._buf = "osc", []
            else:
                self._state = "ground"
        elif state == "csi":
            if "@" <= ch <= "~":
                self._csi("".join(self._buf), ch)
                self._state = "ground"
            else:
                self._buf.append(ch)
        elif state in ("osc", "osc_esc"):
            if ch == "\x07" or (state == "osc_esc" and ch == "\\"):
                self._osc("".join(self._buf))
                self._state = "ground"
            elif ch == "\x1b":
                self._state = "osc_esc"
            else:
                self._buf.append(ch)
                self._state = "osc"

    def _control(self, ch: str) -> None:
        if ch == "\r":
            self._set_cursor(0, self.cursor_y)
        elif ch in "\n\x0b\x0c":
            self._new_line(False)
        elif ch == "\x08":
            self._set_cursor(max(min(self.cursor_x - 1, self.cols - 1), 0), self.cursor_y)
        elif ch == "\t":
            self._set_cursor(min((self.cursor_x // 8 + 1) * 8, self.cols - 1), self.cursor_y)

    def _csi(self, params: str, final: str) -> None:
        csi.perform(self, params, final)

    def _osc(self, body: str) -> None:
        code, _, rest = body.partition(";")
        if code in oscpalette.CODES:
            oscpalette.perform(self, code, rest)
        elif code in ("0", "2"):
            self.title = rest
        elif code == "8":
            params, _, uri = rest.partition(";")
            if not uri:
                self.pen = self.pen._replace(link=None)
                return
            kv = dict(p.partition("=")[::2] for p in params.split(":") if p)
            self.pen = self.pen._replace(link=make_hyperlink(uri, kv))

    def _graphemes(self) -> Iterator[tuple[str, int]]:
        """Simplified segmentation: zero-width code points join the preceding grapheme."""
        cur = ""
        for ch in self._print:
            if cur and cell_width(ch) == 0:
                cur += ch
                continue
            if cur:
                yield cur, cell_width(cur)
            cur = ch
        if cur:
            yield cur, cell_width(cur)

    def _flush_print(self) -> None:
        """``Performer::flush_print``: autowrap marks the wrap bit where WezTerm does."""
        if not self._print:
            return
        seqno = self.seqno
        for g, width in self._graphemes():
            if width == 0:
                continue  # zero-width graphemes are elided
            if self.wrap_next:
                self.lines[self.phys_row(self.cursor_y)].set_last_cell_was_wrapped(True, seqno)
                self._new_line(True)
            x = self.cursor_x
            wrappable = x + width >= self.cols
            self.lines[self.phys_row(self.cursor_y)].set_cell_grapheme(x, g, width, self.pen, seqno)
            if not wrappable:
                self.cursor_x += width
                self.wrap_next = False
            else:
                self.wrap_next = True  # DECAWM on
        self._print.clear()

    def _set_cursor(self, x: int, y: int) -> None:
        """``TerminalState::set_cursor_pos`` with Absolute positions: x may reach ``cols``."""
        self.cursor_x = max(0, min(x, self.cols))
        self.cursor_y = max(0, min(y, self.rows - 1))
        self.wrap_next = False

    def _new_line(self, move_to_first_column: bool) -> None:
        x = 0 if move_to_first_column else self.cursor_x
        y = self.cursor_y
        if y == self.rows - 1:
            self._scroll_up()
        else:
            y += 1
        self._set_cursor(x, y)

    def _scroll_up(self) -> None:
        """``Screen::scroll_up`` of one row over the full screen (scrollback allowed)."""
        if self.screens.alt_active:
            altscreen.scroll_up(self)
            return
        max_allowed = self.rows + self.scrollback
        removed = len(self.lines) + 1 - max_allowed if len(self.lines) + 1 >= max_allowed else 0
        if removed:
            del self.lines[:removed]
            self.offset += removed
        self.lines.append(Line(self.seqno))

    # -- resize (terminalstate/mod.rs, screen.rs) -------------------------------
    def resize(self, rows: int, cols: int, pixel_width: int = 0, pixel_height: int = 0, dpi: int = 0) -> None:
        """``TerminalState::resize``: seqno + 1, ``Screen::resize``, then clamp the cursor."""
        self.seqno += 1
        altscreen.resize_inactive(self, rows, cols, dpi, self.seqno)
        x, y = self._screen_resize(rows, cols, dpi, self.seqno)
        self.pixel_width, self.pixel_height = pixel_width, pixel_height
        self._set_cursor(x, y)

    def _screen_resize(self, rows: int, cols: int, dpi: int, seqno: int) -> tuple[int, int]:
        """``Screen::resize`` (not conpty); returns the new (x, VisibleRowIndex) before clamping."""
        rows, cols = max(rows, 1), max(cols, 1)
        if rows == self.rows and cols == self.cols and dpi == self.dpi:
            return self.cursor_x, self.cursor_y
        self.dpi = dpi
        cursor_phys = self.phys_row(self.cursor_y)
        for _ in range(cursor_phys + 1, len(self.lines)):  # pre-prune blank lines below the cursor
            if self.lines and self.lines[-1].is_whitespace():
                self.lines.pop()
        if cols != self.cols and self.screens.alt_active:
            altscreen.truncate_lines(self, cols, seqno)  # the alt screen is never rewrapped
            cx, cy = self.cursor_x, cursor_phys
        elif cols != self.cols:
            cx, cy = self._rewrap_lines(cols, rows, self.cursor_x, cursor_phys, seqno)
        else:
            cx, cy = self.cursor_x, cursor_phys
        while len(self.lines) < rows:
            self.lines.append(Line(seqno))
        new_y = cy - (len(self.lines) - rows)
        self.rows, self.cols = rows, cols
        return cx, new_y

    def _rewrap_lines(
        self, cols: int, rows: int, cursor_x: int, cursor_y: int, seqno: int
    ) -> tuple[int, int]:
        """``Screen::rewrap_lines``: join by the wrap bit, re-split at ``cols``, stamp every line.

        Quirks kept: the column-zero cursor special case fires for any
        non-first row; a trailing logical line still pending (last line wrapped)
        is dropped; trailing blank lines beyond capacity are pruned.
        """
        rewrapped: list[Line] = []
        logical: Line | None = None
        logical_cursor_x: int | None = None
        adjusted = (cursor_x, cursor_y)
        for phys_idx, line in enumerate(self.lines):
            line.update_seqno(seqno)
            was_wrapped = line.last_cell_was_wrapped()
            if was_wrapped:
                line.set_last_cell_was_wrapped(False, seqno)
            if logical is None:
                if phys_idx == cursor_y:
                    logical_cursor_x = cursor_x
                cur = line
            else:
                if phys_idx == cursor_y:
                    logical_cursor_x = cursor_x + len(logical)
                logical.append_line(line, seqno)
                cur, logical = logical, None
            if was_wrapped:
                logical = cur
                continue
            if logical_cursor_x is not None:
                x, logical_cursor_x = logical_cursor_x, None
                n = x // cols
                ax, ay = x - n * cols, len(rewrapped) + n
                if ax == 0 and ay > 0:
                    ax = cursor_x if cols < self.cols else cols
                    ay -= 1
                adjusted = (ax, ay)
            if len(cur) <= cols:
                rewrapped.append(cur)
            else:
                rewrapped.extend(cur.wrap(cols, seqno))
        self.lines = rewrapped
        capacity = rows + self.scrollback
        while len(self.lines) > capacity and self.lines[-1].is_whitespace():
            self.lines.pop()
        return adjusted
