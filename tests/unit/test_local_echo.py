"""Predictive local echo (renderable.rs predict_from_key_event / apply_prediction), in the emulated
client (muxscope_emulator.prediction) and in the analysis (proxy.analysis.localecho), fed the same
events: states, cursor and the stand-in fingerprints of edited lines must agree, and each follows
WezTerm where the two could both be wrong in the same way (the transitions are asserted outright)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from codec.lines.predicted import erase_cell, key_name, predictable, set_cell
from muxscope_emulator.clientpane import ClientPane
from muxscope_emulator.linecache import Entry, State
from muxscope_emulator.policy import Policy
from muxscope_emulator.prediction import key_code, predict_from_key_event
from proxy.analysis.linemodel import PaneLines
from proxy.analysis.linestate import LINE, LINE_AND_FETCHING, STALE, LineEvent, LineFacts, Push, next_state
from proxy.analysis.localecho import LocalEcho, capture_threshold, local_echo_threshold
from proxy.cli.options import local_echo_choice
from tests.integration.test_emulator_client import SIZE, Clock, Hooks, lines
from tests.support import make_line

CURSOR = {"x": 3, "y": 1, "shape": "Default", "visibility": "Visible"}


class _Summary:
    """What LineFacts reads a delivered line from."""

    def __init__(self, text: str) -> None:
        self.text = text

    def line_value(self, index: int, version: int) -> dict[str, Any]:
        return make_line(self.text)


def _pair(texts: dict[int, str], rtt: int = 160, stale: bool = True) -> tuple[ClientPane, PaneLines]:
    """An emulated pane and the analysis' model of it, holding ``texts`` (Stale after a resize if
    ``stale``), cursor at (3, 1), the last input round trip ``rtt`` ms."""
    pane = ClientPane(0, 0, SIZE, "t", Hooks(), policy=Policy(), clock=Clock())
    model = PaneLines(0, echo=LocalEcho(100))
    bonus = lines(texts)
    for row, line in bonus:
        pane.put_line(row, line, None)
    seqno = max(ln.seqno for _, ln in bonus)
    pane.cursor, pane.seqno = dict(CURSOR), seqno
    model.cursor = dict(CURSOR)
    model.apply_push(Push(1, 0, seqno, 0, dict(CURSOR), None, [(r, ln.fingerprint, ln.seqno) for r, ln in bonus], [],
                          bonus_facts={r: LineFacts(_Summary(texts[r]), 0, 44) for r in texts}))
    if stale:
        pane.cache.make_all_stale("resize")
        model.make_all_stale("resize")
    pane.last_input_rtt = model.last_input_rtt = rtt
    return pane, model


def _type(pane: ClientPane, model: PaneLines, ch: str, serial: int, mods: int = 0) -> Any:
    key = key_name(key_code(ch))
    got = predict_from_key_event(pane, key, mods, 100)
    model.set_input_serial(serial, serial * 10**6, (key, mods))
    return got


def _same(pane: ClientPane, model: PaneLines, rows: range = range(4)) -> None:
    assert (pane.cursor["x"], pane.cursor["y"]) == (model.cursor["x"], model.cursor["y"])
    for row in rows:
        mine, theirs = pane.cache.peek(row), model.entries.get(row)
        assert (mine is None) == (theirs is None), row
        if mine is not None:
            assert mine.state.value == theirs.state.value, row
            assert (mine.line.fingerprint if mine.line else None) == theirs.fingerprint, row


def test_a_key_turns_a_stale_cursor_row_into_a_line_without_fetching():
    pane, model = _pair({0: "$ ls", 1: "$ ab", 2: ""})
    before = pane.cache.peek(1).line.fingerprint
    p = _type(pane, model, "c", 1)
    assert p is not None and (p.before, p.after, p.edited) == ("Stale", "Line", True)
    assert pane.cache.peek(1).state is State.LINE and pane.cache.peek(1).line.fingerprint != before
    assert pane.cursor["x"] == 4 and pane.cache.peek(1).line.text == "$ ac"  # set at the cursor (x 3)
    _same(pane, model)
    pane.get_lines(0, 3)  # the next paint fetches the other stale rows, not the typed one
    assert sorted(pane.hooks.batches[-1].rows) == [0, 2]
    assert model.request(7, [0, 2], 5 * 10**9).causes == {0: "resize", 2: "resize"}


def test_enter_moves_the_cursor_and_the_next_push_fetches_the_row_below():
    pane, model = _pair({0: "$ ls", 1: "$ ab", 2: ""}, stale=False)
    _type(pane, model, "\r", 1)
    assert (pane.cursor["x"], pane.cursor["y"]) == (0, 2)
    assert pane.cache.peek(1).line.fingerprint == lines({1: "$ ab"})[0][1].fingerprint  # not edited
    _same(pane, model)
    # the echo of an earlier key (an older serial: the cursor is not taken) moves nothing on the
    # server's side, but the client's predicted cursor differs: rows 1 and 2 are dirty
    pane.input_serial, model.input_serial = 5, 5
    cursor = dict(CURSOR, x=4)
    bonus = lines({1: "$ abc"}, 2)
    pane.apply_changes({"dirty_lines": [], "cursor_position": cursor, "dimensions": dict(
        pane.dims), "title": "t", "seqno": 2, "input_serial": 4}, bonus)
    model.apply_push(Push(2, 2 * 10**9, 2, 0, cursor, 4, [(1, bonus[0][1].fingerprint, 2)], []))
    assert sorted(pane.hooks.batches[-1].rows) == [2] and model.push_stamped == {2}


@pytest.mark.parametrize("ch,mods,predicted", [("a", 0, True), ("A", 2, True), ("a", 8, False), ("\t", 0, False)])
def test_only_plain_or_shifted_keys_of_the_predicted_kinds(ch, mods, predicted):
    pane, model = _pair({1: "$ "})
    assert (_type(pane, model, ch, 1, mods) is not None) is predicted
    assert model.echo.predicted == int(predicted) and model.echo.keys == 1
    _same(pane, model)


def test_below_the_threshold_nothing_is_predicted():
    pane, model = _pair({1: "$ "}, rtt=99)
    assert _type(pane, model, "a", 1) is None
    assert pane.cache.peek(1).state is State.STALE and model.entries[1].state == STALE


def test_a_password_prompt_is_not_echoed_but_its_row_is_taken_as_current():
    pane, model = _pair({1: "Password: "})
    p = _type(pane, model, "x", 1)
    assert (p.after, p.edited) == ("Line", False) and pane.cursor["x"] == 3
    _same(pane, model)


def test_a_row_being_fetched_is_left_alone_and_a_line_and_fetching_one_edited():
    pane, model = _pair({1: "$ "}, stale=False)
    pane.cache.put(1, Entry(State.FETCHING, None, 9, "dirty"))
    model.entries[1] = model.entries[1].copy()
    model.entries[1].state, model.entries[1].fingerprint = next_state(None, LineEvent.DIRTY), None
    _type(pane, model, "a", 1)
    assert pane.cache.peek(1).state is State.FETCHING and pane.cursor["x"] == 3
    assert model.cursor["x"] == 3
    assert next_state(LINE_AND_FETCHING, LineEvent.PREDICT) == LINE_AND_FETCHING
    assert next_state(STALE, LineEvent.PREDICT) == next_state(LINE, LineEvent.PREDICT) == LINE


def test_a_word_typed_and_erased_gives_the_same_fingerprints_on_both_sides():
    pane, model = _pair({1: "$ x", 2: ""})
    for i, ch in enumerate("ab", 1):
        _type(pane, model, ch, i)
    for i, key in enumerate(("Backspace", "LeftArrow", "Delete", "Delete"), 3):
        predict_from_key_event(pane, key, 0, 100)
        model.set_input_serial(i, i * 10**6, (key, 0))
        _same(pane, model)
    assert pane.cursor["x"] == 3 and pane.cache.peek(1).line.text == "$ x  "  # the last Delete erased a blank: no edit


def test_the_round_trip_is_measured_from_the_key_to_the_push_carrying_its_serial():
    model = PaneLines(0, echo=LocalEcho(100))
    model.set_input_serial(42, 10**9, ("Char:a", 0))
    assert model.echo.predicted == 0  # no round trip measured yet
    model.apply_push(Push(1, 10**9 + 160 * 10**6, 1, 0, dict(CURSOR), 42, [], []))
    assert model.last_input_rtt == 160
    # a key 50 us after that push was written before the client read it: not predicted
    model.set_input_serial(43, 10**9 + 160 * 10**6 + 50_000, ("Char:b", 0))
    assert model.echo.predicted == 0
    model.set_input_serial(44, 10**9 + 200 * 10**6, ("Char:c", 0))
    assert model.echo.predicted == 1 and model.echo.keys == 3


def test_cell_edits():
    assert set_cell(("a",), 3, "b") == ("a", " ", " ", "b")
    assert erase_cell(("a", "b"), 0) == ("b", " ") and erase_cell(("a",), 4) == ("a",)
    assert predictable("Enter", 0) and not predictable("Tab", 0) and not predictable(None, 0)


def test_the_threshold_goes_by_the_kind_of_client_domain():
    assert local_echo_threshold("auto", "ssh://me@host:22") == 100
    assert local_echo_threshold("auto", "tls://127.0.0.1:9") == 100
    assert local_echo_threshold("auto", "unix:/tmp/s") is None
    assert local_echo_threshold("auto", "tcp:127.0.0.1:9") is None
    assert local_echo_threshold("on", None) == 100 and local_echo_threshold("off", "ssh://h") is None
    assert local_echo_threshold("50", None) == 50 and local_echo_threshold("0", None) is None
    # a capture: what its proxy recorded, else its listener
    assert capture_threshold("auto", {"options": {"local_echo_ms": 100}, "listen": "unix:/x"}) == 100
    assert capture_threshold("auto", {"options": {"local_echo_ms": None}, "listen": "tls://h:1"}) is None
    assert capture_threshold("auto", {"listen": "tls://h:1"}) == 100
    assert capture_threshold("off", {"options": {"local_echo_ms": 100}}) is None
    assert local_echo_choice("250") == "250"
    with pytest.raises(argparse.ArgumentTypeError):
        local_echo_choice("fast")


@pytest.mark.parametrize("listen,choice,want", [("tls:127.0.0.1:9", "auto", 100), ("unix:/tmp/p.sock", "auto", None),
                                                ("unix:/tmp/p.sock", "on", 100), ("tls:127.0.0.1:9", "off", None)])
def test_the_proxy_records_its_choice_in_the_capture_header(listen, choice, want, tmp_path):
    from proxy.relay.endpoints import parse_listen, parse_upstream
    from proxy.runtime import RuntimeOptions, capture_writer_for

    opts = RuntimeOptions(parse_listen(listen), parse_upstream("unix:/tmp/s.sock"), capture=str(tmp_path / "c.muxcap"),
                          capture_meta={"options": {"demo": True}}, local_echo=choice)
    meta = capture_writer_for(opts, None).meta
    assert meta["options"] == {"demo": True, "local_echo_ms": want}
    assert capture_threshold("auto", meta) == want
