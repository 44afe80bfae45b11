"""Pane trees as ListPanes sends them (``mux/src/tab.rs: PaneNode``), read the GUI's way.

Pure functions over the decoded tree, shared by the client's attach/resync and
its GUI (which panes are shown, how a window size is shared among splits).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def leaves(node: Any) -> Iterator[dict[str, Any]]:
    """The PaneEntry of every Leaf, left to right."""
    if not isinstance(node, dict):
        return
    if "Leaf" in node:
        yield node["Leaf"]
    elif "Split" in node:
        yield from leaves(node["Split"]["left"])
        yield from leaves(node["Split"]["right"])


def root_size(node: Any) -> dict[str, int] | None:
    """``PaneNode::root_size``: Leaf -> its size; Split -> the sum along the split; Empty -> None."""
    if not isinstance(node, dict):
        return None
    if "Leaf" in node:
        return dict(node["Leaf"]["size"])
    split = node["Split"]["node"]
    first, second = split["first"], split["second"]
    size = dict(first)
    if split["direction"] == "Horizontal":
        size["cols"] = first["cols"] + second["cols"] + 1
        size["pixel_width"] = first["pixel_width"] + second["pixel_width"]
    else:
        size["rows"] = first["rows"] + second["rows"] + 1
        size["pixel_height"] = first["pixel_height"] + second["pixel_height"]
    return size


def layout(node: Any, size: Mapping[str, int], cell: tuple[int, int]) -> list[tuple[int, dict[str, int]]]:
    """``Tab::resize`` -> ``apply_sizes_from_splits``: each leaf's size within ``size``.

    Splits keep their proportions (the real code adjusts split nodes by the
    delta and clamps to a minimum; close enough for fetch traffic).
    """
    if not isinstance(node, dict) or "Empty" in node:
        return []
    if "Leaf" in node:
        return [(node["Leaf"]["pane_id"], dict(size))]
    split = node["Split"]
    spec = split["node"]
    axis = "cols" if spec["direction"] == "Horizontal" else "rows"
    total = max(spec["first"][axis] + spec["second"][axis], 1)
    avail = max(size[axis] - 1, 2)
    first_n = min(max(1, round(spec["first"][axis] * avail / total)), avail - 1)
    sizes = []
    for n in (first_n, avail - first_n):
        s = dict(size)
        s[axis] = n
        s["pixel_width"], s["pixel_height"] = s["cols"] * cell[0], s["rows"] * cell[1]
        sizes.append(s)
    return layout(split["left"], sizes[0], cell) + layout(split["right"], sizes[1], cell)
