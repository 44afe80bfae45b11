"""An emulated ``wezterm-mux-server``: WezTerm's session handler over muxscope's codec.

Reproduces, for fetch traffic, ``wezterm-mux-server-impl/src/dispatch.rs``
(``process_async``: one FIFO of responses and notifications per connection)
and ``sessionhandler.rs`` (``SessionHandler::process_one``,
``PerPane::compute_changes``, ``maybe_push_pane_changes``), with panes backed
by :class:`~muxscope_emulator.terminal.Terminal` (spec sections B, C, D of
/work/research/emulator.md). Everything runs on one asyncio loop, which plays
the part of WezTerm's main thread.

The mux is one window (id 0, workspace ``default``) holding ``panes`` tabs
of one pane each; ids come from one counter per kind, starting at 0, as in
``mux``. Pane input (WriteToPane, SendKeyDown, SendPaste) goes to a tiny
deterministic shell whose echo and command output arrive as pty output a few
milliseconds later, so typing produces the same push pattern as a real pane.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codec import PduStream, StreamError, encode_pdu
from codec.pdu import Pdu
from codec.schema.versions import SUPPORTED, get_version
from muxscope_emulator.terminal import ContentGenerator, Line, Terminal, prefill, serialize_lines
from proxy.relay.endpoints import TcpAddress, UnixAddress
from proxy.relay.server import close_listener

#: ``mux_output_parser_coalesce_delay_ms``: pty output reaches the terminal this long after it is written.
OUTPUT_DELAY = 0.003
_MOD_CTRL = 1 << 3
_KEY_BYTES = {
    "Enter": "\r", "Backspace": "\x7f", "Tab": "\t", "Escape": "\x1b", "Delete": "\x1b[3~",
    "UpArrow": "\x1b[A", "DownArrow": "\x1b[B", "RightArrow": "\x1b[C", "LeftArrow": "\x1b[D",
}  # fmt: skip
#: PDUs that are responses or notifications: sent as requests they get "expected a request".
_NOT_REQUESTS = frozenset(
    [
        "Pong", "ListPanesResponse", "SetClipboard", "NotifyAlert", "SpawnResponse",
        "GetPaneRenderChangesResponse", "UnitResponse", "LivenessResponse",
        "GetPaneDirectionResponse", "SearchScrollbackResponse", "GetLinesResponse",
        "GetCodecVersionResponse", "WindowWorkspaceChanged", "GetTlsCredsResponse",
        "GetClientListResponse", "PaneRemoved", "PaneFocused", "TabResized", "GetImageCellResponse",
        "MovePaneToNewTabResponse", "TabAddedToWindow", "GetPaneRenderableDimensionsResponse",
        "ErrorResponse",
    ]
)  # fmt: skip


class RequestError(Exception):
    """An ``anyhow`` error in a handler; sent as ``ErrorResponse{reason: "Error: {msg}"}``."""


@dataclass
class ServerOptions:
    panes: int = 1
    rows: int = 24
    cols: int = 80
    #: ``scrollback_lines`` of every pane
    scrollback: int = 2000
    seed: int = 0
    codec_version: int = 44
    #: lines of generated content each pane starts with (None: ``2*rows + scrollback//4``)
    prefill_rows: int | None = None
    #: background output, in generated lines per second per pane (0: quiet)
    output_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.codec_version not in SUPPORTED:
            raise ValueError(f"codec version {self.codec_version} is not one of {SUPPORTED}")

    @property
    def initial_rows(self) -> int:
        return self.prefill_rows if self.prefill_rows is not None else 2 * self.rows + self.scrollback // 4


def default_palette() -> dict[str, Any]:
    """A ``ColorPalette`` like WezTerm's default (xterm 256 colours), as SrgbaTuples."""
    ansi = [0x000000, 0xCC5555, 0x55CC55, 0xCDCD55, 0x5455CB, 0xCC55CC, 0x7ACACA, 0xCCCCCC,
            0x555555, 0xFF5555, 0x55FF55, 0xFFFF55, 0x5555FF, 0xFF55FF, 0x55FFFF, 0xFFFFFF]  # fmt: skip
    levels = [0, 95, 135, 175, 215, 255]
    rgb = list(ansi)
    rgb += [
        (levels[r] << 16) | (levels[g] << 8) | levels[b] for r in range(6) for g in range(6) for b in range(6)
    ]
    rgb += [(v << 16) | (v << 8) | v for v in (8 + 10 * i for i in range(24))]

    def srgba(c: int) -> tuple[float, float, float, float]:
        return ((c >> 16) / 255.0, ((c >> 8) & 0xFF) / 255.0, (c & 0xFF) / 255.0, 1.0)

    fg, bg = srgba(0xB2B2B2), srgba(0x000000)
    return {
        "colors": [srgba(c) for c in rgb],
        "foreground": fg,
        "background": bg,
        "cursor_fg": bg,
        "cursor_bg": srgba(0x52AD70),
        "cursor_border": srgba(0x52AD70),
        "selection_fg": bg,
        "selection_bg": srgba(0xFFFACD),
        "scrollbar_thumb": srgba(0x222222),
        "split": srgba(0x444444),
    }


