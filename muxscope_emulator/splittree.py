"""A tab's split tree, sized the way ``mux/src/tab.rs`` sizes it, for the emulated server and client.

Both sides of a client-domain tab hold one of these: the server's ``Tab`` and the
GUI's own copy, rebuilt from every ListPanes (``sync_with_pane_tree``). How their
sizes drift apart during a divider drag or a zoom is what decides which Resize
PDUs fly (docs/wezterm-behaviour.md, "splits"), so the arithmetic is WezTerm's,
quirks included: ``adjust_x_size``/``adjust_y_size`` move a window resize onto
the left/top nodes first, ``apply_pane_size`` keeps the first child and gives the
rest to the second, ``rebuild_splits_sizes_from_contained_panes`` back-infers
the split sizes from whatever the panes are now (even when they no longer add up).

Pure: operations return the ``(pane_id, size)`` of every ``pane.resize`` WezTerm
would call, in its order, and the caller resizes (a ``Terminal`` on the server,
a ``ClientPane`` on the client) and sends any TabResized.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: ``SplitDirection::Horizontal``: side by side (cols add up); ``Vertical``: stacked (rows add up)
HORIZONTAL, VERTICAL = "Horizontal", "Vertical"
Size = dict[str, int]
Resizes = list[tuple[int, Size]]


def term_size(rows: int, cols: int, pixel_width: int = 0, pixel_height: int = 0, dpi: int = 0) -> Size:
    """A ``TerminalSize`` as the codec carries it."""
    return {"rows": rows, "cols": cols, "pixel_width": pixel_width, "pixel_height": pixel_height, "dpi": dpi}


@dataclass
class Leaf:
    pane_id: int


@dataclass
class Split:
    """``Tree::Node`` with its ``SplitDirectionAndSize``."""

    direction: str
    first: Size
    second: Size
    left: Node
    right: Node

    def width(self) -> int:
        """``SplitDirectionAndSize::width``."""
        if self.direction == HORIZONTAL:
            return self.first["cols"] + self.second["cols"] + 1
        return self.first["cols"]

    def height(self) -> int:
        if self.direction == VERTICAL:
            return self.first["rows"] + self.second["rows"] + 1
        return self.first["rows"]

    def left_of_second(self) -> int:
        return self.first["cols"] + 1 if self.direction == HORIZONTAL else 0

    def top_of_second(self) -> int:
        return self.first["rows"] + 1 if self.direction == VERTICAL else 0

    def size(self) -> Size:
        """``SplitDirectionAndSize::size``: cell size from ``first``, cells from width/height."""
        cw = self.first["pixel_width"] // max(self.first["cols"], 1)
        ch = self.first["pixel_height"] // max(self.first["rows"], 1)
        rows, cols = self.height(), self.width()
        return term_size(rows, cols, cw * cols, ch * rows, self.first["dpi"])


Node = Split | Leaf


@dataclass(frozen=True)
class PositionedSplit:
    """``tab.rs: PositionedSplit``: a divider's index and where it is, in cells from the tab's corner."""

    index: int
    direction: str
    left: int
    top: int
    size: int


def cell_dimensions(size: Mapping[str, int]) -> Size:
    """``tab.rs: cell_dimensions``: one cell's pixels (``size`` must have rows and cols)."""
    return term_size(1, 1, size["pixel_width"] // max(size["cols"], 1),
                     size["pixel_height"] // max(size["rows"], 1), size["dpi"])


def compute_min_size(node: Node) -> tuple[int, int]:
    """``compute_min_size``: (x, y) each split needs (a cell per pane plus the divider)."""
    if isinstance(node, Leaf):
        return 1, 1
    lx, ly = compute_min_size(node.left)
    rx, ry = compute_min_size(node.right)
    if node.direction == VERTICAL:
        return max(lx, rx), ly + ry + 1
    return lx + rx + 1, max(ly, ry)


def _adjust(node: Node, adjust: int, cell: Mapping[str, int], axis: str) -> None:
    """``adjust_x_size`` (axis ``cols``) and ``adjust_y_size`` (``rows``), line for line."""
    along = HORIZONTAL if axis == "cols" else VERTICAL  # the direction whose children share the axis
    pixel = "pixel_width" if axis == "cols" else "pixel_height"
    cpx = cell[pixel]
    min_x, min_y = compute_min_size(node)
    minimum = min_x if axis == "cols" else min_y
    while adjust != 0:
        if isinstance(node, Leaf):
            return
        node.first["dpi"] = node.second["dpi"] = cell["dpi"]
        if node.direction != along:
            # the children span the whole axis: both take the new size (the first's)
            new = max(node.first[axis] + adjust, minimum)
            adjust = new - node.first[axis]
            if adjust != 0:
                _adjust(node.left, adjust, cell, axis)
                node.first[axis] = new
                node.first[pixel] = new * cpx
                _adjust(node.right, adjust, cell, axis)
                node.second[axis] = node.first[axis]
                node.second[pixel] = node.first[pixel]
            return
        if adjust > 0:
            _adjust(node.left, 1, cell, axis)
            node.first[axis] += 1
            node.first[pixel] = node.first[axis] * cpx
            adjust -= 1
            if adjust > 0:
                _adjust(node.right, 1, cell, axis)
                node.second[axis] += 1
                node.second[pixel] = node.second[axis] * cpx
                adjust -= 1
        else:
            # (quirk kept: with both children at 1 cell this never ends in WezTerm; we stop)
            before = adjust
            if node.first[axis] > 1:
                _adjust(node.left, -1, cell, axis)
                node.first[axis] -= 1
                node.first[pixel] = node.first[axis] * cpx
                adjust += 1
            if adjust < 0 and node.second[axis] > 1:
                _adjust(node.right, -1, cell, axis)
                node.second[axis] -= 1
                node.second[pixel] = node.second[axis] * cpx
                adjust += 1
            if adjust == before:
                return


def apply_sizes_from_splits(node: Node, size: Mapping[str, int]) -> Resizes:
    """``apply_sizes_from_splits``: each leaf gets its parent's ``first``/``second`` (the root: ``size``)."""
    if isinstance(node, Leaf):
        return [(node.pane_id, dict(size))]
    return apply_sizes_from_splits(node.left, node.first) + apply_sizes_from_splits(node.right, node.second)


def preorder(node: Node, parent: Split | None = None, is_right: bool = False
             ) -> Iterator[tuple[Node, Split | None, bool]]:
    """Every node with its parent and branch, in ``Cursor::preorder_next`` order."""
    yield node, parent, is_right
    if isinstance(node, Split):
        yield from preorder(node.left, node, False)
        yield from preorder(node.right, node, True)


def leaf_ids(node: Node) -> list[int]:
    return [n.pane_id for n, _, _ in preorder(node) if isinstance(n, Leaf)]


def from_codec(node: Any) -> Node | None:
    """A ``PaneNode`` as the codec decodes it (``{"Leaf": entry}``, ``{"Split": ...}``) as a tree."""
    if not isinstance(node, dict):
        return None
    if "Leaf" in node:
        return Leaf(node["Leaf"]["pane_id"])
    split = node["Split"]
    left, right = from_codec(split["left"]), from_codec(split["right"])
    if left is None or right is None:
        return left or right
    spec = split["node"]
    return Split(spec["direction"], dict(spec["first"]), dict(spec["second"]), left, right)


def to_codec(node: Node, entry: Callable[[int, int, int], dict[str, Any]], left_col: int = 0,
             top_row: int = 0) -> dict[str, Any]:
    """``tab.rs: pane_tree``: ``entry(pane_id, left_col, top_row)`` makes each leaf's PaneEntry."""
    if isinstance(node, Leaf):
        return {"Leaf": entry(node.pane_id, left_col, top_row)}
    spec = {"direction": node.direction, "first": dict(node.first), "second": dict(node.second)}
    return {"Split": {
        "left": to_codec(node.left, entry, left_col, top_row),
        "right": to_codec(node.right, entry, left_col + node.left_of_second(), top_row + node.top_of_second()),
        "node": spec,
    }}  # fmt: skip


class TabTree:
    """``TabInner``'s sizing: the tree, the tab's size, the zoomed pane and the size before the zoom."""

    def __init__(self, root: Node, size: Mapping[str, int], active: int | None = None,
                 zoomed: int | None = None) -> None:
        self.root = root
        self.size: Size = dict(size)
        self.size_before_zoom: Size = dict(size)
        self.active = active if active is not None else leaf_ids(root)[0]
        self.zoomed = zoomed

    @classmethod
    def from_pane_node(cls, node: Any) -> TabTree | None:
        """What ``sync_with_pane_tree`` builds from a listed tab (None for ``PaneNode::Empty``)."""
        root = from_codec(node)
        size = root_size(node)
        if root is None or size is None:
            return None
        entries = [n["Leaf"] for n in _codec_leaves(node)]
        active = next((e["pane_id"] for e in entries if e["is_active_pane"]), None)
        zoomed = next((e["pane_id"] for e in entries if e["is_zoomed_pane"]), None)
        return cls(root, size, active, zoomed)

    def pane_ids(self) -> list[int]:
        return leaf_ids(self.root)

    def visible(self) -> list[int]:
        """``iter_panes``: the zoomed pane alone, else every pane."""
        return [self.zoomed] if self.zoomed is not None else self.pane_ids()

    def pane_sizes(self) -> Resizes:
        """Each pane's size as the tree has it (``iter_panes``)."""
        if self.zoomed is not None:
            return [(self.zoomed, dict(self.size))]
        return apply_sizes_from_splits(self.root, self.size)

    def resize(self, size: Mapping[str, int]) -> Resizes:
        """``TabInner::resize``: the zoomed pane takes it all; else the delta goes through the splits
        (``adjust_x_size``, ``adjust_y_size``), then ``apply_sizes_from_splits``. Notifies TabResized."""
        if size["rows"] == 0 or size["cols"] == 0:
            return []
        if self.zoomed is not None:
            self.size = dict(size)
            return [(self.zoomed, dict(size))]
        cell = cell_dimensions(size)
        min_x, min_y = compute_min_size(self.root)
        current = self.size
        cols, rows = max(size["cols"], min_x), max(size["rows"], min_y)
        new = term_size(rows, cols, cols * cell["pixel_width"], rows * cell["pixel_height"], cell["dpi"])
        _adjust(self.root, cols - current["cols"], cell, "cols")
        _adjust(self.root, rows - current["rows"], cell, "rows")
        self.size = new
        return apply_sizes_from_splits(self.root, new)

    def sync(self, listed: TabTree) -> Resizes:
        """``sync_with_pane_tree``: take the listed tree, zoom and size, then ``resize`` to that size
        (no delta: every pane is resized to the listed split sizes)."""
        self.root, self.active, self.zoomed = listed.root, listed.active, listed.zoomed
        self.size = dict(listed.size)
        return self.resize(listed.size)

    def rebuild_from_panes(self, dims: Callable[[int], Size]) -> bool:
        """``rebuild_splits_sizes_from_contained_panes``: each split takes its children's sizes and the
        tab the root's; False (and no TabResized) while zoomed."""
        if self.zoomed is not None:
            return False

        def compute(node: Node) -> Size:
            if isinstance(node, Leaf):
                return dims(node.pane_id)
            node.first, node.second = compute(node.left), compute(node.right)
            return node.size()

        self.size = compute(self.root)
        return True

    def iter_splits(self) -> list[PositionedSplit]:
        """``iter_splits``: the dividers (none while zoomed), in preorder."""
        if self.zoomed is not None:
            return []
        out: list[PositionedSplit] = []
        for node, path in _with_paths(self.root):
            if not isinstance(node, Split):
                continue
            left = sum(p.left_of_second() for p, right in path if right)
            top = sum(p.top_of_second() for p, right in path if right)
            if node.direction == HORIZONTAL:
                left += node.first["cols"]
            else:
                top += node.first["rows"]
            size = node.height() if node.direction == HORIZONTAL else node.width()
            out.append(PositionedSplit(len(out), node.direction, left, top, size))
        return out

    def resize_split_by(self, index: int, delta: int) -> Resizes:
        """``resize_split_by``: ``adjust_node_at_cursor`` then ``cascade_size_from_cursor`` (every node
        after the split in preorder, to the end of the tree). Nothing while zoomed. Notifies TabResized."""
        if self.zoomed is not None:
            return []
        nodes = list(preorder(self.root))
        splits = [i for i, (n, _, _) in enumerate(nodes) if isinstance(n, Split)]
        if index >= len(splits):
            return []
        at = splits[index]
        node = nodes[at][0]
        assert isinstance(node, Split)
        cell = cell_dimensions(self.size)
        axis, pixel = ("cols", "pixel_width") if node.direction == HORIZONTAL else ("rows", "pixel_height")
        extent = node.width() if node.direction == HORIZONTAL else node.height()
        n = min(max(node.first[axis] + delta, 1), extent - 2)
        node.first[axis] = n
        node.first[pixel] = n * cell[pixel]
        node.second[axis] = max(extent - (n + 1), 0)
        node.second[pixel] = node.second[axis] * cell[pixel]
        out: Resizes = []
        for child, parent, is_right in nodes[at + 1:]:
            size = self.size if parent is None else (parent.second if is_right else parent.first)
            if isinstance(child, Leaf):
                out.append((child.pane_id, dict(size)))
            else:
                _apply_pane_size(child, size)
        return out

    def toggle_zoom(self) -> Resizes:
        """``toggle_zoom``: unzoom restores ``size_before_zoom`` and ``resize``s to the current size;
        zoom gives the active pane the whole tab. Notifies TabResized."""
        size = dict(self.size)
        if self.zoomed is not None:
            self.zoomed = None
            self.size = dict(self.size_before_zoom)
            return self.resize(size)
        self.size_before_zoom = size
        self.zoomed = self.active
        return [(self.active, size)]

    def set_zoomed(self, zoomed: bool) -> Resizes:
        """``set_zoomed``: toggle only if the state differs."""
        return self.toggle_zoom() if (self.zoomed is not None) != zoomed else []

    def remove(self, pane_id: int) -> Resizes:
        """``remove_pane_if``: the leaf goes, its sibling takes the split's whole size; returns the
        resizes of the panes under that sibling."""
        if self.zoomed == pane_id:
            self.zoomed = None
        for node, parent, is_right in preorder(self.root):
            if isinstance(node, Leaf) and node.pane_id == pane_id and parent is not None:
                sibling = parent.left if is_right else parent.right
                size = parent.size()
                self.root = _replace_node(self.root, parent, sibling)
                if self.active == pane_id:
                    self.active = leaf_ids(sibling)[0]
                return _resize_subtree(sibling, size)
        return []

    def to_codec(self, entry: Callable[[int, int, int], dict[str, Any]]) -> dict[str, Any]:
        """``codec_pane_tree``: the tree as ListPanes sends it."""
        return to_codec(self.root, entry)

    def split(self, pane_id: int, new_pane_id: int, direction: str, target_is_second: bool = True,
              cells: int | None = None, percent: int = 50) -> Resizes:
        """``compute_split_size`` + ``split_and_insert`` (not top level): split ``pane_id``'s leaf,
        the new pane ``target_is_second`` or first; returns both panes' sizes (first, second)."""
        if self.zoomed is not None:
            raise ValueError("cannot split while zoomed")
        sizes = dict(self.pane_sizes())
        if pane_id not in sizes:
            raise ValueError(f"invalid pane {pane_id}; cannot split!")
        pos = sizes[pane_id]
        cell = cell_dimensions(self.size)
        axis = "cols" if direction == HORIZONTAL else "rows"
        dim = pos[axis]
        target = max(cells if cells is not None else dim * percent // 100, 1)
        remain = max(dim - (target + 1), 0)
        n1, n2 = (remain, target) if target_is_second else (target, remain)
        first, second = dict(pos), dict(pos)
        first[axis], second[axis] = n1, n2
        for s in (first, second):
            s["pixel_width"], s["pixel_height"] = s["cols"] * cell["pixel_width"], s["rows"] * cell["pixel_height"]
            s["dpi"] = cell["dpi"]
        if min(first["rows"], first["cols"], second["rows"], second["cols"]) == 0:
            raise ValueError("No space for split!")
        old, new = Leaf(pane_id), Leaf(new_pane_id)
        node = Split(direction, first, second, old, new) if target_is_second else Split(
            direction, first, second, new, old)
        self.root = _replace_leaf(self.root, pane_id, node)
        if target_is_second:
            self.active = new_pane_id
        return [(node.left.pane_id, dict(first)), (node.right.pane_id, dict(second))]  # type: ignore[union-attr]


def _apply_pane_size(node: Split, size: Mapping[str, int]) -> None:
    """``apply_pane_size``: keep the first child, give the rest of ``size`` to the second."""
    cw = size["pixel_width"] // size["cols"] if size["cols"] else 1
    ch = size["pixel_height"] // size["rows"] if size["rows"] else 1
    if node.direction == HORIZONTAL:
        node.first["rows"] = node.second["rows"] = size["rows"]
        node.second["cols"] = max(size["cols"] - (1 + node.first["cols"]), 0)
    else:
        node.first["cols"] = node.second["cols"] = size["cols"]
        node.second["rows"] = max(size["rows"] - (1 + node.first["rows"]), 0)
    for s in (node.first, node.second):
        s["pixel_width"], s["pixel_height"] = s["cols"] * cw, s["rows"] * ch


def _replace_node(node: Node, old: Node, new: Node) -> Node:
    if node is old:
        return new
    if isinstance(node, Split):
        node.left = _replace_node(node.left, old, new)
        node.right = _replace_node(node.right, old, new)
    return node


def _resize_subtree(node: Node, size: Mapping[str, int]) -> Resizes:
    """A subtree given ``size``: its splits re-apportioned (``apply_pane_size``), then its leaves sized."""
    if isinstance(node, Split):
        _apply_pane_size(node, size)
    return apply_sizes_from_splits(node, size)


def _replace_leaf(node: Node, pane_id: int, new: Node) -> Node:
    if isinstance(node, Leaf):
        return new if node.pane_id == pane_id else node
    node.left = _replace_leaf(node.left, pane_id, new)
    node.right = _replace_leaf(node.right, pane_id, new)
    return node


def _with_paths(node: Node, path: tuple[tuple[Split, bool], ...] = ()
                ) -> Iterator[tuple[Node, tuple[tuple[Split, bool], ...]]]:
    """Preorder, each node with the (ancestor, is-right-branch) pairs above it."""
    yield node, path
    if isinstance(node, Split):
        yield from _with_paths(node.left, (*path, (node, False)))
        yield from _with_paths(node.right, (*path, (node, True)))


def _codec_leaves(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "Leaf" in node:
            yield node
        elif "Split" in node:
            yield from _codec_leaves(node["Split"]["left"])
            yield from _codec_leaves(node["Split"]["right"])


def root_size(node: Any) -> Size | None:
    """``PaneNode::root_size``: a Leaf's size, a Split's ``node.size()``, None for Empty."""
    if not isinstance(node, dict):
        return None
    if "Leaf" in node:
        return dict(node["Leaf"]["size"])
    spec = node["Split"]["node"]
    return Split(spec["direction"], dict(spec["first"]), dict(spec["second"]), Leaf(-1), Leaf(-1)).size()
