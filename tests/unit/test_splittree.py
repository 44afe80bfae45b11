"""The split tree's arithmetic against what mux/src/tab.rs computes (worked by hand from its code)."""

from __future__ import annotations

from muxscope_emulator.splittree import HORIZONTAL, VERTICAL, Leaf, TabTree, root_size, term_size


def _two(cols: int = 80, rows: int = 24) -> TabTree:
    tab = TabTree(Leaf(0), term_size(rows, cols, cols * 8, rows * 16, 96))
    tab.split(0, 1, HORIZONTAL)
    return tab


def test_split_halves_and_sizes_add_up_with_the_divider():
    tab = _two()
    sizes = dict(tab.pane_sizes())
    assert (sizes[0]["cols"], sizes[1]["cols"]) == (39, 40)  # 80 * 50% = 40 for the new pane, 39 + 1 + 40
    assert sizes[1]["pixel_width"] == 320 and sizes[0]["rows"] == 24
    assert tab.iter_splits()[0].left == 39


def test_window_resize_moves_the_delta_onto_the_first_child_one_cell_at_a_time():
    """adjust_x_size, Horizontal: +3 cols -> first +1, second +1, first +1."""
    tab = _two()
    sizes = dict(tab.resize(term_size(24, 83, 83 * 8, 24 * 16, 96)))
    assert (sizes[0]["cols"], sizes[1]["cols"]) == (41, 41)
    sizes = dict(tab.resize(term_size(22, 81, 81 * 8, 22 * 16, 96)))
    assert (sizes[0]["cols"], sizes[1]["cols"]) == (40, 40) and sizes[0]["rows"] == 22


def test_divider_drag_keeps_the_width_and_clamps():
    tab = _two()
    sizes = dict(tab.resize_split_by(0, 5))
    assert (sizes[0]["cols"], sizes[1]["cols"]) == (44, 35)
    assert tab.iter_splits()[0].left == 44
    sizes = dict(tab.resize_split_by(0, 100))
    assert (sizes[0]["cols"], sizes[1]["cols"]) == (78, 1)  # first at most width - 2


def test_rebuild_from_panes_back_infers_even_sizes_that_no_longer_add_up():
    tab = _two()
    dims = {0: term_size(24, 45, 360, 384, 96), 1: term_size(24, 40, 320, 384, 96)}
    assert tab.rebuild_from_panes(dims.__getitem__)
    assert tab.size["cols"] == 86  # 45 + 1 + 40: one pane resized, the other not yet
    tab.zoomed = 0
    assert not tab.rebuild_from_panes(dims.__getitem__)


def test_zoom_gives_the_active_pane_the_tab_and_unzoom_gives_the_splits_back():
    tab = _two()
    tab.active = 0
    assert tab.toggle_zoom() == [(0, term_size(24, 80, 640, 384, 96))]
    assert tab.visible() == [0] and tab.iter_splits() == [] and tab.resize_split_by(0, 3) == []
    sizes = dict(tab.toggle_zoom())
    assert (sizes[0]["cols"], sizes[1]["cols"]) == (39, 40) and tab.zoomed is None


def test_codec_round_trip_and_sync_resizes_to_the_listed_splits():
    tab = _two()
    tab.resize_split_by(0, 3)

    def entry(pane_id: int, left: int, top: int) -> dict:
        return {"pane_id": pane_id, "size": dict(tab.pane_sizes()[pane_id][1]), "is_active_pane": pane_id == 0,
                "is_zoomed_pane": False, "left_col": left, "top_row": top}

    node = tab.to_codec(entry)
    assert node["Split"]["right"]["Leaf"]["left_col"] == 43
    assert root_size(node)["cols"] == 80
    client = _two()
    listed = TabTree.from_pane_node(node)
    sizes = dict(client.sync(listed))
    assert (sizes[0]["cols"], sizes[1]["cols"]) == (42, 37)


def test_vertical_split_stacks_rows():
    tab = TabTree(Leaf(0), term_size(25, 80, 640, 400, 96))
    sizes = dict(tab.split(0, 1, VERTICAL))
    assert (sizes[0]["rows"], sizes[1]["rows"]) == (12, 12)
    assert tab.iter_splits()[0].top == 12
