"""Who asked for each Resize (proxy/analysis/resync.py): a resync fed back, a zoom, or the user."""

from __future__ import annotations

from proxy.analysis.resync import ResizeCauses, listed_sizes
from proxy.analysis.vocabulary import Cause


def _size(rows: int, cols: int) -> dict:
    return {"rows": rows, "cols": cols, "pixel_width": cols * 8, "pixel_height": rows * 16, "dpi": 96}


def _leaf(pane_id: int, rows: int, cols: int, zoomed: bool = False) -> dict:
    return {"Leaf": {"pane_id": pane_id, "tab_id": 3, "window_id": 0, "size": _size(rows, cols),
                     "is_zoomed_pane": zoomed, "is_active_pane": pane_id == 0}}


def _split(first: int, second: int, zoomed: int | None = None, leaf_cols: tuple[int, int] | None = None) -> dict:
    a, b = leaf_cols or (first, second)
    return {"Split": {"left": _leaf(0, 24, a, zoomed == 0), "right": _leaf(1, 24, b, zoomed == 1),
                      "node": {"direction": "Horizontal", "first": _size(24, first), "second": _size(24, second)}}}


def test_the_client_resizes_to_the_split_sizes_not_the_leaf_sizes():
    """sync_with_pane_tree -> apply_sizes_from_splits: the split node's first/second are what count."""
    sizes = dict(listed_sizes(_split(30, 49, leaf_cols=(31, 48))))
    assert sizes[0][:2] == (24, 30) and sizes[1][:2] == (24, 49)


def test_a_zoomed_pane_is_resized_to_the_root_size():
    sizes = dict(listed_sizes(_split(30, 49, zoomed=1)))
    assert sizes == {1: (24, 80, 640, 384)}


def test_a_listed_size_sent_back_is_tab_resized_even_after_a_users_resize():
    causes = ResizeCauses()
    causes.listed({"tabs": [_split(39, 40)]})
    # the user's drag, then (the listing read late) the listing's sizes sent back
    assert causes.resize(0, _size(24, 37)) is Cause.RESIZE
    assert causes.resize(0, _size(24, 39)) is Cause.TAB_RESIZED
    assert causes.resize(0, _size(24, 39)) is Cause.RESIZE  # owed once
    assert causes.resizes == {Cause.RESIZE: 2, Cause.TAB_RESIZED: 1}


def test_the_resizes_right_behind_set_pane_zoomed_are_the_zooms():
    causes = ResizeCauses()
    causes.listed({"tabs": [_split(39, 40)]})
    causes.zoomed({"pane_id": 0, "containing_tab_id": 3, "zoomed": True})
    assert causes.resize(0, _size(24, 80)) is Cause.ZOOM
    causes.other_request()  # a GetLines: the zoom's Resizes are over
    assert causes.resize(1, _size(24, 41)) is Cause.RESIZE
