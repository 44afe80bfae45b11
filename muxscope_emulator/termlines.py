"""Lines and cells as termwiz keeps them, and how a batch of them is put on the wire.

Split from :mod:`.terminal` so the data model (what a ``Line`` is, what its
``value`` serializes to, how ``Line::wrap`` cuts it) can be read apart from the
terminal that writes into it: every row the emulated server sends, and every
byte the analysis is checked against, goes through :meth:`Line.value` and
:func:`serialize_lines` here (``termwiz/src/surface/line/line.rs``,
``codec/src/lib.rs``; docs/wezterm-behaviour.md, the server table).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from operator import itemgetter
from typing import Any, NamedTuple

#: ``CellAttributes`` bit 11 (``wrapped``): the line continues on the next row.
WRAPPED = 1 << 11
#: ``LineBits::HAS_HYPERLINK``.
HAS_HYPERLINK = 1 << 1


class Cell(NamedTuple):
    """One column cell. ``fg``/``bg``: None (Default), a palette index (``SmallColor``) or an
    ``SrgbaTuple`` (a truecolour, kept in ``FatAttributes``: :mod:`.sgr`).

    ``link`` is a ``Hyperlink`` value; like WezTerm's ``Arc<Hyperlink>`` its
    *identity* delimits a hyperlink streak when lines are serialized.
    """

    text: str
    width: int = 1
    attrs: int = 0
    fg: int | tuple[float, float, float, float] | None = None
    bg: int | tuple[float, float, float, float] | None = None
    link: dict[str, Any] | None = None


BLANK = Cell(" ")


_WIDTH = itemgetter(1)
_ONE = frozenset([1])
#: (a Hyperlink value is a non-empty dict: truthy)
_LINK = itemgetter(5)
_TEXT = itemgetter(0)
_SPACE = frozenset([" "])


def _with_wrapped(c: Cell, wrapped: bool) -> Cell:
    """The cell with its ``wrapped`` attribute set or cleared (``_replace`` is slow in a rewrap)."""
    attrs = c[2] | WRAPPED if wrapped else c[2] & ~WRAPPED
    return c if attrs == c[2] else Cell(c[0], c[1], attrs, c[3], c[4], c[5])


def _narrow(cells: list[Cell]) -> bool:
    """Every cell one column wide: ``visible()`` is every cell, no spacers to skip."""
    return set(map(_WIDTH, cells)) <= _ONE


def _is_blank_pen(pen: Cell) -> bool:
    return pen.attrs == 0 and pen.fg is None and pen.bg is None and pen.link is None


def _spacer(cell: Cell) -> Cell:
    """``Cell::blank_with_attrs(wide.attrs())``: what follows a wide cell."""
    return Cell(" ", 1, cell.attrs, cell.fg, cell.bg, cell.link)


class Line:
    """``termwiz::surface::line::Line`` reduced to what reaches the wire."""

    __slots__ = ("bits", "cells", "seqno", "wide")

    def __init__(self, seqno: int, cells: list[Cell] | None = None, bits: int = 0, wide: bool | None = None) -> None:
        self.cells: list[Cell] = cells if cells is not None else []
        self.seqno = seqno
        self.bits = bits
        #: some cell is not one column wide (so ``visible()`` must skip spacers); kept by every
        #: mutation, conservatively (it stays set once a wide cell was written)
        self.wide = (not _narrow(self.cells)) if wide is None else wide

    def __len__(self) -> int:
        """``Line::len()``: cells, wide ones counting their width."""
        return len(self.cells)

    def __repr__(self) -> str:
        return f"Line({self.text()!r}, seqno={self.seqno}, wrapped={self.last_cell_was_wrapped()})"

    def visible(self) -> Iterator[tuple[int, Cell]]:
        """``Line::visible_cells()``: ``(cell_index, cell)``, spacers of wide cells skipped."""
        skip = 0
        for idx, cell in enumerate(self.cells):
            if skip:
                skip -= 1
                continue
            yield idx, cell
            if cell.width > 1:
                skip = cell.width - 1

    def text(self) -> str:
        return "".join(c.text for _, c in self.visible())

    def update_seqno(self, seqno: int) -> None:
        """``Line::update_last_change_seqno``: monotonic."""
        if seqno > self.seqno:
            self.seqno = seqno

    def changed_since(self, seqno: int) -> bool:
        """``Line::changed_since``: SEQ_ZERO lines are always changed."""
        return self.seqno == 0 or self.seqno > seqno

    def is_whitespace(self) -> bool:
        if not self.wide:
            return set(map(_TEXT, self.cells)) <= _SPACE
        return all(c.text == " " for _, c in self.visible())

    def _last_visible(self) -> int | None:
        cells = self.cells
        if not self.wide:  # the common case, without walking visible()
            return len(cells) - 1 if cells else None
        last = None
        for idx, _ in self.visible():
            last = idx
        return last

    def last_cell_was_wrapped(self) -> bool:
        if not self.wide:
            cells = self.cells
            return bool(cells) and bool(cells[-1][2] & WRAPPED)
        idx = self._last_visible()
        return idx is not None and bool(self.cells[idx].attrs & WRAPPED)

    def set_last_cell_was_wrapped(self, wrapped: bool, seqno: int) -> None:
        """``Line::set_last_cell_was_wrapped`` (clustered storage: an empty line gets a blank first)."""
        self.update_seqno(seqno)
        cells = self.cells
        if not cells:
            cells.append(BLANK)
        if not self.wide:
            cells[-1] = _with_wrapped(cells[-1], wrapped)
            return
        idx = self._last_visible()
        assert idx is not None
        cell = self.cells[idx]
        attrs = cell.attrs | WRAPPED if wrapped else cell.attrs & ~WRAPPED
        for j in range(idx, min(idx + max(cell.width, 1), len(self.cells))):
            self.cells[j] = self.cells[j]._replace(attrs=attrs)

    def set_cell_grapheme(self, idx: int, text: str, width: int, pen: Cell, seqno: int) -> None:
        """``Line::set_cell_grapheme``: appends like clustered storage, overwrites like vec storage."""
        if pen.link is not None:
            self.bits |= HAS_HYPERLINK
        if width != 1:
            self.wide = True
        cells = self.cells
        cell = Cell(text, width, pen.attrs, pen.fg, pen.bg, pen.link)
        n = len(cells)
        if idx >= n:
            if idx > n and text == " " and _is_blank_pen(pen):
                return  # appending a blank beyond the end: already implicitly blank
            cells.extend([BLANK] * (idx - n))
            cells.append(cell)
            if width > 1:
                cells.extend([_spacer(cell)] * (width - 1))
            self.update_seqno(seqno)
            return
        self.update_seqno(seqno)
        w = max(width, 1)
        if idx + w > n:
            cells.extend([BLANK] * (idx + w - n))
        if idx > 0 and cells[idx - 1].width > 1:  # invalidate_grapheme_at_or_before
            prior = cells[idx - 1]
            for nerf in range(idx - 1, min(idx - 1 + prior.width, len(cells))):
                cells[nerf] = _spacer(prior)
        for i in range(1, w):
            cells[idx + i] = _spacer(cell)
        cells[idx] = cell

    def append_line(self, other: Line, seqno: int) -> None:
        """``Line::append_line``: the other line's visible cells (wide ones with spacers)."""
        self.cells.extend(other.cells)
        self.wide = self.wide or other.wide
        self.update_seqno(seqno)

    def wrap(self, width: int, seqno: int) -> list[Line]:
        """``Line::wrap``: trailing blanks trimmed, a wide cell that does not fit moves whole.

        An all-blank line comes back unchanged (possibly wider than ``width``);
        pieces are fresh lines, so line bits other than HAS_HYPERLINK are lost.
        """
        if not self.wide:
            return self._wrap_narrow(width, seqno)
        cells = list(self.visible())
        end = None
        for i in range(len(cells) - 1, -1, -1):
            if cells[i][1].text != " ":
                end = i
                break
        if end is None:
            return [self]
        out: list[Line] = []
        delta = 0
        for idx, cell in cells[: end + 1]:
            if not out or len(out[-1]) + cell.width > width:
                if out:
                    out[-1].set_last_cell_was_wrapped(True, seqno)
                out.append(Line(seqno))
                delta = idx
            out[-1].set_cell_grapheme(idx - delta, cell.text, cell.width, cell, seqno)
        return out

    def _wrap_narrow(self, width: int, seqno: int) -> list[Line]:
        """:meth:`wrap` of a line with no wide (or zero-width) cell: the same pieces, cut by slicing
        (a 10,000-line rewrap went from seconds to tens of milliseconds)."""
        cells = self.cells
        end = len(cells)
        while end and cells[end - 1].text == " ":
            end -= 1
        if not end:
            return [self]
        out = []
        for start in range(0, end, width):
            chunk = cells[start:min(start + width, end)]
            bits = HAS_HYPERLINK if any(map(_LINK, chunk)) else 0
            out.append(Line(seqno, chunk, bits, False))
        for line in out[:-1]:
            line.cells[-1] = _with_wrapped(line.cells[-1], True)
        return out

    # -- the wire form ---------------------------------------------------
    def value(self) -> dict[str, Any]:
        """The ``Line`` value (codec LINE schema shape), hyperlinks still on the cells
        removed: :func:`serialize_lines` lifts them out as ``SerializedLines::from`` does."""
        return {
            "cells": {"V": {"cells": [_cell_value(c) for c in self.cells]}},
            "zones": [],
            "seqno": self.seqno,
            "bits": self.bits,
        }


