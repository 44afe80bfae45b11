"""Over-fetch attribution on hand-built PDU sequences: every outcome and cause, ordering, bursts."""

from __future__ import annotations

from typing import Any

import pytest

from codec import encode_pdu
from proxy.analysis.analyzer import Analyzer
from proxy.analysis.attribution import AttributionAddon
from proxy.analysis.report_model import Report
from proxy.observe.metrics import Metrics
from proxy.observe.sinks import LogSink, MetricsSink, fan_out
from proxy.relay.tap import TapEvent
from tests.support import LogCapture, get_lines_response, serialized_lines

C2S, S2C = "client_to_server", "server_to_client"
MS = 1_000_000


def size(rows=24, cols=80):
    return {"rows": rows, "cols": cols, "pixel_width": 0, "pixel_height": 0, "dpi": 0}


def changes(pane: int, dirty: list[tuple[int, int]] = (), bonus: dict[int, str] | None = None,
            cursor_y: int = 0, physical_top: int = 0, seqno: int = 1000, cols: int = 80) -> dict[str, Any]:
    return {
        "pane_id": pane, "mouse_grabbed": False,
        "cursor_position": {"x": 0, "y": cursor_y, "shape": "Default", "visibility": "Visible"},
        "dimensions": {"cols": cols, "viewport_rows": 24, "scrollback_rows": 100, "physical_top": physical_top,
                       "scrollback_top": 0, "dpi": 0, "pixel_width": 0, "pixel_height": 0,
                       "reverse_video": False},
        "dirty_lines": [{"start": a, "end": b} for a, b in dirty],
        "title": "t", "working_dir": None,
        "bonus_lines": serialized_lines(bonus or {}),
        "input_serial": None, "seqno": seqno,
    }


class Wire:
    """Feeds hand-built PDUs through the real Analyzer + AttributionAddon, as the tap would."""

    def __init__(self, burst_gap_s: float = 0.25, client_model: str = "wezterm") -> None:
        self.metrics = Metrics()
        self.addon = AttributionAddon(burst_gap_s=burst_gap_s, client_model=client_model)
        self.analyzer = Analyzer([self.addon], emit=fan_out([LogSink(), MetricsSink(self.metrics)]))
        self.seq: dict[tuple[int, str], int] = {}
        self.t = 1_000 * MS
        self.opened: set[int] = set()

    def send(self, direction: str, name: str, body: Any, serial: int, conn: int = 1, dt_ms: float = 1.0) -> None:
        if conn not in self.opened:
            self.analyzer.handle(TapEvent("open", conn, self.t, info={}))
            self.opened.add(conn)
        self.t += int(dt_ms * MS)
        key = (conn, direction)
        seq = self.seq.get(key, 0)
        self.seq[key] = seq + 1
        self.analyzer.handle(TapEvent("data", conn, self.t, direction, encode_pdu(name, body, serial), seq))

    def get_lines(self, serial: int, pane: int, start: int, end: int, conn: int = 1) -> None:
        self.send(C2S, "GetLines", {"pane_id": pane, "lines": [{"start": start, "end": end}]}, serial, conn)

    def lines(self, serial: int, pane: int, rows: dict[int, str], conn: int = 1, dt_ms: float = 1.0) -> None:
        self.send(S2C, "GetLinesResponse", get_lines_response(pane, rows), serial, conn, dt_ms)

    def close(self, conn: int = 1) -> None:
        self.analyzer.handle(TapEvent("close", conn, self.t, info={}))
        self.addon.finish()

    @property
    def model(self) -> Report:
        return self.addon.report()

    @property
    def report(self) -> dict[str, Any]:
        """The report's JSON form, which the assertions read."""
        return self.model.to_json()


ROWS = {r: f"line {r} of the pane" for r in range(4)}


def test_first_view_rows_are_new():
    w = Wire()
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    rep = w.report
    assert rep["rows"] == {"redundant": 0, "superseded": 0, "changed": 0, "new": 4}
    assert rep["causes"] == {"first_view": 4}
    assert rep["panes"] == {"0": {"rows": {"redundant": 0, "superseded": 0, "changed": 0, "new": 4}}}


def test_resize_refetch_of_unchanged_rows_is_redundant():
    w = Wire()
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 81)}, 2)
    w.get_lines(3, 0, 0, 4)
    w.lines(3, 0, {**ROWS, 3: "this row did change"})
    rep = w.report
    assert rep["rows"] == {"redundant": 3, "superseded": 0, "changed": 1, "new": 4}
    assert rep["rows_by_cause"]["resize"] == {"redundant": 3, "changed": 1}
    assert rep["overfetch_wait_s"] > 0


def test_dirty_rows_and_bonus_lines():
    w = Wire()
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    # push: rows 1..3 dirty, row 2 delivered as a bonus line
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, [(1, 3)], {2: "bonus content"}), 0)
    w.get_lines(2, 0, 1, 2)
    w.lines(2, 0, {1: "new content for row one"})
    rep = w.report
    assert rep["causes"] == {"first_view": 4, "dirty": 1}
    assert rep["rows"]["changed"] == 1
    assert rep["bonus_rows"] == {"redundant": 0, "changed": 1, "new": 0}