class Pane:
    """A ``LocalPane``: a terminal, its ids, and a small deterministic shell behind its pty."""

    def __init__(
        self,
        pane_id: int,
        tab_id: int,
        window_id: int,
        rows: int,
        cols: int,
        scrollback: int,
        seed: int,
        pixel_width: int = 0,
        pixel_height: int = 0,
        dpi: int = 0,
    ) -> None:
        self.pane_id, self.tab_id, self.window_id = pane_id, tab_id, window_id
        self.terminal = Terminal(
            rows, cols, scrollback, pixel_width=pixel_width, pixel_height=pixel_height, dpi=dpi
        )
        self.generator = ContentGenerator(seed * 1000003 + pane_id)
        self.working_dir: str | None = "file://emulator/home/user/src"
        self.palette: dict[str, Any] | None = None
        self.dead = False
        self._command = ""

    @property
    def title(self) -> str:
        """``LocalPane::get_title``: the default title "wezterm" becomes the process name."""
        t = self.terminal.title
        return "bash" if t == "wezterm" else t

    def get_palette(self) -> dict[str, Any]:
        return self.palette if self.palette is not None else default_palette()

    def snapshot(self, rows: Any = None) -> dict[int, bytes]:
        return self.terminal.snapshot(rows)

    def text_rows(self, rows: Any = None) -> dict[int, str]:
        return self.terminal.text_rows(rows)

    def serialize_lines(self, rows: Any = None) -> dict[str, Any]:
        return self.terminal.serialize_lines(rows)

    def shell_input(self, data: bytes) -> bytes:
        """What the pty echoes back for ``data``: echo, line editing, command output, prompt."""
        out: list[str] = []
        gen = self.generator
        for ch in data.decode("utf-8", "replace"):
            if ch in "\r\n":
                out.append("\r\n")
                result = self._run(self._command.strip())
                if result:
                    out.append(result + "\r\n")
                out.append(gen.prompt())
                self._command = ""
            elif ch in "\x7f\x08":
                if self._command:
                    self._command = self._command[:-1]
                    out.append("\b \b")
            elif ch == "\x03":
                out.append("^C\r\n" + gen.prompt())
                self._command = ""
            elif ch >= " ":
                self._command += ch
                out.append(ch)
        return "".join(out).encode()

    def _run(self, cmd: str) -> str:
        gen = self.generator
        if not cmd:
            return ""
        name, _, arg = cmd.partition(" ")
        if name == "ls":
            return "\r\n".join(gen.ls_line() for _ in range(8))
        if name == "find":
            return "\r\n".join(gen.find_line() for _ in range(12))
        if name == "echo":
            return arg
        if name == "cat":
            return "\r\n".join(gen.line() for _ in range(20))
        return f"bash: {name}: command not found"


