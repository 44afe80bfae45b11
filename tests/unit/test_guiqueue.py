"""The emulated GUI main thread (muxscope_emulator/guiqueue.py) and the raced rows' truth
(muxscope_emulator/racetruth.py): a push waits two turns and a reply one, paints only when invalidated
and the queue is empty, and a row a push touched while its fetch was in flight is superseded in the
truth whichever order the GUI applied the two in."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from muxscope_emulator.clientpane import ClientPane
from muxscope_emulator.guiqueue import GuiOrder, GuiQueue
from muxscope_emulator.linecache import CachedLine
from muxscope_emulator.panefetch import FetchBatch
from muxscope_emulator.racetruth import ALL_ROWS, RaceTruth, touched_rows
from muxscope_emulator.truth import Truth


async def _drain(q: GuiQueue) -> None:
    """Run the queue until it has nothing to do (turns and due paints), then stop it."""
    task = asyncio.create_task(q.run())
    for _ in range(200):
        await asyncio.sleep(0)
        if q.idle:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def _order(order: GuiOrder, read: list[str]) -> list[str]:
    """The order the queue applies pushes ("P...") and replies ("R...") read in ``read``'s order."""
    applied: list[str] = []

    async def go() -> None:
        q = GuiQueue(order)
        for name in read:
            (q.push if name.startswith("P") else q.reply)(lambda name=name: applied.append(name))
        await _drain(q)
        return q

    asyncio.run(go())
    return applied


def test_a_push_takes_two_turns_a_reply_one():
    # read in one chunk: the push, then the reply; the reply overtakes it (client.rs :116-121, :323-327)
    assert _order(GuiOrder.QUEUE, ["P1", "R1"]) == ["R1", "P1"]
    # a reply read first stays first; two pushes keep their order
    assert _order(GuiOrder.QUEUE, ["R1", "P1", "P2"]) == ["R1", "P1", "P2"]
    # a reply read after two pushes overtakes both (each still has its second turn to go)
    assert _order(GuiOrder.QUEUE, ["P1", "P2", "R1"]) == ["R1", "P1", "P2"]


def test_forced_orders():
    assert _order(GuiOrder.PUSH_FIRST, ["P1", "R1", "P2", "R2"]) == ["P1", "R1", "P2", "R2"]
    assert _order(GuiOrder.REPLY_FIRST, ["P1", "R1", "P2", "R2"]) == ["R1", "R2", "P1", "P2"]


def test_reply_first_holds_a_push_until_the_fetches_it_raced_are_applied():
    """A push read while fetch 7 is in flight waits for its reply, even one read a turn later;
    a push behind it waits too (pushes keep their order)."""
    applied: list[str] = []

    async def go() -> None:
        q = GuiQueue(GuiOrder.REPLY_FIRST)
        task = asyncio.create_task(q.run())
        q.push(lambda: applied.append("P1"), racing=(7,))
        q.push(lambda: applied.append("P2"))
        for _ in range(10):
            await asyncio.sleep(0)
        assert applied == [] and not q.idle  # the queue ran: both pushes are held
        q.reply(lambda: applied.append("R7"), key=7)
        for _ in range(10):
            await asyncio.sleep(0)
        assert q.idle
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert applied == ["R7", "P1", "P2"]


def test_replies_before_push_counts_only_pushes_read_earlier():
    async def go() -> GuiQueue:
        q = GuiQueue(GuiOrder.QUEUE)
        q.reply(lambda: None)  # nothing read before it
        q.push(lambda: None)
        q.reply(lambda: None)  # overtakes the push
        await _drain(q)
        return q

    q = asyncio.run(go())
    assert q.stats.replies_before_push == 1 and q.stats.overtaken == [0, 1]


def test_paints_only_when_invalidated_and_idle_and_costs_per_row():
    painted: list[int] = []
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)
        await asyncio.sleep(0)

    async def go() -> GuiQueue:
        t = [100.0]
        q = GuiQueue(GuiOrder.QUEUE, paint=lambda: painted.append(len(q.turns)) or 40, paint_row_ms=0.5,
                     clock=lambda: t[0])
        task = asyncio.create_task(q.run(sleep))
        for _ in range(20):
            await asyncio.sleep(0)
        assert painted == []  # never invalidated: no paint, so no poll either
        q.push(lambda: None)
        q.input(lambda: None)  # input invalidates
        for _ in range(50):
            await asyncio.sleep(0)
        q.invalidate()  # within the same frame: throttled until the clock moves on
        for _ in range(20):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return q

    q = asyncio.run(go())
    # one paint, after every queued turn ran (the queue was empty), costing 40 rows * 0.5 ms
    assert painted == [0] and q.stats.paints == 1
    assert 0.02 in slept and q.stats.paint_s == pytest.approx(0.02)
    assert q.invalidated  # the second paint waits for the frame to end