def test_row_resent_while_in_flight_is_superseded():
    w = Wire()
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(25, 80)}, 2)
    w.get_lines(3, 0, 0, 4)
    # before the response: the server pushes row 2 as a bonus line and says row 3 is dirty;
    # the client prefetches row 3 at once (apply_changes_to_surface), restamping its entry
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, [(3, 4)], {2: "fresh"}), 0)
    w.get_lines(4, 0, 3, 4)
    w.lines(3, 0, ROWS)
    assert w.report["rows"] == {"redundant": 2, "superseded": 2, "changed": 0, "new": 4}
    w.lines(4, 0, {3: ROWS[3]})
    # the superseded result was dropped: the client kept the bonus content, so
    # fetching row 2 again with the bonus content is redundant
    w.get_lines(5, 0, 2, 3)
    w.lines(5, 0, {2: "fresh"})
    assert w.report["rows"] == {"redundant": 4, "superseded": 2, "changed": 0, "new": 4}


def test_coalescing_client_keeps_its_fetch_in_flight():
    """A push marks an in-flight row dirty but no request follows for it: a coalescing client kept
    its fetch; WezTerm's, which read the push first, re-stamped the row and drops the reply
    (tests/unit/test_linemodel_push_order.py). Either way the row raced the push: its label must
    not depend on the order the GUI applied the two, so it counts as superseded (README "Raced
    rows"), and the coalescing client's line is still held."""
    for model in ("coalesce", "wezterm"):
        w = Wire(client_model=model)
        w.get_lines(1, 0, 0, 2)
        w.send(S2C, "GetPaneRenderChangesResponse", changes(0, [(1, 2)]), 0)
        w.lines(1, 0, {0: ROWS[0], 1: ROWS[1]})
        rep = w.report
        assert rep["rows"] == {"redundant": 0, "superseded": 1, "changed": 0, "new": 1}, model
        assert (rep["raced_rows"], rep["raced_rows_by_pane"], rep["raced_rows_by_cause"]) == (
            1, {"0": 1}, {"dirtied": 1}), model
        if model == "coalesce":
            assert w.addon._conns[1].panes[0].entries[1].state == "Line"


def test_out_of_order_responses():
    w = Wire()
    w.get_lines(1, 0, 0, 2)
    w.get_lines(2, 0, 2, 4)
    w.lines(2, 0, {2: ROWS[2], 3: ROWS[3]})
    w.lines(1, 0, {0: ROWS[0], 1: ROWS[1]})
    w.send(C2S, "SetPaneZoomed", {"containing_tab_id": 0, "pane_id": 0, "zoomed": True}, 3)
    w.get_lines(4, 0, 0, 4)
    w.lines(4, 0, ROWS)
    rep = w.report
    assert rep["rows"] == {"redundant": 4, "superseded": 0, "changed": 0, "new": 4}
    assert rep["rows_by_cause"]["zoom"] == {"redundant": 4}


def list_panes(pane: int, tab: int, rows: int, cols: int) -> dict[str, Any]:
    leaf = {
        "window_id": 1, "tab_id": tab, "pane_id": pane, "title": "t", "size": size(rows, cols),
        "working_dir": None, "is_active_pane": True, "is_zoomed_pane": False, "workspace": "default",
        "cursor_pos": {"x": 0, "y": 0, "shape": "Default", "visibility": "Visible"}, "physical_top": 0,
        "top_row": 0, "left_col": 0, "tty_name": None,
    }
    return {"tabs": [{"Leaf": leaf}], "tab_titles": ["t"], "window_titles": {1: "w"}}


def test_palette_and_tab_resized_causes():
    w = Wire()
    w.send(C2S, "ListPanes", {}, 1)
    w.send(S2C, "ListPanesResponse", list_panes(0, 7, 24, 80), 1)
    w.get_lines(2, 0, 0, 2)
    w.lines(2, 0, {0: ROWS[0], 1: ROWS[1]}, dt_ms=400)
    # the server resized the tab: the client re-lists the panes and resizes to the listed size
    w.send(S2C, "TabResized", {"tab_id": 7}, 0, dt_ms=400)
    w.send(C2S, "ListPanes", {}, 3)
    w.send(S2C, "ListPanesResponse", list_panes(0, 7, 20, 70), 3)
    w.send(C2S, "Resize", {"containing_tab_id": 7, "pane_id": 0, "size": size(20, 70)}, 4)
    w.get_lines(5, 0, 0, 1)
    w.lines(5, 0, {0: ROWS[0]})
    from tests.golden import entries  # tests/golden is in the repository; conftest stops a run without it

    palette_entry = next(e for e in entries("v44") if e["pdu"] == "SetPalette")
    body = dict(palette_entry["expected"])
    body["pane_id"] = 0
    w.send(S2C, "SetPalette", _f32_palette(body), 0)
    w.get_lines(6, 0, 1, 2)
    w.lines(6, 0, {1: ROWS[1]})
    rep = w.report
    assert rep["rows_by_cause"]["tab_resized"] == {"redundant": 1}
    assert rep["rows_by_cause"]["palette"] == {"redundant": 1}


