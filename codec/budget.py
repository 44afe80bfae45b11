"""A per-connection budget for inflating zstd payloads, per second.

The per-frame ceiling (``max_decompressed``) stops one bomb; this stops a stream of merely
large ones from making a decoder inflate gigabytes a second. Both directions of a connection
share one :class:`InflateRate`. When a second's budget is spent, compressed frames are
skipped (reported as over the limit, the framing goes on) until the next second starts.
The clock is the caller's (``time.monotonic`` by default), so the codec does no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class InflateRate:
    def __init__(self, bytes_per_s: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.bytes_per_s = bytes_per_s
        self.clock = clock
        self._window = clock()
        self.used = 0
        #: frames skipped because the budget was spent
        self.skipped = 0

    def allows(self) -> bool:
        now = self.clock()
        if now - self._window >= 1.0:
            self._window = now
            self.used = 0
        if self.used < self.bytes_per_s:
            return True
        self.skipped += 1
        return False

    def charge(self, n: int) -> None:
        self.used += n
