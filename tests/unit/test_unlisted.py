"""Pushes for panes the client has not listed wait for their resync (proxy/analysis/unlisted.py)."""

from __future__ import annotations

from types import SimpleNamespace

from codec.direction import Direction
from proxy.analysis.connection import WireEvent
from proxy.analysis.unlisted import UnlistedPushes

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT


def ev(direction: Direction, t: int, name: str, serial: int = 0, **body) -> WireEvent:
    return WireEvent(1, direction, t, SimpleNamespace(name=name, serial=serial, body=body))  # type: ignore[arg-type]


def names(events: list[WireEvent]) -> list[tuple[str, int]]:
    return [(e.pdu.name, e.t_ns) for e in events]


def test_pushes_wait_for_their_own_listpanes_in_order():
    u = UnlistedPushes()
    assert u.reorder(set(), ev(C2S, 1, "GetCodecVersion", 1)) != []
    push = ev(S2C, 2, "GetPaneRenderChangesResponse", pane_id=0)
    palette = ev(S2C, 3, "SetPalette", pane_id=0)
    assert u.reorder(set(), push) == [] and u.reorder(set(), palette) == []
    assert u.reorder(set(), ev(S2C, 4, "TabResized", tab_id=0)) != []  # not a pane's push
    for serial in (2, 4, 7):  # the push's resync, the palette's, and nobody's (attach)
        u.reorder(set(), ev(C2S, 5, "ListPanes", serial))
    assert names(u.reorder({0}, ev(S2C, 8, "ListPanesResponse", 7))) == [("ListPanesResponse", 8)]
    # answers may come in any order; the pushes take effect at their answer
    assert names(u.reorder({0}, ev(S2C, 9, "ListPanesResponse", 4))) == [("ListPanesResponse", 9), ("SetPalette", 9)]
    # a push for a listed pane goes on at once, ahead of one still waiting
    later = ev(S2C, 10, "GetPaneRenderChangesResponse", pane_id=0)
    assert u.reorder({0}, later) == [later]
    assert names(u.reorder({0}, ev(S2C, 11, "ListPanesResponse", 2)))[1] == ("GetPaneRenderChangesResponse", 11)
    assert u.waiting == []


def test_a_push_whose_pane_the_listing_lacks_is_dropped():
    u = UnlistedPushes(watching=True)
    u.reorder({0}, ev(S2C, 1, "GetPaneRenderChangesResponse", pane_id=5))
    u.reorder({0}, ev(C2S, 2, "ListPanes", 3))
    assert names(u.reorder({0}, ev(S2C, 3, "ListPanesResponse", 3))) == [("ListPanesResponse", 3)]
    assert u.waiting == []


def test_a_push_without_its_listpanes_yet_keeps_waiting():
    u = UnlistedPushes(watching=True)
    u.reorder(set(), ev(S2C, 1, "SetPalette", pane_id=1))
    assert len(u.reorder({1}, ev(S2C, 2, "ListPanesResponse", 9))) == 1
    assert len(u.waiting) == 1


def test_a_connection_not_seen_from_its_start_applies_pushes_at_once():
    """No GetCodecVersion seen (a capture begun mid-session): the listing was never on the wire."""
    push = ev(S2C, 1, "GetPaneRenderChangesResponse", pane_id=0)
    assert UnlistedPushes().reorder(set(), push) == [push]
