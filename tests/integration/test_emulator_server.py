"""The emulated wezterm-mux-server: wire behaviour over a real unix socket, and rewrap units.

The rewrap tests replay WezTerm's own ``term/src/test/mod.rs`` cases
(``test_resize_wrap``, ``test_resize_wrap_issue_971``, ``test_resize_2162*``)
against :class:`~muxscope_emulator.terminal.Terminal`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from codec import Pdu, PduStream, StreamError, encode_pdu
from codec.lines import line_text, serialized_lines_fingerprints
from muxscope_emulator.content import ContentGenerator
from muxscope_emulator.server import EmulatedMuxServer, ServerOptions
from muxscope_emulator.terminal import Terminal
from muxscope_emulator.termlines import WRAPPED, make_hyperlink, serialize_lines
from proxy.relay.endpoints import UnixAddress

VERSIONS = (42, 43, 44, 45)
CLIENT_ID = {"hostname": "h", "username": "u", "pid": 1, "epoch": 2, "id": 3, "ssh_auth_sock": None}
SIZE = {"rows": 24, "cols": 80, "pixel_width": 0, "pixel_height": 0, "dpi": 0}


class Client:
    """A scripted mux client: request/response by serial, serial-0 pushes kept in order."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.stream = PduStream(version)
        self.serial = 0
        self.frames: list[Pdu] = []
        self.errors: list[StreamError] = []
        self.pushes: list[Pdu] = []
        self.replies: dict[int, Pdu] = {}

    async def open(self, path: str) -> None:
        self.reader, self.writer = await asyncio.open_unix_connection(path)

    async def _read_some(self, timeout: float) -> None:
        data = await asyncio.wait_for(self.reader.read(1 << 16), timeout)
        assert data, "server closed the connection"
        for item in self.stream.feed(data):
            if isinstance(item, StreamError):
                self.errors.append(item)
                continue
            self.frames.append(item)
            if item.serial == 0:
                self.pushes.append(item)
            else:
                self.replies[item.serial] = item

    async def rpc(self, name: str, body: Any) -> Pdu:
        self.serial += 1
        serial = self.serial
        self.writer.write(encode_pdu(name, body, serial, self.version))
        await self.writer.drain()
        while serial not in self.replies:
            await self._read_some(5)
        return self.replies.pop(serial)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def wait_push(self, name: str, pred: Any = None, timeout: float = 3.0) -> Pdu:
        deadline = time.monotonic() + timeout
        while True:
            for p in self.pushes:
                if p.name == name and (pred is None or pred(p)):
                    self.pushes.remove(p)
                    return p
            left = deadline - time.monotonic()
            assert left > 0, f"no {name} push; got {[p.name for p in self.pushes]}"
            with contextlib.suppress(TimeoutError):
                await self._read_some(left)

    async def handshake(self) -> Pdu:
        r = await self.rpc("GetCodecVersion", {})
        assert r.name == "GetCodecVersionResponse"
        assert r.body["codec_vers"] == self.version
        client_id = dict(CLIENT_ID)
        if self.version == 42:
            client_id.pop("ssh_auth_sock")
        assert (await self.rpc("SetClientId", {"client_id": client_id, "is_proxy": False})).name == "UnitResponse"
        r = await self.rpc("ListPanes", {})
        assert r.name == "ListPanesResponse"
        return r

    async def close(self) -> None:
        self.writer.close()


def run_with_server(tmp_path: Path, fn: Any, **opts: Any) -> Any:
    async def main() -> Any:
        server = EmulatedMuxServer(ServerOptions(**opts))
        path = str(tmp_path / "mux.sock")
        await server.start(UnixAddress(path))
        client = Client(server.options.codec_version)
        await client.open(path)
        try:
            return await fn(server, client, path)
        finally:
            await client.close()
            await server.stop()

    return asyncio.run(main())


def lines_text(value: dict[str, Any]) -> dict[int, str]:
    return {row: line_text(line) for row, line in value["lines"]}


# ---------------------------------------------------------------------------
# wire behaviour


