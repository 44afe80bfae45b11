"""Lanes for intervals that overlap: each takes the first lane free when it begins.

The HTML timeline draws concurrent GetLines one above the other, and the trace
export must not put overlapping complete events on one thread (trace viewers
expect a thread's slices to nest); both use this one rule, so a fetch sits in
the same numbered lane in both.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def assign(items: Sequence[T], group: Callable[[T], Hashable], start: Callable[[T], float],
           end: Callable[[T], float]) -> tuple[list[int], dict[Hashable, int]]:
    """The lane (from 0) of each item within its group, in input order, and each group's lane count.

    Items are placed in order of start time; an item ending exactly when another starts frees its lane.
    """
    ends: dict[Hashable, list[float]] = {}
    lane = [0] * len(items)
    for i in sorted(range(len(items)), key=lambda i: start(items[i])):
        item = items[i]
        lanes = ends.setdefault(group(item), [])
        n = next((k for k, e in enumerate(lanes) if e <= start(item)), len(lanes))
        if n == len(lanes):
            lanes.append(end(item))
        else:
            lanes[n] = end(item)
        lane[i] = n
    return lane, {g: len(v) for g, v in ends.items()}
