"""The client's prefetch throttle (``fetch_limiter``), mirrored from the wire.

WezTerm's client allows each pane ``ratelimit_mux_line_prefetches_per_second``
(default 50) pushes per second that prefetch rows; a push over the limit does
not send its GetLines, and its rows go through ``make_stale`` instead
(renderable.rs:408-421): a ``LineAndFetching`` row becomes ``Stale`` (its next
paint fetches it), a ``Fetching`` row is removed. The limiter is
``ratelim::RateLimiter`` (ratelim/src/lib.rs) around governor's GCRA with
``Quota::per_second(n)``: one cell every ``t = 1 s / n``, a tolerance
``tau = (n - 1) * t`` (a full bucket admits ``n`` at once), and a theoretical
arrival time that starts at the first check (governor gcra.rs,
``test_n_all_and_update`` with one cell). docs/wezterm-behaviour.md cites both.

The analysis checks at the time the proxy relayed the push; the client checks
when it applied it, a transit later. A constant transit cancels out of every
GCRA decision; only its jitter can flip one, for a push that comes within that
jitter of a cell becoming free (tests/integration/test_truth_limiter.py
measures how often). ``per_second`` 0 turns the limiter off (``--prefetch-rate
0``), for a client built without it or to see what it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from proxy.analysis.linestate import PUSH_STAMP, LineEvent, Push, bound_rows, next_state
from proxy.analysis.vocabulary import Cause, ClientModel

if TYPE_CHECKING:
    from proxy.analysis.linemodel import PaneLines

#: ``ratelimit_mux_line_prefetches_per_second`` (config/src/config.rs)
DEFAULT_PREFETCHES_PER_SECOND = 50
_SECOND_NS = 1_000_000_000


@dataclass(slots=True)
class FetchLimiter:
    """One pane's GCRA. Pure: the caller passes each decision's time (nanoseconds)."""

    per_second: int = DEFAULT_PREFETCHES_PER_SECOND
    #: theoretical arrival time; None before the first check (governor's ``tat.unwrap_or(t0)``)
    tat_ns: int | None = None
    #: the pushes (by their sequence number) that were refused a prefetch
    denied: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.per_second < 0:
            raise ValueError("the prefetch rate must not be negative")

    def check(self, t_ns: int, push_seq: int = 0) -> bool:
        """``non_blocking_admittance_check(1)`` at ``t_ns``: True if the push may prefetch."""
        n = self.per_second
        if n == 0:
            return True
        t = _SECOND_NS // n  # Duration::from_secs(1) / n, in whole nanoseconds
        tau = t * (n - 1)
        tat = t_ns if self.tat_ns is None else self.tat_ns
        if t_ns < tat - tau:
            self.denied.add(push_seq)
            return False
        self.tat_ns = max(tat, t_ns) + t
        self.denied.discard(push_seq)
        return True


def throttle(pane: PaneLines, rows: list[int], push: Push) -> None:
    """After ``push`` stamped ``rows`` (at or below ``physical_top``, not bonus lines) for its
    prefetch: if the pane's limiter refuses it, each row goes through ``make_stale``
    (renderable.rs:437-446): ``LineAndFetching`` -> ``Stale``, ``Fetching`` -> gone, its next
    fetch still the push's doing (``dirty``). A coalescing client leaves out of its prefetch the
    rows that keep a fetch already in flight; a push whose rows all do asks for no token."""
    if pane.client == ClientModel.COALESCE:
        rows = [r for r in rows if (e := pane.entries.get(r)) is not None and e.prev_stamp is None]
    if not rows or pane.limiter.check(push.t_ns, push.seq):
        return
    for row in rows:
        e = pane.entries.get(row)
        if e is None or e.stamp != PUSH_STAMP:
            continue
        pane.push_stamped.discard(row)
        state = next_state(e.state, LineEvent.THROTTLED)
        if state is None:
            del pane.entries[row]
            pane.evicted[row] = Cause.DIRTY
            bound_rows(pane.evicted, pane.max_rows)
        else:
            e.state, e.stamp, e.prev_stamp, e.cause = state, None, None, Cause.DIRTY
