"""The readings do not depend on the order wezterm-gui's main thread applied a reply and a push in.

wezterm-gui applies a push two turns of its main-thread queue after reading it and a GetLines reply
one turn after (muxscope_emulator/guiqueue.py), so a reply read just after a push may be applied
before it. The emulated client can force either order (``--gui-order reply-first`` /
``push-first``); the same drag, run each way, must give muxscope's report equal to the client's own
record row for row (raced rows included) and the same over-fetch share, within one percentage point.

The drag is slow enough (a step every 500 ms) that each step settles before the next: what one
step fetches is then the same in both runs, and what is left to differ is the order alone. The
share is taken over the drag's resize bursts: the attach (its own Resize, the first burst) races
too (the first paint's fetches, get_lines' refetches until the first push, the server's first push
and SetPalette), by the timing of three processes, not by the order.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.integration.test_truth import _check_outcomes, _differing, run_session

pytestmark = pytest.mark.integration

DRAG = ["--scenario", "resize-drag", "--resizes", "4", "--drag-seconds", "2"]


def _share(report: dict) -> float:
    """The over-fetch share of the rows the drag's resize bursts fetched (the attach's burst left out)."""
    drag = report["bursts"][1:]
    assert len(drag) >= 3, report["bursts"]
    rows = {o: sum(b["rows"][o] for b in drag) for o in ("redundant", "superseded", "changed", "new")}
    total = sum(rows.values())
    assert total > 0
    return 100.0 * (rows["redundant"] + rows["superseded"]) / total


def _session(order: str) -> tuple[dict, dict, dict]:
    d = tempfile.mkdtemp(prefix=f"muxscope-guiorder-{order}-", dir="/tmp")
    truth, analysis, client = run_session("resize-drag", "wezterm", Path(d), extra=[*DRAG, "--gui-order", order])
    try:
        assert client.get("settled") and not client.get("errors"), client.get("errors")
        _check_outcomes("resize-drag", f"wezterm/{order}", truth, analysis)
        report = analysis.report()
        differing = _differing(truth, analysis)
        # raced rows: the same classification (but for the rows of a crossing the wire shows no trace of)
        mine = {(s, p, r) for _, s, p, r in analysis.log.raced}
        theirs = {tuple(x) for x in truth["raced_detail"]}
        assert not (mine ^ theirs) - set(differing), sorted(mine ^ theirs)[:5]
        if not differing:
            assert report["rows"] == truth["rows"]
            assert report["raced_rows"] == truth["raced_rows"]
            assert report["raced_rows_by_pane"] == truth["raced_rows_by_pane"]
    except AssertionError:
        print(f"capture and truth kept in {d}")
        raise
    shutil.rmtree(d, ignore_errors=True)
    return truth, report, client


def test_reply_first_and_push_first_read_the_same():
    runs = {order: _session(order) for order in ("reply-first", "push-first")}
    shares = {order: _share(report) for order, (_, report, _) in runs.items()}
    raced = {order: report["raced_rows"] for order, (_, report, _) in runs.items()}
    overtook = {order: client["replies_before_push"] for order, (_, _, client) in runs.items()}
    print(f"over-fetch share {shares}, raced rows {raced}, replies applied before a push read earlier {overtook}")
    # the races happened, and in the reply-first run the GUI did apply replies first
    assert raced["reply-first"] > 0 and raced["push-first"] > 0
    assert overtook["push-first"] == 0 and overtook["reply-first"] > 0
    assert abs(shares["reply-first"] - shares["push-first"]) <= 1.0, shares
