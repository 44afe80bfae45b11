"""The emulated wezterm-gui window: painting, the user's actions, and when the screen is settled.

A mixin of :class:`~muxscope_emulator.client.EmulatedClient`, split from it
because this is ``wezterm-gui`` (``termwindow``: ``paint_pane``, ``resize``,
``key_down``) rather than ``wezterm-client``: what decides *when* rows are asked
for, while the client decides how they travel. The scenarios
(:mod:`.scenarios`) drive these entry points.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from codec.lines.predicted import key_name
from muxscope_emulator.muxconn import ConnectionLost
from muxscope_emulator.prediction import key_code, predict_from_key_event, wall_ms

if TYPE_CHECKING:
    from muxscope_emulator.clientoptions import ClientOptions
    from muxscope_emulator.clientpane import ClientPane
    from muxscope_emulator.clienttabs import ClientTab
    from muxscope_emulator.guiqueue import GuiQueue
    from muxscope_emulator.muxconn import MuxConnection
    from muxscope_emulator.policy import Policy
    from muxscope_emulator.truth import Truth

#: ``mux/src/pane.rs: impl_get_logical_lines_via_get_lines``
MAX_LOGICAL_LINE_LEN = 1024


class GuiWindow:
    """The GUI side of :class:`~muxscope_emulator.client.EmulatedClient`."""

    # what it uses of the client (set in EmulatedClient.__init__)
    options: ClientOptions
    policy: Policy
    truth: Truth
    conn: MuxConnection | None
    panes: dict[int, ClientPane]
    tabs: dict[int, ClientTab]
    windows: dict[int, list[int]]
    window_size: dict[str, int] | None
    errors: list[str]
    last_action: float
    last_sent_size: dict[int, dict[str, int]]
    _debounce: asyncio.TimerHandle | None
    gui: GuiQueue | None

    def visible_panes(self) -> list[ClientPane]:
        """Panes the GUI paints: every pane of each window's shown tab (the zoomed one if zoomed)."""
        out = []
        for tab_ids in self.windows.values():
            if not tab_ids or tab_ids[0] not in self.tabs:
                continue
            for pane_id in self.tabs[tab_ids[0]].tree.visible():
                pane = self.panes.get(pane_id)
                if pane is not None and not pane.dead:
                    out.append(pane)
        return out

    def focused_pane(self) -> ClientPane | None:
        panes = self.visible_panes()
        return panes[0] if panes else None

    def paint(self, pane: ClientPane) -> None:
        """``paint_pane``: poll via ``get_changed_since``, logical lines, then ``get_lines``."""
        start, end = pane.viewport()
        pane.get_changed_since(start, end, pane.seqno)
        start, end = pane.viewport()
        self._logical_lines(pane, start, end)
        pane.get_lines(start, end)

    def _logical_lines(self, pane: ClientPane, start: int, end: int) -> None:
        """``mux/src/pane.rs: impl_get_logical_lines_via_get_lines`` (``apply_hyperlinks``)."""
        phys = pane.get_lines(start, end)
        first = start
        back_len = 0
        while first > 0:
            (above,) = pane.get_lines(first - 1, first)
            if above is None or not above.wrapped or above.length + back_len > MAX_LOGICAL_LINE_LEN:
                break
            back_len += above.length
            first -= 1
            phys.insert(0, above)
        while phys:
            last = phys[-1]
            if last is None or not last.wrapped or last.length > MAX_LOGICAL_LINE_LEN:
                break
            nxt = first + len(phys)
            phys.extend(pane.get_lines(nxt, nxt + 1))

    def paint_window(self) -> int:
        """One paint of the window (:class:`~.guiqueue.GuiQueue` calls it when invalidated):
        every visible pane; returns the rows drawn (what the paint costs)."""
        rows = 0
        for pane in self.visible_panes():
            self.paint(pane)
            rows += pane.dims["viewport_rows"]
        return rows

    def _input(self, action: Callable[[], None]) -> None:
        """User input is a turn of the GUI thread, queued behind what is there (at once without one)."""
        self.mark_action()
        if self.gui is None:
            action()
        else:
            self.gui.input(action)

    # -- user actions ------------------------------------------------------------------
    def window_rows_cols(self) -> tuple[int, int]:
        size = self.window_size or self._gui_size(self.options.rows, self.options.cols)
        return size["rows"], size["cols"]

    def mark_action(self) -> None:
        self.last_action = self.clock()

    def gui_resize(self, rows: int, cols: int) -> None:
        """``TermWindow::resize`` -> every tab's ``resize`` (no debouncing in WezTerm): a GUI turn."""
        self._input(lambda: self._gui_resize(rows, cols))

    def _gui_resize(self, rows: int, cols: int) -> None:
        self.window_size = self._gui_size(rows, cols)
        if self.policy.name == "debounce":
            if self._debounce is not None:
                self._debounce.cancel()
            loop = asyncio.get_running_loop()
            self._debounce = loop.call_later(self.policy.debounce_ms / 1000, self._debounced)
        else:
            self._apply_window_size()

    def _debounced(self) -> None:
        """The debounce timer fired: its task applies the size on the GUI thread (a turn)."""
        if self.gui is None:
            self._apply_window_size()
        else:
            self.gui.input(self._apply_window_size)

    def _apply_window_size(self) -> None:
        self._debounce = None
        assert self.window_size is not None
        for tab_id in list(self.tabs):
            self._tab_resize(tab_id, self.window_size, "resize")

    def key_down(self, ch: str, mods: int = 0) -> None:
        """``ClientPane::key_down`` (SendKeyDown, poll reset) or a ``PaneWriter`` write (WriteToPane).

        ``ch``: one character (``KeyCode::Char``) or a named key (``"Escape"``, ``"UpArrow"``);
        ``mods``: ``Modifiers`` bits (scenarios.MOD_CTRL, ...).
        """
        self._input(lambda: self._key_down(ch, mods))

    def _key_down(self, ch: str, mods: int = 0) -> None:
        pane = self.focused_pane()
        if pane is None:
            return
        if self.options.typing_via == "write":
            body: dict[str, Any] = {"pane_id": pane.remote_pane_id, "data": ch.encode()}
            self._send_now("WriteToPane", body, "UnitResponse")
            return
        # ClientPane::key_down: the serial, then the prediction, then the send (clientpane.rs:450-477)
        pane.input_serial = wall_ms()
        key = key_code(ch) if len(ch) == 1 else ch  # a named key ("Escape") is its KeyCode variant
        prediction = predict_from_key_event(pane, key_name(key), mods, self.options.local_echo_ms)
        self.truth.keys_typed += 1
        if prediction is not None:
            self.truth.predictions.append(prediction.to_json())
        body = {
            "pane_id": pane.remote_pane_id,
            "event": {"key": key, "modifiers": {"bits": mods}},
            "input_serial": pane.input_serial,
        }
        self._send_now("SendKeyDown", body, "UnitResponse")
        pane.update_last_send()

    def scroll_to(self, pane: ClientPane, top: int | None) -> None:
        """The GUI's viewport (``set_viewport``): None follows the bottom."""

        def scroll() -> None:
            pane.viewport_top = top

        self._input(scroll)

    # -- settling ------------------------------------------------------------------------
    BUSY_RPCS = ("GetLines", "Resize", "ListPanes", "SetPaneZoomed", "SetPalette", "GetImageCell")

    def settled(self) -> bool:
        """No fetch or resize round trip in flight, every viewport row held and current,
        and the server's last push shows the size of each pane's last Resize."""
        return not self.unsettled_reasons()

    def unsettled_reasons(self) -> list[str]:
        """What keeps :meth:`settled` false, in words (for the report of a run that timed out)."""
        assert self.conn is not None
        out = []
        if self._debounce is not None:
            out.append("a debounced fetch is pending")
        if self.gui is not None and (self.gui.turns or self.gui._held):
            out.append(f"{len(self.gui.turns)} turns queued on the GUI thread, {len(self.gui._held)} pushes held")
        now = time.perf_counter_ns()
        for serial, (_, t_sent, name) in sorted(self.conn.pending.items()):
            if name in self.BUSY_RPCS:
                out.append(f"{name} serial {serial} unanswered for {(now - t_sent) / 1e9:.2f} s")
        for pane in self.visible_panes():
            rows = pane.unsettled_rows()
            if pane.inflight or rows:
                out.append(f"pane {pane.remote_pane_id}: {len(pane.inflight)} rows in flight, "
                           f"{len(rows)} viewport rows not current (first {rows[:5]})")
            sent = self.last_sent_size.get(pane.remote_pane_id)
            seen = pane.server_dims
            shown = None if seen is None else (seen["cols"], seen["viewport_rows"])
            if sent is not None and shown != (sent["cols"], sent["rows"]):
                out.append(f"pane {pane.remote_pane_id}: last Resize {(sent['cols'], sent['rows'])} "
                           f"but the last push shows {shown}")
        return out

    async def wait_settled(self, timeout: float) -> float | None:
        """Render on until :meth:`settled` (then the time since the last action) or ``timeout``."""
        deadline = self.clock() + timeout
        period = 1.0 / self.options.fps
        while self.clock() < deadline:
            if self.conn is not None and self.conn.closed is not None:
                raise ConnectionLost(str(self.conn.closed))
            if self.settled():
                return self.clock() - self.last_action
            await asyncio.sleep(period / 2)
        reasons = self.unsettled_reasons()
        if self.conn is not None and self.conn.decode_errors:
            reasons.append(f"{self.conn.decode_errors} PDUs from the server could not be decoded "
                           f"({'; '.join(self.conn.decode_error_messages)})")
        self.errors.append(f"not settled after {timeout:g} s: " + "; ".join(reasons))
        return None
