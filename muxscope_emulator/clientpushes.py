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
from muxscope_emulator.wezlog import CLIENT

if TYPE_CHECKING:
    from muxscope_emulator.clientpane import ClientPane
    from muxscope_emulator.muxconn import MuxConnection
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
    _push_index: dict[int, tuple[Pdu, int]]

    def _on_push(self, pdu: Pdu, t_ns: int) -> None:
        """Handle a push synchronously, in arrival order, when nothing is queued before it
        and it needs no round trip (images to hydrate, an unknown pane); else queue it.
        The truth notes when it took effect: now, or when a queued one is applied to its pane. (Now,
        not ``t_ns``, when its chunk was read: requests sent while earlier PDUs of the same chunk were
        handled, such as a push's prefetch, left before this push took effect; at hundreds of pushes
        a second several pushes share a chunk.)"""
        self.truth.pushes.append((pdu.name, max(t_ns, time.monotonic_ns())))
        if self._pushes.empty() and not self._push_busy and self._push_sync(pdu):
            return
        self._push_index[id(pdu)] = (pdu, len(self.truth.pushes) - 1)
        self._pushes.put_nowait(pdu)

    def _push_sync(self, pdu: Pdu) -> bool:
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
            assert self.conn is not None
            pane.apply_changes(body, lines_from_summary(body["bonus_lines"], self.conn.version))
            return True
        if name == "SetPalette":
            pane.on_set_palette(body["palette"])
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
            assert self.conn is not None
            self._applied(pdu)
            pane.apply_changes(pdu.body, lines_from_summary(bonus, self.conn.version))
        elif pdu.name == "SetPalette":
            self._applied(pdu)
            pane.on_set_palette(pdu.body["palette"])
        elif pdu.name == "PaneRemoved":
            pane.dead = True

    def _applied(self, pdu: Pdu) -> None:
        """A queued push takes effect now: the truth's time for it (requests sent before did not
        see it)."""
        queued = self._push_index.pop(id(pdu), None)
        if queued is not None:
            self.truth.pushes[queued[1]] = (pdu.name, time.monotonic_ns())