_attr_cache: dict[tuple[Any, Any, Any], dict[str, Any]] = {}


def _small(c: Any) -> Any:
    return {"PaletteIndex": c} if isinstance(c, int) else "Default"


def _full(c: Any) -> Any:
    """``ColorAttribute`` in the fat part: a truecolour only (palette colours stay small)."""
    return {"TrueColorWithDefaultFallback": c} if isinstance(c, tuple) else "Default"


def _cell_value(cell: Cell) -> dict[str, Any]:
    key = (cell.attrs, cell.fg, cell.bg)
    attrs = _attr_cache.get(key)
    if attrs is None:
        # hyperlink lifted out, no images; a truecolour allocates FatAttributes
        # (``CellAttributes::set_foreground``/``set_background``, termwiz/src/cell.rs)
        fat = None
        if isinstance(cell.fg, tuple) or isinstance(cell.bg, tuple):
            fat = {"hyperlink": None, "image": [], "underline_color": "Default",
                   "foreground": _full(cell.fg), "background": _full(cell.bg)}
        attrs = {
            "attributes": cell.attrs,
            "foreground": _small(cell.fg),
            "background": _small(cell.bg),
            "fat": fat,
        }
        _attr_cache[key] = attrs
    return {"text": cell.text, "attrs": attrs}


