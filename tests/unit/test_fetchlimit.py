"""The analysis' mirror of the client's prefetch throttle (proxy/analysis/fetchlimit.py).

GCRA as governor has it (one cell every 1/n s, a full bucket admits n at once), the same decisions
as the emulated client's limiter (muxscope_emulator/ratelimit.py) for any sequence of times, and
what a refused push does to the rows it stamped (renderable.rs:408-446).
"""

from __future__ import annotations

import argparse
import random

import pytest

from muxscope_emulator.ratelimit import RateLimiter
from proxy.analysis.fetchlimit import FetchLimiter
from proxy.analysis.linemodel import PaneLines, Push
from proxy.analysis.vocabulary import Cause
from proxy.cli.options import add_client_model_argument

CURSOR = {"x": 0, "y": 0, "shape": "Default", "visibility": "Visible"}
MS = 1_000_000


def test_a_full_bucket_admits_n_at_once_then_one_every_1_over_n():
    lim = FetchLimiter(50)
    assert all(lim.check(0, seq) for seq in range(50))
    assert not lim.check(0, 50) and not lim.check(19 * MS, 51)
    assert lim.check(20 * MS, 52)  # one cell back after t = 20 ms
    assert not lim.check(21 * MS, 53)
    assert lim.denied == {50, 51, 53}


def test_a_steady_rate_above_the_limit_is_cut_to_the_limit():
    """200 pushes a second for 3 s against 50/s: the first 50 at once, then 50 a second."""
    lim = FetchLimiter(50)
    admitted = sum(lim.check(k * 5 * MS, k) for k in range(600))
    assert admitted == pytest.approx(50 + 3 * 50, abs=2)


def test_zero_means_no_limit_and_negative_is_refused():
    lim = FetchLimiter(0)
    assert all(lim.check(0, k) for k in range(10_000)) and not lim.denied
    with pytest.raises(ValueError):
        FetchLimiter(-1)


@pytest.mark.parametrize("rate", [1, 7, 50])
def test_same_decisions_as_the_emulated_clients_limiter(rate):
    """The emulator's float GCRA and the analysis' integer one agree on random arrival times."""
    rng = random.Random(rate)
    now = [100.0]
    emulated = RateLimiter(rate, clock=lambda: now[0])
    mirrored = FetchLimiter(rate)
    t = 0.0
    for k in range(2000):
        t += rng.expovariate(rate * 1.5)
        now[0] = 100.0 + t
        assert emulated.check() == mirrored.check(round(t * 1e9), k), (k, t)


def _push(seq: int, t_ms: int, dirty: list[tuple[int, int]], bonus: tuple = ()) -> Push:
    return Push(seq=seq, t_ns=t_ms * MS, seqno=seq + 1, physical_top=0, cursor=CURSOR, input_serial=None,
                bonus=list(bonus), dirty=dirty)


def test_a_refused_push_makes_its_rows_stale_instead_of_stamping_them():
    model = PaneLines(0, limiter=FetchLimiter(1))
    model.request(1, [0, 1], t_ns=0)
    model.response_line(1, 0, b"a", 1, 1)
    model.response_line(1, 1, b"b", 1, 2)
    model.apply_push(_push(3, 10, [(0, 1)]))  # the one token
    assert model.entries[0].state == "LineAndFetching" and model.push_stamped == {0}
    model.request(2, [0], t_ns=11 * MS)
    model.apply_push(_push(4, 20, [(1, 3)]))  # refused: row 1 held -> Stale, row 2 never held -> gone
    assert model.limiter.denied == {4}
    assert model.entries[1].state == "Stale" and model.entries[1].cause == Cause.DIRTY
    assert 2 not in model.entries and model.evicted[2] == Cause.DIRTY and not model.push_stamped
    # the next paint's GetLines asks for both, for the push's reason, row 1 holding its old line
    asked = model.request(5, [1, 2], t_ns=30 * MS)
    assert asked.causes == {1: Cause.DIRTY, 2: Cause.DIRTY} and asked.held == {1: b"b", 2: None}


def test_a_push_of_bonus_lines_only_takes_no_token():
    model = PaneLines(0, limiter=FetchLimiter(1))
    for seq in range(1, 5):
        model.apply_push(_push(seq, seq, [], bonus=[(0, b"x%d" % seq, seq + 1)]))
    assert not model.limiter.denied and model.limiter.tat_ns is None


def test_the_limiter_state_is_restored_with_the_pane_when_a_crossing_is_undone():
    """Undoing logged pushes (a request that crossed them) restores the limiter's arrival time, so
    applying them again in the client's order takes the same tokens once, not twice."""
    model = PaneLines(0, limiter=FetchLimiter(1))
    before = model._scalars()
    model.apply_push(_push(1, 10, [(0, 1)]))
    assert model.limiter.tat_ns == 1010 * MS
    model.restore_scalars(before)
    assert model.limiter.tat_ns is None


def test_every_analysis_command_takes_prefetch_rate():
    p = argparse.ArgumentParser()
    add_client_model_argument(p)
    assert p.parse_args([]).prefetch_rate == 50
    assert p.parse_args(["--prefetch-rate", "0"]).prefetch_rate == 0
    with pytest.raises(SystemExit):
        p.parse_args(["--prefetch-rate", "-3"])
