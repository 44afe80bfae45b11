"""The CSI sequences the emulated terminal understands beyond SGR: cursor moves, erases, modes.

Enough for a full-screen program and for a shell's SIGWINCH redraw (``\\r``,
``CSI K``): cursor position (``H``/``f``, ``A``-``D``, ``G``, ``d``), erase in
line (``K``) and display (``J``), and the DEC private modes that switch to the
alternate screen (47, 1047, 1049: :mod:`.altscreen`). How each one changes lines
follows ``term/src/terminalstate/mod.rs`` (``erase_in_display``,
``perform_csi_edit``, ``perform_csi_mode``) and ``Line::fill_range`` with its
``prune_trailing_blanks`` (``termwiz/src/surface/line/line.rs``): a line erased
with the default pen loses its trailing blanks, one erased with a background
colour holds a coloured blank in every column (docs/wezterm-behaviour.md).
Anything else is ignored, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from muxscope_emulator import altscreen
from muxscope_emulator.sgr import apply_sgr
from muxscope_emulator.termlines import Cell, Line

if TYPE_CHECKING:
    from muxscope_emulator.terminal import Terminal


def _nums(params: str, default: int = 1) -> list[int]:
    out = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []
    return [n or default for n in out] or [default]


def _is_default_blank(cell: Cell) -> bool:
    return cell.text == " " and cell.attrs == 0 and cell.fg is None and cell.bg is None and cell.link is None


def fill_range(line: Line, start: int, end: int, pen: Cell, seqno: int) -> None:
    """``Line::fill_range`` with ``Cell::blank_with_attrs(pen.clone_sgr_only())`` then
    ``prune_trailing_blanks``; a no-op on an empty line filled with default blanks."""
    cell = Cell(" ", 1, pen.attrs, pen.fg, pen.bg, None)
    if not line.cells and _is_default_blank(cell):
        return
    for x in range(start, end):
        line.set_cell_grapheme(x, " ", 1, cell, seqno)
    cells = line.cells
    end_idx = None
    for i in range(len(cells) - 1, -1, -1):
        if not _is_default_blank(cells[i]):
            end_idx = i
            break
    if end_idx is not None:
        del cells[end_idx + 1 :]
        line.update_seqno(seqno)


def erase_in_line(term: Terminal, mode: int) -> None:
    """``Edit::EraseInLine``: 0 to the end (one further if ``wrap_next``), 1 to the cursor, 2 all."""
    cx, cols = term.cursor_x, term.cols
    span = {0: (cx + (1 if term.wrap_next else 0), cols), 1: (0, cx + 1), 2: (0, cols)}.get(mode)
    if span is not None:
        fill_range(term.lines[term.phys_row(term.cursor_y)], *span, term.pen, term.seqno)


def erase_in_display(term: Terminal, mode: int) -> None:
    """``TerminalState::erase_in_display`` (3, EraseScrollback, is not modelled: ignored)."""
    cy, rows = term.cursor_y, term.rows
    if mode == 0:
        erase_in_line(term, 0)
        row_range = range(cy + 1, rows)
    elif mode == 1:
        erase_in_line(term, 1)
        row_range = range(0, cy)
    elif mode == 2:
        row_range = range(0, rows)
    else:
        return
    for y in row_range:
        fill_range(term.lines[term.phys_row(y)], 0, term.cols, term.pen, term.seqno)


def _mode(term: Terminal, params: str, final: str) -> None:
    """``CSI ? n h`` / ``l``: the alternate screen modes 47, 1047 and 1049
    (``perform_csi_mode``, terminalstate/mod.rs:1674-1700, 1890-1908); the rest are not modelled."""
    screens = term.screens
    for mode in _nums(params[1:], 0):
        if mode not in altscreen.MODES:
            continue
        enable = final == "h"
        if enable and not screens.alt_active:
            if mode == 1049:
                screens.saved_cursor = (term.cursor_x, term.cursor_y)  # dec_save_cursor
            altscreen.switch(term, True)
            if mode == 1049:
                term._set_cursor(0, 0)
                erase_in_display(term, 2)
        elif not enable and screens.alt_active:
            if mode == 1047:
                erase_in_display(term, 2)
            altscreen.switch(term, False)
            if mode == 1049 and screens.saved_cursor is not None:
                term._set_cursor(*screens.saved_cursor)  # dec_restore_cursor


def perform(term: Terminal, params: str, final: str) -> None:
    """One CSI sequence (``params`` with any private marker, ``final`` the last byte)."""
    if params.startswith("?"):
        if final in "hl":
            _mode(term, params, final)
        return
    if final == "m":
        term.pen = apply_sgr(term.pen, params)
    elif final in "Hf":
        nums = _nums(params)
        row, col = nums[0], nums[1] if len(nums) > 1 else 1
        term._set_cursor(col - 1, row - 1)
    elif final == "K":
        erase_in_line(term, _nums(params, 0)[0])
    elif final == "J":
        erase_in_display(term, _nums(params, 0)[0])
    elif final in "ABCDGd":
        n = _nums(params)[0]
        x, y = term.cursor_x, term.cursor_y
        moves = {"A": (x, y - n), "B": (x, y + n), "C": (min(x + n, term.cols - 1), y),
                 "D": (max(min(x, term.cols - 1) - n, 0), y), "G": (n - 1, y), "d": (x, n - 1)}  # fmt: skip
        term._set_cursor(*moves[final])



