"""A reply for a row that a push re-stamped while the reply was on its way.

WezTerm's client reads the push first (the wire's order), stamps the row for the push's own fetch
(renderable.rs:392-405), and drops the reply ("changed since fetch started, so leave it be",
:478-485): the emulated client does the same. Only a client that coalesces keeps the reply, having
sent no new fetch for a row already in flight. (Real wezterm-gui may also apply the reply before
the push, its GUI queue permitting: docs/wezterm-behaviour.md, item 1; that order is not this one.)
"""

from __future__ import annotations

import pytest

from proxy.analysis.linemodel import PaneLines, Push

CURSOR = {"x": 0, "y": 0, "shape": "Default", "visibility": "Visible"}


@pytest.mark.parametrize("client,kept", [("wezterm", False), ("selective", False), ("coalesce", True)])
def test_reply_after_a_push_that_restamped_its_row(client, kept):
    model = PaneLines(0, client=client)
    model.request(5, [3], t_ns=0)
    model.commit()
    model.apply_push(Push(seq=1, t_ns=10**9, seqno=2, physical_top=0, cursor=CURSOR, input_serial=None,
                          bonus=[], dirty=[(3, 4)]))
    assert model.response_line(5, 3, b"x", 1, 2) is kept