@dataclass
class Tab:
    tab_id: int
    window_id: int
    pane_ids: list[int]
    active_pane: int
    title: str = ""
    zoomed: bool = False


@dataclass
class Window:
    window_id: int
    title: str = ""
    workspace: str = "default"
    tab_ids: list[int] = field(default_factory=list)


@dataclass
class PerPane:
    """``sessionhandler.rs:PerPane``: what this connection was last told about a pane."""

    cursor_position: dict[str, Any] | None = None
    title: str = ""
    working_dir: str | None = None
    dimensions: dict[str, Any] | None = None
    mouse_grabbed: bool = False
    sent_initial_palette: bool = False
    seqno: int = 0
    notifications: list[Any] = field(default_factory=list)


def _ranges(rows: list[int]) -> list[dict[str, int]]:
    """A ``RangeSet`` of rows as sorted, coalesced half-open ranges."""
    out: list[dict[str, int]] = []
    for row in sorted(set(rows)):
        if out and out[-1]["end"] == row:
            out[-1]["end"] = row + 1
        else:
            out.append({"start": row, "end": row + 1})
    return out


def rust_debug(name: str, body: Any) -> str:
    """An approximation of Rust's ``{:?}`` of ``Pdu::Name(body)`` for ErrorResponse texts."""

    def fmt(v: Any) -> str:
        if v is None:
            return "None"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (bytes, bytearray)):
            return "[" + ", ".join(str(b) for b in v) + "]"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        if isinstance(v, dict):
            if len(v) == 1 and isinstance(next(iter(v)), str) and next(iter(v))[:1].isupper():
                ((k, x),) = v.items()
                return f"{k}({fmt(x)})"
            return "{ " + ", ".join(f"{k}: {fmt(x)}" for k, x in v.items()) + " }"
        return str(v)

    if not body:
        return f"{name}({name})"
    return f"{name}({name} {{ " + ", ".join(f"{k}: {fmt(x)}" for k, x in body.items()) + " })"