def test_a_fetch_in_flight_races_a_setpalette():
    """A SetPalette read while a fetch is in flight: WezTerm's make_all_stale leaves the row being
    fetched alone, so applied in the read order the reply is kept; applied first, the line is made
    stale and fetched again. The row raced (superseded either way, README "Raced rows"); the model
    holds the line stale for the palette, so that a refetch, if the GUI makes one, has its cause."""
    from tests.golden import entries

    body = dict(next(e for e in entries("v44") if e["pdu"] == "SetPalette")["expected"])
    body["pane_id"] = 0
    w = Wire()
    w.get_lines(1, 0, 0, 2)
    w.send(S2C, "SetPalette", _f32_palette(body), 0)
    w.lines(1, 0, {0: ROWS[0], 1: ROWS[1]})
    w.get_lines(2, 0, 1, 2)  # the GUI applied the reply first: row 1 is stale, fetched again
    w.lines(2, 0, {1: ROWS[1]})
    rep = w.report
    assert rep["rows"] == {"redundant": 1, "superseded": 2, "changed": 0, "new": 0}
    assert rep["raced_rows"] == 2 and rep["raced_rows_by_cause"] == {"palette": 2}
    assert rep["rows_by_cause"]["palette"] == {"redundant": 1}
    reg = w.metrics.registry
    assert reg.get_sample_value("muxscope_raced_rows_total", {"cause": "palette"}) == 2
    assert reg.get_sample_value("muxscope_raced_rows_total", {"cause": "dropped"}) == 0


def test_changed_line_refetched_by_render_is_dropped():
    """get_lines' quirk: a held Line newer than the pane's seqno goes Stale and the reply is dropped."""
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, seqno=5), 0)
    w.get_lines(1, 0, 0, 1)
    w.send(S2C, "GetLinesResponse", {"pane_id": 0, "lines": serialized_lines({0: "x"}, seqno=9)}, 1)
    w.get_lines(2, 0, 0, 1)  # line seqno 9 > pane seqno 5: Stale, this reply will be dropped
    w.lines(2, 0, {0: "x"})
    w.get_lines(3, 0, 0, 1)  # Stale -> LineAndFetching: kept
    w.lines(3, 0, {0: "x"})
    assert w.report["rows"] == {"redundant": 1, "superseded": 1, "changed": 0, "new": 1}


def test_changed_line_fetch_is_kept_by_a_coalescing_client():
    """The same wire as above, but a coalescing client waits for its first fetch instead of
    dropping it (the emulator's ``--policy coalesce``, told to the analysis as its client model)."""
    w = Wire(client_model="coalesce")
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, seqno=5), 0)
    w.get_lines(1, 0, 0, 1)
    w.send(S2C, "GetLinesResponse", {"pane_id": 0, "lines": serialized_lines({0: "x"}, seqno=9)}, 1)
    w.get_lines(2, 0, 0, 1)
    w.lines(2, 0, {0: "x"})
    assert w.report["rows"] == {"redundant": 1, "superseded": 0, "changed": 0, "new": 1}
    assert w.report["client_model"] == "coalesce"


def test_unknown_client_model_is_refused():
    with pytest.raises(ValueError, match="client model 'eager'"):
        AttributionAddon(None, client_model="eager")


def test_request_that_crossed_a_push_is_judged_as_the_client_saw_it():
    """The push went down before the request came up, but the client wrote the request first:
    WezTerm never asks for rows it holds up to date, so those rows were asked for before it read
    the push (held nothing then: first_view), and the push then superseded the reply."""
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, bonus={0: "a", 1: "b"}, seqno=5), 0)
    w.get_lines(1, 0, 0, 3)  # 3 ms later: rows 0-1 from the push, row 2 never delivered
    w.lines(1, 0, {0: "a", 1: "b", 2: "c"})
    rep = w.report
    assert rep["rows"] == {"redundant": 0, "superseded": 2, "changed": 0, "new": 1}
    assert rep["causes"] == {"first_view": 3}
    assert rep["crossed_requests"] == 1
    # the client kept the push's lines: asking for them again after a resize is redundant
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 81)}, 2)
    w.get_lines(3, 0, 0, 2)
    w.lines(3, 0, {0: "a", 1: "b"})
    assert w.report["rows"]["redundant"] == 2 and w.report["crossed_requests"] == 1


def test_crossing_is_recognised_across_a_reply_for_other_rows():
    """Between the push and the crossing request, a reply for rows the push also touched (and
    dropped): the reorder is still sound, since that reply's outcome does not depend on it."""
    w = Wire()
    w.get_lines(1, 0, 5, 6)
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, dirty=[(0, 6)], bonus={6: "a", 7: "b"},
                                                          physical_top=6, seqno=5), 0)
    w.lines(1, 0, {5: "old row five"})  # row 5 went above physical_top: dropped either way
    w.get_lines(2, 0, 6, 8)  # asks for the push's rows: written before the client read the push
    w.lines(2, 0, {6: "a", 7: "b"})
    rep = w.report
    assert rep["crossed_requests"] == 1
    assert rep["rows"] == {"redundant": 0, "superseded": 3, "changed": 0, "new": 0}
    assert rep["causes"] == {"first_view": 3}


def _rows_dropped_by_a_push_then_asked_for(after_ms: float) -> dict[str, Any]:
    """Rows 0-1 held, a resize, a push that drops them (physical_top 2), then a GetLines for them."""
    w = Wire()
    w.get_lines(1, 0, 0, 2)
    w.lines(1, 0, {0: "a", 1: "b"})
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 81)}, 2)
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, dirty=[(0, 2)], physical_top=2, seqno=5), 0)
    w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": 2}]}, 3, dt_ms=after_ms)
    w.lines(3, 0, {0: "a", 1: "b"})
    return w.report


