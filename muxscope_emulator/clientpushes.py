"""How the emulated client takes pushes: ``client.rs: process_unilateral`` and what follows it.

A mixin of :class:`~muxscope_emulator.client.EmulatedClient`, split from it
because the order pushes take effect in (at once, in arrival order, or queued
behind one that needs a round trip) is a subject of its own, and one the
ground truth depends on: :meth:`PushHandling._applied` is where a queued push's
time is noted.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from codec import Pdu
from muxscope_emulator.linecache import lines_from_summary
from muxscope_emulator.muxconn import ConnectionLost, RpcError
from muxscope_emulator.racetruth import ALL_ROWS, PushSnapshot, touched_rows
from muxscope_emulator.wezlog import CLIENT

if TYPE_CHECKING:
    from muxscope_emulator.clientpane import ClientPane
    from muxscope_emulator.guiqueue import GuiQueue
    from muxscope_emulator.muxconn import MuxConnection
    from muxscope_emulator.racetruth import RaceTruth
    from muxscope_emulator.truth import Truth
    from muxscope_emulator.wezlog import WezLog


class PushHandling:
    """``process_unilateral`` for :class:`~muxscope_emulator.client.EmulatedClient`."""

    # what it uses of the client (set in EmulatedClient.__init__)
    conn: MuxConnection | None
    truth: Truth
    panes: dict[int, ClientPane]
    errors: list[str]
    wezlog: WezLog | None
    _pushes: asyncio.Queue[Pdu]
    _push_busy: bool
    _push_index: dict[int, tuple[Pdu, int, PushSnapshot]]
    race: RaceTruth
    gui: GuiQueue | None

    def _on_push(self, pdu: Pdu, t_ns: int) -> None:
        """A push read: its final turn on the GUI thread comes two turns later (one for TabResized
        and TabAddedToWindow: ``spawn_into_main_thread`` runs the resync), at once without a GUI.
        The fetches in flight on its pane may race it (:mod:`.racetruth`)."""
        self.truth.pushes.append((pdu.name, max(t_ns, time.monotonic_ns())))
        index = len(self.truth.pushes) - 1
        pane_id = pdu.body.get("pane_id") if isinstance(pdu.body, dict) else None
        racing = pdu.name in ("GetPaneRenderChangesResponse", "SetPalette")
        snap = self.race.push_read(pane_id if racing else None)
        if self.gui is None:
            self._take_push(pdu, index, snap)
        elif pdu.name in ("TabResized", "TabAddedToWindow"):
            self.gui.call(lambda: self._take_push(pdu, index, snap))
        else:
            self.gui.push(lambda: self._take_push(pdu, index, snap), snap.tokens)

    def _take_push(self, pdu: Pdu, index: int, snap: PushSnapshot) -> None:
        """Handle a push synchronously when nothing is queued before it in the push loop and it
        needs no round trip (images to hydrate, an unknown pane); else queue it there. The truth
        notes when it took effect: now (read, without a GUI), or when it is applied to its pane."""
        if self.gui is not None:
            self.truth.pushes[index] = (pdu.name, time.monotonic_ns())
        if self._pushes.empty() and not self._push_busy and self._push_sync(pdu, snap):
            return
        self._push_index[id(pdu)] = (pdu, index, snap)
        self._pushes.put_nowait(pdu)

    def _apply_render(self, pane: ClientPane, pdu: Pdu, snap: PushSnapshot) -> None:
        """``apply_changes_to_surface``; the race record first, then PaneOutput."""
        assert self.conn is not None
        bonus = lines_from_summary(pdu.body["bonus_lines"], self.conn.version)
        self.race.push_applied(pane, snap, touched_rows(pane, pdu.body, bonus))
        pane.apply_changes(pdu.body, bonus)
        self.invalidate()

    def _apply_palette(self, pane: ClientPane, pdu: Pdu, snap: PushSnapshot) -> None:
        self.race.push_applied(pane, snap, ALL_ROWS)
        pane.on_set_palette(pdu.body["palette"])
        self.invalidate()

    def invalidate(self) -> None:
        """PaneOutput for a visible pane: ``Window::invalidate`` (a paint is due)."""
        if self.gui is not None:
            self.gui.invalidate()

    def _push_sync(self, pdu: Pdu, snap: PushSnapshot) -> bool:
        name, body = pdu.name, pdu.body
        if name in ("TabResized", "TabAddedToWindow"):
            self._log_resync(pdu)
            self._spawn(self.resync())
            return True
        if name in ("WindowWorkspaceChanged", "WindowTitleChanged", "TabTitleChanged", "RenameWorkspace"):
            return True
        pane = self.panes.get(body.get("pane_id")) if isinstance(body, dict) else None
        if pane is None:
            return False
        if name == "GetPaneRenderChangesResponse" and not body["bonus_lines"].images:
            self._apply_render(pane, pdu, snap)
            return True
        if name == "SetPalette":
            self._apply_palette(pane, pdu, snap)
            return True
        if name == "PaneRemoved":
            pane.dead = True
            return True
        return False

    def _log_resync(self, pdu: Pdu) -> None:
        """``client.rs:301``: ``resync due to {:?}`` of the Pdu (its fields in declaration order)."""
        if self.wezlog is not None:
            fields = ", ".join(f"{k}: {v}" for k, v in pdu.body.items())
            self.wezlog.trace(f"resync due to {pdu.name}({pdu.name} {{ {fields} }})", CLIENT)

    async def _push_loop(self) -> None:
        """``client.rs: process_unilateral`` in arrival order."""
        while True:
            pdu = await self._pushes.get()
            self._push_busy = True
            try:
                await self._process_push(pdu)
            except (RpcError, ConnectionLost) as exc:
                self.errors.append(f"push {pdu.name}: {exc}")
            finally:
                self._push_busy = False

    async def _process_push(self, pdu: Pdu) -> None:
        name, body = pdu.name, pdu.body
        if name in ("TabResized", "TabAddedToWindow"):
            self._log_resync(pdu)
            self._spawn(self.resync())
            return
        if name in ("WindowWorkspaceChanged", "WindowTitleChanged", "TabTitleChanged", "RenameWorkspace"):
            return
        pane_id = body.get("pane_id") if isinstance(body, dict) else None
        if name not in ("GetPaneRenderChangesResponse", "SetPalette", "NotifyAlert", "SetClipboard",
                        "PaneFocused", "PaneRemoved") or pane_id is None:
            self.errors.append(f"don't know how to handle push {name}")
            return
        if pane_id not in self.panes:
            self._spawn(self._push_after_resync(pdu))  # process_unilateral_inner_async
            return
        await self._pane_push(self.panes[pane_id], pdu)

    async def _push_after_resync(self, pdu: Pdu) -> None:
        await self.resync()
        pane = self.panes.get(pdu.body["pane_id"])
        if pane is not None:
            await self._pane_push(pane, pdu)

    async def _pane_push(self, pane: ClientPane, pdu: Pdu) -> None:
        """``ClientPane::process_unilateral``."""
        if pdu.name == "GetPaneRenderChangesResponse":
            bonus = pdu.body["bonus_lines"]
            if bonus.images:
                await self._hydrate(pane, self._full_lines(pdu))
            self._apply_render(pane, pdu, self._applied(pdu))
        elif pdu.name == "SetPalette":
            self._apply_palette(pane, pdu, self._applied(pdu))
        elif pdu.name == "PaneRemoved":
            pane.dead = True

    def _applied(self, pdu: Pdu) -> PushSnapshot:
        """A queued push takes effect now: the truth's time for it (requests sent before did not
        see it), and what was in flight when it was read."""
        queued = self._push_index.pop(id(pdu), None)
        if queued is None:
            return PushSnapshot(None, ())
        self.truth.pushes[queued[1]] = (pdu.name, time.monotonic_ns())
        return queued[2]