class Session:
    """One connection: ``dispatch.rs:process_async`` + ``SessionHandler``."""

    def __init__(self, server: EmulatedMuxServer, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.writer = writer
        self.version = server.options.codec_version
        self.per_pane: dict[int, PerPane] = {}
        self.client_id: dict[str, Any] | None = None
        self.proxy_client_id: dict[str, Any] | None = None
        self.connected_at = int(time.time())
        self.closed = False
        #: every (name, serial) this session sent, for tests and diagnostics
        self.sent: deque[tuple[str, int]] = deque(maxlen=4096)

    # -- output ------------------------------------------------------------
    def send(self, name: str, body: Any, serial: int = 0) -> None:
        if self.closed:
            return
        self.writer.write(encode_pdu(name, body, serial, self.version))
        self.sent.append((name, serial))

    def per(self, pane_id: int) -> PerPane:
        pp = self.per_pane.get(pane_id)
        if pp is None:
            pp = self.per_pane[pane_id] = PerPane()
        return pp

    # -- pushes (sessionhandler.rs) -------------------------------------------
    def compute_changes(self, pane: Pane, force_input_serial: int | None) -> dict[str, Any] | None:
        """``PerPane::compute_changes``: dirty rows since the last push, viewport ones as bonus lines.

        The dirty set covers stable rows ``0..physical_top+viewport_rows``; dirty
        viewport rows move to ``bonus_lines``, and the cursor row is always
        appended to them (even if clean or already there).
        """
        pp = self.per(pane.pane_id)
        term = pane.terminal
        dims = term.dimensions()
        cursor = term.cursor_position()
        title, cwd = pane.title, pane.working_dir
        changed = (
            pp.mouse_grabbed
            or dims != pp.dimensions
            or cursor != pp.cursor_position
            or title != pp.title
            or cwd != pp.working_dir
        )
        old_seqno = pp.seqno
        pp.seqno = term.seqno
        top, rows = dims["physical_top"], dims["viewport_rows"]
        dirty = set(term.get_changed_since(0, top + rows, old_seqno))
        changed = changed or bool(dirty)
        if not changed and force_input_serial is None:
            return None
        bonus: list[tuple[int, Line]] = []
        for row, line in term.get_lines(top, top + rows):
            if row in dirty:
                bonus.append((row, line))
                dirty.discard(row)
        cursor_lines = term.get_lines(cursor["y"], cursor["y"] + 1)
        if cursor_lines:
            bonus.append(cursor_lines[0])
        pp.cursor_position, pp.title, pp.working_dir = cursor, title, cwd
        pp.dimensions, pp.mouse_grabbed = dims, False
        return {
            "pane_id": pane.pane_id,
            "mouse_grabbed": False,
            "cursor_position": cursor,
            "dimensions": dims,
            "dirty_lines": _ranges(list(dirty)),
            "title": title,
            "working_dir": cwd,
            "bonus_lines": serialize_lines(bonus),
            "input_serial": force_input_serial,
            "seqno": pp.seqno,
        }

    def maybe_push_pane_changes(self, pane: Pane) -> None:
        """``maybe_push_pane_changes``: a render push if anything changed, then queued alerts
        (the first call per pane always queues a ``SetPalette``)."""
        if self.closed:
            return
        resp = self.compute_changes(pane, None)
        if resp is not None:
            self.send("GetPaneRenderChangesResponse", resp)
        pp = self.per(pane.pane_id)
        if not pp.sent_initial_palette:
            pp.notifications.append("PaletteChanged")
            pp.sent_initial_palette = True
        alerts, pp.notifications = pp.notifications, []
        for alert in alerts:
            if alert == "PaletteChanged":
                self.send("SetPalette", {"pane_id": pane.pane_id, "palette": pane.get_palette()})
            else:
                self.send("NotifyAlert", {"pane_id": pane.pane_id, "alert": alert})

    def schedule_pane_push(self, pane_id: int) -> None:
        """``SessionHandler::schedule_pane_push``: later, on the main thread; a gone pane sends nothing."""

        def run() -> None:
            pane = self.server.panes.get(pane_id)
            if pane is not None:
                self.maybe_push_pane_changes(pane)

        asyncio.get_running_loop().call_soon(run)

    # -- requests ------------------------------------------------------------
    def process_one(self, pdu: Pdu) -> None:
        """``SessionHandler::process_one``: answer with the request's serial; errors as ErrorResponse."""
        serial = pdu.serial
        if not pdu.known:
            self.send(
                "ErrorResponse", {"reason": f"Error: invalid PDU Invalid {{ ident: {pdu.ident} }}"}, serial
            )
            return
        if pdu.name in _NOT_REQUESTS:
            reason = f"Error: expected a request, got {rust_debug(pdu.name, pdu.body)}"
            self.send("ErrorResponse", {"reason": reason}, serial)
            return
        handler: Callable[[Any], tuple[str, Any]] | None = getattr(self, f"on_{pdu.name}", None)
        try:
            if handler is None:
                raise RequestError(f"{pdu.name} is not implemented by the muxscope emulator")
            name, body = handler(pdu.body)
        except RequestError as exc:
            self.send("ErrorResponse", {"reason": f"Error: {exc}"}, serial)
            return
        self.send(name, body, serial)

    def _pane(self, pane_id: int) -> Pane:
        pane = self.server.panes.get(pane_id)
        if pane is None:
            raise RequestError(f"no such pane {pane_id}")
        return pane

    def _tab(self, tab_id: int) -> Tab:
        tab = self.server.tabs.get(tab_id)
        if tab is None:
            raise RequestError(f"no such tab {tab_id}")
        return tab

    def on_Ping(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        return "Pong", {}

    def on_GetCodecVersion(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """GetCodecVersion (sync): the configured codec version."""
        return "GetCodecVersionResponse", {
            "codec_vers": self.version,
            "version_string": get_version(self.version).version_string,
            "executable_path": "/usr/bin/wezterm-mux-server",
            "config_file_path": os.environ.get("WEZTERM_CONFIG_FILE"),
        }

    def on_SetClientId(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """SetClientId (sync): a proxy's id is remembered, a client's registered; always UnitResponse."""
        if body.get("is_proxy"):
            if self.proxy_client_id is None:
                self.proxy_client_id = body["client_id"]
        else:
            self.client_id = body["client_id"]
        return "UnitResponse", {}

    def on_GetClientList(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        clients = []
        for s in self.server.sessions:
            if s.client_id is None:
                continue
            cid = dict(s.client_id)
            cid.setdefault("ssh_auth_sock", None)
            clients.append(
                {
                    "client_id": cid,
                    "connected_at": s.connected_at,
                    "active_workspace": "default",
                    "last_input": s.connected_at,
                    "focused_pane_id": None,
                }
            )
        return "GetClientListResponse", {"clients": clients}

    def on_ListPanes(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """ListPanes: one PaneNode tree per tab of every window, tab titles, window titles."""
        return "ListPanesResponse", self.server.list_panes()

    def on_GetPaneRenderChanges(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """GetPaneRenderChanges: pushes (if any) go out before the LivenessResponse; never an error."""
        pane = self.server.panes.get(body["pane_id"])
        if pane is not None:
            self.maybe_push_pane_changes(pane)
        return "LivenessResponse", {"pane_id": body["pane_id"], "is_alive": pane is not None}

    def on_GetLines(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """GetLines: each range through ``stable_range`` (actual rows, duplicates possible)."""
        pane = self._pane(body["pane_id"])
        out: list[tuple[int, Line]] = []
        for r in body["lines"]:
            out.extend(pane.terminal.get_lines(r["start"], r["end"]))
        return "GetLinesResponse", {"pane_id": pane.pane_id, "lines": serialize_lines(out)}

    def on_GetPaneRenderableDimensions(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        pane = self._pane(body["pane_id"])
        return "GetPaneRenderableDimensionsResponse", {
            "pane_id": pane.pane_id,
            "cursor_position": pane.terminal.cursor_position(),
            "dimensions": pane.terminal.dimensions(),
        }

    def on_Resize(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """Resize: rewrap the pane, then (unless zoomed) TabResized to every client, sender included.
        No render push is scheduled here."""
        pane = self._pane(body["pane_id"])
        size = body["size"]
        pane.terminal.resize(
            size["rows"], size["cols"], size["pixel_width"], size["pixel_height"], size["dpi"]
        )
        tab = self._tab(body["containing_tab_id"])
        if not tab.zoomed:
            self.server.broadcast("TabResized", {"tab_id": tab.tab_id})
        return "UnitResponse", {}

    def on_SetPaneZoomed(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """SetPaneZoomed: toggling zoom notifies TabResized (``TabInner::toggle_zoom``)."""
        self._pane(body["pane_id"])
        tab = self._tab(body["containing_tab_id"])
        if tab.zoomed != body["zoomed"]:
            tab.zoomed = body["zoomed"]
            tab.active_pane = body["pane_id"]
            self.server.broadcast("TabResized", {"tab_id": tab.tab_id})
        return "UnitResponse", {}

    def _input(self, pane: Pane, data: bytes) -> None:
        self.server.pty_write(pane, data)

    def on_WriteToPane(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """WriteToPane: write to the pty, ``maybe_push_pane_changes`` (the echo comes later), UnitResponse."""
        pane = self._pane(body["pane_id"])
        self._input(pane, bytes(body["data"]))
        self.maybe_push_pane_changes(pane)
        return "UnitResponse", {}

    def on_SendPaste(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        pane = self._pane(body["pane_id"])
        self._input(pane, body["data"].encode())
        self.maybe_push_pane_changes(pane)
        return "UnitResponse", {}

    def on_SendKeyDown(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """SendKeyDown: key to the pty, then a *forced* push carrying the input serial (no alerts)."""
        pane = self._pane(body["pane_id"])
        event = body["event"]
        key, mods = event["key"], event["modifiers"]["bits"]
        if isinstance(key, dict) and "Char" in key:
            ch = key["Char"]
            data = chr(ord(ch.lower()) & 0x1F) if mods & _MOD_CTRL and ch.isalpha() else ch
        else:
            data = _KEY_BYTES.get(key, "") if isinstance(key, str) else ""
        self._input(pane, data.encode())
        resp = self.compute_changes(pane, body["input_serial"])
        if resp is not None:
            self.send("GetPaneRenderChangesResponse", resp)
        return "UnitResponse", {}

    def on_SendMouseEvent(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        pane = self._pane(body["pane_id"])
        self.maybe_push_pane_changes(pane)
        return "UnitResponse", {}

    def on_SetFocusedPane(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """SetFocusedPane: activate the pane, PaneFocused to every client (sender included)."""
        pane = self.server.panes.get(body["pane_id"])
        if pane is None:
            raise RequestError(f"pane {body['pane_id']} not found")
        self._tab(pane.tab_id).active_pane = pane.pane_id
        self.server.broadcast("PaneFocused", {"pane_id": pane.pane_id})
        return "UnitResponse", {}

    def on_SpawnV2(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """SpawnV2: a new tab (in the given or a new window); TabAddedToWindow to every client."""
        size = body["size"]
        pane = self.server.spawn_tab(
            body["window_id"],
            size["rows"],
            size["cols"],
            size["pixel_width"],
            size["pixel_height"],
            size["dpi"],
            body["workspace"] or "default",
        )
        dims = pane.terminal.dimensions()
        return "SpawnResponse", {
            "tab_id": pane.tab_id,
            "pane_id": pane.pane_id,
            "window_id": pane.window_id,
            "size": {
                "rows": dims["viewport_rows"],
                "cols": dims["cols"],
                "pixel_width": dims["pixel_width"],
                "pixel_height": dims["pixel_height"],
                "dpi": dims["dpi"],
            },
        }

    def on_KillPane(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """KillPane: remove it (PaneRemoved to every client), then this client's final push."""
        pane = self._pane(body["pane_id"])
        self.server.remove_pane(pane.pane_id)
        self.maybe_push_pane_changes(pane)
        return "UnitResponse", {}

    def on_GetImageCell(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """GetImageCell: the emulator's lines carry no images, so never any data."""
        self._pane(body["pane_id"])
        return "GetImageCellResponse", {"pane_id": body["pane_id"], "data": None}

    def on_SetPalette(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """SetPalette: store it; Alert::PaletteChanged queues a SetPalette push on every connection."""
        pane = self._pane(body["pane_id"])
        pane.palette = body["palette"]
        for s in self.server.sessions:
            s.per(pane.pane_id).notifications.append("PaletteChanged")
            s.schedule_pane_push(pane.pane_id)
        return "UnitResponse", {}

    def on_SearchScrollbackRequest(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        self._pane(body["pane_id"])
        return "SearchScrollbackResponse", {"results": []}

    def on_GetPaneDirection(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        self._pane(body["pane_id"])
        return "GetPaneDirectionResponse", {"pane_id": None}

    def on_ActivatePaneDirection(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        self._pane(body["pane_id"])
        return "UnitResponse", {}


class EmulatedMuxServer:
    """The emulated ``wezterm-mux-server``; see the module docstring."""

    def __init__(self, options: ServerOptions | None = None) -> None:
        self.options = options or ServerOptions()
        self.panes: dict[int, Pane] = {}
        self.tabs: dict[int, Tab] = {}
        self.windows: dict[int, Window] = {}
        self.sessions: list[Session] = []
        self.address: UnixAddress | TcpAddress | None = None
        self._next = {"pane": 0, "tab": 0, "window": 0}
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: asyncio.Task[None] | None = None
        opts = self.options
        window = self._new_window("default")
        for _ in range(opts.panes):
            pane = self._new_tab(window, opts.rows, opts.cols, 0, 0, 0)
            prefill(pane.terminal, pane.generator, opts.initial_rows)

    # -- the mux model -----------------------------------------------------
    def _id(self, kind: str) -> int:
        n = self._next[kind]
        self._next[kind] = n + 1
        return n

    def _new_window(self, workspace: str) -> Window:
        w = Window(self._id("window"), workspace=workspace)
        self.windows[w.window_id] = w
        return w

    def _new_tab(self, window: Window, rows: int, cols: int, pw: int, ph: int, dpi: int) -> Pane:
        tab_id, pane_id = self._id("tab"), self._id("pane")
        o = self.options
        pane = Pane(
            pane_id,
            tab_id,
            window.window_id,
            rows or o.rows,
            cols or o.cols,
            o.scrollback,
            o.seed,
            pw,
            ph,
            dpi,
        )
        self.panes[pane_id] = pane
        self.tabs[tab_id] = Tab(tab_id, window.window_id, [pane_id], pane_id)
        window.tab_ids.append(tab_id)
        return pane

    def pane(self, pane_id: int) -> Pane:
        """The pane (for tests and the emulated client's ground truth)."""
        return self.panes[pane_id]

    def spawn_tab(
        self,
        window_id: int | None,
        rows: int,
        cols: int,
        pw: int = 0,
        ph: int = 0,
        dpi: int = 0,
        workspace: str = "default",
    ) -> Pane:
        """``Mux::spawn_tab_or_window``: TabAddedToWindow goes to every client."""
        window = self.windows.get(window_id) if window_id is not None else None
        if window is None:
            window = self._new_window(workspace)
        pane = self._new_tab(window, rows, cols, pw, ph, dpi)
        pane.terminal.write(pane.generator.prompt().encode())
        self.broadcast("TabAddedToWindow", {"tab_id": pane.tab_id, "window_id": window.window_id})
        return pane

    def remove_pane(self, pane_id: int) -> None:
        """``Mux::remove_pane``: PaneRemoved to every client; empty tabs and windows go too."""
        pane = self.panes.pop(pane_id)
        pane.dead = True
        tab = self.tabs.get(pane.tab_id)
        if tab is not None:
            tab.pane_ids.remove(pane_id)
            if not tab.pane_ids:
                del self.tabs[tab.tab_id]
                window = self.windows.get(tab.window_id)
                if window is not None:
                    window.tab_ids.remove(tab.tab_id)
                    if not window.tab_ids:
                        del self.windows[window.window_id]
        self.broadcast("PaneRemoved", {"pane_id": pane_id})

    def list_panes(self) -> dict[str, Any]:
        """``ListPanesResponse``: ``tab.codec_pane_tree()`` per tab (one Leaf: no splits here)."""
        tabs, titles = [], []
        for window in self.windows.values():
            for tab_id in window.tab_ids:
                tab = self.tabs[tab_id]
                pane = self.panes[tab.pane_ids[0]]
                term = pane.terminal
                dims = term.dimensions()
                entry = {
                    "window_id": window.window_id, "tab_id": tab_id, "pane_id": pane.pane_id,
                    "title": pane.title,
                    "size": {"rows": dims["viewport_rows"], "cols": dims["cols"],
                             "pixel_width": dims["pixel_width"], "pixel_height": dims["pixel_height"],
                             "dpi": dims["dpi"]},
                    "working_dir": pane.working_dir, "is_active_pane": tab.active_pane == pane.pane_id,
                    "is_zoomed_pane": tab.zoomed, "workspace": window.workspace,
                    "cursor_pos": term.cursor_position(), "physical_top": dims["physical_top"],
                    "top_row": 0, "left_col": 0, "tty_name": f"/dev/pts/{pane.pane_id}",
                }  # fmt: skip
                tabs.append({"Leaf": entry})
                titles.append(tab.title)
        return {
            "tabs": tabs,
            "tab_titles": titles,
            "window_titles": {w.window_id: w.title for w in self.windows.values()},
        }

    def broadcast(self, name: str, body: Any) -> None:
        """A mux notification written straight to every connection (serial 0)."""
        for s in list(self.sessions):
            s.send(name, body)

    def notify_pane_output(self, pane_id: int) -> None:
        """``MuxNotification::PaneOutput``: every connection schedules a push, asked about the pane or not."""
        for s in list(self.sessions):
            s.schedule_pane_push(pane_id)

    def output(self, pane_id: int, data: bytes) -> None:
        """pty output reaching the pane now: one ``perform_actions`` batch, then PaneOutput."""
        pane = self.panes.get(pane_id)
        if pane is None:
            return
        pane.terminal.write(data)
        self.notify_pane_output(pane_id)

    def generate_output(self, pane_id: int, n_lines: int) -> None:
        """``n_lines`` of generated content as one batch of pty output."""
        pane = self.panes[pane_id]
        self.output(pane_id, pane.generator.lines(n_lines))

    def pty_write(self, pane: Pane, data: bytes) -> None:
        """Input to the pane's pty; the shell's echo arrives ``OUTPUT_DELAY`` later."""
        out = pane.shell_input(data)
        if out:
            asyncio.get_running_loop().call_later(OUTPUT_DELAY, self.output, pane.pane_id, out)

    # -- serving -------------------------------------------------------------
    async def start(self, listen: UnixAddress | TcpAddress) -> UnixAddress | TcpAddress:
        """Listen; returns the bound address (a TCP port 0 becomes the real port)."""
        if isinstance(listen, UnixAddress):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(listen.path)
            self._server = await asyncio.start_unix_server(self.handle_connection, listen.path)
            self.address = listen
        elif isinstance(listen, TcpAddress):
            self._server = await asyncio.start_server(self.handle_connection, listen.host, listen.port)
            port = self._server.sockets[0].getsockname()[1]
            self.address = TcpAddress(listen.host, port)
        else:
            raise ValueError(f"cannot listen on {listen}")
        self._start_background()
        return self.address

    def _start_background(self) -> None:
        if self.options.output_rate > 0 and self._background is None:
            self._background = asyncio.get_running_loop().create_task(self._background_output())

    async def _background_output(self) -> None:
        """Steady output on every pane at ``output_rate`` lines per second, ~20 batches a second at most."""
        rate = self.options.output_rate
        interval = max(1.0 / rate, 0.05)
        owed = 0.0
        while True:
            await asyncio.sleep(interval)
            owed += rate * interval
            n = int(owed)
            if n:
                owed -= n
                for pane_id in list(self.panes):
                    self.generate_output(pane_id, n)

    async def stop(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
            self._background = None
        for s in list(self.sessions):
            s.closed = True
            s.writer.close()
        await close_listener(self._server, self._tasks, self.address)
        self._server = None

    async def serve_stdio(self) -> None:
        """Serve one connection on stdin/stdout (a fake ``wezterm cli proxy`` over SSH)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        stdin = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)  # noqa: SIM115
        stdout = open(sys.stdout.fileno(), "wb", buffering=0, closefd=False)  # noqa: SIM115
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, stdout)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self._start_background()
        await self.handle_connection(reader, writer)

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``dispatch.rs:process_async``: decode requests, answer in order; EOF or bad input ends it."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        session = Session(self, writer)
        self.sessions.append(session)
        stream = PduStream(self.options.codec_version)
        try:
            while not session.closed:
                data = await reader.read(65536)
                if not data:
                    break
                for item in stream.feed(data):
                    if isinstance(item, StreamError):
                        session.closed = True  # WezTerm drops a connection it cannot decode
                        break
                    session.process_one(item)
                if not session.closed:
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            session.closed = True
            if session in self.sessions:
                self.sessions.remove(session)
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)