def test_request_too_soon_after_a_push_crossed_it():
    """50 us after the push the request cannot be an answer to it: the rows the push then
    dropped (above its physical_top) were asked for before the client read it."""
    rep = _rows_dropped_by_a_push_then_asked_for(0.05)
    assert rep["crossed_requests"] == 1
    assert rep["rows"]["superseded"] == 2 and rep["rows_by_cause"]["resize"] == {"superseded": 2}
    # 5 ms later it could be the client's answer, but a client that read the push paints from its
    # new top: asking for the screen as it was before the push is still a crossing
    rep = _rows_dropped_by_a_push_then_asked_for(5)
    assert rep["crossed_requests"] == 1 and rep["rows"]["superseded"] == 2
    # beyond the crossing window it is a client scrolled back: the rows were gone, it asks anew
    rep = _rows_dropped_by_a_push_then_asked_for(600)
    assert rep["crossed_requests"] == 0 and rep["rows"]["new"] == 4
    assert rep["rows_by_cause"]["dirty"] == {"new": 2}


def test_first_paint_before_the_first_push_crossed_it():
    """Until its first push a new pane's viewport starts at row 0 (ClientPane::new): a request for
    rows 0-3 after a first push whose physical_top is 100 was that first paint."""
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, dirty=[(0, 104)], physical_top=100, seqno=5), 0)
    w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": 4}]}, 1, dt_ms=3)
    w.lines(1, 0, ROWS)
    rep = w.report
    assert rep["crossed_requests"] == 1 and rep["rows"] == {"redundant": 0, "superseded": 4, "changed": 0, "new": 0}
    # not long after it (the client has read it and scrolled back), nor once it has painted before
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, physical_top=100, seqno=5), 0)
    w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": 4}]}, 1, dt_ms=600)
    w.lines(1, 0, ROWS)
    assert w.report["crossed_requests"] == 0 and w.report["rows"]["new"] == 4


def test_crossing_reorders_the_clients_own_resize_before_the_push():
    """push (moves the top past rows 0-3), then the client's Resize and a GetLines for the old
    screen: the client sent both before reading the push, so the rows are resize-caused and the
    push, read after, dropped the reply."""
    w = Wire()
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, dirty=[(0, 8)], physical_top=4, seqno=5), 0)
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(23, 80)}, 2, dt_ms=5)
    w.get_lines(3, 0, 0, 4)
    w.lines(3, 0, ROWS)
    rep = w.report
    assert rep["crossed_requests"] == 1
    assert rep["rows_by_cause"]["resize"] == {"superseded": 4}


def test_a_screen_from_the_old_top_past_the_new_one_crossed_a_push_that_moved_it_one_row():
    """Seen in a truth session: the push moves the top from 4 to 5 and delivers rows 5-7 as bonus
    lines; the client, which had not read it, resizes and asks for rows 4-7 (its screen from the
    old top). Only one row lies between the tops, so the band rule cannot see it; the request's
    start can. Read after, the push replaces rows 5-7 and drops row 4: every reply row is dropped."""
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, physical_top=4, seqno=5), 0)
    w.get_lines(1, 0, 4, 8)
    w.lines(1, 0, {r: f"row {r}" for r in range(4, 8)})
    w.send(S2C, "GetPaneRenderChangesResponse",
           changes(0, dirty=[(0, 5)], bonus={5: "e", 6: "f", 7: "g"}, physical_top=5, seqno=6), 0, dt_ms=20)
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(23, 80)}, 2, dt_ms=0.2)
    w.get_lines(3, 0, 4, 8)
    w.lines(3, 0, {r: f"row {r}" for r in range(4, 8)})
    rep = w.report
    assert rep["crossed_requests"] == 1
    assert rep["rows_by_cause"]["resize"] == {"superseded": 4}


def test_the_next_steps_of_a_crossed_logical_line_walk_crossed_it_too():
    """Seen in a truth session with output streaming: the client walks up from the old top one row
    per GetLines (rows 3, 2, 1) while a push it has not read moves the top and names those rows
    dirty. The first step is too soon after the push to answer it; each next step is the row above
    the last (a client that had read the push would start again above the new top). Read after
    them, the push drops all three rows: every reply is dropped."""
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, physical_top=4, seqno=5), 0)
    w.get_lines(1, 0, 4, 8)
    w.lines(1, 0, {r: f"row {r}" for r in range(4, 8)})
    w.send(S2C, "GetPaneRenderChangesResponse",
           changes(0, dirty=[(0, 5)], bonus={5: "e", 6: "f", 7: "g", 8: "h"}, physical_top=5, seqno=6), 0, dt_ms=20)
    for serial, row, dt in ((2, 3, 0.05), (3, 2, 0.3), (4, 1, 1.5)):
        w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": row, "end": row + 1}]}, serial, dt_ms=dt)
    for serial, row in ((2, 3), (3, 2), (4, 1)):
        w.lines(serial, 0, {row: f"row {row}"})
    rep = w.report
    assert rep["crossed_requests"] == 3
    assert rep["rows"] == {"redundant": 0, "superseded": 3, "changed": 0, "new": 4}


def test_a_walk_step_after_the_last_steps_reply_did_not_cross_the_pushes_before_it():
    """From a truth session with output streaming: the walk's first step (row 3) crossed a push;
    its reply came back 18 ms later, and the next step (row 2, never held) followed 12 ms after
    that. To take it the client had read that reply, and the push relayed before it."""
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, physical_top=4, seqno=5), 0)
    w.get_lines(1, 0, 4, 8)
    w.lines(1, 0, {r: f"row {r}" for r in range(4, 8)})
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, bonus={6: "f"}, physical_top=4, seqno=6), 0, dt_ms=20)
    w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 3, "end": 4}]}, 2, dt_ms=0.05)
    w.lines(2, 0, {3: "row 3"}, dt_ms=18)
    w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 2, "end": 3}]}, 3, dt_ms=12)
    w.lines(3, 0, {2: "row 2"})
    rep = w.report
    assert rep["crossed_requests"] == 1
    assert rep["rows"] == {"redundant": 0, "superseded": 0, "changed": 0, "new": 6}


