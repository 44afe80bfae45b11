"""The emulator's RangeSet prints WezTerm's ranges: rangeset/src/lib.rs's own tests (add_range,
remove_range), and the case they do not show, read from the source: a row added just below a range
stays apart (``add_range`` merges only when ``r.end == range.start`` or the two overlap)."""

from __future__ import annotations

from muxscope_emulator.rangeset import RangeSet


def test_wezterms_add_range_vector():
    s = RangeSet()
    for v in (1, 2, 4):
        s.add(v)
    assert s.ranges == [(1, 3), (4, 5)]
    s.add_range((2, 6))
    assert s.ranges == [(1, 6)]


def test_wezterms_remove_range_vector():
    s = RangeSet()
    s.add_range((1, 5))
    s.add_range((8, 10))
    assert s.ranges == [(1, 5), (8, 10)]
    s.remove(2)
    assert s.ranges == [(1, 2), (3, 5), (8, 10)]
    s.remove_range((4, 7))
    assert s.ranges == [(1, 2), (3, 4), (8, 10)]
    s.remove_range((3, 9))
    assert s.ranges == [(1, 2), (9, 10)]


def test_a_row_below_a_range_stays_apart():
    s = RangeSet()
    s.add(5)
    s.add(4)
    assert s.ranges == [(4, 5), (5, 6)]
    s.add(6)  # touching from below merges
    assert s.ranges == [(4, 5), (5, 7)]
