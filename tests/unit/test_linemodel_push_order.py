"""A reply for a row that a push re-stamped while the reply was on its way.

WezTerm's client reads the push first (the wire's order), stamps the row for the push's own fetch
(renderable.rs:392-405), and drops the reply ("changed since fetch started, so leave it be",
:478-485): the emulated client does the same. Only a client that coalesces keeps the reply, having
sent no new fetch for a row already in flight. (Real wezterm-gui may also apply the reply before
the push, its GUI queue permitting: docs/wezterm-behaviour.md, item 1; that order is not this one.)
"""

from __future__ import annotations

import pytest

from proxy.analysis.fetchlimit import FetchLimiter
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


def test_a_throttled_push_reads_the_same_to_the_analysis():
    """A push over the prefetch limit (renderable.rs:408-421): WezTerm sends no GetLines and puts the
    rows it stamped through ``make_stale``, which removes a ``Fetching`` entry and turns a
    ``LineAndFetching`` one ``Stale`` (:437-446). The analysis mirrors the limiter
    (proxy/analysis/fetchlimit.py). Both must give the same outcomes, causes and held lines: here
    the emulated client and the analysis, each limited to one prefetch a second, fed the same events."""
    from muxscope_emulator.clientpane import ClientPane
    from muxscope_emulator.policy import Policy
    from proxy.analysis.vocabulary import outcome
    from tests.integration.test_emulator_client import SIZE, Clock, Hooks, lines, push

    hooks = Hooks()
    pane = ClientPane(0, 0, SIZE, "t", hooks, policy=Policy(), clock=Clock(), prefetch_rate=1)
    model = PaneLines(0, client="wezterm", limiter=FetchLimiter(1))
    t = iter(range(1, 100))
    seq = iter(range(1, 1000))

    def request(batch_index: int) -> object:
        batch = hooks.batches[batch_index]
        return model.request(batch_index + 1, sorted(batch.rows), t_ns=next(t) * 10**6)

    def reply(batch_index: int, rows: dict[int, str], seqno: int) -> list[tuple[int, str, str]]:
        fetched = lines(rows, seqno)
        got = pane.apply_fetched(hooks.batches[batch_index], fetched)
        mine = []
        for row, line in fetched:
            held = asked[batch_index].held[row]
            kept = model.response_line(batch_index + 1, row, line.fingerprint, seqno, next(seq))
            mine.append((row, str(outcome(held, line.fingerprint, kept))))
        assert mine == got, (batch_index, mine, got)
        return got

    def apply_push(seqno: int, dirty: list[tuple[int, int]]) -> None:
        pane.apply_changes(*push({}, seqno=seqno, dirty=dirty))
        model.apply_push(Push(seq=next(seq), t_ns=next(t) * 10**6, seqno=seqno, physical_top=0, cursor=CURSOR,
                              input_serial=None, bonus=[], dirty=dirty))

    asked = {}
    pane.get_lines(0, 3)
    asked[0] = request(0)
    reply(0, {0: "a", 1: "b", 2: "c"}, 1)
    pane.get_lines(3, 4)  # row 3 in flight
    asked[1] = request(1)
    apply_push(2, [(0, 1)])  # the one token: a prefetch of row 0
    asked[2] = request(2)
    apply_push(3, [(2, 4)])  # throttled: row 2 LineAndFetching -> Stale, row 3 Fetching -> gone
    assert len(hooks.batches) == 3 and pane.stats.throttled_pushes == 1 and len(model.limiter.denied) == 1
    assert model.entries[2].state == "Stale" and 3 not in model.entries and 3 not in model.push_stamped
    assert reply(1, {3: "d"}, 2) == [(3, "superseded")]
    reply(2, {0: "a2"}, 2)
    pane.get_lines(0, 4)  # the next paint asks for rows 2 and 3 again
    assert sorted(hooks.batches[3].rows) == [2, 3]
    asked[3] = request(3)
    want = {r: (f.cause, f.held) for r, f in hooks.batches[3].rows.items()}
    assert {r: (str(asked[3].causes[r]), asked[3].held[r]) for r in want} == want
    assert reply(3, {2: "c", 3: "d2"}, 3) == [(2, "redundant"), (3, "new")]
