"""The emulated server's side of issue 14 item 5: what programs do to a pane and what the mux sends.

Alternate screen (term/src/terminalstate/mod.rs:209-230, screen.rs:222-243), palette escapes
(performer.rs:923-1058, mod.rs:929-934 -> SetPalette, sessionhandler.rs:159-183), the SIGWINCH
redraw after a size-changing Resize, SGR colours, the editor and the stream
(docs/wezterm-behaviour.md, the server table).
"""

from __future__ import annotations

import asyncio

import pytest

from codec import PduStream, encode_pdu
from muxscope_emulator.editorapp import EditorApp
from muxscope_emulator.palette import default_palette
from muxscope_emulator.server import EmulatedMuxServer, ServerOptions
from muxscope_emulator.sgr import apply_sgr
from muxscope_emulator.stream import StreamStats, parse_rate, run_stream
from muxscope_emulator.terminal import Terminal
from muxscope_emulator.termlines import BLANK, serialize_lines


def _shell(rows: int = 5, cols: int = 20, lines: int = 12) -> Terminal:
    t = Terminal(rows, cols, 100)
    t.write("".join(f"line {i} " + "x" * 15 + "\r\n" for i in range(lines)).encode())
    return t


# -- alternate screen --------------------------------------------------------------------------
def test_switching_to_the_alt_screen_dirties_the_primarys_top_rows_and_shows_rows_from_0():
    t = _shell()
    assert t.physical_top > 0
    seqno = t.seqno
    t.write(b"\x1b[?1049h")
    assert t.screens.alt_active and t.physical_top == 0 and t.dimensions()["scrollback_rows"] == 5
    primary = t.screens.other.lines
    assert all(line.seqno > seqno for line in primary[:5]) and primary[5].seqno <= seqno
    assert t.viewport_text() == [""] * 5
    t.write(b"hello")
    t.write(b"\x1b[?1049l")
    assert not t.screens.alt_active and t.viewport_text()[-1] == ""
    assert all(line.seqno == t.seqno for line in t.lines[:5])  # dirtied again on the way back


def test_a_resize_truncates_the_alt_screen_and_rewraps_the_primary():
    t = _shell(cols=20)
    long_rows = len(t.lines)
    t.write(b"\x1b[?1049h" + b"A" * 18)
    t.resize(5, 10)
    assert next(line.text() for line in t.lines[-5:]) == "A" * 10  # cut, not wrapped onto row 1
    assert t.lines[-4].text().strip() == ""
    t.write(b"\x1b[?1049l")
    assert len(t.lines) > long_rows  # the primary's 20-column lines were rewrapped at 10


def test_1049_restores_the_cursor_and_47_does_not_clear():
    t = Terminal(5, 20, 10)
    t.write(b"ab\r\ncd")
    t.write(b"\x1b[?1049h\x1b[3;4Hz")
    t.write(b"\x1b[?1049l")
    assert (t.cursor_x, t.cursor_y) == (2, 1)
    t.write(b"\x1b[?47hkeep\x1b[?47l\x1b[?47h")
    assert t.viewport_text()[1:3] == ["  keep", "   z"]  # 47 neither clears nor moves the cursor


def test_a_scroll_on_the_alt_screen_dirties_every_row_and_keeps_the_offset():
    t = Terminal(3, 10, 50)
    t.write(b"\x1b[?1049h")
    seqno = t.seqno
    t.write(b"1\r\n2\r\n3\r\n4")
    assert t.offset == 0 and t.physical_top == 0 and t.viewport_text() == ["2", "3", "4"]
    assert all(line.seqno > seqno for line in t.lines)


# -- palette escapes ----------------------------------------------------------------------------
@pytest.mark.parametrize("osc", [b"\x1b]4;1;rgb:ff/00/00\x07", b"\x1b]10;#00ff00\x1b\\", b"\x1b]11;rgb:1/2/3\x07",
                                 b"\x1b]12;#123\x07"])
def test_a_palette_escape_changes_the_palette_dirties_every_line_and_raises_an_alert(osc):
    t = _shell()
    t.write(osc)
    assert t.palette is not None and t.palette != default_palette()
    assert t.alerts == ["PaletteChanged"] and all(line.seqno == t.seqno for line in t.lines)


def test_a_query_changes_nothing_but_is_still_a_palette_change_and_a_reset_goes_back():
    t = _shell()
    t.write(b"\x1b]11;?\x07")
    assert t.palette is None and t.alerts == ["PaletteChanged"]
    t.write(b"\x1b]4;2;#ffffff\x07\x1b]104\x07")
    assert t.palette is None and len(t.alerts) == 3
    t.write(b"\x1b]4;2;not-a-colour\x07")
    assert len(t.alerts) == 3  # unparsable: ignored whole


# -- SGR -----------------------------------------------------------------------------------------
def test_sgr_256_colours_and_truecolour_in_both_forms():
    assert apply_sgr(BLANK, "38;5;196;48;5;17").fg == 196
    pen = apply_sgr(BLANK, "38;2;255;0;128")
    assert pen.fg == (1.0, 0.0, 128 / 255, 1.0)
    assert apply_sgr(BLANK, "48:2::0:255:0").bg == (0.0, 1.0, 0.0, 1.0)
    assert apply_sgr(pen, "0") == BLANK