@pytest.mark.parametrize("version", VERSIONS)
def test_handshake_getlines_and_every_frame_decodes(tmp_path: Path, version: int) -> None:
    async def scenario(server: EmulatedMuxServer, c: Client, path: str) -> None:
        lp = await c.handshake()
        (leaf,) = lp.body["tabs"]
        entry = leaf["Leaf"]
        assert entry["pane_id"] == 0 and entry["tab_id"] == 0 and entry["window_id"] == 0
        assert entry["size"]["rows"] == 24 and entry["size"]["cols"] == 80
        assert lp.body["window_titles"] == {0: ""}
        pane = server.pane(0)
        dims = pane.terminal.dimensions()
        assert entry["physical_top"] == dims["physical_top"] > 0  # prefilled into scrollback
        top = dims["physical_top"]
        r = await c.rpc("GetLines", {"pane_id": 0, "lines": [{"start": top, "end": top + 24}]})
        assert r.name == "GetLinesResponse"
        got = r.body["lines"]
        assert [row for row, _ in got["lines"]] == list(range(top, top + 24))
        assert lines_text(got) == pane.text_rows(range(top, top + 24))
        fps = dict(zip([row for row, _ in got["lines"]], serialized_lines_fingerprints(got), strict=True))
        assert fps == pane.snapshot(range(top, top + 24))
        # the first poll reports everything: scrollback rows dirty, viewport rows + cursor row as bonus
        r = await c.rpc("GetPaneRenderChanges", {"pane_id": 0})
        assert r.name == "LivenessResponse" and r.body["is_alive"] is True
        push = await c.wait_push("GetPaneRenderChangesResponse")
        await c.wait_push("SetPalette")
        assert push.body["dirty_lines"] == [{"start": 0, "end": top}]
        bonus_rows = [row for row, _ in push.body["bonus_lines"]["lines"]]
        cursor_row = push.body["cursor_position"]["y"]
        assert bonus_rows == [*range(top, top + 24), cursor_row]
        assert push.body["seqno"] == pane.terminal.seqno
        # nothing changed: a second poll pushes nothing
        await c.rpc("GetPaneRenderChanges", {"pane_id": 0})
        assert (await c.rpc("Ping", {})).name == "Pong"
        assert not [p for p in c.pushes if p.name == "GetPaneRenderChangesResponse"]
        # every frame decoded with this codec version, and nothing was left over
        assert c.errors == []
        assert all(f.known and f.trailing == 0 for f in c.frames)
        assert c.stream.frames.offset > 0

    run_with_server(tmp_path, scenario, codec_version=version)


def test_resize_rewraps_and_pushes_tab_resized(tmp_path: Path) -> None:
    async def scenario(server: EmulatedMuxServer, c: Client, path: str) -> None:
        await c.handshake()
        pane = server.pane(0)
        term = pane.terminal
        server.output(0, b"\r\n" + b"x" * 100 + b"\r\n")  # one logical line over two rows
        top = term.physical_top
        texts = pane.text_rows()
        long_rows = [row for row, t in texts.items() if t.startswith("x" * 80)]
        assert long_rows, "the long line should wrap"
        row = long_rows[-1]
        assert term.lines[term.stable_to_phys(row)].last_cell_was_wrapped()
        await c.rpc("GetPaneRenderChanges", {"pane_id": 0})
        await c.wait_push("GetPaneRenderChangesResponse")
        seqno_before = term.seqno
        other = Client(c.version)
        await other.open(path)
        await other.handshake()
        size = dict(SIZE, cols=60)
        r = await c.rpc("Resize", {"containing_tab_id": 0, "pane_id": 0, "size": size})
        assert r.name == "UnitResponse"
        # TabResized with serial 0 goes to every client, the sender included
        tr = await c.wait_push("TabResized")
        assert tr.serial == 0 and tr.body == {"tab_id": 0}
        assert (await other.wait_push("TabResized")).body == {"tab_id": 0}
        await other.close()
        assert term.seqno == seqno_before + 1
        assert term.physical_top != top or term.cols == 60
        texts = pane.text_rows()
        pieces = [t for t in texts.values() if t.startswith("x" * 60)]
        assert pieces and all(len(t.rstrip()) == 60 for t in pieces)
        assert "x" * 40 in [t.rstrip() for t in texts.values()]
        # all lines were stamped: the next push reports every row (once the shell's SIGWINCH redraw,
        # OUTPUT_DELAY after the Resize, has rewritten its prompt row)
        await asyncio.sleep(0.05)
        assert term.seqno == seqno_before + 2
        await c.rpc("GetPaneRenderChanges", {"pane_id": 0})
        push = await c.wait_push("GetPaneRenderChangesResponse")
        dims = push.body["dimensions"]
        assert dims["cols"] == 60
        n_rows = dims["physical_top"] + dims["viewport_rows"]
        bonus = push.body["bonus_lines"]["lines"]
        reported = sum(rg["end"] - rg["start"] for rg in push.body["dirty_lines"]) + len(bonus) - 1
        assert reported == n_rows
        assert {line["seqno"] for _, line in bonus} == {seqno_before + 1, term.seqno}
        assert dict(bonus)[push.body["cursor_position"]["y"]]["seqno"] == term.seqno  # the redrawn prompt
        # the rewrapped viewport matches the model
        assert lines_text(push.body["bonus_lines"]) == pane.text_rows([row for row, _ in bonus])
        lp = await c.rpc("ListPanes", {})
        assert lp.body["tabs"][0]["Leaf"]["size"]["cols"] == 60

    run_with_server(tmp_path, scenario)


