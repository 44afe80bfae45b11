"""What a rewrap to a new width can change: the wrap facts of a line and :func:`rewrap_rows`.

Mirrors ``term/src/screen.rs: Screen::rewrap_lines``; the emulator's ``--policy selective`` and
the report's selective what-if both use this one rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from codec.lines.width import cell_width

#: ``CellAttributes`` bit 11 is ``wrapped`` (termwiz ``cell.rs``).
WRAPPED_BIT = 1 << 11


class WrapFacts(NamedTuple):
    """What a rewrap looks at in a line (``term/src/screen.rs: Screen::rewrap_lines``)."""

    #: ``last_cell_was_wrapped()``: the line continues on the next row
    wrapped: bool
    #: ``Line::len()``
    length: int
    #: columns up to the last non-blank visible cell: what ``Line::wrap`` keeps
    content_width: int


def line_wrap_facts(line_value: Mapping[str, Any]) -> WrapFacts:
    """The :class:`WrapFacts` of a decoded ``Line``."""
    ((kind, storage),) = line_value["cells"].items()
    if kind == "C":
        clusters = storage["clusters"]
        wrapped = bool(clusters) and bool(clusters[-1]["attrs"]["attributes"] & WRAPPED_BIT)
        return WrapFacts(wrapped, storage["len"], len(storage["text"].rstrip(" ")))
    cells = storage["cells"]
    last_attrs = None
    width = col = 0
    i = 0
    while i < len(cells):  # visible cells: a wide cell hides the next w-1 cells
        cell = cells[i]
        w = max(cell_width(cell["text"]), 1)
        last_attrs = cell["attrs"]
        if cell["text"] not in (" ", ""):
            width = col + w
        col += w
        i += w
    wrapped = last_attrs is not None and bool(last_attrs["attributes"] & WRAPPED_BIT)
    return WrapFacts(wrapped, len(cells), width)


def rewrap_rows(held: Sequence[tuple[int, WrapFacts | None]], new_cols: int) -> list[int]:
    """Of the rows a client holds (sorted, with their facts), those a rewrap to ``new_cols`` can alter.

    ``Screen::rewrap_lines`` rebuilds a logical line (physical rows joined by
    the wrap bit) when one of its rows was wrapped or is longer than the new
    width; if the rebuilt line takes a different number of rows, every later
    stable row shifts. So: the rows of such logical lines, and once a row count
    may change, every held row below. Rows not held are unknown (a gap keeps
    the current "shifted" verdict); a row whose facts are unknown (None) counts
    as altering. This is the rule of the emulator's ``--policy selective`` and
    of the report's selective what-if.
    """
    out: list[int] = []
    shifted = False
    i, n = 0, len(held)
    while i < n:
        group = [held[i]]
        while (
            group[-1][1] is not None
            and group[-1][1].wrapped
            and i + 1 < n
            and held[i + 1][0] == group[-1][0] + 1
        ):
            i += 1
            group.append(held[i])
        i += 1
        facts = [f for _, f in group]
        if any(f is None for f in facts):
            shifted = True
        elif any(f.wrapped or f.length > new_cols for f in facts):  # type: ignore[union-attr]
            total = sum(f.length for f in facts[:-1]) + facts[-1].content_width  # type: ignore[union-attr]
            new_rows = max(1, -(-total // max(new_cols, 1)))
            if new_rows != len(group) or facts[-1].wrapped:  # type: ignore[union-attr]
                shifted = True
            out.extend(row for row, _ in group)
            continue
        if shifted:
            out.extend(row for row, _ in group)
    return out