def test_requests_written_together_cross_the_same_push():
    """Three GetLines in one burst after a push the client had not read (as in the 40 ms sample
    capture): the first asks for the old screen, so all three were written before the push."""
    w = Wire()
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    w.send(S2C, "GetPaneRenderChangesResponse",
           changes(0, dirty=[(0, 2)], bonus={2: "c", 3: "d"}, physical_top=2, seqno=5), 0)
    for serial, (start, end) in ((2, (0, 4)), (3, (1, 2)), (4, (2, 4))):
        w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": start, "end": end}]}, serial,
               dt_ms=1 if serial == 2 else 0.01)
    for serial, rows in ((2, ROWS), (3, {1: ROWS[1]}), (4, {2: ROWS[2], 3: ROWS[3]})):
        w.lines(serial, 0, rows)
    rep = w.report
    assert rep["crossed_requests"] == 3 and "unexplained" not in rep["causes"]
    assert rep["rows"]["superseded"] == 7


def test_one_row_above_the_top_is_the_logical_line_walk_not_a_crossing():
    """After reading a push that moved the top from 0 to 1, a client looks one row up for the
    start of the logical line (get_lines(top-1, top)): that row was dropped, so it is new."""
    w = Wire()
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, dirty=[(0, 5)], physical_top=1, seqno=5), 0)
    w.get_lines(2, 0, 0, 1)
    w.lines(2, 0, {0: ROWS[0]})
    assert w.report["crossed_requests"] == 0 and w.report["rows_by_cause"]["dirty"]["new"] == 1


def test_the_logical_line_walk_from_the_old_top_crossed_the_push():
    """Screen at rows 4-7; a push moves the top to 8; the client then looks at row 3 (the row above
    the old top): it was still painting the old screen, so the push crossed that request."""
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, physical_top=4, cursor_y=7, seqno=4), 0)
    w.get_lines(1, 0, 3, 8)
    w.lines(1, 0, {r: f"row {r}" for r in range(3, 8)})
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, dirty=[(0, 8)], physical_top=8, cursor_y=11, seqno=5), 0)
    w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 3, "end": 4}]}, 2, dt_ms=0.3)
    w.lines(2, 0, {3: "row 3"})
    rep = w.report
    assert rep["crossed_requests"] == 1 and rep["rows"]["superseded"] == 1


def test_no_reorder_across_a_reply_for_the_same_rows():
    """A reply for a requested row arrived after the push: its outcome is final, so the request
    stays where the wire puts it (and counts as unexplained)."""
    w = Wire()
    w.get_lines(1, 0, 0, 1)
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, bonus={1: "b"}, seqno=5), 0)
    w.lines(1, 0, {0: "a"})
    w.get_lines(2, 0, 0, 2)
    w.lines(2, 0, {0: "a", 1: "b"})
    rep = w.report
    assert rep["crossed_requests"] == 0 and rep["causes"]["unexplained"] == 2


def test_request_long_after_a_push_did_not_cross_it():
    """Beyond the crossing window the client had read the push: the request stays unexplained."""
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, bonus={0: "a"}, seqno=5), 0)
    w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": 1}]}, 1, dt_ms=2000)
    w.lines(1, 0, {0: "a"})
    rep = w.report
    assert rep["rows"] == {"redundant": 1, "superseded": 0, "changed": 0, "new": 0}
    assert rep["causes"] == {"unexplained": 1} and rep["crossed_requests"] == 0


def test_coalescible_rows_are_asked_again_while_a_valid_fetch_is_pending_or_was_dropped():
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, seqno=5), 0)
    w.get_lines(1, 0, 0, 1)
    w.send(S2C, "GetLinesResponse", {"pane_id": 0, "lines": serialized_lines({0: "x"}, seqno=9)}, 1)
    w.get_lines(2, 0, 0, 1)  # the Stale quirk: this one's reply will be dropped...
    w.get_lines(3, 0, 0, 1)  # ...so the next frame asks again while it is pending: coalescible
    w.lines(2, 0, {0: "x"})
    w.send(S2C, "GetLinesResponse", {"pane_id": 0, "lines": serialized_lines({0: "x"}, seqno=9)}, 3)
    assert w.report["coalescible_rows"] == 1
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, seqno=6), 0)
    w.get_lines(4, 0, 0, 1)  # quirk again (line 9 > pane 6); reply dropped before the next frame
    w.lines(4, 0, {0: "x"})
    w.get_lines(5, 0, 0, 1)  # asked again after a dropped, still-valid fetch: coalescible
    w.lines(5, 0, {0: "x"})
    assert w.report["coalescible_rows"] == 2
    # after an invalidation, asking again is needed: the pending reply predates the resize
    w.get_lines(6, 0, 1, 2)
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 81)}, 7)
    w.get_lines(8, 0, 1, 2)
    assert w.report["coalescible_rows"] == 2
    assert w.report["what_if"]["coalesce"]["rows_saved"] == 2


def wrapped_rows_response(pane: int, rows: dict[int, tuple[str, bool]]) -> dict[str, Any]:
    """A GetLinesResponse whose lines may carry the wrap bit (CellAttributes bit 11) on their last cell."""
    body = get_lines_response(pane, {row: text for row, (text, _) in rows.items()})
    for row, line in body["lines"]["lines"]:
        if rows[row][1]:
            last = line["cells"]["V"]["cells"][-1]
            last["attrs"] = dict(last["attrs"], attributes=1 << 11)
    return body


