"""Pane trees as ListPanes sends them (``mux/src/tab.rs: PaneNode``), read the GUI's way.

Pure functions over the decoded tree (its leaves, its root size); how a tab's size is
shared among its splits is :mod:`.splittree`, as WezTerm computes it.
"""

from __future__ import annotations

from collections.abc import Iterator
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
