"""Pushes for a pane the client has not listed yet: they take effect after a resync, not when they arrive.

wezterm-client handles a push whose pane it does not know (output already
streaming when it attaches, a pane another client spawned) in
``process_unilateral_inner_async`` (client.rs:124-192 at 4ff581a8): it awaits
``ClientDomain::resync`` (one ListPanes of its own) and only then applies the
push to the pane that listing created; if the listing lacks the pane, the push
is dropped. Meanwhile later pushes for panes it knows apply at once, so a
SetPalette (the server's first push per pane queues one) can take effect after
render pushes that arrived behind it. Applied in wire order, the line model
would blame rows on the wrong invalidation (``palette`` for ``dirty``).

Each such push makes the client send one ListPanes, in the order it read them,
so the pushes waiting are paired with the client's next ListPanes requests in
order, and applied when the answer to their own arrives. A ListPanes sent while
no push waits for one (attach, TabResized) is someone else's. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Container
from dataclasses import dataclass, field

from proxy.analysis.connection import WireEvent

#: the pushes ``ClientPane::process_unilateral`` applies to a pane (others change no line)
PANE_PUSHES = ("GetPaneRenderChangesResponse", "SetPalette")


@dataclass
class UnlistedPushes:
    """The pushes waiting for a resync, each with the serial of its ListPanes once the client sent it.

    One per connection, for the addons that set ``resync_order`` (:class:`~proxy.analysis.analyzer.Addon`).
    """

    waiting: list[tuple[int | None, WireEvent]] = field(default_factory=list)
    #: the connection was seen from its start (the client's GetCodecVersion): only then is a pane
    #: missing from the listings one the client does not know (a capture begun mid-session, or a
    #: hand-made one, has never shown the listing)
    watching: bool = False

    def reorder(self, known: Container[int], ev: WireEvent) -> list[WireEvent]:
        """The events to hand on for ``ev``, in the client's order: none (a push kept for later), ``ev``,
        or a ListPanes answer followed by the pushes that waited for it (taking effect then)."""
        pdu = ev.pdu
        if pdu is None or not isinstance(pdu.body, dict):
            return [ev]
        if ev.from_client:
            self.request(pdu.name, pdu.serial)
        elif self.defer(known, pdu.name, pdu.body.get("pane_id")):
            self.waiting.append((None, ev))
            return []
        elif pdu.name == "ListPanesResponse":
            return [ev, *(dataclasses.replace(w, t_ns=ev.t_ns) for w in self.answered(pdu.serial, known))]
        return [ev]

    def defer(self, known: Container[int], name: str, pane_id: object) -> bool:
        """Should this push wait (its pane is not one the client has listed)?"""
        return self.watching and name in PANE_PUSHES and pane_id not in known

    def request(self, name: str, serial: int) -> None:
        """The client sent ``name``: a GetCodecVersion starts the watch; a ListPanes is the resync of
        the oldest push still without one."""
        self.watching = self.watching or name == "GetCodecVersion"
        if name != "ListPanes":
            return
        for i, (sent, ev) in enumerate(self.waiting):
            if sent is None:
                self.waiting[i] = (serial, ev)
                return

    def answered(self, serial: int, known: Container[int]) -> list[WireEvent]:
        """The ListPanes ``serial`` was answered: its pushes, to apply now (those of panes still
        unlisted are dropped, as the client drops them)."""
        ready = [ev for sent, ev in self.waiting if sent == serial]
        self.waiting = [w for w in self.waiting if w[0] != serial]
        return [ev for ev in ready if ev.pdu is not None and ev.pdu.body["pane_id"] in known]