def _five_rows_at_80_columns(w: Wire) -> dict[int, tuple[str, bool]]:
    """A pane of 80 columns whose rows 0-4 the client fetched: rows 1-2 one wrapped logical line."""
    w.send(C2S, "ListPanes", {}, 1)
    w.send(S2C, "ListPanesResponse", list_panes(0, 7, 24, 80), 1)
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, seqno=1000), 0)
    rows = {0: ("short", False), 1: ("x" * 80, True), 2: ("tail", False), 3: ("after", False), 4: ("y", False)}
    w.get_lines(2, 0, 0, 5)
    w.send(S2C, "GetLinesResponse", wrapped_rows_response(0, rows), 2)
    return rows


def test_selective_what_if_counts_resize_rows_a_rewrap_cannot_alter():
    w = Wire()
    rows = _five_rows_at_80_columns(w)
    # narrower: row 0 stays as it is; rows 1-2 are one logical line of 84 columns that takes three
    # rows at 40, so the rows below move
    w.send(C2S, "Resize", {"containing_tab_id": 7, "pane_id": 0, "size": size(24, 40)}, 3)
    w.get_lines(4, 0, 0, 5)
    w.send(S2C, "GetLinesResponse", wrapped_rows_response(0, rows), 4)
    assert w.report["what_if"]["selective"]["rows_saved"] == 1
    # taller only: nothing rewraps, all five rows were fetched for nothing
    w.send(C2S, "Resize", {"containing_tab_id": 7, "pane_id": 0, "size": size(30, 40)}, 5)
    w.get_lines(6, 0, 0, 5)
    w.send(S2C, "GetLinesResponse", wrapped_rows_response(0, rows), 6)
    assert w.report["what_if"]["selective"]["rows_saved"] == 1 + 5
    # a zoom stales every row under either policy
    w.send(C2S, "SetPaneZoomed", {"containing_tab_id": 7, "pane_id": 0, "zoomed": True}, 7)
    w.get_lines(8, 0, 0, 5)
    w.send(S2C, "GetLinesResponse", wrapped_rows_response(0, rows), 8)
    what_if = w.report["what_if"]
    assert what_if["selective"]["rows_saved"] == 6
    assert what_if["selective"]["wire_bytes_saved"] > 0 and what_if["selective"]["wait_saved_s"] > 0
    assert "rewrap" in what_if["model"]


def test_selective_what_if_counts_the_refetch_of_a_line_only_a_saved_fetch_brought():
    """A resize fetch returns lines newer than the pane's seqno; get_lines then refetches them
    (and drops the reply: WezTerm's Stale quirk). A selective client, not having made the first
    fetch, still holds the older lines and makes neither."""
    w = Wire()
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, seqno=1000), 0)
    w.get_lines(1, 0, 0, 2)
    w.lines(1, 0, {0: "a", 1: "b"})
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 81)}, 2)
    w.get_lines(3, 0, 0, 2)
    w.send(S2C, "GetLinesResponse", get_lines_response(0, {0: "a", 1: "b"}, seqno=2000), 3)
    assert w.report["what_if"]["selective"]["rows_saved"] == 2
    w.get_lines(4, 0, 0, 2)  # the quirk: these replies are dropped
    w.send(S2C, "GetLinesResponse", get_lines_response(0, {0: "a", 1: "b"}, seqno=2000), 4)
    w.get_lines(5, 0, 0, 2)  # and the rows asked for again
    w.send(S2C, "GetLinesResponse", get_lines_response(0, {0: "a", 1: "b"}, seqno=2000), 5)
    rep = w.report
    assert rep["rows_by_cause"]["dirty"] == {"superseded": 2, "redundant": 2}
    assert rep["what_if"]["selective"]["rows_saved"] == 6
    # a push names row 0: both clients fetch it now
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, [(0, 1)], seqno=3000), 0)
    w.get_lines(6, 0, 0, 1)
    w.send(S2C, "GetLinesResponse", get_lines_response(0, {0: "c"}, seqno=3000), 6)
    assert w.report["what_if"]["selective"]["rows_saved"] == 6


def test_selective_client_model_stales_only_what_a_rewrap_can_alter():
    """A selective client (``--client-model selective``, the emulator's ``--policy selective``)
    answers a resize with the rewrap rule: rows 1-4 go stale, row 0 stays valid. Its later
    refetch of row 0, after a push names it, is ``dirty``; WezTerm's make_all_stale would have
    left it stale for the resize. A height-only resize stales nothing."""

    def run(model: str) -> dict[str, Any]:
        w = Wire(client_model=model)
        rows = _five_rows_at_80_columns(w)
        w.send(C2S, "Resize", {"containing_tab_id": 7, "pane_id": 0, "size": size(24, 40)}, 3)
        w.get_lines(4, 0, 1, 5)
        w.send(S2C, "GetLinesResponse", wrapped_rows_response(0, {r: rows[r] for r in range(1, 5)}), 4)
        w.send(S2C, "GetPaneRenderChangesResponse", changes(0, [(0, 1)], seqno=1001, cols=40), 0)
        w.get_lines(5, 0, 0, 1)
        w.lines(5, 0, {0: "changed"})
        w.send(C2S, "Resize", {"containing_tab_id": 7, "pane_id": 0, "size": size(30, 40)}, 6)
        w.get_lines(7, 0, 3, 4)  # a row the height-only resize left valid
        w.send(S2C, "GetLinesResponse", wrapped_rows_response(0, {3: rows[3]}), 7)
        return w.report

    selective, wezterm = run("selective"), run("wezterm")
    assert selective["client_model"] == "selective"
    assert selective["causes"] == {"first_view": 5, "resize": 4, "dirty": 1, "unexplained": 1}
    assert wezterm["causes"] == {"first_view": 5, "resize": 5, "dirty": 1}
    # the what-if's rule is the client's own: a selective client saves nothing by it
    assert selective["what_if"]["selective"]["rows_saved"] == 0
    assert wezterm["what_if"]["selective"]["rows_saved"] == 1


