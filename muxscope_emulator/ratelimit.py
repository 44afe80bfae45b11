"""The prefetch rate limiter of the emulated client.

WezTerm's ``ratelim/src/lib.rs: RateLimiter`` wraps ``governor`` with
``Quota::per_second(n)``: a GCRA with a burst of ``n`` and one token every
``1/n`` s. ``ClientPane::new`` (``wezterm-client/src/pane/clientpane.rs``)
builds one per pane from ``ratelimit_mux_line_prefetches_per_second``
(default 50), and only ``apply_changes_to_surface`` consumes it, one token per
push that needs a ``GetLines``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_PREFETCHES_PER_SECOND = 50


class RateLimiter:
    """GCRA (``governor``): ``non_blocking_admittance_check(1)`` as :meth:`check`."""

    def __init__(
        self,
        per_second: int = DEFAULT_PREFETCHES_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second < 0:
            raise ValueError("the prefetch rate must not be negative")
        #: 0: no limit (``--prefetch-rate 0``; WezTerm has no such setting, it is for comparisons)
        self.unlimited = per_second == 0
        per_second = max(per_second, 1)
        self.interval = 1.0 / per_second
        #: governor's tolerance: a full bucket admits ``per_second`` at once
        self.tolerance = self.interval * (per_second - 1)
        self.clock = clock
        self.tat = clock()  # theoretical arrival time
        self.denied = 0

    def check(self) -> bool:
        if self.unlimited:
            return True
        now = self.clock()
        tat = max(self.tat, now)
        if tat - now > self.tolerance + 1e-12:
            self.denied += 1
            return False
        self.tat = tat + self.interval
        return True
