"""The narrow-line fast paths of termlines (a rewrap of 10,000 lines must stay fast) give exactly what
the general, spacer-aware code gives."""

from __future__ import annotations

import random

from muxscope_emulator.termlines import BLANK, WRAPPED, Cell, Line, make_hyperlink


def _random_line(rng: random.Random) -> Line:
    link = make_hyperlink("https://example.com/x")
    cells = []
    for _ in range(rng.randint(0, 200)):
        text = rng.choice(["a", "b", " ", " ", "é"])
        cells.append(Cell(text, 1, rng.choice([0, 1, 1 << 2, WRAPPED]), rng.choice([None, 3]), None,
                          link if rng.random() < 0.1 else None))
    cells += [BLANK] * rng.randint(0, 5)
    return Line(7, cells, 0)


def _slow(line: Line) -> Line:
    """The same line forced onto the general path (as if it held a wide cell)."""
    return Line(line.seqno, list(line.cells), line.bits, wide=True)


def _shape(lines: list[Line]) -> list[tuple]:
    return [(tuple(ln.cells), ln.seqno, ln.bits) for ln in lines]


def test_wrap_and_wrap_bit_agree_with_the_general_path():
    rng = random.Random(5)
    for _ in range(300):
        line = _random_line(rng)
        assert not line.wide
        width = rng.randint(1, 90)
        assert _shape(line.wrap(width, 9)) == _shape(_slow(line).wrap(width, 9))
        assert line.last_cell_was_wrapped() == _slow(line).last_cell_was_wrapped()
        assert line.is_whitespace() == _slow(line).is_whitespace()
        fast, slow = Line(line.seqno, list(line.cells)), _slow(line)
        for wrapped in (True, False):
            fast.set_last_cell_was_wrapped(wrapped, 3)
            slow.set_last_cell_was_wrapped(wrapped, 3)
            assert fast.cells == slow.cells and fast.seqno == slow.seqno


def test_a_wide_cell_takes_the_general_path():
    line = Line(1)
    line.set_cell_grapheme(0, "中", 2, BLANK, 2)
    assert line.wide and len(line.cells) == 2 and line.text() == "中"
