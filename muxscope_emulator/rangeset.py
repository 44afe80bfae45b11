"""WezTerm's ``RangeSet`` (``rangeset/src/lib.rs``) as far as its ``Debug`` text shows.

The emulated client keeps row sets as Python sets; only the ``--wezterm-log`` line
``dirty as of seq N -> RangeSet { ranges: [...] }`` (renderable.rs:377) prints one as
WezTerm builds it, and WezTerm's ``add_range`` merges a new range only into a range that
contains or touches it *from below* (``r.end == range.start``): a row added just below an
existing range stays a separate range (``[4..5, 5..6]`` after adding 5, then 4). This class
follows the same rules (``add_range``, ``remove_range``: lib.rs:171-262, ``range_subtract``
:43-71) so the printed ranges are WezTerm's.
"""

from __future__ import annotations

Range = tuple[int, int]


def _intersects(a: Range, b: Range) -> bool:
    return max(a[0], b[0]) < min(a[1], b[1])


def _subtract(r: Range, cut: Range) -> tuple[Range | None, Range | None]:
    """``range_subtract``: what is left of ``r`` left and right of ``cut``."""
    i_start, i_end = max(r[0], cut[0]), min(r[1], cut[1])
    if i_end <= i_start:
        return r, None
    left = None if i_start == r[0] else (r[0], min(r[1], i_start))
    right = None if i_end == r[1] else (min(r[1], i_end), r[1])
    return left, right


class RangeSet:
    """Ranges kept in insertion order, as ``rangeset::RangeSet`` keeps them (never ``needs_sort``)."""

    def __init__(self) -> None:
        self.ranges: list[Range] = []

    def _search(self, rng: Range) -> tuple[bool, int]:
        """``binary_search_ranges``: (found, index), a range containing ``rng`` or the insertion point."""
        lo, hi = 0, len(self.ranges)
        while lo < hi:
            mid = (lo + hi) // 2
            r = self.ranges[mid]
            if rng[0] >= r[0] and rng[1] <= r[1]:
                return True, mid
            if rng[0] < r[0]:
                hi = mid
            else:
                lo = mid + 1
        return False, lo

    def _touching(self, rng: Range) -> tuple[int | None, int | None]:
        """``intersection_helper``: the range at the search point (or the one before it) and the
        next one, each if it overlaps ``rng`` or ends where ``rng`` starts."""
        found, idx = self._search(rng)
        if not found:
            idx = max(idx - 1, 0)
        first = None
        if idx < len(self.ranges):
            r = self.ranges[idx]
            if _intersects(r, rng) or r[1] == rng[0]:
                first = idx
        if idx + 1 < len(self.ranges):
            r = self.ranges[idx + 1]
            if (_intersects(r, rng) or r[1] == rng[0]) and first is not None:
                return first, idx + 1
        return first, None

    def add_range(self, rng: Range) -> None:
        if rng[0] == rng[1]:
            return
        if not self.ranges:
            self.ranges.append(rng)
            return
        first, second = self._touching(rng)
        if first is not None and second is not None:
            other = self.ranges.pop(second)
            self.add_range((min(rng[0], other[0]), max(rng[1], other[1])))
        elif first is not None:
            r = self.ranges[first]
            self.ranges[first] = (min(r[0], rng[0]), max(r[1], rng[1]))
        else:
            self.ranges.insert(self._search(rng)[1], rng)

    def add(self, value: int) -> None:
        self.add_range((value, value + 1))

    def remove_range(self, rng: Range) -> None:
        to_add: list[Range] = []
        to_remove: list[int] = []
        for idx, r in enumerate(self.ranges):
            left, right = _subtract(r, rng)
            if left is None and right is None:
                to_remove.append(idx)
            elif left is not None and right is not None:
                to_remove.append(idx)
                to_add += [left, right]
            elif (piece := left or right) != r:
                to_remove.append(idx)
                to_add.append(piece)  # type: ignore[arg-type]
        for idx in reversed(to_remove):
            del self.ranges[idx]
        for piece in to_add:
            self.add_range(piece)

    def remove(self, value: int) -> None:
        self.remove_range((value, value + 1))
