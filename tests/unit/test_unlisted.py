"""Pushes for panes the client has not listed wait for their resync (proxy/analysis/unlisted.py)."""

from __future__ import annotations

from proxy.analysis.unlisted import UnlistedPushes


def _push(pane: int, seqno: int) -> dict:
    return {"pane_id": pane, "seqno": seqno}


def test_pushes_wait_for_their_own_listpanes_in_order():
    u = UnlistedPushes()
    u.request("GetCodecVersion", 1)
    assert u.defer(set(), "GetPaneRenderChangesResponse", _push(0, 1))
    assert u.defer(set(), "SetPalette", _push(0, 2))
    assert not u.defer({0}, "GetPaneRenderChangesResponse", _push(0, 3))  # listed: applies at once
    assert not u.defer(set(), "TabResized", {"tab_id": 0})  # not a pane's push
    u.request("ListPanes", 2)  # the first push's resync
    u.request("ListPanes", 4)  # the second's
    u.request("ListPanes", 7)  # nobody's (attach): no push waits for one
    assert u.answered(7, {0}) == []
    assert u.answered(4, {0}) == [("SetPalette", _push(0, 2))]  # answers may come in any order
    assert u.answered(2, {0}) == [("GetPaneRenderChangesResponse", _push(0, 1))]
    assert u.waiting == []


def test_a_push_whose_pane_the_listing_lacks_is_dropped():
    u = UnlistedPushes(watching=True)
    u.defer({0}, "GetPaneRenderChangesResponse", _push(5, 1))
    u.request("ListPanes", 3)
    assert u.answered(3, {0}) == [] and u.waiting == []


def test_a_push_without_its_listpanes_yet_keeps_waiting():
    u = UnlistedPushes(watching=True)
    u.defer(set(), "SetPalette", _push(1, 1))
    assert u.answered(9, {1}) == []
    assert len(u.waiting) == 1


def test_a_connection_not_seen_from_its_start_applies_pushes_at_once():
    """No GetCodecVersion seen (a capture begun mid-session): the listing was never on the wire."""
    u = UnlistedPushes()
    assert not u.defer(set(), "GetPaneRenderChangesResponse", _push(0, 1))