class _Hooks:
    """The client's side of a pane, as far as the race record goes (client.py ``fetch_lines``)."""

    def __init__(self, race: RaceTruth) -> None:
        self.race = race
        self.batches: list[FetchBatch] = []

    def fetch_lines(self, pane: ClientPane, batch: FetchBatch) -> None:
        self.race.request(pane, batch)
        self.batches.append(batch)

    def poll(self, pane: ClientPane) -> None: ...
    def send_resize(self, pane: ClientPane, size: dict[str, int]) -> None: ...
    def send_zoom(self, pane: ClientPane, zoomed: bool) -> None: ...


SIZE = {"rows": 4, "cols": 10, "pixel_width": 80, "pixel_height": 64, "dpi": 96}
CURSOR = {"x": 0, "y": 3, "shape": "Default", "visibility": "Visible"}


def _line(text: str, seqno: int = 1) -> CachedLine:
    return CachedLine(text.encode().ljust(16, b"."), seqno, value={"text": text})


def _push(seqno: int, dirty: list[tuple[int, int]]) -> dict[str, Any]:
    dims = {"cols": 10, "viewport_rows": 4, "scrollback_rows": 4, "physical_top": 0, "scrollback_top": 0,
            "dpi": 96, "pixel_width": 80, "pixel_height": 64, "reverse_video": False}
    return {"dirty_lines": [{"start": a, "end": b} for a, b in dirty], "cursor_position": CURSOR,
            "dimensions": dims, "title": "t", "seqno": seqno, "input_serial": None}


def _session(reply_first: bool, palette: bool = False) -> tuple[Truth, ClientPane, _Hooks]:
    """A pane fetches rows 0-1; a push that dirties row 1 (or a SetPalette) is read while the fetch
    is in flight, then the reply; the GUI applies them in one order or the other."""
    truth = Truth()
    race = RaceTruth(truth)
    hooks = _Hooks(race)
    pane = ClientPane(1, 1, SIZE, "t", hooks)
    pane.cursor = dict(CURSOR)
    pane.get_lines(0, 2)
    batch = hooks.batches[-1]
    snap = race.push_read(1)
    race.reply_read(1, batch.token)
    delta = _push(5, [(1, 2)])

    def apply_push() -> None:
        if palette:
            race.push_applied(pane, snap, ALL_ROWS)
            pane.on_set_palette(None)
        else:
            race.push_applied(pane, snap, touched_rows(pane, delta, []))
            pane.apply_changes(delta, [])

    def apply_reply() -> None:
        before = race.held_now(pane, batch)
        outcomes = pane.apply_fetched(batch, [(0, _line("zero")), (1, _line("one"))])
        race.record(pane, batch, 7, outcomes, before)

    for step in ((apply_reply, apply_push) if reply_first else (apply_push, apply_reply)):
        step()
    return truth, pane, hooks


@pytest.mark.parametrize("palette", [False, True])
def test_a_raced_row_is_superseded_whichever_order(palette):
    records = []
    for reply_first in (False, True):
        truth, _, _ = _session(reply_first, palette)
        records.append((truth.rows, truth.detail, truth.raced))
    assert records[0] == records[1]
    rows, detail, raced = records[0]
    if palette:  # every row of the pane was staled while the fetch was out
        assert raced == [(7, 1, 0), (7, 1, 1)] and rows["superseded"] == 2
    else:
        assert raced == [(7, 1, 1)]
        assert [(r, o) for _, _, r, o, _ in detail] == [(0, "new"), (1, "superseded")]


def test_the_refetch_holds_what_the_read_order_holds():
    """The push's own fetch of the dirtied row: applied after the raced reply, the client holds
    that reply's line; in the read order it held nothing (the reply was dropped). The truth takes
    the read order's, so the refetch's outcome is ``new`` both ways."""
    helds = []
    for reply_first in (False, True):
        _, _, hooks = _session(reply_first)
        prefetch = hooks.batches[-1]
        assert prefetch.origin == "prefetch" and list(prefetch.rows) == [1]
        helds.append(prefetch.rows[1].held)
    # push-first: nothing was held for row 1; reply-first: the raced line, which RaceTruth.request
    # replaces by what the read order holds
    assert helds == [None, None]