def test_selective_what_if_assumes_a_rewrap_when_the_old_width_is_unknown():
    from codec import decode_frame
    from codec.wire.framing import FrameDecoder
    from proxy.analysis.linemodel import PaneLines
    from proxy.analysis.linestate import LineFacts

    dec = FrameDecoder()
    dec.feed(encode_pdu("GetLinesResponse", get_lines_response(0, {0: "a", 1: "b"}), 1))
    summary = decode_frame(dec.next_frame(), summary=True).body["lines"]
    model = PaneLines(0)
    model.seqno = 100  # as after a push, but one that stated no width
    saved = []
    for serial, cols in ((1, None), (2, 81), (3, 82)):
        if cols is not None:
            model.make_all_stale("resize", cols=cols)
        saved.append(model.request(serial, [0, 1]).selective_saved)
        for i, row in enumerate((0, 1)):
            model.response_line(serial, row, b"same", 1, serial, LineFacts(summary, i, 44))
    # first view; then 81 columns from an unknown width (a rewrap is assumed); then 81 -> 82, which
    # cannot alter one-cell unwrapped lines
    assert saved == [set(), set(), {0, 1}]


def _f32_palette(body: dict[str, Any]) -> dict[str, Any]:
    def conv(v):
        if isinstance(v, list) and len(v) == 4 and all(isinstance(x, float) for x in v):
            return tuple(v)
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(body)


def test_rows_above_physical_top_are_forgotten():
    w = Wire()
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, [(0, 2)], physical_top=2), 0)
    w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": 1}]}, 2, dt_ms=600)  # scrolled back
    w.lines(2, 0, {0: ROWS[0]})
    assert w.report["rows"]["new"] == 5  # the client dropped row 0: fetching it again is new


def test_a_dirty_range_over_the_whole_scrollback_costs_what_the_client_holds():
    """The server names changed rows from 0 (after a rewrap, the whole scrollback): the rows the
    client holds above the new physical_top are dropped, the rest of the range costs nothing."""
    top = 10_000_000
    w = Wire()
    w.get_lines(1, 0, 5, 6)
    w.lines(1, 0, {5: "held"})
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, dirty=[(0, top + 2)], physical_top=top, seqno=5), 0)
    w.get_lines(2, 0, 5, 6)  # scrolled back to the dropped row: fetched again, as new
    w.lines(2, 0, {5: "held"})
    rep = w.report
    assert rep["rows"]["new"] == 2 and rep["rows_by_cause"]["dirty"] == {"new": 1}
    w.get_lines(3, 0, top, top + 2)  # the push's viewport rows were stamped for fetching
    w.lines(3, 0, {top: "x", top + 1: "y"})
    assert w.report["rows_by_cause"]["dirty"] == {"new": 3}


def test_two_clients_have_separate_models():
    w = Wire()
    for conn in (1, 2):
        w.get_lines(1, 0, 0, 4, conn=conn)
        w.lines(1, 0, ROWS, conn=conn)
    rep = w.report
    assert rep["rows"]["new"] == 8 and rep["rows"]["redundant"] == 0


def test_resize_bursts_and_settle_time():
    logs = LogCapture()
    w = Wire(burst_gap_s=0.25)
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, seqno=1000), 0)  # 80 columns
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    serial = 2
    for i in range(5):  # a drag: 5 resizes 50 ms apart, each followed by a refetch
        w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 80 + i)}, serial, dt_ms=50)
        w.get_lines(serial + 1, 0, 0, 4)
        w.lines(serial + 1, 0, ROWS, dt_ms=20)
        serial += 2
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(30, 90)}, serial, dt_ms=1000)
    w.get_lines(serial + 1, 0, 0, 4)
    w.lines(serial + 1, 0, ROWS, dt_ms=30)
    w.close()
    bursts = w.report["bursts"]
    assert [b["resizes"] for b in bursts] == [5, 1]
    assert bursts[0]["getlines"] == 5 and bursts[0]["rows_requested"] == 20
    assert bursts[0]["rows"]["redundant"] == 20
    # first resize -> last response: 4 more resizes * (50 + 1 + 20 ms) + 1 + 20 ms
    assert bursts[0]["settle_s"] == pytest.approx((4 * 71 + 21) / 1000, abs=1e-6)
    assert bursts[1]["settle_s"] == pytest.approx(0.031, abs=1e-6)
    events = logs.events("resize_burst")
    assert [e["resizes"] for e in events] == [5, 1]
    what_if = w.report["what_if"]
    assert what_if["debounce"]["100ms"]["resizes_sent"] == 2  # one per burst
    assert what_if["debounce"]["50ms"]["resizes_sent"] == 6  # 71 ms apart: nothing coalesced
    # short unwrapped rows: no rewrap can change them
    assert what_if["selective"]["rows_saved"] == 24