def serialize_lines(lines: Iterable[tuple[int, Line]]) -> dict[str, Any]:
    """``impl From<Vec<(StableRowIndex, Line)>> for SerializedLines`` (codec/src/lib.rs).

    Per line, consecutive cells holding the *same* hyperlink object form one
    streak ``LineHyperlink{link, coords: [{line_idx, cols}]}``; a different
    link object (even an equal one) starts a new streak, as ``Arc::ptr_eq`` does.
    """
    out_lines = []
    hyperlinks = []
    for line_idx, (row, line) in enumerate(lines):
        out_lines.append((row, line.value()))
        current: dict[str, Any] | None = None
        start = end = 0
        for x, cell in enumerate(line.cells):
            link = cell.link
            if link is not None:
                if current is link:
                    end = x + 1
                    continue
                if current is not None:
                    hyperlinks.append(_streak(current, line_idx, start, end))
                current, start, end = link, x, x + 1
            elif current is not None:
                hyperlinks.append(_streak(current, line_idx, start, end))
                current = None
        if current is not None:
            hyperlinks.append(_streak(current, line_idx, start, end))
    return {"lines": out_lines, "hyperlinks": hyperlinks, "images": []}


def _streak(link: dict[str, Any], line_idx: int, start: int, end: int) -> dict[str, Any]:
    return {"link": link, "coords": [{"line_idx": line_idx, "cols": {"start": start, "end": end}}]}


def make_hyperlink(uri: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A ``termwiz::hyperlink::Hyperlink`` value (explicit, i.e. from OSC 8)."""
    return {"params": dict(params or {}), "uri": uri, "implicit": False}


# ---------------------------------------------------------------------------