def test_write_to_pane_pushes_changed_rows_as_bonus(tmp_path: Path) -> None:
    async def scenario(server: EmulatedMuxServer, c: Client, path: str) -> None:
        await c.handshake()
        await c.rpc("GetPaneRenderChanges", {"pane_id": 0})
        await c.wait_push("GetPaneRenderChangesResponse")
        await c.wait_push("SetPalette")
        pane = server.pane(0)
        r = await c.rpc("WriteToPane", {"pane_id": 0, "data": b"ls -l\r"})
        assert r.name == "UnitResponse"
        push = await c.wait_push("GetPaneRenderChangesResponse")
        term = pane.terminal
        top = term.physical_top
        bonus = push.body["bonus_lines"]["lines"]
        rows = [row for row, _ in bonus]
        assert rows and all(top <= row < top + term.rows for row in rows)
        assert rows[-1] == push.body["cursor_position"]["y"]
        texts = lines_text(push.body["bonus_lines"])
        assert any("ls -l" in t for t in texts.values())
        assert all(line["seqno"] > 0 for _, line in bonus)
        assert texts == pane.text_rows(rows)

    run_with_server(tmp_path, scenario)


def test_send_key_down_forces_a_push_with_input_serial(tmp_path: Path) -> None:
    async def scenario(server: EmulatedMuxServer, c: Client, path: str) -> None:
        await c.handshake()
        event = {"key": {"Char": "a"}, "modifiers": {"bits": 0}}
        r = await c.rpc("SendKeyDown", {"pane_id": 0, "event": event, "input_serial": 12345})
        assert r.name == "UnitResponse"
        forced = await c.wait_push("GetPaneRenderChangesResponse", lambda p: p.body["input_serial"] == 12345)
        assert forced.body["pane_id"] == 0
        echo = await c.wait_push("GetPaneRenderChangesResponse", lambda p: p.body["input_serial"] is None)
        assert any(t.endswith("$ a") for t in lines_text(echo.body["bonus_lines"]).values())

    run_with_server(tmp_path, scenario)


def test_errors_and_misc_requests(tmp_path: Path) -> None:
    async def scenario(server: EmulatedMuxServer, c: Client, path: str) -> None:
        await c.handshake()
        c.serial += 1
        await c.send_raw(bytes([2, c.serial, 99]))  # an unknown ident, empty payload
        while c.serial not in c.replies:
            await c._read_some(5)
        err = c.replies.pop(c.serial)
        assert err.name == "ErrorResponse"
        assert err.body["reason"] == "Error: invalid PDU Invalid { ident: 99 }"
        r = await c.rpc("Pong", {})
        assert r.body["reason"] == "Error: expected a request, got Pong(Pong)"
        r = await c.rpc("GetLines", {"pane_id": 7, "lines": []})
        assert r.body["reason"] == "Error: no such pane 7"
        r = await c.rpc("Resize", {"containing_tab_id": 0, "pane_id": 9, "size": SIZE})
        assert r.body["reason"] == "Error: no such pane 9"
        r = await c.rpc("GetPaneRenderChanges", {"pane_id": 9})
        assert r.name == "LivenessResponse" and r.body["is_alive"] is False
        r = await c.rpc("GetPaneRenderableDimensions", {"pane_id": 0})
        assert r.body["dimensions"] == server.pane(0).terminal.dimensions()
        r = await c.rpc("GetImageCell", {"pane_id": 0, "line_idx": 0, "cell_idx": 0, "data_hash": bytes(32)})
        assert r.name == "GetImageCellResponse" and r.body["data"] is None
        # stable_range quirk: a range past the bottom comes back bottom-anchored with n+1 rows
        term = server.pane(0).terminal
        bottom = term.physical_top + term.rows
        r = await c.rpc("GetLines", {"pane_id": 0, "lines": [{"start": bottom - 2, "end": bottom + 3}]})
        assert [row for row, _ in r.body["lines"]["lines"]] == list(range(bottom - 6, bottom))
        r = await c.rpc("SetFocusedPane", {"pane_id": 0})
        assert r.name == "UnitResponse"
        assert (await c.wait_push("PaneFocused")).body == {"pane_id": 0}
        spawn = {"domain": "DefaultDomain", "window_id": 0, "command": None, "command_dir": None,
                 "size": SIZE, "workspace": "default"}  # fmt: skip
        r = await c.rpc("SpawnV2", spawn)
        assert r.name == "SpawnResponse" and r.body["pane_id"] == 1 and r.body["tab_id"] == 1
        assert (await c.wait_push("TabAddedToWindow")).body == {"tab_id": 1, "window_id": 0}
        assert len((await c.rpc("ListPanes", {})).body["tabs"]) == 2
        r = await c.rpc("KillPane", {"pane_id": 1})
        assert r.name == "UnitResponse"
        assert (await c.wait_push("PaneRemoved")).body == {"pane_id": 1}
        assert len((await c.rpc("ListPanes", {})).body["tabs"]) == 1
        assert c.errors == []

    run_with_server(tmp_path, scenario)


