"""Which held rows a rewrap can alter (codec.lines.rewrap_rows), and the line facts it reads.

The rule behind the emulator's ``--policy selective`` and the report's selective what-if; see
``term/src/screen.rs: Screen::rewrap_lines``.
"""

from __future__ import annotations

from codec.lines import WRAPPED_BIT, WrapFacts, line_wrap_facts, rewrap_rows
from tests.support import DEFAULT_ATTRS, make_line


def short(width: int = 5) -> WrapFacts:
    return WrapFacts(False, width, width)


def test_short_unwrapped_rows_never_change():
    held = [(row, short()) for row in range(10)]
    assert rewrap_rows(held, 20) == []
    assert rewrap_rows(held, 6) == []


def test_a_line_wider_than_the_new_width_moves_every_row_below():
    held = [(0, short()), (1, WrapFacts(False, 30, 30)), (2, short()), (3, short())]
    assert rewrap_rows(held, 20) == [1, 2, 3]  # 30 columns take two rows at 20
    assert rewrap_rows(held, 40) == []


def test_trailing_blanks_are_rebuilt_but_take_the_same_row():
    # Line::len() 80 (blank cells to the edge), content 10: rebuilt at 40, still one row
    held = [(0, WrapFacts(False, 80, 10)), (1, short())]
    assert rewrap_rows(held, 40) == [0]


def test_a_wrapped_logical_line_is_judged_whole():
    wrapped = WrapFacts(True, 20, 20)
    held = [(0, short()), (1, wrapped), (2, WrapFacts(False, 20, 4)), (3, short())]
    assert rewrap_rows(held, 22) == [1, 2]  # 20 + 4 columns: still two rows at 22
    assert rewrap_rows(held, 30) == [1, 2, 3]  # one row at 30: the rows below move up


def test_gaps_keep_the_shift_and_unknown_rows_count_as_altering():
    held = [(0, short()), (1, WrapFacts(False, 30, 30)), (2, short()), (10, short()), (11, short())]
    assert rewrap_rows(held, 20) == [1, 2, 10, 11]
    assert rewrap_rows([(0, short()), (1, None), (2, short())], 20) == [1, 2]


def test_a_wrapped_row_whose_continuation_is_not_held_shifts_what_follows():
    held = [(0, WrapFacts(True, 20, 20)), (5, short())]
    assert rewrap_rows(held, 20) == [0, 5]


def test_line_wrap_facts_of_vector_cells():
    line = make_line("a\u5b57 b  ")  # 'a', a wide CJK cell, ' ', 'b', two blanks
    cells = line["cells"]["V"]["cells"]
    cells.insert(2, {"text": " ", "attrs": dict(DEFAULT_ATTRS)})  # the cell the wide one covers
    assert line_wrap_facts(line) == WrapFacts(False, 7, 5)  # a=1, wide=2, blank, b: up to column 5
    cells[-1]["attrs"] = dict(DEFAULT_ATTRS, attributes=WRAPPED_BIT)
    assert line_wrap_facts(line).wrapped
