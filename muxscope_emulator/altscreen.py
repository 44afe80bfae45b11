"""The alternate screen of the emulated terminal: switching, scrolling and resizing it.

``term/src/terminalstate/mod.rs: ScreenOrAlt`` holds a primary screen (with
scrollback) and an alternate one (without), both always sized alike. What the
mux's fetch traffic depends on (docs/wezterm-behaviour.md, the server table):

* switching either way marks the *primary* screen's first ``physical_rows``
  physical lines changed (``dirty_top_phys_rows``, mod.rs:209-230): the alt
  screen's stable rows are ``0..rows``, the rows a client may hold from the top
  of the primary's scrollback, so they must be invalidated;
* the alt screen never scrolls into scrollback: a scroll at its top removes the
  top line, marks every line of the region changed, and leaves the stable row
  offset alone (``Screen::scroll_up``, screen.rs:640-735);
* a resize truncates (narrower: ``Line::resize``) or only re-stamps (wider) its
  lines instead of rewrapping them (``Screen::resize``, screen.rs:222-243), and
  the inactive screen is resized with its saved cursor (mod.rs:856-925).

The :class:`~.terminal.Terminal` always works on the active screen's lines;
this module swaps the other one in and out (:class:`Screens`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from muxscope_emulator.termlines import BLANK, Line

if TYPE_CHECKING:
    from muxscope_emulator.terminal import Terminal

#: ``EnableAlternateScreen`` (47), ``OptEnableAlternateScreen`` (1047), ``ClearAndEnableAlternateScreen`` (1049)
MODES = (47, 1047, 1049)


@dataclass
class Inactive:
    """The screen not shown: its lines, stable row offset, scrollback size and (saved) cursor."""

    lines: list[Line]
    offset: int = 0
    scrollback: int = 0
    cursor: tuple[int, int] = (0, 0)


@dataclass
class Screens:
    """Which screen is active, and the other one (``ScreenOrAlt``)."""

    other: Inactive
    alt_active: bool = False
    #: ``dec_save_cursor`` of the primary (1049)
    saved_cursor: tuple[int, int] | None = field(default=None)

    @classmethod
    def new(cls, rows: int, seqno: int) -> Screens:
        return cls(Inactive([Line(seqno) for _ in range(rows)]))


def _swap(term: Terminal) -> None:
    o = term.screens.other
    o.lines, term.lines = term.lines, o.lines
    o.offset, term.offset = term.offset, o.offset
    o.scrollback, term.scrollback = term.scrollback, o.scrollback
    o.cursor, (term.cursor_x, term.cursor_y) = (term.cursor_x, term.cursor_y), o.cursor


def _dirty_top_phys_rows(term: Terminal) -> None:
    """``ScreenOrAlt::dirty_top_phys_rows``: the primary's physical lines ``0..rows``."""
    primary = term.screens.other.lines if term.screens.alt_active else term.lines
    for line in primary[: term.rows]:
        line.update_seqno(term.seqno)


def switch(term: Terminal, to_alt: bool) -> None:
    """``activate_alt_screen`` / ``activate_primary_screen``: the other screen shown, the top of the
    primary dirtied, the pen reset (the mode handling is csi.py's ``_mode``)."""
    screens = term.screens
    if screens.alt_active == to_alt:
        return
    cursor = (term.cursor_x, term.cursor_y)
    _swap(term)
    term.cursor_x, term.cursor_y = cursor  # the cursor is the terminal's, not the screen's
    screens.alt_active = to_alt
    _dirty_top_phys_rows(term)
    term.pen = BLANK
    term.wrap_next = False


def scroll_up(term: Terminal) -> None:
    """``Screen::scroll_up`` of one row on the alt screen (no scrollback: ``scrollback_ok`` false)."""
    seqno = term.seqno
    for line in term.lines[len(term.lines) - term.rows :]:
        line.update_seqno(seqno)
    del term.lines[0]
    term.lines.append(Line(seqno))


def truncate_lines(term: Terminal, cols: int, seqno: int) -> None:
    """``Screen::resize`` without ``allow_scrollback``: narrower prunes each line to ``cols``
    (``Line::resize``: cut or padded with blanks), wider only re-stamps it."""
    for line in term.lines:
        if cols < term.cols:
            del line.cells[cols:]
            line.cells.extend([BLANK] * (cols - len(line.cells)))
        line.update_seqno(seqno)


def resize_inactive(term: Terminal, rows: int, cols: int, dpi: int, seqno: int) -> None:
    """``ScreenOrAlt::resize``: the screen not shown is resized too, with its saved cursor."""
    screens = term.screens
    keep = (term.rows, term.cols, term.dpi, term.cursor_x, term.cursor_y, screens.alt_active)
    cursor = screens.saved_cursor if screens.alt_active else screens.other.cursor
    _swap(term)
    screens.alt_active = not screens.alt_active
    term.cursor_x, term.cursor_y = cursor or (0, 0)
    x, y = term._screen_resize(rows, cols, dpi, seqno)
    if keep[5]:
        screens.saved_cursor = (x, max(y, 0))
    _swap(term)
    screens.other.cursor = (x, max(y, 0))
    term.rows, term.cols, term.dpi, term.cursor_x, term.cursor_y, screens.alt_active = keep