def test_background_output_pushes_to_every_connection(tmp_path: Path) -> None:
    async def scenario(server: EmulatedMuxServer, c: Client, path: str) -> None:
        await c.handshake()
        other = Client(c.version)
        await other.open(path)
        await other.handshake()
        seqno = server.pane(0).terminal.seqno
        push = await c.wait_push("GetPaneRenderChangesResponse", timeout=5)
        assert push.body["seqno"] > seqno
        await other.wait_push("GetPaneRenderChangesResponse", timeout=5)
        await other.close()

    run_with_server(tmp_path, scenario, output_rate=40.0, prefill_rows=10)


def test_seeded_content_is_deterministic_and_varied() -> None:
    a, b = EmulatedMuxServer(ServerOptions(seed=3)), EmulatedMuxServer(ServerOptions(seed=3))
    assert a.pane(0).snapshot() == b.pane(0).snapshot()
    c = EmulatedMuxServer(ServerOptions(seed=4))
    assert a.pane(0).snapshot() != c.pane(0).snapshot()
    term = a.pane(0).terminal
    assert len(term.lines) >= ServerOptions().initial_rows
    value = term.serialize_lines()
    assert value["hyperlinks"], "some hyperlinks"
    cells = [cell for _, line in value["lines"] for cell in line["cells"]["V"]["cells"]]
    assert any(cell["attrs"]["foreground"] != "Default" for cell in cells)
    assert any(cell["attrs"]["attributes"] & 1 for cell in cells)  # bold
    texts = "".join(line_text(line) for _, line in value["lines"])
    assert "/usr/" in texts and any("\u4e00" <= ch <= "\u9fff" for ch in texts)
    assert any(line.last_cell_was_wrapped() for line in term.lines)


# ---------------------------------------------------------------------------
# the terminal model (spec section C, term/src/test/mod.rs)


def test_resize_wrap() -> None:
    """WezTerm's test_resize_wrap, including the cursor column-zero quirk of spec C.3."""
    term = Terminal(8, 4, 0)
    term.write(b"111\r\n2222aa\r\n333\r\n")
    assert term.viewport_text() == ["111", "2222", "aa", "333", "", "", "", ""]
    expected = {
        5: ["111", "2222a", "a", "333", "", "", "", ""],
        6: ["111", "2222aa", "333", "", "", "", "", ""],
        7: ["111", "2222aa", "333", "", "", "", "", ""],
        8: ["111", "2222aa", "333", "", "", "", "", ""],
    }
    term.resize(8, 5)
    assert (term.cursor_x, term.cursor_y) == (5, 3)  # spec: cursor becomes (5, 3)
    for cols in (5, 6, 7, 8, 7, 6, 5):
        term.resize(8, cols)
        assert term.viewport_text() == expected[cols], cols
    term.resize(8, 4)
    assert term.viewport_text() == ["111", "2222", "aa", "333", "", "", "", ""]


def test_resize_wrap_issue_971() -> None:
    term = Terminal(4, 4, 0)
    term.write(b"====\r\nSS\r\n")
    assert term.viewport_text() == ["====", "SS", "", ""]
    assert not term.lines[0].last_cell_was_wrapped()  # CR clears wrap_next
    term.resize(4, 6)
    assert term.viewport_text() == ["====", "SS", "", ""]