def test_line_model_memory_stays_within_max_rows():
    """A long session that scrolls through a million rows: every per-row table stays bounded."""
    from proxy.analysis.crossing import MAX_CROSSING_EVENTS
    from proxy.analysis.linemodel import PaneLines
    from proxy.analysis.linestate import Push

    model = PaneLines(0, max_rows=100)
    second = 1_000_000_000
    for i in range(1000):
        cursor = {"x": 0, "y": i, "shape": "Default", "visibility": "Visible"}
        model.apply_push(Push(i + 1, i * second, i + 1, i, cursor, None, [(i, b"f" * 8, i + 1)], [(0, i + 1)]))
        model.request(i + 1, [i, i + 1], i * second + second // 2)
    sizes = [len(model.entries), len(model.coalesce.invalid_from), len(model.coalesce.last_fetch), len(model.evicted)]
    assert max(sizes) <= 100 and len(model.recent) <= MAX_CROSSING_EVENTS, sizes


def test_line_bytes_kept_for_wrap_facts_are_bounded():
    """Each delivered line keeps its response's bytes for the selective what-if: only the newest
    MAX_LINE_FACTS of them do."""
    from proxy.analysis.linemodel import PaneLines
    from proxy.analysis.linestate import MAX_LINE_FACTS, LineFacts

    model = PaneLines(0)
    payloads = [LineFacts(bytes(1000), 0, 44) for _ in range(MAX_LINE_FACTS + 10)]
    for serial, facts in enumerate(payloads, 1):
        model.request(serial, [serial])
        model.response_line(serial, serial, b"f" * 8, 1, serial, facts)
    assert len(model.kept_facts) == MAX_LINE_FACTS
    assert all(f._summary is None for f in payloads[:10])
    assert all(f._summary is not None for f in payloads[10:])


def test_a_burst_waits_for_its_fetches_before_it_is_summarised():
    """Issue #15: a GetLines still in flight when the next burst's first Resize arrives brings its
    rows to the burst that sent it, and that burst is logged only after they are in."""
    logs = LogCapture()
    w = Wire(burst_gap_s=0.25)
    w.get_lines(1, 0, 0, 4)
    w.lines(1, 0, ROWS)
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 81)}, 2)
    w.get_lines(3, 0, 0, 4)  # burst 1's refetch, answered only after burst 2 has begun
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 82)}, 4, dt_ms=300)
    w.get_lines(5, 0, 0, 4)
    w.lines(3, 0, ROWS, dt_ms=10)
    w.lines(5, 0, ROWS, dt_ms=10)
    w.close()
    bursts = w.report["bursts"]
    assert [b["getlines"] for b in bursts] == [1, 1]
    assert [b["rows_returned"] for b in bursts] == [4, 4]
    assert sum(sum(b["rows"].values()) for b in bursts) + w.report["outside_bursts"]["rows_returned"] == 12
    events = [(e["event"], e.get("burst")) for e in logs.events() if e["event"] in ("getlines", "resize_burst")]
    assert events.index(("getlines", 1)) < events.index(("resize_burst", 1))


def test_wall_clock_wait_is_shared_among_concurrent_fetches():
    """Two GetLines outstanding together for 100 ms: 0.2 RPC-seconds, 0.1 s of wall-clock waiting,
    each charged its share; a lone fetch after them is charged all of its time."""
    w = Wire()
    w.get_lines(1, 0, 0, 2)
    w.send(C2S, "GetLines", {"pane_id": 0, "lines": [{"start": 2, "end": 4}]}, 2, dt_ms=0)
    w.lines(1, 0, {0: "a", 1: "b"}, dt_ms=100)
    w.lines(2, 0, {2: "c", 3: "d"}, dt_ms=0)
    w.get_lines(3, 0, 0, 2)
    w.lines(3, 0, {0: "a", 1: "b"}, dt_ms=50)
    rep = w.report
    assert rep["fetch_wait_s"] == pytest.approx(0.1 + 0.1 + 0.05)
    assert rep["fetch_wall_s"] == pytest.approx(0.1 + 0.05)
    assert [f.wall_s for f in w.addon.timeline.fetches] == pytest.approx([0.05, 0.05, 0.05])
    assert rep["wall_s"]["new"] == pytest.approx(0.1) and rep["overfetch_wall_s"] == pytest.approx(0.05)
    reg = w.metrics.registry
    for out in ("new", "superseded"):
        got = reg.get_sample_value("muxscope_fetch_wall_seconds_total", {"outcome": out})
        assert got == pytest.approx(rep["wall_s"][out])


def test_fetches_in_flight_across_an_analysis_gap_are_given_up():
    """Chunks the analysis dropped may have held the responses: the fetches then in flight stop
    accruing wall-clock time and their burst is summarised instead of waiting for ever."""
    w = Wire()
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 81)}, 1)
    w.get_lines(2, 0, 0, 4)
    w.seq[(1, S2C)] = 5  # the next server chunk arrives after 5 dropped ones
    w.send(S2C, "GetPaneRenderChangesResponse", changes(0, seqno=3), 0, dt_ms=10)
    w.send(C2S, "Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size(24, 82)}, 3, dt_ms=1000)
    w.send(C2S, "Ping", {}, 4, dt_ms=10)
    rep = w.report
    assert [b["getlines"] for b in rep["bursts"]] == [1]  # summarised before the connection closed
    assert rep["fetch_wall_s"] == pytest.approx(0.010) and rep["bursts"][0]["fetch_wall_s"] == pytest.approx(0.010)
    assert len(w.addon.timeline.unanswered) == 1
