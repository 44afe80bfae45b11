"""One connection to the emulated mux server: WezTerm's session handler.

Reproduces ``wezterm-mux-server-impl/src/sessionhandler.rs``
(``SessionHandler::process_one``, ``PerPane::compute_changes``,
``maybe_push_pane_changes``) for one client: how each request is answered and
which render pushes and alerts that client is sent. The mux model it reads and
changes is :mod:`.muxmodel`; the listeners that create sessions are in :mod:`.server`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codec import encode_pdu
from codec.pdu import Pdu
from codec.schema.versions import get_version
from muxscope_emulator import servertabs
from muxscope_emulator.muxmodel import Pane, Tab
from muxscope_emulator.termlines import Line, serialize_lines

if TYPE_CHECKING:
    from muxscope_emulator.server import EmulatedMuxServer

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
        """Resize: rewrap the pane (the program's SIGWINCH redraw brings a push ~3 ms later), rebuild the
        tab's split sizes from its panes and (unless zoomed) TabResized to every client, sender included
        (:mod:`.servertabs`). No render push is scheduled here."""
        pane = self._pane(body["pane_id"])
        tab = self._tab(body["containing_tab_id"])
        servertabs.on_resize(self.server, tab, pane.pane_id, body["size"])
        return "UnitResponse", {}

    def on_SetPaneZoomed(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """SetPaneZoomed: ``toggle_zoom`` on the server resizes the pane(s) and notifies TabResized."""
        self._pane(body["pane_id"])
        tab = self._tab(body["containing_tab_id"])
        servertabs.on_set_zoomed(self.server, tab, body["pane_id"], body["zoomed"])
        return "UnitResponse", {}

    def on_SplitPane(self, body: Any) -> tuple[str, Any]:  # noqa: N802
        """SplitPane (a spawn; ``move_pane_id`` is not emulated): SpawnResponse with the new pane's size
        (pixels 0, as ``Mux::split_pane`` has them)."""
        pane = self._pane(body["pane_id"])
        if body.get("move_pane_id") is not None:
            raise RequestError("SplitPane with move_pane_id is not implemented by the muxscope emulator")
        try:
            new = servertabs.split_pane(self.server, self._tab(pane.tab_id), pane.pane_id, body["split_request"])
        except ValueError as exc:
            raise RequestError(str(exc)) from None
        new.terminal.write(new.generator.prompt().encode())
        size = servertabs.pane_size(new)
        size["pixel_width"] = size["pixel_height"] = 0
        return "SpawnResponse", {"tab_id": new.tab_id, "pane_id": new.pane_id, "window_id": new.window_id,
                                 "size": size}

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