@pytest.mark.parametrize(
    ("steps", "expect"),
    [
        # test_resize_2162_by_2_then_up_1
        ([(4, 18), (3, 20), (4, 20)], [(["some long long tex", "t", "", ""], (1, 1)),
                                       (["some long long text", "", ""], (19, 0)),
                                       (["some long long text", "", "", ""], (19, 0))]),
        # test_resize_2162_by_2
        ([(4, 18), (4, 20)], [(["some long long tex", "t", "", ""], (1, 1)),
                              (["some long long text", "", "", ""], (19, 0))]),
        # test_resize_2162
        ([(4, 19), (4, 20)], [(["some long long text", "", "", ""], (19, 0)),
                              (["some long long text", "", "", ""], (19, 0))]),
    ],
)  # fmt: skip
def test_resize_2162(steps: list[tuple[int, int]], expect: list[Any]) -> None:
    term = Terminal(4, 20, 0)
    term.write(b"some long long text")
    assert (term.cursor_x, term.cursor_y) == (19, 0)
    for (rows, cols), (text, cursor) in zip(steps, expect, strict=True):
        term.resize(rows, cols)
        assert term.viewport_text() == text
        assert (term.cursor_x, term.cursor_y) == cursor


def test_resize_seqnos_and_stable_offset() -> None:
    """Spec C.2/C.6: cols change stamps every line; rows-only keeps seqnos; offset never moves."""
    term = Terminal(5, 10, 3)
    for i in range(12):
        term.write(f"line {i}\r\n".encode())
    offset = term.offset
    assert offset > 0  # scrollback overflowed
    seqnos = [line.seqno for line in term.lines]
    term.resize(7, 10)  # rows only
    new = term.seqno
    assert [line.seqno for line in term.lines[: len(seqnos)]] == seqnos[: len(term.lines)]
    assert term.offset == offset
    term.resize(7, 8)
    assert {line.seqno for line in term.lines} == {term.seqno} and term.seqno == new + 1
    assert term.offset == offset
    assert term.dirty_rows_since(new) == [offset + p for p in range(len(term.lines))]
    # an unchanged size still bumps the terminal seqno, but stamps nothing
    s = term.seqno
    term.resize(7, 8)
    assert term.seqno == s + 1 and term.dirty_rows_since(s) == []


def test_wrap_bit_and_wide_cells() -> None:
    term = Terminal(4, 5, 0)
    term.write("abcd文x".encode())  # the wide cell does not fit at column 4: printed there, wraps after
    first = term.lines[0]
    assert first.text() == "abcd文"
    assert len(first) == 6 and first.last_cell_was_wrapped()
    # the spacer after a wide cell carries its attributes, wrap bit included (to_cell_vec)
    assert first.cells[5].attrs & WRAPPED and first.cells[5].text == " "
    term.resize(4, 4)
    assert term.viewport_text()[:3] == ["abcd", "文x", ""]
    line = term.lines[0]
    assert line.last_cell_was_wrapped() and not term.lines[1].last_cell_was_wrapped()


def test_line_wrap_moves_wide_cell_whole() -> None:
    term = Terminal(3, 10, 0)
    term.write("abc文文文".encode())
    term.resize(3, 4)
    assert term.viewport_text() == ["abc", "文文", "文"]
    assert term.lines[0].last_cell_was_wrapped()  # shorter than the width but marked wrapped


def test_serialize_lines_lifts_hyperlinks_by_identity() -> None:
    term = Terminal(2, 20, 0)
    term.write(b"a\x1b]8;;https://x/1\x1b\\bc\x1b]8;;\x1b\\d\x1b]8;;https://x/1\x1b\\ef")
    value = term.serialize_lines()
    links = value["hyperlinks"]
    assert [(h["link"]["uri"], h["coords"][0]["cols"]) for h in links] == [
        ("https://x/1", {"start": 1, "end": 3}),
        ("https://x/1", {"start": 4, "end": 6}),  # an equal link, but a new Arc: a new streak
    ]
    assert all(cell["attrs"]["fat"] is None for cell in value["lines"][0][1]["cells"]["V"]["cells"])
    assert value["lines"][0][1]["bits"] & 2  # HAS_HYPERLINK
    link = make_hyperlink("u")
    from muxscope_emulator.termlines import Cell, Line

    line = Line(1, [Cell("a", link=link), Cell("b", link=link)])
    assert serialize_lines([(5, line)])["hyperlinks"][0]["coords"] == [{"line_idx": 0, "cols": {"start": 0, "end": 2}}]


def test_scrollback_limit() -> None:
    term = Terminal(3, 10, 5)
    gen = ContentGenerator(1)
    term.write(gen.lines(30))
    assert len(term.lines) == 3 + 5
    assert term.offset == term.physical_top - 5
    dims = term.dimensions()
    assert dims["scrollback_rows"] == 8 and dims["scrollback_top"] == term.offset