def test_a_truecolour_line_goes_through_the_codec_with_fat_attributes():
    t = Terminal(2, 10, 0)
    t.write(b"\x1b[38;2;10;20;30mab")
    value = serialize_lines([(0, t.lines[-2])])
    cell = value["lines"][0][1]["cells"]["V"]["cells"][0]
    assert cell["attrs"]["foreground"] == "Default" and cell["attrs"]["fat"]["foreground"] == {
        "TrueColorWithDefaultFallback": (10 / 255, 20 / 255, 30 / 255, 1.0)}
    frame = encode_pdu("GetLinesResponse", {"pane_id": 0, "lines": value}, 1, 44)
    (pdu,) = list(PduStream(44).feed(frame))
    assert pdu.name == "GetLinesResponse"


# -- the editor ------------------------------------------------------------------------------------
def test_the_editor_draws_on_the_alt_screen_in_many_colours_and_redraws_on_winch():
    t = Terminal(24, 80, 100)
    ed = EditorApp(1, 24, 80)
    t.write(ed.start())
    assert t.screens.alt_active and t.alerts == ["PaletteChanged"]  # neovim's background query
    colours = {c.fg for line in t.lines for c in line.cells}
    assert len(colours) >= 6
    assert all(len(line.cells) == 80 for line in t.lines)  # coloured background to the last column
    t.resize(20, 60)
    t.write(ed.winch(20, 60))
    assert t.viewport_text()[-1].startswith(" INSERT") and len(t.lines[-1].cells) == 60


def test_normal_mode_moves_the_cursor_without_redrawing_the_row_it_leaves():
    t = Terminal(24, 80, 100)
    ed = EditorApp(1, 24, 80)
    t.write(ed.start())
    t.write(ed.input(b"\x1b"))
    seqno = t.seqno
    t.write(ed.input(b"j"))
    assert t.cursor_y == 1 and t.lines[0].seqno <= seqno and t.lines[-1].seqno > seqno


# -- the server: SetPalette push, SIGWINCH -------------------------------------------------------------
async def _read_pushes(reader: asyncio.StreamReader, seconds: float) -> list:
    stream, out = PduStream(44), []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except TimeoutError:
            break
        out += [(loop.time(), p) for p in stream.feed(data)]
    return out


def _resize(serial: int, rows: int, cols: int) -> bytes:
    size = {"rows": rows, "cols": cols, "pixel_width": 0, "pixel_height": 0, "dpi": 0}
    return encode_pdu("Resize", {"containing_window_id": 0, "containing_tab_id": 0, "pane_id": 0, "size": size},
                      serial, 44)


def test_a_size_changing_resize_brings_the_programs_redraw_and_a_palette_escape_a_setpalette(tmp_path):
    async def main() -> tuple[list, list, list]:
        server = EmulatedMuxServer(ServerOptions(rows=10, cols=40, prefill_rows=30))
        from proxy.relay.endpoints import UnixAddress

        await server.start(UnixAddress(str(tmp_path / "s.sock")))
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "s.sock"))
        writer.write(encode_pdu("GetPaneRenderChanges", {"pane_id": 0}, 1, 44))
        first = await _read_pushes(reader, 0.2)
        writer.write(_resize(2, 10, 40))  # the same size: no SIGWINCH
        same = await _read_pushes(reader, 0.2)
        writer.write(_resize(3, 9, 30))
        changed = await _read_pushes(reader, 0.2)
        server.output(0, b"\x1b]4;1;#ff0000\x07")
        palette = await _read_pushes(reader, 0.2)
        writer.close()
        await server.stop()
        return first, same, changed, palette

    first, same, changed, palette = asyncio.run(main())
    assert "SetPalette" in [p.name for _, p in first]
    assert "GetPaneRenderChangesResponse" not in [p.name for _, p in same]
    names = [p.name for _, p in changed]
    assert names[:2] == ["TabResized", "UnitResponse"] and "GetPaneRenderChangesResponse" in names
    t_unit = next(t for t, p in changed if p.name == "UnitResponse")
    t_push = next(t for t, p in changed if p.name == "GetPaneRenderChangesResponse")
    assert 0.002 <= t_push - t_unit < 0.1  # the shell's redraw, OUTPUT_DELAY after the Resize
    assert [p.name for _, p in palette] == ["GetPaneRenderChangesResponse", "SetPalette"]
    assert palette[1][1].body["palette"]["colors"][1] == (1.0, 0.0, 0.0, 1.0)


# -- the stream ----------------------------------------------------------------------------------------
def test_the_stream_writes_at_its_rate_and_max_as_fast_as_it_can():
    async def run(rate: float | None, seconds: float) -> StreamStats:
        written: list[int] = []
        stats = StreamStats()
        task = asyncio.ensure_future(run_stream(lambda n: written.append(n) or True, rate, 0.0, stats))
        await asyncio.sleep(seconds)
        task.cancel()
        return stats

    steady = asyncio.run(run(200.0, 0.5))
    assert 60 <= steady.lines <= 110 and steady.batches >= 40
    assert asyncio.run(run(None, 0.2)).lines_per_s > 1000
    assert parse_rate("max") is None and parse_rate("12.5") == 12.5
    with pytest.raises(ValueError):
        parse_rate("0")
